use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_batch_keeps_each_visitors_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    unlimit(&client, &server, &p).await;
    // Two visitors interleaved, with timestamps out of order: stored order is array order.
    let mut batch = Vec::new();
    for i in 0..50i64 {
        let visitor = if i % 2 == 0 { "alice" } else { "bob" };
        let ts = format!("2024-01-01T00:00:{:02}Z", 59 - i);
        batch
            .push(json!({"view": {"sessionExternalId": visitor, "productId": i, "timestamp": ts}}));
    }
    batch.push(json!({"addToBasket": {"sessionExternalId": "alice", "productId": 1000}}));
    batch.push(json!({"order": {"sessionExternalId": "alice", "productId": 1000, "price": 5, "quantity": 1, "transaction": "A1"}}));
    let (status, answer) = track(&client, &server, &p, "visitorEvents", &Value::Array(batch)).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"stored": 52})));
    let alice = export(&client, &server, &p, Some("alice")).await;
    let kinds: Vec<&str> = alice.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 27);
    assert_eq!(&kinds[25..], ["addToBasket", "order"]);
    let ids: Vec<i64> = alice[..25]
        .iter()
        .map(|e| e["event"]["productId"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (0..50).step_by(2).collect::<Vec<_>>());
    let bob = export(&client, &server, &p, Some("bob")).await;
    let ids: Vec<i64> = bob
        .iter()
        .map(|e| e["event"]["productId"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..50).step_by(2).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    unlimit(&client, &server, &p).await;
    let good = json!({"view": {"sessionExternalId": "v", "productId": 1}});
    let cases = [
        (
            json!([good, good, {"view": {"sessionExternalId": "v", "productId": "x"}}]),
            2,
            "[2].view.productId",
        ),
        (
            json!([good, {"viewed": {"sessionExternalId": "v"}}]),
            1,
            "[1].envelope",
        ),
        (
            json!([{"view": {"sessionExternalId": "v", "productId": 1}, "addToBasket": {}}]),
            0,
            "[0].envelope",
        ),
        (
            json!([good, good, good, {"welcomeSequence": {"sessionExternalId": "v", "email": "no@x.io"}}]),
            3,
            "[3].welcomeSequence.email",
        ),
        (json!([good, 5]), 1, "[1].envelope"),
    ];
    for (batch, index, field) in cases {
        let (status, err) = track(&client, &server, &p, "visitorEvents", &batch).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{batch}");
        assert_eq!(err["index"], index, "{err}");
        assert_eq!(err["field"], field, "{err}");
    }
    let (status, err) = track(&client, &server, &p, "visitorEvents", &json!({"view": {}})).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body"))
    );
    let too_many = Value::Array(vec![good.clone(); 10_001]);
    let (status, err) = track(&client, &server, &p, "visitorEvents", &too_many).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["message"].as_str().unwrap().contains("10000"), "{err}");
    assert!(
        export(&client, &server, &p, None).await.is_empty(),
        "nothing of a refused batch is stored"
    );
    let max = Value::Array(vec![good; 10_000]);
    assert_eq!(
        track(&client, &server, &p, "visitorEvents", &max).await.0,
        StatusCode::OK
    );
    assert_eq!(export(&client, &server, &p, None).await.len(), 10_000);
}
