use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn view() -> serde_json::Value {
    json!({"sessionExternalId": "auth", "productId": 1})
}

#[tokio::test]
async fn unauthenticated_forbidden_and_unknown_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let a = create_partner(&client, &server).await;
    let b = create_partner(&client, &server).await;
    let cases = [
        (
            Partner {
                id: a.id.clone(),
                key: "wrong".into(),
            },
            "apiKey",
        ),
        (
            Partner {
                id: a.id.clone(),
                key: b.key.clone(),
            },
            "apiKey",
        ),
        (
            Partner {
                id: "0123456789abcdef01234567".into(),
                key: a.key.clone(),
            },
            "partnerId",
        ),
        (
            Partner {
                id: "not-a-partner".into(),
                key: a.key.clone(),
            },
            "partnerId",
        ),
    ];
    for (who, field) in &cases {
        let (status, err) = track(&client, &server, who, "view", &view()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(err["field"], *field);
        assert!(
            !err.to_string().contains(&a.key) && !err.to_string().contains(&b.key),
            "never echoes a key"
        );
    }
    let resp = client
        .post(server.url(&format!("/1.0/view?partnerId={}", a.id)))
        .json(&view())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // The lowercase spelling of the original subscriber API is accepted too.
    let resp = client
        .post(server.url(&format!("/1.0/view?partnerId={}&apikey={}", a.id, a.key)))
        .json(&view())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let (status, err) = track(&client, &server, &a, "viewed", &view()).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let resp = client.get(server.url("/nowhere")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"],
        "not_found"
    );

    let (status, _) = admin(
        &client,
        &server,
        Method::POST,
        &format!("/admin/partners/{}/suspend", a.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = track(&client, &server, &a, "view", &view()).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert_eq!(
        track(&client, &server, &b, "view", &view()).await.0,
        StatusCode::OK,
        "other partners unaffected"
    );
    admin(
        &client,
        &server,
        Method::POST,
        &format!("/admin/partners/{}/resume", a.id),
        None,
    )
    .await;
    assert_eq!(
        track(&client, &server, &a, "view", &view()).await.0,
        StatusCode::OK
    );
    // Each partner sees only its own events.
    assert_eq!(export(&client, &server, &a, None).await.len(), 2);
    assert_eq!(export(&client, &server, &b, None).await.len(), 1);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let a = create_partner(&client, &server).await;
    let b = create_partner(&client, &server).await;
    let (status, limits) = admin(
        &client,
        &server,
        Method::PUT,
        &format!("/admin/partners/{}/limits", a.id),
        Some(json!({"trackingRps": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        limits,
        json!({"trackingRps": 3, "recommendationsRps": 100, "sponsoredRps": 50})
    );
    let mut codes = Vec::new();
    let mut retry_after = None;
    for _ in 0..10 {
        let resp = client
            .post(server.url(&format!("/1.0/view?apiKey={}&partnerId={}", a.key, a.id)))
            .json(&view())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        codes.push(status);
        if status == StatusCode::TOO_MANY_REQUESTS {
            retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(
                resp.json::<serde_json::Value>().await.unwrap()["error"],
                "rate_limited"
            );
        }
    }
    let limited = codes
        .iter()
        .filter(|c| **c == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(limited >= 6, "{codes:?}");
    assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(
        track(&client, &server, &b, "view", &view()).await.0,
        StatusCode::OK,
        "limits are per partner"
    );
    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "propel_rate_limited_total{{api=\"tracking\"}} {limited}"
        )),
        "{metrics}"
    );
    // The 429s stored nothing.
    assert_eq!(export(&client, &server, &a, None).await.len(), 10 - limited);
    let (status, err) = admin(
        &client,
        &server,
        Method::PUT,
        &format!("/admin/partners/{}/limits", a.id),
        Some(json!({"sponsoredRps": 0})),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("sponsoredRps"))
    );
}

#[tokio::test]
async fn key_rotation_with_and_without_grace() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    let path = format!("/admin/partners/{}/rotate-key", p.id);
    let rotate =
        |body: Option<serde_json::Value>| admin(&client, &server, Method::POST, &path, body);

    let (status, answer) = rotate(None).await;
    assert_eq!(status, StatusCode::OK);
    let k2 = Partner {
        id: p.id.clone(),
        key: answer["apiKey"].as_str().unwrap().to_string(),
    };
    assert_eq!(
        track(&client, &server, &p, "view", &view()).await.0,
        StatusCode::UNAUTHORIZED,
        "old key stops at once"
    );
    assert_eq!(
        track(&client, &server, &k2, "view", &view()).await.0,
        StatusCode::OK
    );

    let (_, answer) = rotate(Some(json!({"graceSeconds": 2}))).await;
    let k3 = Partner {
        id: p.id.clone(),
        key: answer["apiKey"].as_str().unwrap().to_string(),
    };
    assert_eq!(
        track(&client, &server, &k2, "view", &view()).await.0,
        StatusCode::OK,
        "old key works during grace"
    );
    assert_eq!(
        track(&client, &server, &k3, "view", &view()).await.0,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(
        track(&client, &server, &k2, "view", &view()).await.0,
        StatusCode::UNAUTHORIZED,
        "old key stops after grace"
    );
    assert_eq!(
        track(&client, &server, &k3, "view", &view()).await.0,
        StatusCode::OK
    );

    let (status, err) = rotate(Some(json!({"graceSeconds": -1}))).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("graceSeconds"))
    );
    assert_eq!(
        track(&client, &server, &k3, "view", &view()).await.0,
        StatusCode::OK,
        "a refused rotation changes nothing"
    );
}
