use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

fn propel(args: &[&str], envs: &[(&str, &str)]) -> Value {
    let out = Command::new(bin())
        .args(args)
        .envs(envs.iter().copied())
        .env("PROPEL_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "propel {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[tokio::test]
async fn the_command_line_on_the_data_directory_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let created = propel(
        &[
            "partner",
            "create",
            "--name",
            "CLI shop",
            "--url",
            "https://cli.example",
            "--data",
            data,
        ],
        &[],
    );
    let p = Partner {
        id: created["partnerId"].as_str().unwrap().into(),
        key: created["apiKey"].as_str().unwrap().into(),
    };
    // The server picks up partners made by another process within its refresh interval.
    let mut status = StatusCode::UNAUTHORIZED;
    for _ in 0..40 {
        status = track(
            &client,
            &server,
            &p,
            "view",
            &json!({"sessionExternalId": "cli", "productId": 7}),
        )
        .await
        .0;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK);
    let exported = propel(
        &[
            "events",
            "export",
            "--partner",
            &p.id,
            "--session",
            "cli",
            "--data",
            data,
        ],
        &[],
    );
    assert_eq!(exported["kind"], "view");
    assert_eq!(exported["event"]["productId"], 7);
    let list = propel(&["partner", "list", "--data", data], &[]);
    assert_eq!(list["partners"][0]["eventsReceived"], 1);
    let suspended = propel(&["partner", "suspend", &p.id, "--data", data], &[]);
    assert_eq!(suspended["suspended"], true);
    propel(&["partner", "resume", &p.id, "--data", data], &[]);
    let rotated = propel(&["partner", "rotate-key", &p.id, "--data", data], &[]);
    assert_eq!(rotated["apiKey"].as_str().unwrap().len(), 32);
    assert_ne!(rotated["apiKey"], p.key.as_str());
}

#[tokio::test]
async fn the_command_line_through_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = h2c();
    let env = [
        ("PROPEL_SERVER", server.base.as_str()),
        ("PROPEL_ADMIN_TOKEN", TOKEN),
    ];
    let created = propel(
        &[
            "partner",
            "create",
            "--name",
            "Remote",
            "--url",
            "https://r.example",
        ],
        &env,
    );
    let p = Partner {
        id: created["partnerId"].as_str().unwrap().into(),
        key: created["apiKey"].as_str().unwrap().into(),
    };
    assert_eq!(
        track(
            &client,
            &server,
            &p,
            "view",
            &json!({"sessionExternalId": "r", "productId": 3})
        )
        .await
        .0,
        StatusCode::OK,
        "usable at once"
    );
    let exported = propel(&["events", "export", "--partner", &p.id], &env);
    assert_eq!(exported["event"]["productId"], 3);
    let rotated = propel(
        &["partner", "rotate-key", &p.id, "--grace-seconds", "60"],
        &env,
    );
    assert!(rotated["apiKey"].is_string());
    assert_eq!(
        track(
            &client,
            &server,
            &p,
            "view",
            &json!({"sessionExternalId": "r", "productId": 4})
        )
        .await
        .0,
        StatusCode::OK,
        "grace"
    );
}
