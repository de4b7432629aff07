//! Product-to-product algorithms: complements vs substitutes, category
//! filters, rules, accessories, property interests, exclusions.

mod common;

use common::*;
use propel_recs::algorithms::*;
use propel_recs::{Catalog, MemCatalog, Models, Profile};

/// 101 and 102 are viewed together (substitutes); 101 is basketed with 201
/// (twice), 301 and 202 (complements).
fn models() -> Models {
    build(&[
        (1, &[(101, V), (102, V)]),
        (2, &[(101, V), (102, V)]),
        (3, &[(101, V), (102, V), (103, V)]),
        (4, &[(101, V), (101, B), (201, V), (201, B)]),
        (5, &[(101, B), (201, B)]),
        (6, &[(101, B), (301, B)]),
        (7, &[(101, B), (202, B)]),
    ])
    .1
}

fn req(products: &[i64]) -> Request<'_> {
    Request {
        limit: 10,
        products,
        ..Default::default()
    }
}

#[test]
fn related_returns_complements_first() {
    let got = related(&models(), &shop(), &req(&[101]));
    assert_eq!(got[0], 201);
    assert!(
        got[..3].contains(&301) && got[..3].contains(&202),
        "{got:?}"
    );
    assert!(!got.contains(&101));
}

#[test]
fn alternatives_returns_substitutes_never_complements() {
    let got = alternatives(&models(), &shop(), &req(&[101]));
    assert_eq!(got[0], 102);
    for complement in [201, 202, 301] {
        assert!(!got.contains(&complement), "{got:?}");
    }
}

#[test]
fn related_without_current_category_drops_the_inputs_categories() {
    let c = shop();
    let got = related_without_current_category(&models(), &c, &req(&[101]));
    assert!(!got.is_empty());
    assert!(got.iter().all(|&i| !c.in_subtree(i, 10)), "{got:?}");
}

#[test]
fn accessories_are_cheaper_products_of_other_categories() {
    let got = accessories(&models(), &shop(), &req(&[101]));
    assert_eq!(got[0], 201);
    assert!(got.contains(&202));
    // The laptop is bought with phones but is no cheap add-on.
    assert!(!got.contains(&301) && !got.contains(&102), "{got:?}");
}

#[test]
fn related_with_rules_follows_targets_and_promotions() {
    let m = models();
    let c = shop();
    let mut rules = Rules::default();
    rules.targets.insert(10, vec![30]);
    let r = Request {
        rules: Some(&rules),
        ..req(&[101])
    };
    assert_eq!(related_with_rules(&m, &c, &r), vec![301]);

    let promote = Rules {
        promoted: vec![30],
        ..Default::default()
    };
    let r = Request {
        rules: Some(&promote),
        ..req(&[101])
    };
    assert_eq!(related_with_rules(&m, &c, &r)[0], 301);
}

#[test]
fn interested_properties_rerank_related() {
    let m = models();
    let mut c: MemCatalog = shop();
    for (item, colour) in [(201, "red"), (202, "blue"), (103, "blue")] {
        if let Some(p) = c.products.get_mut(&item) {
            p.params = vec![("colour".into(), colour.into())];
        }
    }
    let mut profile = Profile::new(100);
    profile.record(0, 103, V);
    let plain = related(&m, &c, &req(&[101]));
    assert_eq!(plain[0], 201);
    let r = Request {
        profile: Some(&profile),
        ..req(&[101])
    };
    let got = related_by_interested_properties(&m, &c, &r);
    assert_eq!(got[0], 202, "{got:?}");
}

#[test]
fn unavailable_and_out_of_stock_products_are_never_returned() {
    let m = models();
    let mut c = shop();
    if let Some(p) = c.products.get_mut(&201) {
        p.available = false;
    }
    if let Some(p) = c.products.get_mut(&202) {
        p.stocks = vec!["moscow".into()];
    }
    let spb = Request {
        stock: Some("spb"),
        ..req(&[101])
    };
    let got = related(&m, &c, &spb);
    assert!(!got.contains(&201) && !got.contains(&202), "{got:?}");
    let moscow = Request {
        stock: Some("moscow"),
        ..req(&[101])
    };
    assert!(related(&m, &c, &moscow).contains(&202));
}

#[test]
fn several_inputs_are_all_excluded() {
    let m = models();
    let got = related(&m, &shop(), &req(&[101, 201]));
    assert!(!got.contains(&101) && !got.contains(&201), "{got:?}");
    assert!(!got.is_empty());
}
