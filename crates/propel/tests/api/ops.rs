use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    for path in ["/healthz", "/readyz"] {
        let resp = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(resp.json::<Value>().await.unwrap()["status"].is_string());
    }
    let p = create_partner(&client, &server).await;
    let batch = json!([{"view": {"sessionExternalId": "m", "productId": 1}}, {"view": {"sessionExternalId": "m", "productId": 2}}]);
    assert_eq!(
        track(&client, &server, &p, "visitorEvents", &batch).await.0,
        StatusCode::OK
    );
    track(
        &client,
        &server,
        &p,
        "view",
        &json!({"sessionExternalId": "m"}),
    )
    .await;
    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "propel_http_requests_total{api=\"tracking\",method=\"visitorEvents\",status=\"200\"} 1",
        "propel_http_requests_total{api=\"tracking\",method=\"view\",status=\"400\"} 1",
        "propel_http_request_duration_seconds_count{api=\"tracking\",method=\"visitorEvents\"} 1",
        "propel_events_stored_total 2",
        "propel_event_commit_size_count 1",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    assert!(!metrics.contains(&p.key));

    let served: Value = client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["paths"]["/1.0/impressionContentClicked"]["post"].is_object());
    assert!(served["paths"]["/admin/partners/{partnerId}/rotate-key"]["post"].is_object());
    let required = &served["paths"]["/1.0/order"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["required"];
    assert_eq!(
        required,
        &json!([
            "sessionExternalId",
            "productId",
            "price",
            "quantity",
            "transaction"
        ])
    );
    // The committed copy is the one the code generates.
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json"))
            .expect("openapi.json at the repository root"),
    )
    .unwrap();
    assert_eq!(
        served, committed,
        "openapi.json is stale: run `cargo run -p propel -- openapi > openapi.json`"
    );
}
