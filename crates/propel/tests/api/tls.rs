use crate::common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn http2_over_tls_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(
        &data,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
        true,
    );
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let port = server.base.rsplit(':').next().unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let resp = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2, "ALPN chose h2");
    let created = client
        .post(format!("{base}/admin/partners"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"name": "TLS shop", "url": "https://tls.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let p: serde_json::Value = created.json().await.unwrap();
    let resp = client
        .post(format!(
            "{base}/1.0/view?apiKey={}&partnerId={}",
            p["apiKey"].as_str().unwrap(),
            p["partnerId"].as_str().unwrap()
        ))
        .json(&serde_json::json!({"sessionExternalId": "tls", "productId": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.status(), resp.version()),
        (StatusCode::OK, reqwest::Version::HTTP_2)
    );
}

#[tokio::test]
async fn http1_keeps_working_on_the_cleartext_port() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let resp = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(
        (resp.status(), resp.version()),
        (StatusCode::OK, reqwest::Version::HTTP_11)
    );
}
