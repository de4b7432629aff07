//! The recommendation resources on small hand-made histories: each test proves what
//! makes a resource that resource and not another.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// (id, category, price, old price, available, available in stock "msk").
type Offer = (i64, i64, f64, Option<f64>, bool, Option<bool>);

/// Categories: 1 Home > 10 Kitchen > 100 Forks; 2 Garden. Offer ids are product ids.
fn feed(offers: &[Offer]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><yml_catalog date="2024-05-01 12:00"><shop><name>S</name>
<categories><category id="1">Home</category><category id="10" parentId="1">Kitchen</category>
<category id="100" parentId="10">Forks</category><category id="2">Garden</category></categories><offers>"#,
    );
    for (id, cat, price, old, available, msk) in offers {
        xml.push_str(&format!(r#"<offer id="{id}" available="{available}"><url>https://s.example/p/{id}</url><price>{price}</price>"#));
        if let Some(old) = old {
            xml.push_str(&format!("<oldprice>{old}</oldprice>"));
        }
        xml.push_str(&format!(
            "<categoryId>{cat}</categoryId><name>Product {id}</name><vendor>V{id}</vendor>"
        ));
        if let Some(msk) = msk {
            xml.push_str(&format!(
                r#"<stock id="msk"><available>{msk}</available></stock>"#
            ));
        }
        xml.push_str("</offer>");
    }
    xml.push_str("</offers></shop></yml_catalog>");
    xml
}

async fn import(client: &reqwest::Client, server: &Server, p: &Partner, xml: String) {
    let resp = client
        .post(server.url(&format!("/admin/partners/{}/feed", p.id)))
        .bearer_auth(TOKEN)
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(status, StatusCode::OK, "{}", resp.text().await.unwrap());
}

async fn recs(
    client: &reqwest::Client,
    server: &Server,
    p: &Partner,
    resource: &str,
    params: &str,
) -> (StatusCode, Value, String) {
    let resp = client
        .get(server.url(&format!(
            "/api/3.0/{resource}/?apiKey={}&partnerId={}&{params}",
            p.key, p.id
        )))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let cache = resp
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, resp.json().await.unwrap(), cache)
}

async fn ids(
    client: &reqwest::Client,
    server: &Server,
    p: &Partner,
    resource: &str,
    params: &str,
) -> Vec<i64> {
    let (status, body, _) = recs(client, server, p, resource, params).await;
    assert_eq!(status, StatusCode::OK, "{resource}?{params}: {body}");
    match body["recommendations"].as_array().unwrap().first() {
        None => Vec::new(),
        Some(r) => r["productId"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect(),
    }
}

async fn events(client: &reqwest::Client, server: &Server, p: &Partner, batch: Vec<Value>) {
    let (status, body) = track(client, server, p, "visitorEvents", &Value::Array(batch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn view(s: &str, id: i64) -> Value {
    json!({"view": {"sessionExternalId": s, "productId": id}})
}

fn basket(s: &str, id: i64) -> Value {
    json!({"addToBasket": {"sessionExternalId": s, "productId": id}})
}

async fn setup(extra_env_rebuild: bool) -> (tempfile::TempDir, Server, reqwest::Client, Partner) {
    let dir = tempfile::tempdir().unwrap();
    let server = if extra_env_rebuild {
        std::env::set_var("PROPEL_MODEL_REBUILD_SECONDS", "1");
        let s = Server::start(dir.path());
        std::env::remove_var("PROPEL_MODEL_REBUILD_SECONDS");
        s
    } else {
        Server::start(dir.path())
    };
    let client = h2c();
    let p = create_partner(&client, &server).await;
    unlimit(&client, &server, &p).await;
    (dir, server, client, p)
}

/// Restarts so that the shop-wide models are built from everything stored.
fn restart(dir: &tempfile::TempDir, server: Server) -> Server {
    drop(server);
    Server::start(dir.path())
}

#[tokio::test]
async fn related_are_complements_and_alternatives_are_substitutes() {
    let (dir, server, client, p) = setup(false).await;
    let all: Vec<_> = (1..=6)
        .map(|id| (id, 100, 10.0, None, true, None))
        .collect();
    import(&client, &server, &p, feed(&all)).await;
    let mut batch = Vec::new();
    for v in 0..8 {
        let s = format!("sub{v}");
        // 1 and 2 are looked at instead of each other...
        batch.extend([view(&s, 1), view(&s, 2)]);
        // ...while 1 and 3 go into one basket.
        let c = format!("com{v}");
        batch.extend([view(&c, 1), basket(&c, 1), view(&c, 3), basket(&c, 3)]);
    }
    events(&client, &server, &p, batch).await;
    let server = restart(&dir, server);
    let related = ids(
        &client,
        &server,
        &p,
        "productRecommendations/related",
        "sessionExternalId=x&productIds=1",
    )
    .await;
    let alternatives = ids(
        &client,
        &server,
        &p,
        "productRecommendations/alternatives",
        "sessionExternalId=x&productIds=1",
    )
    .await;
    assert_eq!(related.first(), Some(&3), "{related:?}");
    assert_eq!(alternatives.first(), Some(&2), "{alternatives:?}");
    assert!(
        !related.contains(&1) && !alternatives.contains(&1),
        "never an input product"
    );
    assert!(
        !alternatives.contains(&3),
        "complements are not substitutes: {alternatives:?}"
    );
}

#[tokio::test]
async fn category_resources_use_subtrees_sale_and_newness() {
    let (dir, server, client, p) = setup(false).await;
    // 11 (Forks, on sale), 12 (Kitchen), 13 (Garden, on sale, most popular), 14 (Forks, unavailable).
    let first = [
        (11, 100, 5.0, Some(9.0), true, None),
        (12, 10, 5.0, None, true, None),
        (13, 2, 5.0, Some(8.0), true, None),
        (14, 100, 1.0, Some(9.0), false, None),
    ];
    import(&client, &server, &p, feed(&first)).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut second = first.to_vec();
    second.push((15, 100, 4.0, Some(6.0), true, None)); // newest, Forks, on sale
    import(&client, &server, &p, feed(&second)).await;
    let mut batch = Vec::new();
    for v in 0..5 {
        batch.extend([
            view(&format!("a{v}"), 13),
            view(&format!("a{v}"), 13),
            view(&format!("b{v}"), 12),
        ]);
    }
    batch.push(view("c", 11));
    batch.push(view("d", 14));
    events(&client, &server, &p, batch).await;
    let server = restart(&dir, server);
    let home = ids(
        &client,
        &server,
        &p,
        "categoryRecommendations/popular",
        "sessionExternalId=x&categoryIds=1",
    )
    .await;
    assert_eq!(
        &home[..2],
        &[12, 11],
        "subtree of Home, by popularity: {home:?}"
    );
    assert!(!home.contains(&13), "Garden is another subtree");
    assert!(!home.contains(&14), "unavailable");
    let forks = ids(
        &client,
        &server,
        &p,
        "categoryRecommendations/popular",
        "sessionExternalId=x&categoryIds=100",
    )
    .await;
    assert!(!forks.contains(&12), "Kitchen is above Forks: {forks:?}");
    let sale = ids(
        &client,
        &server,
        &p,
        "categoryRecommendations/saleByPopular",
        "sessionExternalId=x&categoryIds=1",
    )
    .await;
    assert_eq!(sale.first(), Some(&11), "{sale:?}");
    assert!(!sale.contains(&12), "12 is not on sale: {sale:?}");
    let latest = ids(
        &client,
        &server,
        &p,
        "categoryRecommendations/latest",
        "sessionExternalId=x&categoryIds=1",
    )
    .await;
    assert_eq!(latest.first(), Some(&15), "newest first: {latest:?}");
    let sale_latest = ids(
        &client,
        &server,
        &p,
        "categoryRecommendations/saleByLatest",
        "sessionExternalId=x&categoryIds=1,2",
    )
    .await;
    assert_eq!(sale_latest.first(), Some(&15));
    assert!(
        sale_latest.contains(&13) && !sale_latest.contains(&12),
        "{sale_latest:?}"
    );
    let unknown = ids(
        &client,
        &server,
        &p,
        "categoryRecommendations/popular",
        "sessionExternalId=x&categoryIds=999",
    )
    .await;
    assert!(unknown.is_empty());
}

#[tokio::test]
async fn personal_resources_follow_the_visitor_at_once_and_across_devices() {
    let (_dir, server, client, p) = setup(false).await;
    let all: Vec<_> = (21..=26)
        .map(|id| (id, 100, 10.0, None, true, None))
        .collect();
    import(&client, &server, &p, feed(&all)).await;
    events(
        &client,
        &server,
        &p,
        vec![view("me", 21), view("me", 22), view("me", 23)],
    )
    .await;
    let viewed = ids(
        &client,
        &server,
        &p,
        "partnerRecommendations/personalViewed",
        "sessionExternalId=me",
    )
    .await;
    assert_eq!(
        viewed,
        vec![23, 22, 21],
        "most recent first, on the next request"
    );
    let (_, _, cache) = recs(
        &client,
        &server,
        &p,
        "partnerRecommendations/personalViewed",
        "sessionExternalId=me",
    )
    .await;
    assert_eq!(cache, "private, no-store");
    // Two devices of one contact.
    events(&client, &server, &p, vec![
        json!({"setContact": {"sessionExternalId": "phone", "contactExternalId": "ann"}}),
        json!({"order": {"sessionExternalId": "phone", "productId": 24, "price": 10, "quantity": 1, "transaction": "o1"}}),
        json!({"setContact": {"sessionExternalId": "laptop", "contactExternalId": "ann"}}),
    ]).await;
    let ordered = ids(
        &client,
        &server,
        &p,
        "partnerRecommendations/personalOrdered",
        "sessionExternalId=laptop",
    )
    .await;
    assert_eq!(ordered, vec![24]);
    let stranger = ids(
        &client,
        &server,
        &p,
        "partnerRecommendations/personalOrdered",
        "sessionExternalId=stranger",
    )
    .await;
    assert!(stranger.is_empty());
}

#[tokio::test]
async fn stock_availability_and_the_base_filter_every_answer() {
    let (dir, server, client, p) = setup(false).await;
    // 31 everywhere; 32 not in stock msk; 33 unavailable; 34 viewed but not in the base.
    import(
        &client,
        &server,
        &p,
        feed(&[
            (31, 100, 10.0, None, true, None),
            (32, 100, 10.0, None, true, Some(false)),
            (33, 100, 10.0, None, false, None),
        ]),
    )
    .await;
    let mut batch = Vec::new();
    for v in 0..4 {
        let s = format!("v{v}");
        batch.extend([view(&s, 34), view(&s, 32), view(&s, 33), view(&s, 31)]);
    }
    events(&client, &server, &p, batch).await;
    let server = restart(&dir, server);
    let popular = ids(
        &client,
        &server,
        &p,
        "partnerRecommendations/popular",
        "sessionExternalId=x",
    )
    .await;
    assert_eq!(sorted(popular.clone()), vec![31, 32], "{popular:?}");
    let in_msk = ids(
        &client,
        &server,
        &p,
        "partnerRecommendations/popular",
        "sessionExternalId=x&stockId=msk",
    )
    .await;
    assert_eq!(in_msk, vec![31]);
    let (status, body, cache) = recs(
        &client,
        &server,
        &p,
        "partnerRecommendations/popular",
        "sessionExternalId=x&format=items&limit=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache, "public, max-age=60");
    assert_eq!(
        body["recommendations"][0]["productId"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let item = &body["items"][0];
    assert_eq!(item["name"], format!("Product {}", item["productId"]));
    assert_eq!(item["categoryIds"], json!([100]));
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort();
    v
}

#[tokio::test]
async fn search_learns_what_searchers_went_on_to_view() {
    let (dir, server, client, p) = setup(false).await;
    import(
        &client,
        &server,
        &p,
        feed(&[
            (41, 100, 1.0, None, true, None),
            (42, 100, 1.0, None, true, None),
        ]),
    )
    .await;
    let mut batch = Vec::new();
    for v in 0..3 {
        let s = format!("s{v}");
        batch.push(json!({"search": {"sessionExternalId": s, "searchPhrase": "Silver forks"}}));
        batch.push(view(&s, 42));
    }
    events(&client, &server, &p, batch).await;
    let server = restart(&dir, server);
    let found = ids(
        &client,
        &server,
        &p,
        "searchRecommendations/search",
        "sessionExternalId=x&searchPhrase=silver%20FORKS",
    )
    .await;
    assert_eq!(found.first(), Some(&42), "{found:?}");
}

#[tokio::test]
async fn shop_wide_models_follow_new_events_within_the_rebuild_period() {
    let (_dir, server, client, p) = setup(true).await;
    import(
        &client,
        &server,
        &p,
        feed(&[
            (51, 100, 1.0, None, true, None),
            (52, 100, 1.0, None, true, None),
        ]),
    )
    .await;
    events(
        &client,
        &server,
        &p,
        (0..5).map(|v| view(&format!("v{v}"), 52)).collect(),
    )
    .await;
    let mut popular = Vec::new();
    for _ in 0..50 {
        popular = ids(
            &client,
            &server,
            &p,
            "partnerRecommendations/popular",
            "sessionExternalId=x",
        )
        .await;
        if popular.first() == Some(&52) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(popular.first(), Some(&52));
    // A product-base change shows at once: 52 becomes unavailable.
    import(
        &client,
        &server,
        &p,
        feed(&[
            (51, 100, 1.0, None, true, None),
            (52, 100, 1.0, None, false, None),
        ]),
    )
    .await;
    let popular = ids(
        &client,
        &server,
        &p,
        "partnerRecommendations/popular",
        "sessionExternalId=x",
    )
    .await;
    assert!(!popular.contains(&52), "{popular:?}");
}

#[tokio::test]
async fn statuses_of_the_recommendation_api() {
    let (_dir, server, client, p) = setup(false).await;
    for path in [
        "partnerRecommendations/popular",
        "categoryRecommendations/popular",
        "categoryRecommendations/popularByCategoryPath",
        "categoryRecommendations/saleByPopular",
        "categoryRecommendations/saleByPopularByCategoryPath",
        "categoryRecommendations/latest",
        "categoryRecommendations/latestByCategoryPath",
        "categoryRecommendations/saleByLatest",
        "categoryRecommendations/saleByLatestByCategoryPath",
        "searchRecommendations/search",
        "productRecommendations/alternatives",
        "productRecommendations/related",
        "productRecommendations/relatedByInterestedProperties",
        "productRecommendations/relatedWithoutCurrentCategory",
        "productRecommendations/relatedWithRules",
        "productRecommendations/accessories",
        "partnerRecommendations/personalComposite",
        "partnerRecommendations/personalViewed",
        "partnerRecommendations/personalOrdered",
        "partnerRecommendations/popularInInterestedCategories",
    ] {
        let params = "sessionExternalId=x&productIds=1,2&categoryIds=1&categoryPaths=Home%2FKitchen&searchPhrase=fork";
        let (status, body, cache) = recs(&client, &server, &p, path, params).await;
        assert_eq!(
            (status, &body),
            (StatusCode::OK, &json!({"recommendations": []})),
            "{path}: cold start, empty base"
        );
        assert!(!cache.is_empty(), "{path} has Cache-Control");
        // Without the trailing slash too.
        let resp = client
            .get(server.url(&format!(
                "/api/3.0/{path}?apiKey={}&partnerId={}&{params}",
                p.key, p.id
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let cases = [
        (
            "productRecommendations/related",
            "sessionExternalId=x",
            StatusCode::BAD_REQUEST,
            "productIds",
        ),
        (
            "productRecommendations/related",
            "sessionExternalId=x&productIds=a,b",
            StatusCode::BAD_REQUEST,
            "productIds",
        ),
        (
            "categoryRecommendations/popular",
            "sessionExternalId=x",
            StatusCode::BAD_REQUEST,
            "categoryIds",
        ),
        (
            "categoryRecommendations/popularByCategoryPath",
            "sessionExternalId=x",
            StatusCode::BAD_REQUEST,
            "categoryPaths",
        ),
        (
            "searchRecommendations/search",
            "sessionExternalId=x&searchPhrase=",
            StatusCode::BAD_REQUEST,
            "searchPhrase",
        ),
        (
            "partnerRecommendations/popular",
            "",
            StatusCode::BAD_REQUEST,
            "sessionExternalId",
        ),
        (
            "partnerRecommendations/popular",
            "sessionExternalId=x&limit=101",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "partnerRecommendations/popular",
            "sessionExternalId=x&format=xml",
            StatusCode::BAD_REQUEST,
            "format",
        ),
    ];
    for (path, params, status, field) in cases {
        let (got, body, _) = recs(&client, &server, &p, path, params).await;
        assert_eq!(
            (got, body["field"].as_str()),
            (status, Some(field)),
            "{path}?{params}: {body}"
        );
    }
    let (status, body, _) = recs(
        &client,
        &server,
        &p,
        "partnerRecommendations/nope",
        "sessionExternalId=x",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let wrong = Partner {
        id: p.id.clone(),
        key: "bad".into(),
    };
    assert_eq!(
        recs(
            &client,
            &server,
            &wrong,
            "partnerRecommendations/popular",
            "sessionExternalId=x"
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    admin(
        &client,
        &server,
        Method::PUT,
        &format!("/admin/partners/{}/limits", p.id),
        Some(json!({"recommendationsRps": 1})),
    )
    .await;
    let mut limited = false;
    for _ in 0..5 {
        limited |= recs(
            &client,
            &server,
            &p,
            "partnerRecommendations/popular",
            "sessionExternalId=x",
        )
        .await
        .0 == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "the recommendations limit is its own");
}

#[tokio::test]
async fn operator_rules_shape_related_with_rules_and_accessories() {
    let (dir, server, client, p) = setup(false).await;
    // 61 fork (input, price 50); 62 fork; 63 kitchen (cheap); 64 garden (cheap); 65 garden (dear).
    import(
        &client,
        &server,
        &p,
        feed(&[
            (61, 100, 50.0, None, true, None),
            (62, 100, 40.0, None, true, None),
            (63, 10, 5.0, None, true, None),
            (64, 2, 5.0, None, true, None),
            (65, 2, 90.0, None, true, None),
        ]),
    )
    .await;
    let mut batch = Vec::new();
    for v in 0..6 {
        let s = format!("r{v}");
        batch.extend([
            view(&s, 61),
            basket(&s, 61),
            view(&s, 62),
            basket(&s, 62),
            view(&s, 63),
            basket(&s, 63),
        ]);
    }
    batch.extend([view("g", 64), view("g", 65), view("g2", 64)]);
    events(&client, &server, &p, batch).await;
    let server = restart(&dir, server);
    let q = "sessionExternalId=x&productIds=61";
    let plain = ids(
        &client,
        &server,
        &p,
        "productRecommendations/relatedWithRules",
        q,
    )
    .await;
    assert!(
        plain.contains(&62) && !plain.contains(&64),
        "without rules it is related: {plain:?}"
    );
    let accessories = ids(
        &client,
        &server,
        &p,
        "productRecommendations/accessories",
        q,
    )
    .await;
    assert_eq!(
        accessories,
        vec![63],
        "learned: another category, cheaper, bought together"
    );

    let path = format!("/admin/partners/{}/recommendation-rules", p.id);
    let rules = json!({
        "relatedWithRules": [{"category": 100, "recommendFrom": [2]}],
        "accessories": [{"category": 1, "accessoryCategories": ["Garden"]}]
    });
    let (status, _) = admin(&client, &server, Method::PUT, &path, Some(rules.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let shaped = ids(
        &client,
        &server,
        &p,
        "productRecommendations/relatedWithRules",
        q,
    )
    .await;
    assert!(
        !shaped.is_empty() && shaped.iter().all(|i| [64, 65].contains(i)),
        "only Garden: {shaped:?}"
    );
    let accessories = ids(
        &client,
        &server,
        &p,
        "productRecommendations/accessories",
        q,
    )
    .await;
    assert_eq!(
        accessories,
        vec![64],
        "the configured category, cheaper than the input"
    );
    let related = ids(&client, &server, &p, "productRecommendations/related", q).await;
    assert!(
        related.contains(&62),
        "plain related ignores the rules: {related:?}"
    );

    let (status, err) = admin(
        &client,
        &server,
        Method::PUT,
        &path,
        Some(json!({"relatedWithRules": [{"category": 1, "recommendFrom": []}]})),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("relatedWithRules[0].recommendFrom")
        )
    );
    let server = restart(&dir, server);
    let (status, kept) = admin(&client, &server, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        kept["relatedWithRules"], rules["relatedWithRules"],
        "the refused body changed nothing; the rules survive a restart"
    );
    let shaped = ids(
        &client,
        &server,
        &p,
        "productRecommendations/relatedWithRules",
        q,
    )
    .await;
    assert!(shaped.iter().all(|i| [64, 65].contains(i)), "{shaped:?}");
}
