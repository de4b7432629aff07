//! The transport: HTTP/1.1 and h2c (prior knowledge) on one port, HTTP/2 over TLS
//! (ALPN) when a certificate is configured; graceful shutdown that commits every
//! accepted event before returning.

use crate::state::AppState;
use crate::Config;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
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

/// Serves until `shutdown` resolves; then stops accepting, lets in-flight requests
/// finish (up to the configured grace), commits every accepted event, and returns.
pub async fn run(running: Running, shutdown: impl Future<Output = ()>) {
    let Running {
        listener,
        state,
        tls,
    } = running;
    let app = crate::router(state.clone());
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(http_builder());
    let refresher = tokio::spawn(refresh_partners(state.clone()));
    let rebuilder = tokio::spawn(rebuild_models(state.clone()));
    let catalog = tokio::spawn(crate::admin_feed::run_background(state.clone()));
    let mailer = crate::mailer::start(state.clone(), listener.local_addr().ok());
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        match &tls {
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
    drop(listener);
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    let grace = Duration::from_secs(state.config.shutdown_grace_seconds);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the grace period");
    }
    refresher.abort();
    rebuilder.abort();
    catalog.abort();
    mailer.stop().await;
    state.writer.stop().await;
    tracing::info!("every accepted event is committed; stopped");
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
