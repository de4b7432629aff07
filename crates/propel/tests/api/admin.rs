use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn admin_needs_the_operator_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let resp = client
        .get(server.url("/admin/partners"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = client
        .get(server.url("/admin/partners"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"],
        "unauthorized"
    );
}

#[tokio::test]
async fn admin_is_absent_without_a_configured_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[], false);
    let client = h2c();
    let resp = client
        .get(server.url("/admin/partners"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"],
        "admin_disabled"
    );
}

#[tokio::test]
async fn partners_are_created_listed_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    assert_eq!(p.id.len(), 24);
    assert!(p
        .id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    track(
        &client,
        &server,
        &p,
        "view",
        &json!({"sessionExternalId": "x", "productId": 1}),
    )
    .await;
    let (status, one) = admin(
        &client,
        &server,
        Method::GET,
        &format!("/admin/partners/{}", p.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["name"], "Shop");
    assert_eq!(one["eventsReceived"], 1);
    assert!(one["lastEventAt"].is_string());
    assert_eq!(
        one["limits"],
        json!({"trackingRps": 100, "recommendationsRps": 100, "sponsoredRps": 50})
    );
    assert!(
        !one.to_string().contains(&p.key),
        "the key is shown once, at creation"
    );
    let (_, list) = admin(&client, &server, Method::GET, "/admin/partners", None).await;
    assert_eq!(list["partners"].as_array().unwrap().len(), 1);
    let (status, _) = admin(
        &client,
        &server,
        Method::GET,
        "/admin/partners/0123456789abcdef01234567",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (body, field) in [
        (json!({"url": "https://x.example"}), "name"),
        (json!({"name": "X"}), "url"),
        (json!({"name": "X", "url": "ftp://x"}), "url"),
    ] {
        let (status, err) = admin(
            &client,
            &server,
            Method::POST,
            "/admin/partners",
            Some(body),
        )
        .await;
        assert_eq!(
            (status, err["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field))
        );
    }
    let (status, err) = admin(
        &client,
        &server,
        Method::POST,
        &format!("/admin/partners/{}/subscribers", p.id),
        Some(json!({"emails": ["a@b.co", "bad"]})),
    )
    .await;
    assert_eq!(
        (status, err["index"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(1))
    );
    // The refused list added nothing: a@b.co still cannot start a welcome chain.
    let welcome = json!({"sessionExternalId": "w", "email": "a@b.co"});
    assert_eq!(
        track(&client, &server, &p, "welcomeSequence", &welcome)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    admin(
        &client,
        &server,
        Method::POST,
        &format!("/admin/partners/{}/subscribers", p.id),
        Some(json!({"emails": ["A@B.co"]})),
    )
    .await;
    assert_eq!(
        track(&client, &server, &p, "welcomeSequence", &welcome)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn partners_and_subscribers_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = h2c();
    let p = {
        let server = Server::start(dir.path());
        let p = create_partner(&client, &server).await;
        admin(
            &client,
            &server,
            Method::POST,
            &format!("/admin/partners/{}/subscribers", p.id),
            Some(json!({"emails": ["s@x.io"]})),
        )
        .await;
        p
    };
    let server = Server::start(dir.path());
    let welcome = json!({"sessionExternalId": "w", "email": "s@x.io"});
    assert_eq!(
        track(&client, &server, &p, "welcomeSequence", &welcome)
            .await
            .0,
        StatusCode::OK
    );
}
