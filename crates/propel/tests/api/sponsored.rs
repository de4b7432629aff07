//! Sponsored placements end to end: the admin side creates placements, advertisers and
//! campaigns; the shop side asks for content; tracking counts views and clicks.

use crate::common::*;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// Categories 1 Home > 10 Kitchen > 100 Forks; 2 Garden.
/// 5: Forks, Acme, 50 (80 in "msk"); 6: Garden, Other, 20, unavailable in "msk";
/// 7: Kitchen, unavailable.
const FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?><yml_catalog date="2024-05-01 12:00"><shop><name>S</name>
<categories><category id="1">Home</category><category id="10" parentId="1">Kitchen</category>
<category id="100" parentId="10">Forks</category><category id="2">Garden</category></categories><offers>
<offer id="5" available="true"><price>50</price><categoryId>100</categoryId><name>Fork</name><vendor>Acme</vendor>
<stock id="msk"><price>80</price></stock></offer>
<offer id="6" available="true"><price>20</price><categoryId>2</categoryId><name>Rake</name><vendor>Other</vendor>
<stock id="msk"><available>false</available></stock></offer>
<offer id="7" available="false"><price>9</price><categoryId>10</categoryId><name>Pot</name></offer>
</offers></shop></yml_catalog>"#;

const KINDS: [(&str, &str); 5] = [
    ("product", "productPlacements"),
    ("productGroup", "productGroupPlacements"),
    ("category", "categoryPlacements"),
    ("search", "searchPlacements"),
    ("any", "anyPlacements"),
];

struct Shop {
    p: Partner,
    advertiser: String,
    /// Placement ids by kind name.
    placements: Vec<(String, String)>,
}

impl Shop {
    fn placement(&self, kind: &str) -> &str {
        &self.placements.iter().find(|(k, _)| k == kind).unwrap().1
    }
}

async fn post(c: &Client, s: &Server, path: &str, body: Value) -> (StatusCode, Value) {
    admin(c, s, Method::POST, path, Some(body)).await
}

async fn shop(c: &Client, s: &Server, unlimited: bool) -> Shop {
    let p = create_partner(c, s).await;
    if unlimited {
        unlimit(c, s, &p).await;
    }
    let resp = c
        .post(s.url(&format!("/admin/partners/{}/feed", p.id)))
        .bearer_auth(TOKEN)
        .header("content-type", "application/xml")
        .body(FEED)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut placements = Vec::new();
    for (kind, _) in KINDS {
        let body = json!({"kind": kind, "name": kind, "contentTypes": ["string", "productIds"]});
        let (status, r) = post(c, s, &format!("/admin/partners/{}/placements", p.id), body).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        placements.push((
            kind.to_string(),
            r["placementId"].as_str().unwrap().to_string(),
        ));
    }
    let (status, r) = post(c, s, "/admin/advertisers", json!({"name": "Acme"})).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    Shop {
        p,
        advertiser: r["advertiserId"].as_str().unwrap().to_string(),
        placements,
    }
}

/// A campaign on the shop: a string banner, CPM 10, budget 100, plus `extra` keys.
async fn campaign(c: &Client, s: &Server, shop: &Shop, extra: Value) -> (String, Vec<String>) {
    let mut body = json!({
        "advertiserId": shop.advertiser, "name": "c", "partnerIds": [shop.p.id],
        "budget": {"total": 100}, "pricing": {"model": "cpm", "bid": 10},
        "contents": [{"type": "string", "string": "<b>banner</b>"}]
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, r) = post(c, s, "/admin/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let contents = r["contentIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (r["campaignId"].as_str().unwrap().to_string(), contents)
}

/// Asks a placement of `kind` for content; `params` come first (the first value of a
/// repeated parameter counts), then session s1 and both content types.
async fn ask(c: &Client, s: &Server, shop: &Shop, kind: &str, params: &str) -> (StatusCode, Value) {
    let segment = KINDS.iter().find(|(k, _)| *k == kind).unwrap().1;
    let path = format!(
        "/v1/partners/{}/{segment}/{}/impressions?{params}&apiKey={}&sessionExternalId=s1&acceptContent=string,productIds",
        shop.p.id,
        shop.placement(kind),
        shop.p.key
    );
    raw_get(c, s, &path).await
}

async fn raw_get(c: &Client, s: &Server, path: &str) -> (StatusCode, Value) {
    let resp = c.get(s.url(path)).send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    if status == StatusCode::NO_CONTENT {
        assert!(text.is_empty());
    }
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn status(c: &Client, s: &Server, shop: &Shop, kind: &str, params: &str) -> StatusCode {
    ask(c, s, shop, kind, params).await.0
}

async fn report(c: &Client, s: &Server, id: &str) -> Value {
    let (status, r) = admin(
        c,
        s,
        Method::GET,
        &format!("/admin/campaigns/{id}/report"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    r
}

async fn event(c: &Client, s: &Server, p: &Partner, method: &str, id: &str) {
    let (status, body) = track(
        c,
        s,
        p,
        method,
        &json!({"sessionExternalId": "s1", "impressionContentId": id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn start() -> (tempfile::TempDir, Server, Client) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    (dir, server, h2c())
}

#[tokio::test]
async fn every_targeting_key() {
    let (_d, s, c) = start();
    let ok = StatusCode::OK;
    let none = StatusCode::NO_CONTENT;
    let sh = shop(&c, &s, true).await;
    campaign(&c, &s, &sh, json!({"targeting": {"categoryIds": [10]}})).await;
    assert_eq!(status(&c, &s, &sh, "product", "productId=5").await, ok);
    assert_eq!(status(&c, &s, &sh, "product", "productId=6").await, none);
    assert_eq!(status(&c, &s, &sh, "category", "categoryId=100").await, ok);
    assert_eq!(status(&c, &s, &sh, "category", "categoryId=2").await, none);
    assert_eq!(status(&c, &s, &sh, "any", "").await, none);

    let sh = shop(&c, &s, true).await;
    campaign(
        &c,
        &s,
        &sh,
        json!({"targeting": {"categoryPaths": ["Home/Kitchen"]}}),
    )
    .await;
    assert_eq!(status(&c, &s, &sh, "product", "productId=5").await, ok);
    assert_eq!(status(&c, &s, &sh, "product", "productId=6").await, none);
    assert_eq!(
        status(&c, &s, &sh, "category", "categoryPath=Home/Kitchen/Forks").await,
        ok
    );
    assert_eq!(
        status(&c, &s, &sh, "category", "categoryPath=Garden").await,
        none
    );

    let sh = shop(&c, &s, true).await;
    campaign(&c, &s, &sh, json!({"targeting": {"vendors": ["ACME"]}})).await;
    assert_eq!(status(&c, &s, &sh, "product", "productId=5").await, ok);
    assert_eq!(status(&c, &s, &sh, "product", "productId=6").await, none);
    assert_eq!(
        status(&c, &s, &sh, "productGroup", "productIds=6,5").await,
        ok
    );
    assert_eq!(
        status(&c, &s, &sh, "productGroup", "productIds=6").await,
        none
    );

    let sh = shop(&c, &s, true).await;
    campaign(&c, &s, &sh, json!({"targeting": {"productIds": [6]}})).await;
    assert_eq!(status(&c, &s, &sh, "product", "productId=6").await, ok);
    assert_eq!(status(&c, &s, &sh, "product", "productId=5").await, none);

    let sh = shop(&c, &s, true).await;
    campaign(
        &c,
        &s,
        &sh,
        json!({"targeting": {"priceRange": {"min": 60, "max": 100}}}),
    )
    .await;
    assert_eq!(status(&c, &s, &sh, "product", "productId=5").await, none);
    assert_eq!(
        status(&c, &s, &sh, "product", "productId=5&stockId=msk").await,
        ok
    );

    let sh = shop(&c, &s, true).await;
    campaign(
        &c,
        &s,
        &sh,
        json!({"targeting": {"keywords": ["Red  Shoes"]}}),
    )
    .await;
    assert_eq!(
        status(&c, &s, &sh, "search", "searchQuery=cheap%20RED%20%20shoes").await,
        ok
    );
    assert_eq!(
        status(&c, &s, &sh, "search", "searchQuery=red%20hat").await,
        none
    );
    assert_eq!(status(&c, &s, &sh, "product", "productId=5").await, none);

    let sh = shop(&c, &s, true).await;
    campaign(
        &c,
        &s,
        &sh,
        json!({"targeting": {"interestCategoryIds": [1]}}),
    )
    .await;
    assert_eq!(status(&c, &s, &sh, "any", "").await, none);
    let (st, body) = track(
        &c,
        &s,
        &sh.p,
        "view",
        &json!({"sessionExternalId": "s1", "productId": 5}),
    )
    .await;
    assert_eq!(st, ok, "{body}");
    assert_eq!(status(&c, &s, &sh, "any", "").await, ok);

    let sh = shop(&c, &s, true).await;
    campaign(&c, &s, &sh, json!({"targeting": {"stockIds": ["msk"]}})).await;
    assert_eq!(status(&c, &s, &sh, "any", "stockId=msk").await, ok);
    assert_eq!(status(&c, &s, &sh, "any", "").await, none);
}

#[tokio::test]
async fn each_kind_answers_an_impression_and_refuses_what_is_wrong() {
    let (_d, s, c) = start();
    let sh = shop(&c, &s, true).await;
    let (_, contents) = campaign(&c, &s, &sh, json!({})).await;
    let mut ids = std::collections::HashSet::new();
    for (kind, params) in [
        ("product", "productId=5"),
        ("productGroup", "productIds=5,6"),
        ("category", "categoryId=1"),
        ("search", "searchQuery=forks"),
        ("any", ""),
    ] {
        let (st, body) = ask(&c, &s, &sh, kind, params).await;
        assert_eq!(st, StatusCode::OK, "{kind}: {body}");
        assert_eq!(body["content"]["id"], contents[0].as_str());
        assert_eq!(body["content"]["string"], "<b>banner</b>");
        assert!(
            ids.insert(body["id"].as_str().unwrap().to_string()),
            "impression ids are unique"
        );
    }
    for (kind, params, field) in [
        ("product", "", "productId"),
        ("product", "productId=x", "productId"),
        ("productGroup", "productIds=1,a", "productIds"),
        ("category", "", "categoryId"),
        ("category", "categoryId=1&categoryPath=Home", "categoryId"),
        ("search", "", "searchQuery"),
    ] {
        let (st, body) = ask(&c, &s, &sh, kind, params).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{kind} {params}");
        assert_eq!(body["field"], field, "{body}");
    }
    let base = format!("/v1/partners/{}", sh.p.id);
    let q = format!(
        "apiKey={}&sessionExternalId=s1&acceptContent=string&productId=5",
        sh.p.key
    );
    // Unknown placement, another kind's placement, unknown kind: 404.
    for path in [
        format!("{base}/productPlacements/nope/impressions?{q}"),
        format!(
            "{base}/searchPlacements/{}/impressions?{q}&searchQuery=x",
            sh.placement("product")
        ),
        format!(
            "{base}/bannerPlacements/{}/impressions?{q}",
            sh.placement("product")
        ),
    ] {
        let (st, body) = raw_get(&c, &s, &path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    // Another partner's placement: 404 for this partner.
    let other = shop(&c, &s, true).await;
    let path = format!(
        "/v1/partners/{}/productPlacements/{}/impressions?apiKey={}&sessionExternalId=s1&acceptContent=string&productId=5",
        other.p.id,
        sh.placement("product"),
        other.p.key
    );
    assert_eq!(raw_get(&c, &s, &path).await.0, StatusCode::NOT_FOUND);
    // Wrong key: 401; bad session: 400.
    let path = format!("{base}/anyPlacements/{}/impressions?apiKey=wrong&sessionExternalId=s1&acceptContent=string", sh.placement("any"));
    assert_eq!(raw_get(&c, &s, &path).await.0, StatusCode::UNAUTHORIZED);
    let (st, body) = ask(&c, &s, &sh, "any", "sessionExternalId=x").await;
    assert_eq!(
        st,
        StatusCode::OK,
        "the first sessionExternalId counts: {body}"
    );
    let path = format!("{base}/anyPlacements/{}/impressions?apiKey={}&sessionExternalId=a%20b&acceptContent=string", sh.placement("any"), sh.p.key);
    assert_eq!(raw_get(&c, &s, &path).await.1["field"], "sessionExternalId");
    // Only GET; a percent-encoded placement id is the same placement.
    let path = format!(
        "{base}/anyPlacements/{}/impressions?apiKey={}&sessionExternalId=s1&acceptContent=string",
        sh.placement("any"),
        sh.p.key
    );
    let resp = c.post(s.url(&path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "GET");
    let id = sh.placement("any");
    let encoded = format!("%{:02X}{}", id.as_bytes()[0], &id[1..]);
    let path = format!("{base}/anyPlacements/{encoded}/impressions?apiKey={}&sessionExternalId=s1&acceptContent=string", sh.p.key);
    assert_eq!(raw_get(&c, &s, &path).await.0, StatusCode::OK);
    // A segment that does not decode to UTF-8 names no placement.
    let path = format!(
        "{base}/anyPlacements/%ff/impressions?apiKey={}&sessionExternalId=s1&acceptContent=string",
        sh.p.key
    );
    let (st, body) = raw_get(&c, &s, &path).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn accept_content_negotiation_and_available_shelves() {
    let (_d, s, c) = start();
    let sh = shop(&c, &s, true).await;
    let contents = json!([{"type": "string", "string": "hi"}, {"type": "productIds", "productIds": [7, 6, 5, 404]}]);
    campaign(&c, &s, &sh, json!({"contents": contents})).await;
    let any = sh.placement("any");
    let base = format!(
        "/v1/partners/{}/anyPlacements/{any}/impressions?apiKey={}&sessionExternalId=s1",
        sh.p.id, sh.p.key
    );
    let (st, body) = raw_get(&c, &s, &format!("{base}&acceptContent=string")).await;
    assert_eq!(
        (st, body["content"]["string"].clone()),
        (StatusCode::OK, json!("hi"))
    );
    let (_, body) = raw_get(&c, &s, &format!("{base}&acceptContent=productIds")).await;
    assert_eq!(body["content"]["productIds"], json!([6, 5]));
    assert!(body["content"].get("string").is_none());
    let (_, body) = raw_get(
        &c,
        &s,
        &format!("{base}&acceptContent=productIds&stockId=msk"),
    )
    .await;
    assert_eq!(body["content"]["productIds"], json!([5]));
    for bad in ["&acceptContent=html", "&acceptContent=", ""] {
        let (st, body) = raw_get(&c, &s, &format!("{base}{bad}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_eq!(body["field"], "acceptContent");
    }
    // A placement that shows strings only never gets a shelf.
    let (_, r) = post(
        &c,
        &s,
        &format!("/admin/partners/{}/placements", sh.p.id),
        json!({"kind": "any", "name": "text", "contentTypes": ["string"]}),
    )
    .await;
    let text = r["placementId"].as_str().unwrap();
    let path = format!("/v1/partners/{}/anyPlacements/{text}/impressions?apiKey={}&sessionExternalId=s1&acceptContent=productIds", sh.p.id, sh.p.key);
    assert_eq!(raw_get(&c, &s, &path).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn caps_pause_schedule_and_the_highest_bid() {
    let (_d, s, c) = start();
    let sh = shop(&c, &s, true).await;
    let (capped, _) = campaign(
        &c,
        &s,
        &sh,
        json!({"frequencyCap": {"count": 2, "periodHours": 1}}),
    )
    .await;
    assert_eq!(status(&c, &s, &sh, "any", "").await, StatusCode::OK);
    assert_eq!(status(&c, &s, &sh, "any", "").await, StatusCode::OK);
    assert_eq!(status(&c, &s, &sh, "any", "").await, StatusCode::NO_CONTENT);
    assert_eq!(
        status(&c, &s, &sh, "any", "sessionExternalId=other").await,
        StatusCode::OK
    );

    let sh = shop(&c, &s, true).await;
    let (id, _) = campaign(&c, &s, &sh, json!({})).await;
    let (st, _) = post(&c, &s, &format!("/admin/campaigns/{id}/pause"), json!({})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(status(&c, &s, &sh, "any", "").await, StatusCode::NO_CONTENT);
    let (_, got) = admin(&c, &s, Method::GET, &format!("/admin/campaigns/{id}"), None).await;
    assert_eq!(got["status"], "paused");
    post(&c, &s, &format!("/admin/campaigns/{id}/resume"), json!({})).await;
    assert_eq!(status(&c, &s, &sh, "any", "").await, StatusCode::OK);

    let sh = shop(&c, &s, true).await;
    campaign(&c, &s, &sh, json!({"startsAt": "2099-01-01T00:00:00Z"})).await;
    campaign(
        &c,
        &s,
        &sh,
        json!({"startsAt": "2020-01-01T00:00:00Z", "endsAt": "2020-02-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status(&c, &s, &sh, "any", "").await, StatusCode::NO_CONTENT);
    let (cheap, _) = campaign(&c, &s, &sh, json!({"pricing": {"model": "cpm", "bid": 1}})).await;
    let (dear, _) = campaign(&c, &s, &sh, json!({"pricing": {"model": "cpm", "bid": 5}, "contents": [{"type": "string", "string": "dear"}]})).await;
    for _ in 0..5 {
        assert_eq!(
            ask(&c, &s, &sh, "any", "").await.1["content"]["string"],
            "dear"
        );
    }
    let _ = (capped, cheap, dear);
}

#[tokio::test]
async fn budget_dedupe_foreign_ids_report_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = h2c();
    let mut s = Server::start(dir.path());
    let sh = shop(&c, &s, true).await;
    let other = shop(&c, &s, true).await;
    // 0.01 per view, 0.03 in all: three counted views.
    let (id, _) = campaign(&c, &s, &sh, json!({"budget": {"total": 0.03}})).await;
    let mut served = Vec::new();
    for _ in 0..3 {
        let (st, body) = ask(&c, &s, &sh, "any", "").await;
        assert_eq!(st, StatusCode::OK);
        let imp = body["id"].as_str().unwrap().to_string();
        event(&c, &s, &sh.p, "impressionContentViewed", &imp).await;
        event(&c, &s, &sh.p, "impressionContentViewed", &imp).await;
        event(&c, &s, &other.p, "impressionContentViewed", &imp).await;
        served.push(imp);
    }
    event(
        &c,
        &s,
        &sh.p,
        "impressionContentViewed",
        "0123456789abcdef0123456789abcdef",
    )
    .await;
    event(&c, &s, &sh.p, "impressionContentClicked", &served[0]).await;
    assert_eq!(
        status(&c, &s, &sh, "any", "").await,
        StatusCode::NO_CONTENT,
        "budget spent"
    );
    let r = report(&c, &s, &id).await;
    assert_eq!(
        (
            r["served"].as_u64(),
            r["viewed"].as_u64(),
            r["clicked"].as_u64()
        ),
        (Some(3), Some(3), Some(1))
    );
    assert!((r["spend"].as_f64().unwrap() - 0.03).abs() < 1e-9, "{r}");
    assert!((r["ctr"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    for list in ["byDay", "byPlacement", "byContent"] {
        let served: u64 = r[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["served"].as_u64().unwrap())
            .sum();
        assert_eq!(served, 3, "{list}");
    }
    // After a restart: the counts stay, and the same view still counts only once.
    s.terminate();
    let s = Server::start(dir.path());
    event(&c, &s, &sh.p, "impressionContentViewed", &served[1]).await;
    let again = report(&c, &s, &id).await;
    assert_eq!(again["viewed"], r["viewed"]);
    assert_eq!(again["spend"], r["spend"]);
    let (_, got) = admin(&c, &s, Method::GET, &format!("/admin/campaigns/{id}"), None).await;
    assert_eq!(got["status"], "exhausted");
    assert_eq!(status(&c, &s, &sh, "any", "").await, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn default_limit_of_50_per_second() {
    let (_d, s, c) = start();
    let sh = shop(&c, &s, false).await;
    campaign(&c, &s, &sh, json!({})).await;
    let asks = (0..120).map(|_| ask(&c, &s, &sh, "any", ""));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(asks)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(limited >= 50, "{limited} of 120 limited");
    assert!(statuses.contains(&StatusCode::OK));
}

#[tokio::test]
async fn admin_refuses_bad_campaigns_and_placements() {
    let (_d, s, c) = start();
    let sh = shop(&c, &s, true).await;
    let good = json!({"advertiserId": sh.advertiser, "name": "c", "partnerIds": [sh.p.id], "budget": {"total": 1}, "pricing": {"model": "cpc", "bid": 1}, "contents": [{"type": "string", "string": "x"}]});
    for (key, value, field) in [
        ("advertiserId", json!("nobody"), "advertiserId"),
        (
            "partnerIds",
            json!(["000000000000000000000000"]),
            "partnerIds",
        ),
        ("budget", json!({"total": 0}), "budget.total"),
        ("pricing", json!({"model": "cpm"}), "pricing.bid"),
        ("contents", json!([]), "contents"),
        (
            "targeting",
            json!({"categoryIds": ["x"]}),
            "targeting.categoryIds",
        ),
        ("startsAt", json!("yesterday"), "startsAt"),
    ] {
        let mut b = good.clone();
        b[key] = value;
        let (st, body) = post(&c, &s, "/admin/campaigns", b).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{key}");
        assert_eq!(body["field"], field, "{body}");
    }
    let (st, body) = post(
        &c,
        &s,
        &format!("/admin/partners/{}/placements", sh.p.id),
        json!({"kind": "banner", "name": "x", "contentTypes": ["string"]}),
    )
    .await;
    assert_eq!(
        (st, body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("kind"))
    );
    let (st, _) = post(
        &c,
        &s,
        "/admin/partners/000000000000000000000000/placements",
        json!({"kind": "any", "name": "x", "contentTypes": ["string"]}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = admin(&c, &s, Method::GET, "/admin/campaigns/nope/report", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let resp = c
        .post(s.url("/admin/advertisers"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
