//! A small shop for the algorithm tests: a category tree, products, and
//! helpers to replay hand-made visits.
#![allow(dead_code)]

use propel_recs::{Config, Engine, Interaction, ItemId, Kind, MemCatalog, Models, VisitorId};

pub const MIN: i64 = 60_000;
pub const DAY: i64 = 86_400_000;

/// Categories: 1 electronics > 10 phones, 20 cases; 1 > 30 laptops.
/// Phones 101-104, cases 201-202, laptops 301-302.
pub fn shop() -> MemCatalog {
    let mut c = MemCatalog::new();
    c.set_parent(10, 1);
    c.set_parent(20, 1);
    c.set_parent(30, 1);
    for (i, item) in [101, 102, 103, 104].into_iter().enumerate() {
        c.add(item, 10, 500.0).first_seen_ms = i as i64 * DAY;
    }
    for (i, item) in [201, 202].into_iter().enumerate() {
        c.add(item, 20, 20.0).first_seen_ms = i as i64 * DAY;
    }
    for (i, item) in [301, 302].into_iter().enumerate() {
        c.add(item, 30, 1500.0).first_seen_ms = i as i64 * DAY;
    }
    c
}

/// Replays visits: each is a visitor and its (item, kind) events one minute apart;
/// visits start a day apart.
pub fn replay(engine: &mut Engine, visits: &[(VisitorId, &[(ItemId, Kind)])]) {
    for (n, (v, events)) in visits.iter().enumerate() {
        for (k, &(item, kind)) in events.iter().enumerate() {
            let ts_ms = n as i64 * DAY + k as i64 * MIN;
            engine.apply(&Interaction {
                visitor: *v,
                item,
                kind,
                ts_ms,
            });
        }
    }
}

pub fn build(visits: &[(VisitorId, &[(ItemId, Kind)])]) -> (Engine, Models) {
    let mut e = Engine::new(Config::default());
    replay(&mut e, visits);
    let m = e.snapshot(visits.len() as i64 * DAY);
    (e, m)
}

pub const V: Kind = Kind::View;
pub const B: Kind = Kind::AddToBasket;
pub const O: Kind = Kind::Order;
