//! What every handler shares.

use crate::auth::PartnerCache;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use propel_store::{EventWriter, Store};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};

/// Cheap to clone (one reference count): the router clones it for every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub writer: EventWriter,
    pub partners: Arc<PartnerCache>,
    pub limiter: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    /// (partner rowid, normalized email) of every subscribed address.
    pub subscribers: Arc<RwLock<HashSet<(i64, String)>>>,
    /// Every partner's product base, for serving.
    pub catalogs: Arc<crate::catalog_state::CatalogRegistry>,
    /// Every partner's recommendation engine and models.
    pub recs: Arc<crate::recs_state::RecsRegistry>,
    /// Retail media: placements, campaigns, the decision engine, the impression writer.
    pub ads: Arc<crate::ads_state::AdsState>,
    /// Email scenarios and the outbox task's wake-up.
    pub email: Arc<crate::mailer::EmailState>,
}

impl AppState {
    /// Opens storage under the configured data directory and loads the caches.
    pub fn open(config: Config) -> Result<AppState, propel_store::StoreError> {
        let store = Store::open(&config.data_dir)?;
        let metrics = Arc::new(Metrics::default());
        let observed = metrics.clone();
        let window = std::time::Duration::from_micros(config.group_commit_window_micros);
        let writer =
            store.start_writer(Some(Box::new(move |n| observed.observe_commit(n))), window)?;
        let partners = Arc::new(PartnerCache::default());
        partners.reload(&store)?;
        let subscribers = store.subscribed_emails()?.into_iter().collect();
        let catalogs = Arc::new(crate::catalog_state::CatalogRegistry::load(&store)?);
        let recs = Arc::new(crate::recs_state::RecsRegistry::new(
            propel_recs::Config::default(),
            config.recs_personal_cache,
        ));
        let rowids: Vec<i64> = store.partners()?.iter().map(|p| p.rowid).collect();
        let started = std::time::Instant::now();
        let replayed = recs.replay(&store, &rowids, crate::tracking::now_ms())?;
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            events = replayed,
            seconds,
            "recommendation models built from stored events"
        );
        let ads = crate::ads_state::AdsState::load(&store, crate::tracking::now_ms())?;
        Ok(AppState(Arc::new(Shared {
            config: Arc::new(config),
            email: Arc::new(crate::mailer::EmailState::load(&store)?),
            store,
            writer,
            partners,
            limiter: Arc::new(RateLimiter::default()),
            metrics,
            subscribers: Arc::new(RwLock::new(subscribers)),
            catalogs,
            recs,
            ads,
        })))
    }

    pub fn is_subscribed(&self, partner: i64, email: &str) -> bool {
        self.subscribers
            .read()
            .map(|s| s.contains(&(partner, email.to_string())))
            .unwrap_or(false)
    }
}
