//! popular, category popular, sale, latest, search.

mod common;

use common::*;
use propel_recs::algorithms::*;
use propel_recs::{Config, Engine, Interaction, Kind, SearchEvent};

#[test]
fn popular_weighs_orders_over_views() {
    // 102 viewed three times, 103 ordered once: an order outweighs three views.
    let (_, m) = build(&[(1, &[(102, V), (102, V), (102, V)]), (2, &[(103, O)])]);
    let r = Request {
        limit: 5,
        ..Default::default()
    };
    assert_eq!(popular(&m, &shop(), &r), vec![103, 102]);
}

#[test]
fn popular_uses_event_time_decay() {
    let mut e = Engine::new(Config::default());
    // Two old views of 101, one recent view of 102, arriving newest first.
    for (item, ts) in [(102, 60 * DAY), (101, 0), (101, 1)] {
        e.apply(&Interaction {
            visitor: 1,
            item,
            kind: Kind::View,
            ts_ms: ts,
        });
    }
    let m = e.snapshot(60 * DAY);
    let r = Request {
        limit: 5,
        ..Default::default()
    };
    assert_eq!(popular(&m, &shop(), &r), vec![102, 101]);
}

#[test]
fn category_popular_covers_the_subtree_only() {
    let (_, m) = build(&[(1, &[(301, V), (301, V), (201, V), (101, V)])]);
    let c = shop();
    let phones = Request {
        limit: 3,
        categories: &[10],
        ..Default::default()
    };
    // 101 has behaviour; other phones follow newest first.
    assert_eq!(category_popular(&m, &c, &phones), vec![101, 104, 103]);
    let all = Request {
        limit: 3,
        categories: &[1],
        ..Default::default()
    };
    assert_eq!(category_popular(&m, &c, &all), vec![301, 101, 201]);
    let none = Request {
        limit: 3,
        categories: &[],
        ..Default::default()
    };
    assert!(category_popular(&m, &c, &none).is_empty());
}

#[test]
fn sale_algorithms_return_only_discounted_products() {
    let (_, m) = build(&[(1, &[(101, V), (101, V), (102, V), (103, V)])]);
    let mut c = shop();
    for item in [102, 104] {
        if let Some(p) = c.products.get_mut(&item) {
            p.old_price = Some(600.0);
        }
    }
    let r = Request {
        limit: 5,
        categories: &[10],
        ..Default::default()
    };
    assert_eq!(sale_by_popular(&m, &c, &r), vec![102, 104]);
    assert_eq!(sale_by_latest(&c, &r), vec![104, 102]);
}

#[test]
fn latest_is_newest_first_in_the_subtree() {
    let c = shop();
    let r = Request {
        limit: 10,
        categories: &[10],
        ..Default::default()
    };
    assert_eq!(latest(&c, &r), vec![104, 103, 102, 101]);
    let r = Request {
        limit: 2,
        categories: &[1],
        products: &[302],
        ..Default::default()
    };
    assert_eq!(latest(&c, &r), vec![104, 103]);
}

#[test]
fn search_follows_what_searchers_did_next() {
    let mut e = Engine::new(Config::default());
    let s = |v, p: &str, ts| SearchEvent {
        visitor: v,
        phrase: p.into(),
        ts_ms: ts,
    };
    let i = |v, item, kind, ts| Interaction {
        visitor: v,
        item,
        kind,
        ts_ms: ts,
    };
    e.apply_search(&s(1, "Phone!", 0));
    e.apply(&i(1, 102, Kind::View, MIN));
    e.apply(&i(1, 103, Kind::Order, 2 * MIN));
    e.apply_search(&s(2, "phone case", DAY));
    e.apply(&i(2, 201, Kind::View, DAY + MIN));
    let m = e.snapshot(2 * DAY);
    let c = shop();
    let r = Request {
        limit: 5,
        phrase: Some("  PHONE "),
        ..Default::default()
    };
    // Exact phrase first (the order weighs most), then the similar phrase's product.
    assert_eq!(search(&m, &c, &r), vec![103, 102, 201]);
    let r = Request {
        limit: 5,
        phrase: Some("laptop"),
        ..Default::default()
    };
    assert!(search(&m, &c, &r).is_empty());
}
