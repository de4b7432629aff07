//! Email over real SMTP: a local SMTP server (tests/smtp_sink.py, Python's aiosmtpd) takes
//! what propel sends; tests read the messages it stored. Without python3 and aiosmtpd these
//! tests fail, they do not skip.

use crate::common::*;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Sink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sink {
    fn start(fail_first: u32) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .arg(fail_first.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is required for the email tests");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!("the SMTP sink did not start ({line:?}): python3 with aiosmtpd is required (python3 -m pip install aiosmtpd)")
            });
        Sink { child, port, dir }
    }

    fn messages(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() > deadline {
                assert!(
                    got.len() >= n,
                    "expected {n} messages, got {}: {got:#?}",
                    got.len()
                );
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, sink: &Sink, gap_seconds: u64) -> Server {
    let config = data.join("email-test.toml");
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(
        &config,
        format!(
            "smtp_url = \"smtp://127.0.0.1:{}\"\nemail_min_gap_seconds = {gap_seconds}\noutbox_poll_millis = 100\n\
             email_retry_base_seconds = 1\nmodel_rebuild_seconds = 1\n",
            sink.port
        ),
    )
    .unwrap();
    Server::start_with(data, &["--config", config.to_str().unwrap()], true)
}

fn feed() -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><yml_catalog date="2024-05-01 12:00"><shop><name>S</name>
<categories><category id="1">Home</category></categories><offers>"#,
    );
    for id in 1..=4 {
        xml.push_str(&format!(
            r#"<offer id="{id}" available="true"><url>https://s.example/p/{id}</url><price>{id}9.5</price><oldprice>{id}20</oldprice><categoryId>1</categoryId><name>Product {id}</name><picture>https://s.example/i/{id}.jpg</picture></offer>"#
        ));
    }
    xml.push_str("</offers></shop></yml_catalog>");
    xml
}

async fn shop(client: &Client, server: &Server) -> Partner {
    let p = create_partner(client, server).await;
    unlimit(client, server, &p).await;
    let resp = client
        .post(server.url(&format!("/admin/partners/{}/feed", p.id)))
        .bearer_auth(TOKEN)
        .header("content-type", "application/xml")
        .body(feed())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    p
}

async fn upload_csv(
    client: &Client,
    server: &Server,
    p: &Partner,
    csv: Vec<u8>,
) -> (StatusCode, Value) {
    let resp = client
        .post(server.url(&format!(
            "/api/2.0/partner/{}/subscribers?apikey={}",
            p.id, p.key
        )))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

async fn scenario(
    client: &Client,
    server: &Server,
    p: &Partner,
    kind: &str,
    body: Value,
) -> (StatusCode, Value) {
    admin(
        client,
        server,
        Method::PUT,
        &format!("/admin/partners/{}/scenarios/{kind}", p.id),
        Some(body),
    )
    .await
}

async fn ok(client: &Client, server: &Server, p: &Partner, method: &str, body: Value) {
    let (status, answer) = track(client, server, p, method, &body).await;
    assert_eq!(status, StatusCode::OK, "{method}: {answer}");
}

/// The `MailTrackingId` values of the message's links.
fn tracking_ids(html: &str) -> Vec<String> {
    html.split("MailTrackingId=")
        .skip(1)
        .map(|s| {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect()
        })
        .collect()
}

const TEMPLATE: &str = r#"<p>Hi {{ contact.customData.FirstName }}!</p>
{% for p in recommendations.popular %}<a href="{{ p.url }}"><img src="{{ p.pictureUrl }}">{{ p.name }} {{ p.price }} (was {{ p.oldPrice }})</a>{% endfor %}
{% for p in recommendations.personal %}<a href="{{ p.url }}">for you: {{ p.name }}</a>{% endfor %}
<a href="https://s.example/">shop</a> <a href="{{ unsubscribeUrl }}">unsubscribe</a>"#;

#[tokio::test]
async fn welcome_chain_is_sent_rendered_tracked_attributed_and_stops_on_unsubscribe() {
    let sink = Sink::start(0);
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &sink, 0);
    let client = h2c();
    let p = shop(&client, &server).await;
    // Popularity: product 2 is viewed most, then 3.
    for (i, product) in [2, 2, 2, 3, 3, 1].iter().enumerate() {
        ok(
            &client,
            &server,
            &p,
            "view",
            json!({"sessionExternalId": format!("v{i}"), "productId": product}),
        )
        .await;
    }
    let (status, body) = upload_csv(
        &client,
        &server,
        &p,
        b"Email,IsSubscribed,FirstName\nAnn@X.io,true,Ann\nbob@x.io,false,Bob\n".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"rows": 2, "subscribed": 1, "unsubscribed": 1}));

    let (status, body) = scenario(&client, &server, &p, "welcome", json!({"from": "Shop <shop@example.com>", "emails": [{"delaySeconds": 0, "subject": "Hi", "html": "{% for p in x %}"}]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "emails[0].html", "{body}");
    let (status, body) = scenario(&client, &server, &p, "welcome", json!({"from": "Shop <shop@example.com>", "emails": [
        {"delaySeconds": 0, "subject": "Welcome, {{ contact.customData.FirstName }}", "html": TEMPLATE},
        {"delaySeconds": 2, "subject": "Second", "html": TEMPLATE}]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    tokio::time::sleep(Duration::from_millis(1500)).await; // shop-wide models rebuilt
    ok(
        &client,
        &server,
        &p,
        "view",
        json!({"sessionExternalId": "ann-phone", "productId": 4}),
    )
    .await;
    ok(&client, &server, &p, "setContact", json!({"sessionExternalId": "ann-phone", "contactExternalId": "ann1", "email": "ann@x.io", "customData": {"tier": "gold"}})).await;
    let (status, _) = track(
        &client,
        &server,
        &p,
        "welcomeSequence",
        &json!({"sessionExternalId": "b1", "email": "bob@x.io"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an unsubscribed address gets no chain"
    );
    ok(
        &client,
        &server,
        &p,
        "welcomeSequence",
        json!({"sessionExternalId": "ann-phone", "email": "ann@x.io"}),
    )
    .await;

    let messages = sink.wait_for(1, Duration::from_secs(10)).await;
    let m = &messages[0];
    assert_eq!(m["to"], json!(["ann@x.io"]));
    assert_eq!(m["from"], "shop@example.com");
    assert_eq!(m["headers"]["Subject"], "Welcome, Ann");
    let html = m["html"].as_str().unwrap();
    assert!(html.contains("Hi Ann!"), "{html}");
    assert!(
        html.contains("Product 2 29.5 (was 220)"),
        "popular products rendered: {html}"
    );
    assert!(html.contains("https://s.example/i/2.jpg"));
    assert!(
        html.contains("for you: "),
        "personal products rendered: {html}"
    );
    let ids = tracking_ids(html);
    let links = html.matches("href=\"https://s.example/").count();
    assert_eq!(
        ids.len(),
        links,
        "every shop link carries a MailTrackingId: {html}"
    );
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "one id per link");
    let unsubscribe = m["headers"]["List-Unsubscribe"].as_str().unwrap();
    let unsubscribe = unsubscribe
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    assert!(
        unsubscribe.starts_with(&format!("{}/unsubscribe/", server.base)),
        "{unsubscribe}"
    );
    assert!(
        html.contains(&unsubscribe),
        "the unsubscribe link is in the body"
    );
    assert_eq!(
        m["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert!(m["headers"]["Message-ID"]
        .as_str()
        .unwrap()
        .ends_with("@propel>"));

    // A click on another device, then an order there: both attributed to the email.
    ok(
        &client,
        &server,
        &p,
        "emailClick",
        json!({"sessionExternalId": "ann-laptop", "mailTrackingId": ids[0]}),
    )
    .await;
    ok(&client, &server, &p, "order", json!({"sessionExternalId": "ann-laptop", "productId": 2, "price": 10.0, "quantity": 2, "transaction": "T1"})).await;
    ok(&client, &server, &p, "order", json!({"sessionExternalId": "stranger", "productId": 2, "price": 10.0, "quantity": 1, "transaction": "T2"})).await;

    // The page, then the one-click POST of RFC 8058.
    let page = client.get(&unsubscribe).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    let done = client
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let bogus = client
        .post(server.url("/unsubscribe/000000000000000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), StatusCode::NOT_FOUND);

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.messages().len(), 1, "nothing after unsubscribing");
    let (status, _) = track(
        &client,
        &server,
        &p,
        "welcomeSequence",
        &json!({"sessionExternalId": "x", "email": "ann@x.io"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, report) = admin(
        &client,
        &server,
        Method::GET,
        &format!("/admin/partners/{}/email/report", p.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let days = report["days"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{report}");
    let d = &days[0];
    assert_eq!(d["scenario"], "welcome");
    assert_eq!(
        (
            d["scheduled"].as_i64(),
            d["sent"].as_i64(),
            d["failed"].as_i64()
        ),
        (Some(2), Some(1), Some(0)),
        "{d}"
    );
    assert_eq!(
        (d["clicked"].as_i64(), d["unsubscribed"].as_i64()),
        (Some(1), Some(1)),
        "{d}"
    );
    assert_eq!(
        (d["attributedOrders"].as_i64(), d["revenue"].as_f64()),
        (Some(1), Some(20.0)),
        "{d}"
    );

    let (status, contact) = admin(
        &client,
        &server,
        Method::GET,
        &format!("/admin/partners/{}/contacts/ann1", p.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contact["email"], "ann@x.io");
    assert_eq!(contact["customData"], json!({"tier": "gold"}));
    assert_eq!(contact["sessions"], json!(["ann-phone"]));
    assert_eq!(contact["subscription"]["subscribed"], false);
    assert_eq!(
        contact["subscription"]["attributes"],
        json!({"FirstName": "Ann"})
    );
    assert_eq!(contact["behaviour"]["events"]["view"], 1, "{contact}");
    assert_eq!(contact["behaviour"]["events"]["welcomeSequence"], 1);

    let (status, export) = admin(
        &client,
        &server,
        Method::GET,
        &format!("/admin/partners/{}/contacts/ann1/export", p.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["contact"]["email"], "ann@x.io");
    assert_eq!(export["subscriber"]["subscribed"], false);
    assert_eq!(export["events"].as_array().unwrap().len(), 3, "{export}");
    let states: Vec<_> = export["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "cancelled"]);
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_chain_sends_each_remaining_email_once() {
    let sink = Sink::start(0);
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &sink, 0);
    let client = h2c();
    let p = shop(&client, &server).await;
    upload_csv(
        &client,
        &server,
        &p,
        b"Email,IsSubscribed\nr@x.io,1\n".to_vec(),
    )
    .await;
    let email = |delay: u64, subject: &str| json!({"delaySeconds": delay, "subject": subject, "html": "<a href=\"https://s.example/\">x</a>"});
    let (status, _) = scenario(&client, &server, &p, "welcome", json!({"from": "shop@example.com", "emails": [email(0, "one"), email(2, "two"), email(4, "three")]})).await;
    assert_eq!(status, StatusCode::OK);
    ok(
        &client,
        &server,
        &p,
        "welcomeSequence",
        json!({"sessionExternalId": "r", "email": "r@x.io"}),
    )
    .await;
    sink.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill9();
    tokio::time::sleep(Duration::from_secs(3)).await; // "two" falls due while propel is down
    let server = start(dir.path(), &sink, 0);
    let messages = sink.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = if sink.messages().len() > messages.len() {
        sink.messages()
    } else {
        messages
    };
    let subjects: Vec<_> = messages
        .iter()
        .map(|m| m["headers"]["Subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(subjects, ["one", "two", "three"], "each email exactly once");
    let (_, report) = admin(
        &client,
        &server,
        Method::GET,
        &format!("/admin/partners/{}/email/report", p.id),
        None,
    )
    .await;
    assert_eq!(report["days"][0]["sent"], 3, "{report}");
}

#[tokio::test]
async fn abandoned_basket_carries_the_basket_stops_on_order_and_never_reaches_an_erased_contact() {
    let sink = Sink::start(0);
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &sink, 0);
    let client = h2c();
    let p = shop(&client, &server).await;
    upload_csv(
        &client,
        &server,
        &p,
        b"Email,IsSubscribed\na@x.io,1\nb@x.io,1\nc@x.io,1\nd@x.io,1\n".to_vec(),
    )
    .await;
    let (status, body) = scenario(&client, &server, &p, "abandonedBasket", json!({"from": "Shop <shop@example.com>", "emails": [{"delaySeconds": 1, "subject": "Your basket",
        "html": "{% for p in basket %}<a href=\"{{ p.url }}\">{{ p.name }} {{ p.price }}</a>{% endfor %}"}]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for who in ["a", "b", "c"] {
        ok(&client, &server, &p, "setContact", json!({"sessionExternalId": format!("{who}-s"), "contactExternalId": who, "email": format!("{who}@x.io"), "phone": "+15551234567", "customData": {"k": 1}})).await;
        ok(
            &client,
            &server,
            &p,
            "addToBasket",
            json!({"sessionExternalId": format!("{who}-s"), "productId": 2}),
        )
        .await;
    }
    // d fills the basket before logging in: the chain starts with setContact.
    ok(
        &client,
        &server,
        &p,
        "addToBasket",
        json!({"sessionExternalId": "d-s", "productId": 4}),
    )
    .await;
    ok(
        &client,
        &server,
        &p,
        "setContact",
        json!({"sessionExternalId": "d-s", "contactExternalId": "d", "email": "d@x.io"}),
    )
    .await;
    ok(
        &client,
        &server,
        &p,
        "addToBasket",
        json!({"sessionExternalId": "a-s", "productId": 3}),
    )
    .await;
    ok(&client, &server, &p, "order", json!({"sessionExternalId": "b-s", "productId": 2, "price": 29.5, "quantity": 1, "transaction": "B1"})).await;
    let (status, erased) = admin(
        &client,
        &server,
        Method::DELETE,
        &format!("/admin/partners/{}/contacts/c", p.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["sessionsUnlinked"], 1);

    let messages = sink.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = if sink.messages().len() > messages.len() {
        sink.messages()
    } else {
        messages
    };
    assert_eq!(
        messages.len(),
        2,
        "a@ and d@ get the chain, b@ ordered, c@ was erased: {messages:#?}"
    );
    let to = |who: &str| {
        messages
            .iter()
            .find(|m| m["to"] == json!([who]))
            .unwrap_or_else(|| panic!("no email to {who}: {messages:#?}"))
    };
    let html = to("a@x.io")["html"].as_str().unwrap();
    assert!(
        html.contains("Product 2 29.5") && html.contains("Product 3 39.5"),
        "{html}"
    );
    assert_eq!(tracking_ids(html).len(), 2);
    let html = to("d@x.io")["html"].as_str().unwrap();
    assert!(
        html.contains("Product 4 49.5") && !html.contains("Product 2"),
        "{html}"
    );

    // Erased: gone from contacts, from the subscriber base, from stored events.
    let (status, _) = admin(
        &client,
        &server,
        Method::GET,
        &format!("/admin/partners/{}/contacts/c", p.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin(
        &client,
        &server,
        Method::DELETE,
        &format!("/admin/partners/{}/contacts/c", p.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = track(
        &client,
        &server,
        &p,
        "welcomeSequence",
        &json!({"sessionExternalId": "c-s", "email": "c@x.io"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let events = export(&client, &server, &p, Some("c-s")).await;
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains("c@x.io") && !text.contains("+15551234567") && !text.contains("\"k\""),
        "{text}"
    );
    let (status, _) = admin(
        &client,
        &server,
        Method::GET,
        &format!("/admin/partners/{}/contacts/bad-id!", p.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn temporary_smtp_failures_are_retried_and_one_recipient_gets_emails_apart() {
    let sink = Sink::start(2);
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &sink, 2);
    let client = h2c();
    let p = shop(&client, &server).await;
    upload_csv(
        &client,
        &server,
        &p,
        b"Email,IsSubscribed\nt@x.io,1\n".to_vec(),
    )
    .await;
    let email = |subject: &str| json!({"delaySeconds": 0, "subject": subject, "html": "<p>x</p>"});
    scenario(
        &client,
        &server,
        &p,
        "welcome",
        json!({"from": "shop@example.com", "emails": [email("one"), email("two")]}),
    )
    .await;
    ok(
        &client,
        &server,
        &p,
        "welcomeSequence",
        json!({"sessionExternalId": "t", "email": "t@x.io"}),
    )
    .await;
    let messages = sink.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(
        messages[0]["refusedBefore"], 2,
        "two 451 answers, then delivered"
    );
    let gap = messages[1]["received"].as_f64().unwrap() - messages[0]["received"].as_f64().unwrap();
    assert!(
        gap >= 1.9,
        "emails to one address at least the configured gap apart: {gap}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), 2, "no duplicate");
    let html = messages[0]["html"].as_str().unwrap();
    assert!(
        html.contains("/unsubscribe/"),
        "an unsubscribe link is added when the template has none"
    );
}

#[tokio::test]
async fn subscriber_csv_upload_applies_good_files_and_refuses_bad_rows_whole() {
    let sink = Sink::start(0);
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &sink, 0);
    let client = h2c();
    let p = shop(&client, &server).await;
    let welcome = |email: &'static str| {
        let (client, server, p) = (&client, &server, &p);
        async move {
            track(
                client,
                server,
                p,
                "welcomeSequence",
                &json!({"sessionExternalId": "s", "email": email}),
            )
            .await
            .0
        }
    };
    let (status, body) = upload_csv(
        &client,
        &server,
        &p,
        "\u{feff}email;isSubscribed;City\r\nx@x.io;yes;\"Paris; FR\"\r\ny@x.io;1;\r\n"
            .as_bytes()
            .to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subscribed"], 2);
    assert_eq!(welcome("x@x.io").await, StatusCode::OK);

    let bad: [(&[u8], u64, &str); 7] = [
        (
            b"Email,IsSubscribed\nz@x.io,1\nnot-an-email,1\n",
            3,
            "Email",
        ),
        (
            b"Email,IsSubscribed\nz@x.io,1\nz2@x.io,perhaps\n",
            3,
            "IsSubscribed",
        ),
        (b"Email,IsSubscribed\nz@x.io,1,extra\n", 2, "body"),
        (b"Email,Name\nz@x.io,Z\n", 1, "IsSubscribed"),
        (b"Email,IsSubscribed\nz@x.io,1\n\"z2@x.io,1\n", 3, "body"),
        (b"Email,IsSubscribed\nz@x.io,1\nz2@x.io,\xff\n", 3, "body"),
        (b"", 1, "body"),
    ];
    for (csv, line, field) in bad {
        let (status, body) = upload_csv(&client, &server, &p, csv.to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["line"], line, "{body}");
        assert_eq!(body["field"], field, "{body}");
        assert_eq!(body["error"], "invalid_parameter");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("line {line}")),
            "{body}"
        );
    }
    assert_eq!(
        welcome("z@x.io").await,
        StatusCode::BAD_REQUEST,
        "nothing of a bad file is applied"
    );

    // Size limits: more than 100,000 lines; more than 4 MB.
    let mut many = b"Email,IsSubscribed\n".to_vec();
    for i in 0..100_000 {
        many.extend_from_slice(format!("u{i}@x.io,1\n").as_bytes());
    }
    let (status, body) = upload_csv(&client, &server, &p, many).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["line"], 100_001);
    let mut large = b"Email,IsSubscribed,Note\n".to_vec();
    while large.len() <= 4 * 1024 * 1024 {
        large.extend_from_slice(format!("u@x.io,1,{}\n", "n".repeat(1000)).as_bytes());
    }
    let (status, _) = upload_csv(&client, &server, &p, large).await;
    assert!(
        status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::BAD_REQUEST,
        "{status}"
    );

    // IsSubscribed=false unsubscribes; a wrong key is 401.
    let (status, _) = upload_csv(
        &client,
        &server,
        &p,
        b"Email,IsSubscribed\nX@x.io,false\n".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(welcome("x@x.io").await, StatusCode::BAD_REQUEST);
    let resp = client
        .post(server.url(&format!(
            "/api/2.0/partner/{}/subscribers?apikey=wrong",
            p.id
        )))
        .body("Email,IsSubscribed\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
