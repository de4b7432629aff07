use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Clients send events until told to stop; returns every productId answered 200, per session.
async fn load(
    server_base: String,
    p: Arc<Partner>,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> HashMap<String, Vec<i64>> {
    let acked = Arc::new(Mutex::new(HashMap::<String, Vec<i64>>::new()));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (base, p, stop, acked) = (server_base.clone(), p.clone(), stop.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let client = h2c();
            let session = format!("crash-{c}");
            let url = format!("{base}/1.0/view?apiKey={}&partnerId={}", p.key, p.id);
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let product = c as i64 * 1_000_000 + n;
                n += 1;
                let sent = client
                    .post(&url)
                    .json(&json!({"sessionExternalId": session, "productId": product}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == StatusCode::OK => acked
                        .lock()
                        .unwrap()
                        .entry(session.clone())
                        .or_default()
                        .push(product),
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => break, // the server went away
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(acked).unwrap().into_inner().unwrap()
}

async fn assert_all_stored_once(
    client: &reqwest::Client,
    server: &Server,
    p: &Partner,
    acked: &HashMap<String, Vec<i64>>,
) {
    let events = export(client, server, p, None).await;
    let mut stored: HashMap<String, Vec<i64>> = HashMap::new();
    for e in &events {
        let s = e["event"]["sessionExternalId"]
            .as_str()
            .unwrap()
            .to_string();
        stored
            .entry(s)
            .or_default()
            .push(e["event"]["productId"].as_i64().unwrap());
    }
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(
        total > 100,
        "the load sent too little to prove anything: {total}"
    );
    for (session, ids) in acked {
        let got = stored.get(session).cloned().unwrap_or_default();
        // Every acknowledged event is there, exactly once, in order; an unacknowledged
        // last one may or may not have made it.
        assert!(
            got.len() == ids.len() || got.len() == ids.len() + 1,
            "{session}: {} stored, {} acked",
            got.len(),
            ids.len()
        );
        assert_eq!(&got[..ids.len()], &ids[..], "{session}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_that_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let client = h2c();
    let mut server = Server::start(dir.path());
    let p = Arc::new(create_partner(&client, &server).await);
    unlimit(&client, &server, &p).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(load(server.base.clone(), p.clone(), 16, stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    let acked = load.await.unwrap();
    let server = Server::start(dir.path());
    assert_all_stored_once(&client, &server, &p, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_what_is_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let client = h2c();
    // Several serving threads whatever the machine's cores: each must stop accepting,
    // finish its own connections and let the writer commit before the exit.
    let config = dir.path().join("propel.toml");
    std::fs::write(&config, "serve_threads = 4\n").unwrap();
    let config = config.to_str().unwrap();
    let mut server = Server::start_with(dir.path(), &["--config", config], true);
    let p = Arc::new(create_partner(&client, &server).await);
    unlimit(&client, &server, &p).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(load(server.base.clone(), p.clone(), 8, stop.clone()));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let code = server.terminate();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(code, 0);
    let acked = load.await.unwrap();
    let server = Server::start(dir.path());
    assert_all_stored_once(&client, &server, &p, &acked).await;
}
