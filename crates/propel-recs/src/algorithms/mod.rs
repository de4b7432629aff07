//! The recommendation algorithms: pure functions of the models, the catalog
//! and the request. Every one returns at most `limit` distinct, available
//! products (in the request's stock when given), never an input product.

mod personal;
mod product;
mod shopwide;

use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::knn::order_bits;
use crate::models::Models;
use crate::profile::Profile;
use crate::types::{CategoryId, ItemId};

pub(crate) use personal::{one_product_visits, SingleRankings};
pub use personal::{
    personal_composite, personal_ordered, personal_viewed, popular_in_interested_categories,
};
pub use product::{
    accessories, alternatives, related, related_by_interested_properties, related_with_rules,
    related_without_current_category,
};
pub use shopwide::{category_popular, latest, popular, sale_by_latest, sale_by_popular, search};

/// Business rules of `relatedWithRules`.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// For products of (the subtree of) a key category, recommend only from
    /// (the subtrees of) these categories.
    pub targets: HashMap<CategoryId, Vec<CategoryId>>,
    /// Products of these subtrees are moved ahead of the others.
    pub promoted: Vec<CategoryId>,
    /// `accessories`: the operator's accessory categories for inputs in (the
    /// subtree of) a key category; without an entry, they are learned from behaviour.
    pub accessories: HashMap<CategoryId, Vec<CategoryId>>,
}

impl Rules {
    /// The categories a rule map names for the inputs' categories.
    pub fn targets_for(
        map: &HashMap<CategoryId, Vec<CategoryId>>,
        c: &dyn Catalog,
        inputs: &[ItemId],
    ) -> Vec<CategoryId> {
        let mut out = Vec::new();
        for (&from, to) in map {
            if inputs.iter().any(|&i| c.in_subtree(i, from)) {
                out.extend_from_slice(to);
            }
        }
        out
    }
}

/// One request's parameters.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub limit: usize,
    pub stock: Option<&'a str>,
    /// Input products (`productIds`): never returned.
    pub products: &'a [ItemId],
    pub categories: &'a [CategoryId],
    pub phrase: Option<&'a str>,
    /// The visitor (or merged contact) profile, for personal algorithms.
    pub profile: Option<&'a Profile>,
    pub rules: Option<&'a Rules>,
    pub now_ms: i64,
}

impl Default for Request<'_> {
    fn default() -> Self {
        Request {
            limit: 20,
            stock: None,
            products: &[],
            categories: &[],
            phrase: None,
            profile: None,
            rules: None,
            now_ms: 0,
        }
    }
}

/// The algorithms by their API names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Popular,
    CategoryPopular,
    SaleByPopular,
    Latest,
    SaleByLatest,
    Search,
    Alternatives,
    Related,
    RelatedByInterestedProperties,
    RelatedWithoutCurrentCategory,
    RelatedWithRules,
    Accessories,
    PersonalComposite,
    PersonalViewed,
    PersonalOrdered,
    PopularInInterestedCategories,
}

impl Algorithm {
    /// From `<group>/<algorithm>` or the bare algorithm name of the API
    /// (`popular` alone is the partner one). `…ByCategoryPath` variants map to
    /// the same algorithm: the caller resolves paths to category ids.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        use Algorithm::*;
        let (group, alg) = match name.split_once('/') {
            Some((g, a)) => (g, a.trim_end_matches('/')),
            None => ("", name),
        };
        let alg = alg.strip_suffix("ByCategoryPath").unwrap_or(alg);
        Some(match (group, alg) {
            ("categoryRecommendations", "popular") => CategoryPopular,
            (_, "popular") => Popular,
            (_, "saleByPopular") => SaleByPopular,
            (_, "latest") => Latest,
            (_, "saleByLatest") => SaleByLatest,
            (_, "search") => Search,
            (_, "alternatives") => Alternatives,
            (_, "related") => Related,
            (_, "relatedByInterestedProperties") => RelatedByInterestedProperties,
            (_, "relatedWithoutCurrentCategory") => RelatedWithoutCurrentCategory,
            (_, "relatedWithRules") => RelatedWithRules,
            (_, "accessories") => Accessories,
            (_, "personalComposite") => PersonalComposite,
            (_, "personalViewed") => PersonalViewed,
            (_, "personalOrdered") => PersonalOrdered,
            (_, "popularInInterestedCategories") => PopularInInterestedCategories,
            _ => return None,
        })
    }

    /// Personal answers must not be shared-cached.
    pub fn is_personal(self) -> bool {
        use Algorithm::*;
        matches!(
            self,
            PersonalComposite
                | PersonalViewed
                | PersonalOrdered
                | PopularInInterestedCategories
                | RelatedByInterestedProperties
        )
    }
}

/// Runs one algorithm.
pub fn recommend(alg: Algorithm, m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    use Algorithm::*;
    match alg {
        Popular => popular(m, c, r),
        CategoryPopular => category_popular(m, c, r),
        SaleByPopular => sale_by_popular(m, c, r),
        Latest => latest(c, r),
        SaleByLatest => sale_by_latest(c, r),
        Search => search(m, c, r),
        Alternatives => alternatives(m, c, r),
        Related => related(m, c, r),
        RelatedByInterestedProperties => related_by_interested_properties(m, c, r),
        RelatedWithoutCurrentCategory => related_without_current_category(m, c, r),
        RelatedWithRules => related_with_rules(m, c, r),
        Accessories => accessories(m, c, r),
        PersonalComposite => personal_composite(m, c, r),
        PersonalViewed => personal_viewed(c, r),
        PersonalOrdered => personal_ordered(c, r),
        PopularInInterestedCategories => popular_in_interested_categories(m, c, r),
    }
}

/// Collects the answer, enforcing the rules every algorithm shares.
pub(crate) struct Picker<'a> {
    catalog: &'a dyn Catalog,
    stock: Option<&'a str>,
    exclude: &'a [ItemId],
    out: Vec<ItemId>,
    limit: usize,
}

impl<'a> Picker<'a> {
    pub fn new(catalog: &'a dyn Catalog, r: &Request<'a>) -> Self {
        let limit = r.limit;
        Picker {
            catalog,
            stock: r.stock,
            exclude: r.products,
            out: Vec::with_capacity(limit),
            limit,
        }
    }

    /// Adds the item if allowed; true once the answer is full. The answer
    /// holds at most `limit` (≤ 100) products: a scan beats hashing.
    pub fn push(&mut self, item: ItemId) -> bool {
        if self.out.len() < self.limit
            && !self.exclude.contains(&item)
            && !self.out.contains(&item)
            && self.catalog.is_available(item, self.stock)
        {
            self.out.push(item);
        }
        self.full()
    }

    /// Adds items in order until full.
    pub fn extend(&mut self, items: impl IntoIterator<Item = ItemId>) -> bool {
        for i in items {
            if self.push(i) {
                return true;
            }
        }
        self.full()
    }

    pub fn full(&self) -> bool {
        self.out.len() >= self.limit
    }

    /// Products still wanted, plus the inputs that may have to be skipped.
    fn wanted(&self) -> usize {
        self.limit.saturating_sub(self.out.len()) + self.exclude.len()
    }

    pub fn finish(self) -> Vec<ItemId> {
        self.out
    }
}

/// One integer per scored dense item whose descending order is (score desc, id
/// asc): integer comparisons make selections several times cheaper.
pub(crate) fn rank_key((d, s): (u32, f32)) -> u64 {
    (u64::from(order_bits(s)) << 32) | u64::from(u32::MAX - d)
}

/// The dense item of a [`rank_key`].
pub(crate) fn key_dense(k: u64) -> u32 {
    u32::MAX - (k as u32)
}

/// Adds scored dense items best first (ties: more popular, i.e. lower dense id, first) until the
/// answer is full; true when it is. `keys` is a reusable buffer. Only as much of
/// the list is sorted as the answer needs: the best few by selection, more only
/// when products were skipped (unavailable), so the order is exactly that of a
/// full sort.
pub(crate) fn extend_ranked(
    m: &Models,
    p: &mut Picker,
    keys: &mut Vec<u64>,
    scored: impl Iterator<Item = (u32, f32)>,
) -> bool {
    keys.clear();
    keys.extend(scored.map(rank_key));
    let id = |k: &u64| m.id(key_dense(*k));
    let mut chunk = (2 * p.wanted()).max(16);
    let mut rest = keys.as_mut_slice();
    while rest.len() > chunk {
        rest.select_nth_unstable_by(chunk, |a, b| b.cmp(a));
        let (head, tail) = rest.split_at_mut(chunk);
        head.sort_unstable_by(|a, b| b.cmp(a));
        if p.extend(head.iter().map(id)) {
            return true;
        }
        rest = tail;
        chunk *= 4;
    }
    rest.sort_unstable_by(|a, b| b.cmp(a));
    p.extend(rest.iter().map(id))
}

/// True when the item is in the subtree of any of the categories.
pub(crate) fn in_any(c: &dyn Catalog, item: ItemId, roots: &[CategoryId]) -> bool {
    roots.iter().any(|&r| c.in_subtree(item, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MemCatalog;
    use crate::config::Config;
    use crate::engine::Engine;
    use crate::types::{Interaction, Kind};
    use proptest::prelude::*;

    proptest! {
        /// The partial sort picks exactly what a full sort would, whatever is
        /// unavailable or excluded, including ties.
        #[test]
        fn extend_ranked_matches_a_full_sort(
            scores in proptest::collection::vec((0u32..60, -3i8..6), 0..120),
            unavailable in proptest::collection::vec(0i64..60, 0..50),
            exclude in proptest::collection::vec(0i64..60, 0..5),
            limit in 1usize..40,
        ) {
            let mut e = Engine::new(Config::default());
            for i in 0..60i64 {
                e.apply(&Interaction { visitor: i as u32, item: i, kind: Kind::View, ts_ms: i });
            }
            let m = e.snapshot(100);
            let mut c = MemCatalog::new();
            for i in 0..60i64 {
                c.add(i, 1, 1.0).available = !unavailable.contains(&i);
            }
            let r = Request { limit, products: &exclude, ..Request::default() };
            // One entry per id, as the accumulators give them.
            let mut v: Vec<(u32, f32)> = Vec::new();
            for &(d, s) in &scores {
                if !v.iter().any(|x| x.0 == d) {
                    v.push((d, s as f32));
                }
            }
            let mut full = v.clone();
            full.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut want = Picker::new(&c, &r);
            want.extend(full.iter().map(|x| m.id(x.0)));
            let mut got = Picker::new(&c, &r);
            extend_ranked(&m, &mut got, &mut Vec::new(), v.iter().copied());
            prop_assert_eq!(got.finish(), want.finish());
        }
    }
}
