//! Retail media, live: placements and the decision engine loaded at start, the
//! impression writer, and the product base seen through the engine's `Products`.

use crate::state::AppState;
use arc_swap::ArcSwap;
use propel_ads::{Campaign, Engine, EventKind as AdEvent, Placement, Products, Totals, DAY_MS};
use propel_catalog::ProductBase;
use propel_model::{EventKind, ValidatedEvent};
use propel_store::{AdWrite, AdWriter, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

pub struct AdsState {
    pub engine: Engine,
    pub writer: AdWriter,
    placements: ArcSwap<HashMap<String, Arc<Placement>>>,
}

impl AdsState {
    /// Loads placements, campaigns with their sums, and the impressions that may still
    /// count or still hold a frequency cap; starts the writer and the pruning thread.
    pub fn load(store: &Store, now_ms: i64) -> Result<Arc<AdsState>, StoreError> {
        let seed = u64::from_le_bytes(crate::keys::random_bytes::<8>());
        let engine = Engine::new(seed);
        let mut placements = HashMap::new();
        for body in store.ad_placements()? {
            match serde_json::from_str::<Placement>(&body) {
                Ok(p) => {
                    placements.insert(p.id.clone(), Arc::new(p));
                }
                Err(e) => tracing::error!(error = %e, "unreadable stored placement; skipped"),
            }
        }
        let day_start = now_ms - now_ms.rem_euclid(DAY_MS);
        let totals = store.campaign_totals(day_start)?;
        let mut longest_cap = DAY_MS;
        for (body, paused) in store.campaigns()? {
            let Ok(mut c) = serde_json::from_str::<Campaign>(&body) else {
                tracing::error!("unreadable stored campaign; skipped");
                continue;
            };
            c.paused = paused;
            let t = totals.get(&c.id).copied().unwrap_or_default();
            if let Some(cap) = c.frequency_cap {
                longest_cap = longest_cap.max(cap.period_ms);
            }
            let restored = Totals {
                spent: t.spent,
                day: day_start / DAY_MS,
                day_spent: t.day_spent,
                served: t.served,
                views: t.views,
                clicks: t.clicks,
            };
            engine.insert(c, restored);
        }
        store.recent_impressions(now_ms - longest_cap, |r| {
            engine.restore_impression(
                &r.id,
                r.partner,
                &r.campaign,
                &r.content,
                &r.placement,
                &r.session,
                r.served_ms,
                r.viewed,
                r.clicked,
                now_ms,
            )
        })?;
        let state = Arc::new(AdsState {
            engine,
            writer: store.start_ad_writer()?,
            placements: ArcSwap::from_pointee(placements),
        });
        let weak: Weak<AdsState> = Arc::downgrade(&state);
        std::thread::Builder::new()
            .name("ads-prune".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
                match weak.upgrade() {
                    Some(s) => s.engine.prune(crate::tracking::now_ms()),
                    None => return,
                }
            })?;
        Ok(state)
    }

    pub fn placement(&self, id: &str) -> Option<Arc<Placement>> {
        self.placements.load().get(id).cloned()
    }

    pub fn add_placement(&self, p: Placement) {
        let mut next = HashMap::clone(&self.placements.load());
        next.insert(p.id.clone(), Arc::new(p));
        self.placements.store(Arc::new(next));
    }

    /// Counts the views and clicks among stored events; returns once the counts are durable.
    pub async fn count(&self, partner: i64, events: &[ValidatedEvent], now_ms: i64) {
        let mut counted = false;
        for e in events {
            let kind = match e.kind {
                EventKind::ImpressionContentViewed => AdEvent::View,
                EventKind::ImpressionContentClicked => AdEvent::Click,
                _ => continue,
            };
            let Some(id) = e.str_field("impressionContentId") else {
                continue;
            };
            if let Some(charge) = self.engine.count(partner, id, kind, now_ms) {
                self.writer.send(AdWrite::Counted {
                    id: charge.impression_id,
                    click: kind == AdEvent::Click,
                    price: charge.price,
                    at_ms: charge.at_ms,
                    campaign: charge.campaign_id,
                    content: charge.content_id,
                    placement: charge.placement_id,
                    served_ms: charge.served_ms,
                });
                counted = true;
            }
        }
        if counted {
            if let Err(e) = self.writer.flush().await {
                tracing::error!(error = %e, "counted impression events not confirmed stored");
            }
        }
    }
}

/// The visitor's categories of interest (with their ancestors), from the recommendation
/// profile; the strongest 20.
pub fn interests(
    state: &AppState,
    partner: i64,
    session: &str,
    base: &Arc<ProductBase>,
    now_ms: i64,
) -> HashSet<i64> {
    let recs = state.recs.partner(partner);
    let Some(profile) = recs.profile(session) else {
        return HashSet::new();
    };
    let view = recs.catalog(base.clone());
    let list = profile.category_interests(view.as_ref(), &propel_recs::Config::default(), now_ms);
    let products = BaseProducts(base);
    list.into_iter()
        .filter(|(_, w)| *w > 0.0)
        .take(20)
        .flat_map(|(c, _)| products.category_and_ancestors(c))
        .collect()
}

/// The product base as the engine sees it.
pub struct BaseProducts<'a>(pub &'a ProductBase);

impl Products for BaseProducts<'_> {
    fn category_closure(&self, product: i64) -> Option<Vec<i64>> {
        self.0.get(product)?;
        let tree = self.0.tree();
        let mut out = Vec::new();
        for &c in self.0.category_ids(product) {
            let mut at = Some(c);
            // Bounded like `CategoryTree::ancestors`, in case of a cycle.
            for _ in 0..=tree.len() {
                let Some(a) = at.filter(|a| !out.contains(a)) else {
                    break;
                };
                out.push(a);
                at = tree.parent(a);
            }
        }
        Some(out)
    }

    fn category_and_ancestors(&self, category: i64) -> HashSet<i64> {
        let mut out: HashSet<i64> = self.0.tree().ancestors(category).into_iter().collect();
        out.insert(category);
        out
    }

    fn resolve_path(&self, path: &str) -> Option<i64> {
        self.0.tree().find_path(path)
    }

    fn vendor(&self, product: i64) -> Option<&str> {
        self.0.get(product)?.vendor.as_deref()
    }

    fn price(&self, product: i64, stock: Option<&str>) -> Option<f64> {
        self.0.effective(product, stock).map(|e| e.price)
    }

    fn available(&self, product: i64, stock: Option<&str>) -> bool {
        self.0
            .effective(product, stock)
            .is_some_and(|e| e.available)
    }
}
