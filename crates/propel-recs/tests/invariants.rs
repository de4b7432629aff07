//! Property tests: whatever the history and the catalog, every algorithm
//! returns at most `limit` distinct available products, never an input.

mod common;

use std::collections::HashSet;

use common::*;
use propel_recs::algorithms::{recommend, Algorithm, Request, Rules};
use propel_recs::{Catalog, Config, Engine, Interaction, Kind, SearchEvent};
use proptest::prelude::*;

const ALL: [Algorithm; 16] = [
    Algorithm::Popular,
    Algorithm::CategoryPopular,
    Algorithm::SaleByPopular,
    Algorithm::Latest,
    Algorithm::SaleByLatest,
    Algorithm::Search,
    Algorithm::Alternatives,
    Algorithm::Related,
    Algorithm::RelatedByInterestedProperties,
    Algorithm::RelatedWithoutCurrentCategory,
    Algorithm::RelatedWithRules,
    Algorithm::Accessories,
    Algorithm::PersonalComposite,
    Algorithm::PersonalViewed,
    Algorithm::PersonalOrdered,
    Algorithm::PopularInInterestedCategories,
];

fn kind(k: u8) -> Kind {
    match k % 5 {
        0 => Kind::AddToBasket,
        1 => Kind::Order,
        2 => Kind::RecomTap,
        _ => Kind::View,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn rankings_keep_the_rules(
        events in prop::collection::vec((0u32..6, 0usize..8, 0u8..5, 0i64..200), 0..60),
        unavailable in prop::collection::vec(0usize..8, 0..4),
        moscow_only in prop::collection::vec(0usize..8, 0..3),
        on_sale in prop::collection::vec(0usize..8, 0..4),
        inputs in prop::collection::vec(0usize..8, 0..3),
        limit in 0usize..6,
        stock in prop::option::of(prop::sample::select(vec!["moscow", "spb"])),
    ) {
        let items = [101i64, 102, 103, 104, 201, 202, 301, 302];
        let mut c = shop();
        for &u in &unavailable {
            if let Some(p) = c.products.get_mut(&items[u]) { p.available = false; }
        }
        for &u in &moscow_only {
            if let Some(p) = c.products.get_mut(&items[u]) { p.stocks = vec!["moscow".into()]; }
        }
        for &u in &on_sale {
            if let Some(p) = c.products.get_mut(&items[u]) { p.old_price = Some(1e6); }
        }
        let mut e = Engine::new(Config::default());
        for &(v, i, k, t) in &events {
            e.apply(&Interaction { visitor: v, item: items[i], kind: kind(k), ts_ms: t * MIN });
            if k == 4 {
                e.apply_search(&SearchEvent { visitor: v, phrase: "Phone".into(), ts_ms: t * MIN });
            }
        }
        let m = e.snapshot(200 * MIN);
        let inputs: Vec<i64> = inputs.iter().map(|&i| items[i]).collect();
        let mut rules = Rules::default();
        rules.targets.insert(10, vec![20, 30]);
        rules.promoted = vec![20];
        let profile = e.merged_profile(&[0, 1]);
        let r = Request {
            limit,
            stock,
            products: &inputs,
            categories: &[1],
            phrase: Some("phone"),
            profile: Some(&profile),
            rules: Some(&rules),
            now_ms: 200 * MIN,
        };
        for alg in ALL {
            let got = recommend(alg, &m, &c, &r);
            prop_assert!(got.len() <= limit, "{alg:?} {got:?}");
            let set: HashSet<_> = got.iter().collect();
            prop_assert_eq!(set.len(), got.len(), "{:?} duplicates", alg);
            for i in &got {
                prop_assert!(!inputs.contains(i), "{alg:?} returned input {i}");
                prop_assert!(c.is_available(*i, stock), "{alg:?} returned unavailable {i}");
            }
        }
    }
}

#[test]
fn algorithm_names_map_to_the_api() {
    assert_eq!(
        Algorithm::from_name("partnerRecommendations/popular"),
        Some(Algorithm::Popular)
    );
    assert_eq!(
        Algorithm::from_name("categoryRecommendations/popular"),
        Some(Algorithm::CategoryPopular)
    );
    assert_eq!(
        Algorithm::from_name("categoryRecommendations/saleByLatestByCategoryPath/"),
        Some(Algorithm::SaleByLatest)
    );
    assert_eq!(Algorithm::from_name("productRecommendations/nope"), None);
}
