use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// One valid body per method (sessions differ so each can be read back alone).
fn valid_bodies() -> Vec<(&'static str, Value)> {
    let ts = "2024-05-01T10:00:00+03:00";
    vec![
        (
            "view",
            json!({"sessionExternalId": "v-view", "productId": 123456, "stockId": "NewYork", "timestamp": ts}),
        ),
        (
            "groupView",
            json!({"sessionExternalId": "v-groupView", "groupId": 77, "productIds": [1, 2, 3], "stockId": "s"}),
        ),
        (
            "addToBasket",
            json!({"sessionExternalId": "v-addToBasket", "productId": 9}),
        ),
        (
            "categoryView",
            json!({"sessionExternalId": "v-categoryView", "categoryId": 10}),
        ),
        (
            "categoryViewByCategoryPath",
            json!({"sessionExternalId": "v-cvbcp", "categoryPath": "Home/Kitchen/Forks"}),
        ),
        (
            "order",
            json!({"sessionExternalId": "v-order", "productId": 9, "price": 8990.5, "quantity": 2, "transaction": "T-1"}),
        ),
        (
            "search",
            json!({"sessionExternalId": "v-search", "searchPhrase": "ice cream maker", "stockId": "s"}),
        ),
        (
            "setContact",
            json!({"sessionExternalId": "v-setContact", "contactExternalId": "user42", "email": "Ann@Example.com", "phone": "+79161234567", "customData": {"tier": "gold"}}),
        ),
        (
            "welcomeSequence",
            json!({"sessionExternalId": "v-welcome", "email": "sub@example.com"}),
        ),
        (
            "emailClick",
            json!({"sessionExternalId": "v-emailClick", "mailTrackingId": "mt-1", "customData": {"a": 1}}),
        ),
        (
            "recomBlockViewed",
            json!({"sessionExternalId": "v-rbv", "recomBlockId": "main-related"}),
        ),
        (
            "recomTap",
            json!({"sessionExternalId": "v-recomTap", "productId": 5, "recomBlockId": "b1"}),
        ),
        (
            "recomAddToBasket",
            json!({"sessionExternalId": "v-rab", "productId": 5, "recomBlockId": "b1", "stockId": "s"}),
        ),
        (
            "impressionContentViewed",
            json!({"sessionExternalId": "v-icv", "impressionContentId": "imp-1"}),
        ),
        (
            "impressionContentClicked",
            json!({"sessionExternalId": "v-icc", "impressionContentId": "imp-1"}),
        ),
    ]
}

#[tokio::test]
async fn every_method_is_accepted_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    unlimit(&client, &server, &p).await;
    let (status, _) = admin(
        &client,
        &server,
        reqwest::Method::POST,
        &format!("/admin/partners/{}/subscribers", p.id),
        Some(json!({"emails": ["sub@example.com"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let bodies = valid_bodies();
    assert_eq!(bodies.len(), 15);
    for (method, body) in &bodies {
        let (status, answer) = track(&client, &server, &p, method, body).await;
        assert_eq!(status, StatusCode::OK, "{method}: {answer}");
        assert_eq!(answer, json!({"stored": 1}));
    }
    for (method, body) in &bodies {
        let session = body["sessionExternalId"].as_str().unwrap();
        let events = export(&client, &server, &p, Some(session)).await;
        assert_eq!(events.len(), 1, "{method}");
        assert_eq!(events[0]["kind"], *method);
        let stored = &events[0]["event"];
        for (k, v) in body.as_object().unwrap() {
            match k.as_str() {
                "timestamp" => {}
                "email" => assert_eq!(stored[k], v.as_str().unwrap().to_lowercase()),
                _ => assert_eq!(&stored[k], v, "{method}.{k}"),
            }
        }
        assert!(
            stored["timestamp"].is_string(),
            "{method} has a stored timestamp"
        );
    }
    // The given time is kept (in UTC), not replaced by the receive time.
    let view = export(&client, &server, &p, Some("v-view")).await;
    assert_eq!(view[0]["event"]["timestamp"], "2024-05-01T07:00:00Z");
    assert_eq!(export(&client, &server, &p, None).await.len(), 15);
}

#[tokio::test]
async fn every_broken_rule_is_refused_naming_the_field_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    unlimit(&client, &server, &p).await;
    let s = "sess";
    let cases: Vec<(&str, Value, &str)> = vec![
        ("view", json!({"productId": 1}), "sessionExternalId"),
        (
            "view",
            json!({"sessionExternalId": "", "productId": 1}),
            "sessionExternalId",
        ),
        (
            "view",
            json!({"sessionExternalId": "a_b", "productId": 1}),
            "sessionExternalId",
        ),
        (
            "view",
            json!({"sessionExternalId": "x".repeat(51), "productId": 1}),
            "sessionExternalId",
        ),
        (
            "view",
            json!({"sessionExternalId": "ёжик", "productId": 1}),
            "sessionExternalId",
        ),
        (
            "view",
            json!({"sessionExternalId": 5, "productId": 1}),
            "sessionExternalId",
        ),
        ("view", json!({"sessionExternalId": s}), "productId"),
        (
            "view",
            json!({"sessionExternalId": s, "productId": "1"}),
            "productId",
        ),
        (
            "view",
            json!({"sessionExternalId": s, "productId": 1.5}),
            "productId",
        ),
        (
            "view",
            json!({"sessionExternalId": s, "productId": 9_223_372_036_854_775_808u64}),
            "productId",
        ),
        (
            "view",
            json!({"sessionExternalId": s, "productId": 1, "stockId": 5}),
            "stockId",
        ),
        (
            "view",
            json!({"sessionExternalId": s, "productId": 1, "stockId": ""}),
            "stockId",
        ),
        (
            "view",
            json!({"sessionExternalId": s, "productId": 1, "timestamp": "yesterday"}),
            "timestamp",
        ),
        (
            "view",
            json!({"sessionExternalId": s, "productId": 1, "timestamp": "2999-01-01T00:00:00Z"}),
            "timestamp",
        ),
        (
            "groupView",
            json!({"sessionExternalId": s, "productIds": [1]}),
            "groupId",
        ),
        (
            "groupView",
            json!({"sessionExternalId": s, "groupId": 1, "productIds": []}),
            "productIds",
        ),
        (
            "groupView",
            json!({"sessionExternalId": s, "groupId": 1, "productIds": [1, "2"]}),
            "productIds",
        ),
        (
            "groupView",
            json!({"sessionExternalId": s, "groupId": 1}),
            "productIds",
        ),
        ("addToBasket", json!({"sessionExternalId": s}), "productId"),
        (
            "categoryView",
            json!({"sessionExternalId": s, "categoryId": "10"}),
            "categoryId",
        ),
        (
            "categoryViewByCategoryPath",
            json!({"sessionExternalId": s, "categoryPath": ""}),
            "categoryPath",
        ),
        (
            "categoryViewByCategoryPath",
            json!({"sessionExternalId": s, "categoryPath": "a//b"}),
            "categoryPath",
        ),
        (
            "order",
            json!({"sessionExternalId": s, "productId": 1, "price": -1, "quantity": 1, "transaction": "t"}),
            "price",
        ),
        (
            "order",
            json!({"sessionExternalId": s, "productId": 1, "price": 1, "quantity": 0, "transaction": "t"}),
            "quantity",
        ),
        (
            "order",
            json!({"sessionExternalId": s, "productId": 1, "price": 1, "quantity": 1}),
            "transaction",
        ),
        (
            "order",
            json!({"sessionExternalId": s, "productId": 1, "quantity": 1, "transaction": "t"}),
            "price",
        ),
        (
            "search",
            json!({"sessionExternalId": s, "searchPhrase": "   "}),
            "searchPhrase",
        ),
        (
            "setContact",
            json!({"sessionExternalId": s}),
            "contactExternalId",
        ),
        (
            "setContact",
            json!({"sessionExternalId": s, "contactExternalId": "a-b"}),
            "contactExternalId",
        ),
        (
            "setContact",
            json!({"sessionExternalId": s, "contactExternalId": "a", "email": "not-an-email"}),
            "email",
        ),
        (
            "setContact",
            json!({"sessionExternalId": s, "contactExternalId": "a", "phone": "89161234567"}),
            "phone",
        ),
        (
            "setContact",
            json!({"sessionExternalId": s, "contactExternalId": "a", "customData": [1]}),
            "customData",
        ),
        (
            "welcomeSequence",
            json!({"sessionExternalId": s, "email": "nobody@example.com"}),
            "email",
        ),
        ("welcomeSequence", json!({"sessionExternalId": s}), "email"),
        (
            "emailClick",
            json!({"sessionExternalId": s}),
            "mailTrackingId",
        ),
        (
            "emailClick",
            json!({"sessionExternalId": s, "mailTrackingId": "m", "customData": "x"}),
            "customData",
        ),
        (
            "recomBlockViewed",
            json!({"sessionExternalId": s, "recomBlockId": "x".repeat(51)}),
            "recomBlockId",
        ),
        (
            "recomTap",
            json!({"sessionExternalId": s, "productId": 1}),
            "recomBlockId",
        ),
        (
            "recomAddToBasket",
            json!({"sessionExternalId": s, "recomBlockId": "b"}),
            "productId",
        ),
        (
            "impressionContentViewed",
            json!({"sessionExternalId": s}),
            "impressionContentId",
        ),
        (
            "impressionContentClicked",
            json!({"sessionExternalId": s, "impressionContentId": 7}),
            "impressionContentId",
        ),
        (
            "view",
            json!([{"sessionExternalId": s, "productId": 1}]),
            "body",
        ),
    ];
    for (method, body, field) in &cases {
        let (status, err) = track(&client, &server, &p, method, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {body}");
        assert_eq!(err["error"], "invalid_parameter", "{method} {body}: {err}");
        assert_eq!(err["field"], *field, "{method} {body}: {err}");
        assert!(err["message"].as_str().unwrap().contains(field), "{err}");
    }
    assert!(
        export(&client, &server, &p, None).await.is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn content_type_syntax_and_size_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    unlimit(&client, &server, &p).await;
    let url = server.url(&format!("/1.0/view?apiKey={}&partnerId={}", p.key, p.id));
    let body = r#"{"sessionExternalId":"ct","productId":1}"#;
    let send = |ct: Option<&'static str>, body: String| {
        let mut req = client.post(&url).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (st, err) = send(None, body.into()).await;
    assert_eq!(
        (st, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_content_type"))
    );
    let (st, _) = send(Some("text/plain"), body.into()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = send(Some("Application/JSON; charset=UTF-8"), body.into()).await;
    assert_eq!(st, StatusCode::OK);
    let (st, err) = send(Some("application/json"), "{not json".into()).await;
    assert_eq!(
        (st, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    let big = format!(
        r#"{{"sessionExternalId":"ct","productId":1,"pad":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    let (st, err) = send(Some("application/json"), big).await;
    assert_eq!(
        (st, err["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large"))
    );
    // Unknown fields are ignored, not stored, not refused.
    let (st, _) = send(
        Some("application/json"),
        r#"{"sessionExternalId":"ct2","productId":1,"future":true}"#.into(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let events = export(&client, &server, &p, Some("ct2")).await;
    assert!(events[0]["event"].get("future").is_none());
    assert_eq!(export(&client, &server, &p, None).await.len(), 2);
}

#[tokio::test]
async fn an_order_line_sent_twice_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    unlimit(&client, &server, &p).await;
    let line = |price: f64| json!({"sessionExternalId": "buyer", "productId": 9, "price": price, "quantity": 1, "transaction": "T-9"});
    for price in [10.0, 10.0, 12.5] {
        assert_eq!(
            track(&client, &server, &p, "order", &line(price)).await.0,
            StatusCode::OK
        );
    }
    let other_product = json!({"sessionExternalId": "buyer", "productId": 10, "price": 1, "quantity": 1, "transaction": "T-9"});
    let other_tx = json!({"sessionExternalId": "buyer", "productId": 9, "price": 1, "quantity": 1, "transaction": "T-10"});
    assert_eq!(
        track(&client, &server, &p, "order", &other_product).await.0,
        StatusCode::OK
    );
    assert_eq!(
        track(&client, &server, &p, "order", &other_tx).await.0,
        StatusCode::OK
    );
    let events = export(&client, &server, &p, Some("buyer")).await;
    assert_eq!(events.len(), 3);
    // The repeated line replaced the earlier one.
    assert_eq!(events[0]["event"]["price"], 12.5);
}

/// Tracking paths the front service does not hand straight to a handler (another
/// HTTP method, an escaped or unknown name) still get the router's answers.
#[tokio::test]
async fn tracking_paths_off_the_direct_way_answer_as_routed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    let query = format!("apiKey={}&partnerId={}", p.key, p.id);
    let body = json!({"sessionExternalId": "esc", "productId": 3});
    let resp = client
        .get(server.url(&format!("/1.0/view?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let resp = client
        .post(server.url(&format!("/1.0/vi%65w?{query}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, err) = track(&client, &server, &p, "View", &body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(err["message"].as_str().unwrap().contains("'View'"), "{err}");
    let events = export(&client, &server, &p, Some("esc")).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "view");
}
