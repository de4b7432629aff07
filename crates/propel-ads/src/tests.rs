//! The engine end to end on a fake product base: the auction, rotation, caps,
//! schedule, pause, budget, dedupe, and property tests over random traffic.

use crate::targeting::tests::Fake;
use crate::*;
use proptest::prelude::*;
use serde_json::json;

const PARTNER: i64 = 1;
const NOW: i64 = 20_000 * DAY_MS + DAY_MS / 2;

fn campaign(id: &str, extra: serde_json::Value) -> Campaign {
    let mut body = json!({
        "advertiserId": "a", "name": id, "partnerIds": ["p1"],
        "budget": {"total": 100.0}, "pricing": {"model": "cpm", "bid": 10.0},
        "contents": [{"type": "string", "string": format!("banner {id}")}]
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let resolve = |p: &str| (p == "p1").then_some(PARTNER).or((p == "p2").then_some(2));
    campaign_from_json(&body, id, &resolve, NOW - DAY_MS).unwrap()
}

fn placement(kind: PlacementKind) -> Placement {
    Placement {
        id: "pl".into(),
        partner: PARTNER,
        kind,
        name: "x".into(),
        content_types: vec![ContentType::String, ContentType::ProductIds],
    }
}

fn ask(e: &Engine, session: &str, now: i64) -> Option<Decision> {
    let page = Page::new(PlacementKind::Any, None);
    let v = Visitor {
        session: session.into(),
        ..Default::default()
    };
    e.decide(
        &Ask {
            partner: PARTNER,
            placement: &placement(PlacementKind::Any),
            accept: &[ContentType::String, ContentType::ProductIds],
            page: &page,
            visitor: &v,
            now_ms: now,
        },
        &Fake,
    )
}

fn engine(campaigns: Vec<Campaign>) -> Engine {
    let e = Engine::new(7);
    for c in campaigns {
        e.insert(c, Totals::default());
    }
    e
}

#[test]
fn highest_expected_value_wins() {
    let e = engine(vec![
        campaign("low", json!({})),
        campaign("high", json!({"pricing": {"model": "cpm", "bid": 20.0}})),
        // 5.0 per click at the 1% prior: 0.05 per view, below 20/1000.
        campaign("cpc", json!({"pricing": {"model": "cpc", "bid": 1.0}})),
    ]);
    assert_eq!(ask(&e, "s", NOW).unwrap().campaign_id(), "high");
}

#[test]
fn ties_rotate_fairly() {
    let e = engine(vec![campaign("a", json!({})), campaign("b", json!({}))]);
    let a = (0..1000)
        .filter(|_| ask(&e, "s", NOW).unwrap().campaign_id() == "a")
        .count();
    assert_eq!(a, 500);
}

#[test]
fn schedule_pause_and_partner() {
    let future = propel_model::timestamp::format_rfc3339_ms(NOW + 1000);
    let e = engine(vec![campaign("later", json!({"startsAt": future}))]);
    assert!(ask(&e, "s", NOW).is_none());
    assert!(ask(&e, "s", NOW + 1000).is_some());
    let past = propel_model::timestamp::format_rfc3339_ms(NOW);
    let e = engine(vec![campaign("ended", json!({"endsAt": past}))]);
    assert!(ask(&e, "s", NOW - 1).is_some());
    assert!(ask(&e, "s", NOW).is_none());
    let e = engine(vec![campaign("c", json!({}))]);
    assert!(e.set_paused("c", true));
    assert!(ask(&e, "s", NOW).is_none());
    e.set_paused("c", false);
    assert!(ask(&e, "s", NOW).is_some());
    let e = engine(vec![campaign("other", json!({"partnerIds": ["p2"]}))]);
    assert!(ask(&e, "s", NOW).is_none());
}

#[test]
fn frequency_cap_per_visitor_and_period() {
    let e = engine(vec![campaign(
        "c",
        json!({"frequencyCap": {"count": 2, "periodHours": 1}}),
    )]);
    assert!(ask(&e, "s", NOW).is_some());
    assert!(ask(&e, "s", NOW + 1).is_some());
    assert!(ask(&e, "s", NOW + 2).is_none());
    assert!(ask(&e, "t", NOW + 2).is_some());
    assert!(ask(&e, "s", NOW + 3_600_000).is_some());
}

#[test]
fn shelves_hold_available_products_only() {
    let shelf = json!({"contents": [{"type": "productIds", "productIds": [6, 5, 404]}]});
    let e = engine(vec![campaign("shelf", shelf)]);
    let v = Visitor {
        session: "s".into(),
        ..Default::default()
    };
    let p = placement(PlacementKind::Any);
    let run = |e: &Engine, accept: &[ContentType], stock: Option<&str>| {
        let page = Page::new(PlacementKind::Any, stock);
        let ask = Ask {
            partner: PARTNER,
            placement: &p,
            accept,
            page: &page,
            visitor: &v,
            now_ms: NOW,
        };
        e.decide(&ask, &Fake).map(|d| d.body())
    };
    let ids = [ContentType::ProductIds];
    assert_eq!(
        run(&e, &ids, None),
        Some(ContentBody::ProductIds(vec![6, 5]))
    );
    assert_eq!(
        run(&e, &ids, Some("msk")),
        Some(ContentBody::ProductIds(vec![5]))
    );
    let gone = json!({"contents": [{"type": "productIds", "productIds": [404]}]});
    assert_eq!(run(&engine(vec![campaign("gone", gone)]), &ids, None), None);
    // Not accepted by the request: nothing.
    assert_eq!(run(&e, &[ContentType::String], None), None);
}

#[test]
fn counting_once_own_partner_within_a_day() {
    let e = engine(vec![campaign("c", json!({}))]);
    let id = ask(&e, "s", NOW).unwrap().impression_id();
    assert!(e.count(2, &id, EventKind::View, NOW).is_none());
    let charge = e.count(PARTNER, &id, EventKind::View, NOW).unwrap();
    assert_eq!(charge.price, 10 * 1_000_000_000 / 1000);
    assert!(e.count(PARTNER, &id, EventKind::View, NOW).is_none());
    assert!(e.count(PARTNER, &id, EventKind::Click, NOW).is_some());
    assert!(e.count(PARTNER, "nonsense", EventKind::View, NOW).is_none());
    let late = ask(&e, "s", NOW).unwrap().impression_id();
    assert!(e
        .count(PARTNER, &late, EventKind::View, NOW + DAY_MS + 1)
        .is_none());
}

#[test]
fn budget_exhaustion_stops_serving() {
    // 0.01 per view; total 0.05: five views.
    let e = engine(vec![campaign("c", json!({"budget": {"total": 0.05}}))]);
    for _ in 0..5 {
        let id = ask(&e, "s", NOW).unwrap().impression_id();
        e.count(PARTNER, &id, EventKind::View, NOW).unwrap();
    }
    assert!(ask(&e, "s", NOW).is_none());
    assert_eq!(e.get("c").unwrap().counters.spent(), 50_000_000);
}

#[test]
fn restored_impressions_keep_dedupe_and_caps() {
    let e = engine(vec![campaign(
        "c",
        json!({"frequencyCap": {"count": 1, "periodHours": 2}}),
    )]);
    let id = format!("{:032x}", 99u128);
    let content = e.get("c").unwrap().campaign.contents[0].id.clone();
    e.restore_impression(
        &id,
        PARTNER,
        "c",
        &content,
        "pl",
        "s",
        NOW - 1000,
        true,
        false,
        NOW,
    );
    assert!(ask(&e, "s", NOW).is_none());
    assert!(e.count(PARTNER, &id, EventKind::View, NOW).is_none());
    let click = e.count(PARTNER, &id, EventKind::Click, NOW).unwrap();
    assert_eq!(
        (
            click.content_id,
            click.placement_id.as_str(),
            click.served_ms
        ),
        (content, "pl", NOW - 1000)
    );
}

#[test]
fn bad_campaigns_name_the_field() {
    let resolve = |_: &str| Some(1);
    let base = json!({"advertiserId": "a", "name": "n", "partnerIds": ["p"], "budget": {"total": 1}, "pricing": {"model": "cpm", "bid": 1}, "contents": [{"type": "string", "string": "x"}]});
    assert!(campaign_from_json(&base, "c", &resolve, 0).is_ok());
    for (key, value, field) in [
        ("budget", json!({"total": -1}), "budget.total"),
        (
            "pricing",
            json!({"model": "cpa", "bid": 1}),
            "pricing.model",
        ),
        ("contents", json!([{"type": "html"}]), "contents[0].type"),
        (
            "targeting",
            json!({"priceRange": {"min": 5, "max": 1}}),
            "targeting.priceRange",
        ),
        (
            "frequencyCap",
            json!({"count": 0, "periodHours": 1}),
            "frequencyCap.count",
        ),
        ("endsAt", json!("2000-01-01T00:00:00Z"), "endsAt"),
    ] {
        let mut b = base.clone();
        b[key] = value;
        let err = campaign_from_json(&b, "c", &resolve, 1_700_000_000_000).unwrap_err();
        assert_eq!(err.field.as_deref(), Some(field));
    }
}

#[derive(Debug, Clone)]
enum Op {
    Serve,
    View(usize),
    Click(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            Just(Op::Serve),
            (0usize..64).prop_map(Op::View),
            (0usize..64).prop_map(Op::Click)
        ],
        1..400,
    )
}

proptest! {
    #[test]
    fn spend_never_exceeds_budget_by_more_than_one_price(
        ops in ops(), total in 1u32..200, bid in 1u32..50, cpc in any::<bool>()
    ) {
        let model = if cpc { "cpc" } else { "cpm" };
        let total = total as f64 / 100.0;
        let bid = bid as f64 / 10.0;
        let c = campaign("c", json!({"budget": {"total": total}, "pricing": {"model": model, "bid": bid}}));
        let price = c.event_price();
        let budget = c.budget.total;
        let e = engine(vec![c]);
        let mut served = Vec::new();
        let mut charged = 0;
        let (mut views, mut clicks) = (0u64, 0u64);
        for op in ops {
            match op {
                Op::Serve => served.extend(ask(&e, "s", NOW).map(|d| d.impression_id())),
                Op::View(i) | Op::Click(i) if !served.is_empty() => {
                    let id = &served[i % served.len()];
                    let kind = if matches!(op, Op::View(_)) { EventKind::View } else { EventKind::Click };
                    if let Some(ch) = e.count(PARTNER, id, kind, NOW) {
                        charged += ch.price;
                        match kind { EventKind::View => views += 1, EventKind::Click => clicks += 1 }
                    }
                }
                _ => {}
            }
        }
        let live = e.get("c").unwrap();
        prop_assert!(live.counters.spent() <= budget + price);
        prop_assert_eq!(live.counters.spent(), charged);
        prop_assert_eq!(live.counters.views(), views);
        prop_assert_eq!(live.counters.clicks(), clicks);
        prop_assert_eq!(live.counters.served(), served.len() as u64);
    }

    #[test]
    fn paced_campaigns_spread_spend_over_the_day(
        times in proptest::collection::vec(0i64..DAY_MS, 3_000..5_000)
    ) {
        // 0.01 per view; daily 10.0 = 1000 views; heavy traffic all day long.
        let day0 = 20_000 * DAY_MS;
        let mut c = campaign("c", json!({"budget": {"total": 1000.0, "daily": 10.0}}));
        c.starts_ms = day0;
        let daily = c.budget.daily.unwrap();
        let price = c.event_price();
        let e = engine(vec![c]);
        let mut times = times;
        times.sort_unstable();
        let mut by_hour = [0i64; 24];
        for t in times {
            if let Some(d) = ask(&e, "s", day0 + t) {
                let ch = e.count(PARTNER, &d.impression_id(), EventKind::View, day0 + t).unwrap();
                by_hour[(t / 3_600_000) as usize] += ch.price;
            }
        }
        let mut cumulative = 0;
        for (h, spent) in by_hour.iter().enumerate() {
            cumulative += spent;
            // Never ahead of the line by the end of hour h (plus the slack hour and one price).
            prop_assert!(cumulative <= daily * (h as i64 + 2) / 24 + price, "hour {h}: {cumulative}");
        }
        prop_assert!(cumulative <= daily + price);
        prop_assert!(cumulative >= daily * 9 / 10, "spent only {cumulative} of {daily}");
    }
}

#[test]
fn a_campaign_under_two_matching_keys_is_one_candidate() {
    // Product 5 sits in 100 (under 10 under 1): "both" is indexed under 10 and 100 and
    // gathered twice for it, yet rotates evenly with "one".
    let e = engine(vec![
        campaign("both", json!({"targeting": {"categoryIds": [10, 100]}})),
        campaign("one", json!({"targeting": {"categoryIds": [1]}})),
    ]);
    let p = placement(PlacementKind::Product);
    let page = Page::new(PlacementKind::Product, None).with_products(&[5], &Fake);
    let v = Visitor {
        session: "s".into(),
        ..Default::default()
    };
    let ask = Ask {
        partner: PARTNER,
        placement: &p,
        accept: &[ContentType::String],
        page: &page,
        visitor: &v,
        now_ms: NOW,
    };
    let both = (0..1000)
        .filter(|_| e.decide(&ask, &Fake).unwrap().campaign_id() == "both")
        .count();
    assert_eq!(both, 500);
}

fn random_campaign() -> impl Strategy<Value = (serde_json::Value, u64, u64)> {
    let targeting = prop_oneof![
        Just(json!({})),
        Just(json!({"categoryIds": [10]})),
        Just(json!({"categoryIds": [2, 100]})),
        Just(json!({"vendors": ["acme"]})),
        Just(json!({"productIds": [6]})),
        Just(json!({"stockIds": ["msk"]})),
        Just(json!({"priceRange": {"min": 60, "max": 100}})),
        Just(json!({"keywords": ["red"]})),
        Just(json!({"categoryIds": [1], "vendors": ["other"]})),
    ];
    let content = prop_oneof![
        Just(json!({"type": "string", "string": "<b>\"x\"</b>"})),
        Just(json!({"type": "productIds", "productIds": [6]})),
        Just(json!({"type": "productIds", "productIds": [5, 6]})),
    ];
    (
        targeting,
        proptest::collection::vec(content, 1..3),
        any::<bool>(),
        1u32..4,
        0u64..50,
        0u64..5,
    )
        .prop_map(|(targeting, contents, cpc, bid, views, clicks)| {
            let model = if cpc { "cpc" } else { "cpm" };
            // CPC bids a thousandth of CPM ones so that the two models tie and interleave.
            let bid = if cpc { bid as f64 / 100.0 } else { bid as f64 };
            (
                json!({"targeting": targeting, "contents": contents,
                       "pricing": {"model": model, "bid": bid}}),
                views,
                clicks,
            )
        })
}

proptest! {
    #[test]
    fn the_winner_has_the_highest_value_among_eligible_contents(
        specs in proptest::collection::vec(random_campaign(), 1..30),
        product in 5i64..7, msk in any::<bool>(), strings in any::<bool>()
    ) {
        let e = Engine::new(3);
        let mut all = Vec::new();
        for (i, (extra, views, clicks)) in specs.into_iter().enumerate() {
            let c = campaign(&format!("c{i}"), extra);
            let totals = Totals { views, clicks, ..Default::default() };
            all.push((c.clone(), c.value_per_view(views, clicks)));
            e.insert(c, totals);
        }
        let stock = msk.then_some("msk");
        let page = Page::new(PlacementKind::Product, stock).with_products(&[product], &Fake);
        let v = Visitor { session: "s".into(), ..Default::default() };
        let p = placement(PlacementKind::Product);
        let accept: &[ContentType] = if strings {
            &[ContentType::String, ContentType::ProductIds]
        } else {
            &[ContentType::ProductIds]
        };
        // By brute force: every content the request shows, of a matching campaign, with
        // a non-empty shelf.
        let servable = |c: &Content| match &c.body {
            ContentBody::String(_) => strings,
            ContentBody::ProductIds(ids) => ids.iter().any(|id| Fake.available(*id, stock)),
        };
        let best = all
            .iter()
            .filter(|(c, _)| c.targeting.matches(&page, &v, &Fake) && c.contents.iter().any(servable))
            .map(|(_, value)| *value)
            .max_by(|a, b| a.total_cmp(b));
        let ask = Ask { partner: PARTNER, placement: &p, accept, page: &page, visitor: &v, now_ms: NOW };
        let decision = e.decide(&ask, &Fake);
        prop_assert_eq!(decision.is_some(), best.is_some());
        if let Some(d) = decision {
            let (c, value) = all.iter().find(|(c, _)| c.id == d.campaign_id()).unwrap();
            prop_assert_eq!(Some(*value), best);
            prop_assert!(c.targeting.matches(&page, &v, &Fake));
            prop_assert!(servable(&c.contents[d.content]));
        }
    }
}

#[test]
fn counted_clicks_raise_a_cpc_campaign_above_cpm_bids() {
    // "clicky" is worth 0.01 a view at the 1% prior, below the CPM campaign's 0.015;
    // five clicks on five views make it 6/105 x 1.0 = 0.057 a view.
    let e = engine(vec![
        campaign("clicky", json!({"pricing": {"model": "cpc", "bid": 1.0}})),
        campaign(
            "cpm",
            json!({"pricing": {"model": "cpm", "bid": 15.0}, "targeting": {"stockIds": ["msk"]}}),
        ),
    ]);
    let p = placement(PlacementKind::Any);
    let v = Visitor {
        session: "s".into(),
        ..Default::default()
    };
    let run = |stock: Option<&str>| {
        let page = Page::new(PlacementKind::Any, stock);
        let ask = Ask {
            partner: PARTNER,
            placement: &p,
            accept: &[ContentType::String],
            page: &page,
            visitor: &v,
            now_ms: NOW,
        };
        e.decide(&ask, &Fake).unwrap()
    };
    assert_eq!(run(Some("msk")).campaign_id(), "cpm");
    for _ in 0..5 {
        let d = run(None);
        assert_eq!(d.campaign_id(), "clicky");
        e.count(PARTNER, &d.impression_id(), EventKind::View, NOW)
            .unwrap();
        e.count(PARTNER, &d.impression_id(), EventKind::Click, NOW)
            .unwrap();
    }
    assert_eq!(run(Some("msk")).campaign_id(), "clicky");
    // Pruning recomputes the bound from the counters: still above "clicky"'s rate.
    e.prune(NOW);
    assert_eq!(run(Some("msk")).campaign_id(), "clicky");
}
