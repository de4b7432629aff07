//! Settings: built-in defaults, then a TOML file, then environment, then flags.

use propel_store::Limits;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (HTTP/1.1 and h2c; HTTP/2 over TLS when a certificate is set).
    pub listen: String,
    /// Where the database lives.
    pub data_dir: PathBuf,
    /// PEM certificate chain and private key; both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Operator token; the admin API is off without it. Prefer `PROPEL_ADMIN_TOKEN`.
    #[serde(skip_serializing)]
    pub admin_token: Option<String>,
    /// Rate limits given to new partners.
    pub default_limits: Limits,
    /// Body limit of single requests, and of the batch and catalog endpoints.
    pub body_limit_bytes: usize,
    pub batch_body_limit_bytes: usize,
    /// Largest feed accepted by upload or fetch (bytes as sent, before gunzip).
    pub feed_body_limit_bytes: usize,
    /// Fetch every feed URL this often instead of its `intervalMinutes` (tests, demos).
    pub feed_poll_seconds: Option<u64>,
    /// Most envelopes in one `visitorEvents` batch.
    pub max_batch_events: usize,
    /// On SIGTERM, how long in-flight requests get to finish.
    pub shutdown_grace_seconds: u64,
    /// Threads serving connections, each with its own runtime; 0: one per core the
    /// process may run on.
    pub serve_threads: usize,
    /// How often changes made by other processes (the command line) are picked up.
    pub partner_refresh_millis: u64,
    /// Under load, how long the event writer gathers requests into one commit.
    pub group_commit_window_micros: u64,
    /// How often shop-wide recommendation models are rebuilt when events arrived.
    pub model_rebuild_seconds: u64,
    /// Personal recommendation answers cached per partner (cleared when full); 0: no cache.
    pub recs_personal_cache: usize,
    /// SMTP relay for email (`smtp://host:port`, `smtps://user:pass@host:465`); no email is
    /// sent without it (emails stay scheduled). Prefer `PROPEL_SMTP_URL`: it may hold a password.
    #[serde(skip_serializing)]
    pub smtp_url: Option<String>,
    /// Base URL of this server as recipients reach it, for unsubscribe links
    /// (default: `http://` + the listening address).
    pub public_url: Option<String>,
    /// Least time between two emails to one address.
    pub email_min_gap_seconds: u64,
    /// How often the outbox is checked for due emails (also woken when one is scheduled).
    pub outbox_poll_millis: u64,
    /// First retry delay after a temporary SMTP failure; doubled per failure, at most 1 h.
    pub email_retry_base_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            tls_cert: None,
            tls_key: None,
            admin_token: None,
            default_limits: Limits::default(),
            body_limit_bytes: 1 << 20,
            batch_body_limit_bytes: 16 << 20,
            feed_body_limit_bytes: 512 << 20,
            feed_poll_seconds: None,
            max_batch_events: 10_000,
            shutdown_grace_seconds: 30,
            serve_threads: 0,
            partner_refresh_millis: 1000,
            group_commit_window_micros: 400,
            model_rebuild_seconds: 60,
            recs_personal_cache: 50_000,
            smtp_url: None,
            public_url: None,
            email_min_gap_seconds: 60,
            outbox_poll_millis: 1000,
            email_retry_base_seconds: 30,
        }
    }
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `PROPEL_*` environment variables.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get("PROPEL_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("PROPEL_DATA") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("PROPEL_TLS_CERT") {
            self.tls_cert = Some(v.into());
        }
        if let Some(v) = get("PROPEL_TLS_KEY") {
            self.tls_key = Some(v.into());
        }
        if let Some(v) = get("PROPEL_SERVE_THREADS").and_then(|v| v.trim().parse().ok()) {
            self.serve_threads = v;
        }
        if let Some(v) = get("PROPEL_GROUP_COMMIT_WINDOW_MICROS").and_then(|v| v.parse().ok()) {
            self.group_commit_window_micros = v;
        }
        if let Some(v) = get("PROPEL_FEED_POLL_SECONDS").and_then(|v| v.parse().ok()) {
            self.feed_poll_seconds = Some(v);
        }
        if let Some(v) = get("PROPEL_FEED_BODY_LIMIT_BYTES").and_then(|v| v.parse().ok()) {
            self.feed_body_limit_bytes = v;
        }
        if let Some(v) = get("PROPEL_MODEL_REBUILD_SECONDS").and_then(|v| v.parse().ok()) {
            self.model_rebuild_seconds = v;
        }
        if let Some(v) = get("PROPEL_RECS_PERSONAL_CACHE").and_then(|v| v.trim().parse().ok()) {
            self.recs_personal_cache = v;
        }
        if let Some(v) = get("PROPEL_SMTP_URL").filter(|v| !v.is_empty()) {
            self.smtp_url = Some(v);
        }
        if let Some(v) = get("PROPEL_PUBLIC_URL").filter(|v| !v.is_empty()) {
            self.public_url = Some(v);
        }
        if let Some(v) = get("PROPEL_EMAIL_MIN_GAP_SECONDS").and_then(|v| v.parse().ok()) {
            self.email_min_gap_seconds = v;
        }
        if let Some(v) = get("PROPEL_OUTBOX_POLL_MILLIS").and_then(|v| v.parse().ok()) {
            self.outbox_poll_millis = v;
        }
        if let Some(v) = get("PROPEL_EMAIL_RETRY_BASE_SECONDS").and_then(|v| v.parse().ok()) {
            self.email_retry_base_seconds = v;
        }
        if let Some(v) = get("PROPEL_ADMIN_TOKEN").filter(|v| !v.is_empty()) {
            self.admin_token = Some(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_then_env() {
        let mut c = Config::from_toml("listen = \"0.0.0.0:9000\"\n[default_limits]\ntracking_rps = 5\nrecommendations_rps = 6\nsponsored_rps = 7\n").unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.default_limits.sponsored_rps, 7);
        assert_eq!(c.max_batch_events, 10_000);
        c.apply_env(|k| (k == "PROPEL_LISTEN").then(|| "127.0.0.1:1".to_string()));
        assert_eq!(c.listen, "127.0.0.1:1");
        assert_eq!(c.recs_personal_cache, 50_000);
        c.apply_env(|k| (k == "PROPEL_RECS_PERSONAL_CACHE").then(|| "0".to_string()));
        assert_eq!(
            c.recs_personal_cache, 0,
            "0 turns the personal answer cache off"
        );
        let c = Config::from_toml("recs_personal_cache = 10").unwrap();
        assert_eq!(c.recs_personal_cache, 10);
        assert!(Config::from_toml("nonsense = 1").is_err());
    }
}
