//! The product base: feed uploads of every real feed, re-imports, broken feeds, gzip, the
//! command-line import, scheduled feed URLs, and the Product API.

use crate::common::*;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const FEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/feeds");

fn feed(name: &str) -> Vec<u8> {
    let path = format!("{FEEDS}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn upload(
    client: &Client,
    server: &Server,
    partner: &str,
    body: Vec<u8>,
    gzip: bool,
) -> (StatusCode, Value) {
    let mut req = client
        .post(server.url(&format!("/admin/partners/{partner}/feed")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/xml")
        .body(body);
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

/// A Product API call with the partner's credentials (or `key` instead of its key).
async fn catalog(
    client: &Client,
    server: &Server,
    p: &Partner,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = server.url(&format!(
        "/catalog/1.0/{path}{sep}partnerId={}&apiKey={}",
        p.id, p.key
    ));
    let mut req = client.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

async fn product(client: &Client, server: &Server, p: &Partner, id: i64) -> (StatusCode, Value) {
    catalog(
        client,
        server,
        p,
        Method::GET,
        &format!("products/{id}"),
        None,
    )
    .await
}

#[tokio::test]
async fn every_real_feed_imports_through_the_admin_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    // (file, imported, skipped)
    let expected = [
        ("kidrulit_yandex_yml_roz.xml", 2181, 0),
        ("santechtula_bitrix_yandex_cp1251_DERIVED.xml", 1405, 0),
        ("islandgift_yml.xml", 102, 0),
        ("shwei_yml.xml", 132, 0),
        ("karsaman_ecwid_yandex_market.xml", 11, 66),
        ("yandex_spec_example_yml1.xml", 7, 0),
    ];
    let mut names: Vec<String> = std::fs::read_dir(FEEDS)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), expected.len(), "a new feed? add it here");
    for (name, imported, skipped) in expected {
        let (status, body) = upload(&client, &server, &p.id, feed(name), false).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert_eq!(body["imported"], imported, "{name}: {body}");
        assert_eq!(body["skipped"], skipped, "{name}: {body}");
        assert!(body["problems"].as_array().unwrap().len() <= 100);
        match name {
            "kidrulit_yandex_yml_roz.xml" => {
                let (s, v) = product(&client, &server, &p, 835).await;
                assert_eq!(s, StatusCode::OK, "{v}");
                assert_eq!(v["pictureUrl"], Value::Null);
                assert_eq!(v["params"]["Вес"], "0.27000000");
                assert_eq!(
                    product(&client, &server, &p, 8480000346).await.1["groupId"],
                    848
                );
            }
            "santechtula_bitrix_yandex_cp1251_DERIVED.xml" => {
                let (s, v) = product(&client, &server, &p, 239).await;
                assert_eq!(s, StatusCode::OK, "{v}");
                assert_eq!(
                    v["name"],
                    "Газовый проточный водонагреватель \"Zerten\"20 кВт"
                );
                // The previous feed's products left the base.
                assert_eq!(
                    product(&client, &server, &p, 8480000346).await.0,
                    StatusCode::NOT_FOUND
                );
            }
            "shwei_yml.xml" => {
                let v = product(&client, &server, &p, 4).await.1;
                assert_eq!(v["name"], "Bernina Bernina Bernette E56");
                assert_eq!(
                    (v["vendor"].as_str(), v["price"].as_f64()),
                    (Some("Bernina"), Some(6480.0))
                );
            }
            "karsaman_ecwid_yandex_market.xml" => {
                let v = product(&client, &server, &p, 413376464).await.1;
                assert_eq!(v["groupId"], 413376464);
                assert!(v["pictureUrl"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("http")));
                let v = product(&client, &server, &p, 413397903).await.1;
                assert_eq!(v["categoryIds"], json!([]));
                assert_eq!(body["problems"][0]["line"], 16);
            }
            _ => {}
        }
    }
}

const SMALL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<yml_catalog><shop><categories>
  <category id="1">Home</category><category id="10" parentId="1">Kitchen</category>
</categories><offers>
  <offer id="9012" available="true"><url>https://shop.example/p/9012</url>
    <price>8990</price><oldprice>9990</oldprice><categoryId>10</categoryId>
    <picture>https://shop.example/img/9012.jpg</picture><name>Ice-cream maker</name>
    <stock id="moscow"><available>false</available><price>9190</price><name>Ice-cream maker (Moscow)</name></stock>
  </offer>
  <offer id="9013"><price>10</price><name>Spoon</name></offer>
</offers></shop></yml_catalog>"#;

#[tokio::test]
async fn reimport_broken_feed_stocks_gzip_and_first_seen() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    let (status, body) = upload(&client, &server, &p.id, SMALL.into(), false).await;
    assert_eq!(
        (status, body["imported"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
    let base = product(&client, &server, &p, 9012).await.1;
    assert_eq!(base["price"], 8990.0);
    assert_eq!(base["isAvailable"], true);
    assert_eq!(base["categoryIds"], json!([10]));
    assert_eq!(base["categoryPaths"], json!(["Home/Kitchen"]));
    let first_seen = base["firstSeenAt"].clone();
    assert!(first_seen.is_string());
    let (s, stock) = catalog(
        &client,
        &server,
        &p,
        Method::GET,
        "products/9012?stockId=moscow",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stock["name"], "Ice-cream maker (Moscow)");
    assert_eq!(
        (stock["price"].as_f64(), stock["oldPrice"].as_f64()),
        (Some(9190.0), Some(9990.0))
    );
    assert_eq!(stock["isAvailable"], false);
    assert_eq!(stock["url"], "https://shop.example/p/9012");

    // A broken feed: 400 naming line and column, and the base is untouched.
    let broken = SMALL.replace(
        "</offer>\n  <offer id=\"9013\">",
        "</offr>\n  <offer id=\"9013\">",
    );
    let (status, err) = upload(&client, &server, &p.id, broken.into(), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["field"], "body");
    assert_eq!(err["line"], 9, "{err}");
    assert!(err["column"].as_u64().unwrap() > 0);
    assert!(err["message"].as_str().unwrap().contains("line 9"));
    assert_eq!(product(&client, &server, &p, 9013).await.0, StatusCode::OK);

    // Not XML by content type: refused before reading.
    let resp = client
        .post(server.url(&format!("/admin/partners/{}/feed", p.id)))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Without the operator token: 401.
    let resp = client
        .post(server.url(&format!("/admin/partners/{}/feed", p.id)))
        .header("content-type", "application/xml")
        .body(SMALL)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Re-import without 9013, gzip-compressed: 9013 leaves, 9012 keeps its first-seen time.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let without = SMALL.replace(
        "<offer id=\"9013\"><price>10</price><name>Spoon</name></offer>",
        "",
    );
    let (status, body) = upload(&client, &server, &p.id, gzip(without.as_bytes()), true).await;
    assert_eq!(
        (status, body["imported"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    assert_eq!(
        product(&client, &server, &p, 9013).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        product(&client, &server, &p, 9012).await.1["firstSeenAt"],
        first_seen
    );

    // The base survives a restart.
    drop(server);
    let server = Server::start(dir.path());
    assert_eq!(
        product(&client, &server, &p, 9012).await.1["firstSeenAt"],
        first_seen
    );
    assert_eq!(
        product(&client, &server, &p, 9013).await.0,
        StatusCode::NOT_FOUND
    );
}

/// Repeated offer ids are found by the staging table (no id set in memory): counted,
/// reported with the repeated offer's line, and the later offer is served, also when the
/// first one was written in an earlier staging transaction.
#[tokio::test]
async fn repeated_offer_ids_are_reported_and_the_later_offer_wins() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    // Line 1: declaration, 2: root, 3..=12_002: offers 1..=12_000, then the repeats.
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<yml_catalog><shop><offers>\n");
    for id in 1..=12_000 {
        xml.push_str(&format!(
            "<offer id=\"{id}\"><price>{id}</price><name>Offer {id}</name></offer>\n"
        ));
    }
    xml.push_str("<offer id=\"1\"><price>7</price><name>Again</name></offer>\n");
    xml.push_str("<offer id=\"11999\"><price>8</price><name>Late</name></offer>\n");
    xml.push_str("<offer id=\"1\"><price>9</price><name>Third</name></offer>\n");
    xml.push_str("</offers></shop></yml_catalog>\n");
    let (status, body) = upload(&client, &server, &p.id, xml.into(), false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["imported"].as_u64(), body["duplicates"].as_u64()),
        (Some(12_000), Some(3)),
        "{body}"
    );
    let problems: Vec<(u64, &str)> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            (12_003, "offer id 1 appears again; the later offer wins"),
            (12_004, "offer id 11999 appears again; the later offer wins"),
            (12_005, "offer id 1 appears again; the later offer wins"),
        ]
    );
    let one = product(&client, &server, &p, 1).await.1;
    assert_eq!(
        (one["name"].as_str(), one["price"].as_f64()),
        (Some("Third"), Some(9.0))
    );
    let late = product(&client, &server, &p, 11_999).await.1;
    assert_eq!(late["name"], "Late");
    assert_eq!(product(&client, &server, &p, 2).await.1["name"], "Offer 2");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[tokio::test]
async fn the_command_line_import_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let p = create_partner(&client, &server).await;
    let path = format!("{FEEDS}/shwei_yml.xml");
    let out = std::process::Command::new(bin())
        .args(["import", "yml", "--partner", &p.id, &path, "--data"])
        .arg(dir.path())
        .env("PROPEL_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["imported"].as_u64(), summary["skipped"].as_u64()),
        (Some(132), Some(0))
    );
    // The server notices the new base within a second or so.
    let mut found = StatusCode::NOT_FOUND;
    for _ in 0..50 {
        found = product(&client, &server, &p, 4).await.0;
        if found == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found, StatusCode::OK);
    // A broken file fails, names the place, and changes nothing.
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<yml_catalog><shop><offers><offer id=\"1\"></shop>").unwrap();
    let out = std::process::Command::new(bin())
        .args(["import", "yml", "--partner", &p.id])
        .arg(&bad)
        .arg("--data")
        .arg(dir.path())
        .env("PROPEL_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(product(&client, &server, &p, 4).await.0, StatusCode::OK);
}

/// A feed server for the scheduled fetch: answers 304 to a matching `If-None-Match`,
/// and 500 to everything once `failing` is set.
struct FeedServer {
    url: String,
    requests: Arc<AtomicUsize>,
    conditional: Arc<AtomicUsize>,
    failing: Arc<AtomicUsize>,
}

fn feed_server(body: Vec<u8>) -> FeedServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed.xml", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let conditional = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicUsize::new(0));
    let (r, c, f) = (requests.clone(), conditional.clone(), failing.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut if_none_match = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("if-none-match:") {
                    if_none_match = Some(v.trim().to_string());
                }
            }
            r.fetch_add(1, Ordering::SeqCst);
            let head = if f.load(Ordering::SeqCst) == 1 {
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
            } else if if_none_match.as_deref() == Some("\"v1\"") {
                c.fetch_add(1, Ordering::SeqCst);
                "HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\nconnection: close\r\n\r\n".to_string()
            } else {
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\netag: \"v1\"\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len())
            };
            let _ = stream.write_all(head.as_bytes());
            if head.starts_with("HTTP/1.1 200") {
                let _ = stream.write_all(&body);
            }
            let _ = stream.flush();
            let mut rest = Vec::new();
            let _ = stream.set_read_timeout(Some(Duration::from_millis(10)));
            let _ = reader.read_to_end(&mut rest);
        }
    });
    FeedServer {
        url,
        requests,
        conditional,
        failing,
    }
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..150 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_feed_url_is_fetched_conditionally_and_a_failure_keeps_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("propel.toml");
    std::fs::write(
        &config,
        "feed_poll_seconds = 1\nfeed_body_limit_bytes = 1000000\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, &["--config", config.to_str().unwrap()], true);
    let client = h2c();
    let p = create_partner(&client, &server).await;
    let feeds = feed_server(gzip(&feed("shwei_yml.xml")));
    let path = format!("/admin/partners/{}/feed-url", p.id);

    let (status, _) = admin(&client, &server, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [
        json!({"url": feeds.url, "intervalMinutes": 5}),
        json!({"url": feeds.url, "intervalMinutes": 121}),
        json!({"url": "ftp://x", "intervalMinutes": 30}),
    ] {
        let (status, body) = admin(&client, &server, Method::PUT, &path, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["field"].is_string());
    }
    let (status, body) = admin(
        &client,
        &server,
        Method::PUT,
        &path,
        Some(json!({"url": feeds.url, "intervalMinutes": 15})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["intervalMinutes"], 15);

    // First fetch: 200, gzip, imported.
    let mut found = StatusCode::NOT_FOUND;
    for _ in 0..100 {
        found = product(&client, &server, &p, 4).await.0;
        if found == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found, StatusCode::OK);
    // Then conditional fetches: 304, the base stays.
    let c = feeds.conditional.clone();
    wait_for("a conditional request", || c.load(Ordering::SeqCst) >= 1).await;
    assert_eq!(product(&client, &server, &p, 4).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, status) = admin(&client, &server, Method::GET, &path, None).await;
    assert_eq!(status["etag"], "\"v1\"", "{status}");
    assert_eq!(status["status"]["lastResult"], "not_modified", "{status}");
    assert_eq!(status["status"]["lastImport"]["imported"], 132, "{status}");

    // The feed server fails: the last good base stays, the status says why.
    feeds.failing.store(1, Ordering::SeqCst);
    let before = feeds.requests.load(Ordering::SeqCst);
    let r = feeds.requests.clone();
    wait_for("a failing request", || r.load(Ordering::SeqCst) > before).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, status) = admin(&client, &server, Method::GET, &path, None).await;
    assert_eq!(status["status"]["lastResult"], "failed", "{status}");
    assert!(status["status"]["lastError"]
        .as_str()
        .unwrap()
        .contains("500"));
    assert_eq!(product(&client, &server, &p, 4).await.0, StatusCode::OK);

    // An upload over the configured feed limit: 413, the base stays.
    let (status, body) = upload(
        &client,
        &server,
        &p.id,
        feed("kidrulit_yandex_yml_roz.xml"),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "body_too_large");
    assert_eq!(product(&client, &server, &p, 4).await.0, StatusCode::OK);
    // The feed URL can be removed; the base stays.
    let (status, _) = admin(&client, &server, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin(&client, &server, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The same streamed without a length: cut off at the limit while parsing.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = feed("kidrulit_yandex_yml_roz.xml")
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let resp = client
        .post(server.url(&format!("/admin/partners/{}/feed", p.id)))
        .bearer_auth(TOKEN)
        .header("content-type", "text/xml")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(product(&client, &server, &p, 4).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_product_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let a = create_partner(&client, &server).await;
    let b = create_partner(&client, &server).await;

    let kettle = json!({"id": 1, "name": "Kettle", "url": "https://s.example/1", "pictureUrl": "https://s.example/1.jpg",
        "price": 20, "oldPrice": 25, "isAvailable": true, "categoryPaths": ["Home/Kitchen"], "vendor": "Brand",
        "params": {"Colour": "white"}, "stocks": [{"id": "msk", "isAvailable": false, "price": 22, "name": "Kettle MSK"}]});
    let (s, v) = catalog(&client, &server, &a, Method::POST, "products", Some(kettle)).await;
    assert_eq!(
        (s, v["upserted"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    let (s, v) = product(&client, &server, &a, 1).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["categoryPaths"], json!(["Home/Kitchen"]));
    assert_eq!(v["categoryIds"].as_array().unwrap().len(), 1);
    assert_eq!(v["params"]["Colour"], "white");
    assert_eq!(v["oldPrice"], 25.0);
    let (_, v) = catalog(
        &client,
        &server,
        &a,
        Method::GET,
        "products/1?stockId=msk",
        None,
    )
    .await;
    assert_eq!(
        (
            v["name"].as_str(),
            v["price"].as_f64(),
            v["isAvailable"].as_bool()
        ),
        (Some("Kettle MSK"), Some(22.0), Some(false))
    );

    // An array, all or nothing: the second product is bad, so the first is not applied.
    let (s, e) = catalog(
        &client,
        &server,
        &a,
        Method::POST,
        "products",
        Some(
            json!([{"id": 2, "name": "Cup", "price": 3}, {"id": 3, "name": "Plate", "price": -1}]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["index"], 1);
    assert_eq!(e["field"], "[1].price");
    assert_eq!(
        product(&client, &server, &a, 2).await.0,
        StatusCode::NOT_FOUND
    );
    for (bad, field) in [
        (json!({"id": "x", "name": "a", "price": 1}), "id"),
        (
            json!({"id": 9007199254740992i64, "name": "a", "price": 1}),
            "id",
        ),
        (json!({"id": 5, "price": 1}), "name"),
        (
            json!({"id": 5, "name": "a", "price": 1, "categoryPaths": ["a//b"]}),
            "categoryPaths",
        ),
        (
            json!({"id": 5, "name": "a", "price": 1, "params": {"x": 1}}),
            "params.x",
        ),
        (
            json!({"id": 5, "name": "a", "price": 1, "stocks": [{"id": "s", "price": "cheap"}]}),
            "stocks[0].price",
        ),
    ] {
        let (s, e) = catalog(
            &client,
            &server,
            &a,
            Method::POST,
            "products",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(
            (s, e["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{bad}: {e}"
        );
    }
    let (s, v) = catalog(&client, &server, &a, Method::POST, "products",
        Some(json!([{"id": 2, "name": "Cup", "price": 3}, {"id": 3, "name": "Plate", "price": 4, "isAvailable": false}]))).await;
    assert_eq!((s, v["upserted"].as_u64()), (StatusCode::OK, Some(2)));
    assert_eq!(
        product(&client, &server, &a, 3).await.1["isAvailable"],
        false
    );

    // A group: members inherit and override.
    let group = json!({"groupId": 70, "name": "Shirt", "price": 30, "url": "https://s.example/g70", "pictureUrl": "https://s.example/g70.jpg",
        "isAvailable": true, "categoryPaths": ["Clothes/Shirts"], "description": "Cotton",
        "products": {"71": {"color": "red", "size": "M"}, "72": {"color": "blue", "price": 35, "isAvailable": false, "name": "Shirt blue"}}});
    let (s, v) = catalog(
        &client,
        &server,
        &a,
        Method::POST,
        "productGroups",
        Some(group),
    )
    .await;
    assert_eq!(
        (s, v["upserted"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{v}"
    );
    let v71 = product(&client, &server, &a, 71).await.1;
    assert_eq!(
        (
            v71["name"].as_str(),
            v71["price"].as_f64(),
            v71["groupId"].as_i64()
        ),
        (Some("Shirt"), Some(30.0), Some(70))
    );
    assert_eq!(
        (v71["params"]["color"].as_str(), v71["description"].as_str()),
        (Some("red"), Some("Cotton"))
    );
    let v72 = product(&client, &server, &a, 72).await.1;
    assert_eq!(
        (
            v72["name"].as_str(),
            v72["price"].as_f64(),
            v72["isAvailable"].as_bool()
        ),
        (Some("Shirt blue"), Some(35.0), Some(false))
    );
    assert_eq!(v72["categoryPaths"], json!(["Clothes/Shirts"]));
    let (s, e) = catalog(&client, &server, &a, Method::POST, "productGroups",
        Some(json!({"groupId": 80, "name": "X", "price": 1, "products": {"81": {}, "82": {"price": -5}}}))).await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("products.82.price")),
        "{e}"
    );
    assert_eq!(
        product(&client, &server, &a, 81).await.0,
        StatusCode::NOT_FOUND
    );

    // Delete.
    let (s, _) = catalog(&client, &server, &a, Method::DELETE, "products/2", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        product(&client, &server, &a, 2).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, e) = catalog(&client, &server, &a, Method::DELETE, "products/2", None).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert_eq!(product(&client, &server, &a, 1).await.0, StatusCode::OK);

    // Authentication and partner isolation.
    let no_key = client
        .get(server.url(&format!("/catalog/1.0/products/1?partnerId={}", a.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);
    let wrong = Partner {
        id: a.id.clone(),
        key: b.key.clone(),
    };
    assert_eq!(
        product(&client, &server, &wrong, 1).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        product(&client, &server, &b, 1).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = catalog(&client, &server, &b, Method::DELETE, "products/1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(product(&client, &server, &a, 1).await.0, StatusCode::OK);
    // Wrong content type.
    let resp = client
        .post(server.url(&format!(
            "/catalog/1.0/products?partnerId={}&apiKey={}",
            a.id, a.key
        )))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Everything survives a restart.
    drop(server);
    let server = Server::start(dir.path());
    assert_eq!(product(&client, &server, &a, 72).await.1["price"], 35.0);
    assert_eq!(
        product(&client, &server, &a, 2).await.0,
        StatusCode::NOT_FOUND
    );
}
