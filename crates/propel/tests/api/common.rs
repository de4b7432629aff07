use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

pub const TOKEN: &str = "test-operator-token";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_propel")
}

pub struct Server {
    pub child: Child,
    pub base: String,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[], true)
    }

    /// Starts `propel serve` on port 0 and waits for its "listening" line.
    pub fn start_with(data: &Path, extra: &[&str], admin: bool) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env("PROPEL_LOG", "warn")
            .env_remove("PROPEL_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if admin {
            cmd.env("PROPEL_ADMIN_TOKEN", TOKEN);
        }
        let mut child = cmd.spawn().expect("start propel");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read listening line");
        let base = line
            .trim()
            .strip_prefix("propel listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Server {
            child,
            base,
            _stdout: stdout,
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then the exit code.
    pub fn terminate(&mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().expect("wait").code().unwrap_or(-1)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn h2c() -> Client {
    Client::builder().http2_prior_knowledge().build().unwrap()
}

pub struct Partner {
    pub id: String,
    pub key: String,
}

pub async fn admin(
    client: &Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, server.url(path)).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub async fn create_partner(client: &Client, server: &Server) -> Partner {
    let (status, body) = admin(
        client,
        server,
        reqwest::Method::POST,
        "/admin/partners",
        Some(json!({"name": "Shop", "url": "https://shop.example"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Partner {
        id: body["partnerId"].as_str().unwrap().to_string(),
        key: body["apiKey"].as_str().unwrap().to_string(),
    }
}

/// Raises the partner's limits so a test is not slowed by the defaults.
pub async fn unlimit(client: &Client, server: &Server, p: &Partner) {
    let (status, _) = admin(client, server, reqwest::Method::PUT, &format!("/admin/partners/{}/limits", p.id), Some(json!({"trackingRps": 1_000_000, "recommendationsRps": 1_000_000, "sponsoredRps": 1_000_000}))).await;
    assert_eq!(status, StatusCode::OK);
}

pub async fn track(
    client: &Client,
    server: &Server,
    p: &Partner,
    method: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let resp = client
        .post(server.url(&format!(
            "/1.0/{method}?apiKey={}&partnerId={}",
            p.key, p.id
        )))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

/// The events export, parsed; of one visitor when `session` is given.
pub async fn export(
    client: &Client,
    server: &Server,
    p: &Partner,
    session: Option<&str>,
) -> Vec<Value> {
    let path = match session {
        Some(s) => format!("/admin/partners/{}/events?sessionExternalId={s}", p.id),
        None => format!("/admin/partners/{}/events", p.id),
    };
    let resp = client
        .get(server.url(&path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    resp.text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect()
}
