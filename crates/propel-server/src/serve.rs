//! The transport: HTTP/1.1 and h2c (prior knowledge) on one port, HTTP/2 over TLS
//! (ALPN) when a certificate is configured; graceful shutdown that commits every
//! accepted event before returning.

use crate::state::AppState;
use crate::Config;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A bound server, before it serves: tells where it listens.
pub struct Running {
    pub listener: TcpListener,
    pub state: AppState,
    pub tls: Option<TlsAcceptor>,
}

impl Running {
    pub async fn bind(config: Config) -> anyhow_like::Result<Running> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            (None, None) => None,
            _ => return Err("tls_cert and tls_key must be given together".into()),
        };
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let state = AppState::open(config).map_err(|e| e.to_string())?;
        Ok(Running {
            listener,
            state,
            tls,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        match self.local_addr() {
            Ok(addr) => format!("{scheme}://{addr}"),
            Err(_) => format!("{scheme}://?"),
        }
    }
}

/// Minimal string errors, so the library does not need anyhow.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, String>;
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow_like::Result<TlsAcceptor> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate PEM {}: {e}", cert.display()))?;
    let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| format!("bad key PEM {}: {e}", key.display()))?
        .ok_or_else(|| format!("no private key in {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn http_builder() -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    // Larger flow-control windows or frames measured slower here; only the stream
    // count is raised, for clients that multiplex many fire-and-forget events.
    builder.http2().max_concurrent_streams(1024);
    builder
}

/// What every serving thread needs to take connections: the app, the HTTP settings
/// and the TLS acceptor.
#[derive(Clone)]
struct Acceptor {
    app: crate::front::Front,
    builder: Arc<Builder<TokioExecutor>>,
    tls: Option<TlsAcceptor>,
}

impl Acceptor {
    /// Accepts until `stop` resolves, serving each connection on this thread's
    /// runtime; then lets its in-flight requests finish (up to `grace`).
    async fn run(&self, listener: TcpListener, stop: impl Future<Output = ()>, grace: Duration) {
        let graceful = GracefulShutdown::new();
        tokio::pin!(stop);
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    // tokio retries by itself when another thread took the connection first.
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            self.serve(stream, &graceful);
        }
        drop(listener);
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after the grace period");
        }
    }

    fn serve(&self, stream: tokio::net::TcpStream, graceful: &GracefulShutdown) {
        let _ = stream.set_nodelay(true);
        let service = self.app.clone();
        let builder = self.builder.clone();
        match &self.tls {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                    else {
                        return;
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(tls_stream), service)
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
}

/// The runtime of a serving thread: current-thread (see [`run`]), telling the event
/// writer whenever it runs out of work ([`propel_store::serving_idle`]) and when it
/// has work again ([`propel_store::serving_busy`]).
pub fn runtime_builder() -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder
        .on_thread_park(propel_store::serving_idle)
        .on_thread_unpark(propel_store::serving_busy);
    builder
}

/// How many threads serve connections: the setting, or one per core this process may
/// run on.
pub fn serving_threads(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Serves until `shutdown` resolves; then stops accepting, lets in-flight requests
/// finish (up to the configured grace), commits every accepted event, and returns.
///
/// Call it on a current-thread runtime: that thread serves connections, and
/// `serve_threads - 1` more threads, each with its own current-thread runtime, accept
/// on the same socket. A connection stays on the thread that accepted it, so no
/// request pays for work stealing or cross-thread wake-ups (an ad-hoc A/B of CPU time
/// per request, not a bench script: about a quarter less than one multi-thread runtime
/// on the same core; `bench/` shows it as higher ratios to the ceiling).
pub async fn run(running: Running, shutdown: impl Future<Output = ()>) {
    let Running {
        listener,
        state,
        tls,
    } = running;
    let acceptor = Acceptor {
        app: crate::front::Front::new(state.clone()),
        builder: Arc::new(http_builder()),
        tls,
    };
    let grace = Duration::from_secs(state.config.shutdown_grace_seconds);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut threads = Vec::new();
    let serving = serving_threads(state.config.serve_threads);
    tracing::info!(threads = serving, "serving threads");
    for n in 1..serving {
        match spawn_serving_thread(n, &listener, acceptor.clone(), stop_rx.clone(), grace) {
            Ok(handle) => threads.push(handle),
            Err(e) => tracing::warn!(error = %e, "cannot start a serving thread"),
        }
    }
    let refresher = tokio::spawn(refresh_partners(state.clone()));
    let rebuilder = tokio::spawn(rebuild_models(state.clone()));
    let catalog = tokio::spawn(crate::admin_feed::run_background(state.clone()));
    let mailer = crate::mailer::start(state.clone(), listener.local_addr().ok());
    let stop = async {
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        let _ = stop_tx.send(true);
    };
    acceptor.run(listener, stop, grace).await;
    // The other threads finish their own connections; wait for them off this runtime.
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
    refresher.abort();
    rebuilder.abort();
    catalog.abort();
    mailer.stop().await;
    state.writer.stop().await;
    tracing::info!("every accepted event is committed; stopped");
}

/// A thread with its own current-thread runtime accepting on a duplicate of the
/// listening socket until `stop` turns true.
fn spawn_serving_thread(
    n: usize,
    listener: &TcpListener,
    acceptor: Acceptor,
    mut stop: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    use std::os::fd::AsFd;
    let socket = std::net::TcpListener::from(listener.as_fd().try_clone_to_owned()?);
    let runtime = runtime_builder().enable_all().build()?;
    std::thread::Builder::new()
        .name(format!("propel-serve-{n}"))
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match TcpListener::from_std(socket) {
                    Ok(l) => l,
                    Err(e) => return tracing::warn!(error = %e, "serving thread cannot listen"),
                };
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                acceptor.run(listener, stopped, grace).await;
            })
        })
}

/// Picks up partners, keys and limits changed by another process.
async fn refresh_partners(state: AppState) {
    let every = Duration::from_millis(state.config.partner_refresh_millis.max(50));
    loop {
        tokio::time::sleep(every).await;
        let (store, partners) = (state.store.clone(), state.partners.clone());
        match tokio::task::spawn_blocking(move || partners.reload_if_changed(&store)).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "partner refresh failed"),
            Err(e) => tracing::warn!(error = %e, "partner refresh task failed"),
            Ok(Ok(())) => {}
        }
    }
}

/// Rebuilds shop-wide recommendation models of partners that received events.
async fn rebuild_models(state: AppState) {
    let every = Duration::from_secs(state.config.model_rebuild_seconds.max(1));
    loop {
        tokio::time::sleep(every).await;
        let recs = state.recs.clone();
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || recs.rebuild_dirty(crate::tracking::now_ms()))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                partners = n,
                seconds = started.elapsed().as_secs_f64(),
                "recommendation models rebuilt"
            ),
            Err(e) => tracing::warn!(error = %e, "model rebuild task failed"),
        }
    }
}
