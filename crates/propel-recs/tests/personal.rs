//! Personal algorithms over profiles updated per event.

mod common;

use common::*;
use propel_recs::algorithms::*;
use propel_recs::{Interaction, Kind};

#[test]
fn personal_viewed_is_most_recent_first_without_inputs() {
    let (e, m) = build(&[(1, &[(101, V), (102, V), (101, V), (103, V)])]);
    let c = shop();
    let p = e.profile(1);
    let r = Request {
        limit: 10,
        profile: p,
        ..Default::default()
    };
    assert_eq!(personal_viewed(&c, &r), vec![103, 101, 102]);
    let r = Request {
        products: &[101],
        ..r
    };
    assert_eq!(personal_viewed(&c, &r), vec![103, 102]);
    let _ = m;
}

#[test]
fn personal_ordered_spans_the_contacts_sessions() {
    let (e, _) = build(&[(8, &[(101, O), (102, V)]), (9, &[(301, O)])]);
    let merged = e.merged_profile(&[8, 9]);
    let r = Request {
        limit: 10,
        profile: Some(&merged),
        ..Default::default()
    };
    assert_eq!(personal_ordered(&shop(), &r), vec![301, 101]);
    let one = Request {
        limit: 10,
        profile: e.profile(8),
        ..Default::default()
    };
    assert_eq!(personal_ordered(&shop(), &one), vec![101]);
}

#[test]
fn personal_composite_follows_the_session_and_falls_back_to_popular() {
    let (mut e, _) = build(&[
        (1, &[(101, V), (102, V)]),
        (2, &[(101, V), (102, V)]),
        (3, &[(301, V), (301, V), (301, V), (302, V)]),
        (4, &[(301, O)]),
    ]);
    let m = e.snapshot(10 * DAY);
    let c = shop();
    // Unknown visitor: bestsellers.
    let cold = Request {
        limit: 3,
        ..Default::default()
    };
    assert_eq!(personal_composite(&m, &c, &cold), popular(&m, &c, &cold));
    assert_eq!(popular(&m, &c, &cold)[0], 301);
    // The visitor's view is seen by the very next request.
    e.apply(&Interaction {
        visitor: 50,
        item: 101,
        kind: Kind::View,
        ts_ms: 10 * DAY,
    });
    let r = Request {
        limit: 3,
        profile: e.profile(50),
        now_ms: 10 * DAY,
        ..Default::default()
    };
    let got = personal_composite(&m, &c, &r);
    let pos = |i| got.iter().position(|&x| x == i);
    assert!(pos(102) < pos(301), "{got:?}");
}

#[test]
fn popular_in_interested_categories_keeps_to_those_categories() {
    let (e, m) = build(&[
        (1, &[(101, O), (101, O), (102, O)]),
        (2, &[(301, V), (302, V), (301, V)]),
        (3, &[(302, V), (302, V), (302, V)]),
    ]);
    let c = shop();
    let r = Request {
        limit: 5,
        profile: e.profile(2),
        now_ms: 3 * DAY,
        ..Default::default()
    };
    // Phones sell best overall, but visitor 2 looks at laptops.
    assert_eq!(popular(&m, &c, &r)[0], 101);
    assert_eq!(popular_in_interested_categories(&m, &c, &r), vec![302, 301]);
}
