//! Live recommendation state per partner: the engine fed by every stored event, the
//! current model snapshot, and the mapping of sessions and contacts to visitors.
//!
//! Personal state changes with each event at once (the tracking handler applies an
//! event right after it is committed); shop-wide models are rebuilt in the background
//! every `model_rebuild_seconds` when something changed.

use crate::recs_catalog::CatalogView;
use crate::recs_rules::RecommendationRules;
use arc_swap::ArcSwap;
use propel_catalog::ProductBase;
use propel_model::EventKind;
use propel_recs::{Engine, Interaction, Kind, Models, Profile, SearchEvent, VisitorId};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

#[derive(Default)]
struct Visitors {
    by_session: HashMap<String, VisitorId>,
    /// The contact a visitor is linked to, and every visitor of a contact.
    contact_of: HashMap<VisitorId, String>,
    of_contact: HashMap<String, Vec<VisitorId>>,
}

impl Visitors {
    fn id(&mut self, session: &str) -> VisitorId {
        let next = self.by_session.len() as VisitorId;
        *self.by_session.entry(session.to_string()).or_insert(next)
    }

    fn link(&mut self, visitor: VisitorId, contact: &str) {
        if let Some(old) = self.contact_of.insert(visitor, contact.to_string()) {
            if let Some(list) = self.of_contact.get_mut(&old) {
                list.retain(|v| *v != visitor);
            }
        }
        let list = self.of_contact.entry(contact.to_string()).or_default();
        if !list.contains(&visitor) {
            list.push(visitor);
        }
    }

    /// Every visitor whose behaviour counts for this one (its contact's sessions).
    fn family(&self, visitor: VisitorId) -> Vec<VisitorId> {
        match self
            .contact_of
            .get(&visitor)
            .and_then(|c| self.of_contact.get(c))
        {
            Some(list) => list.clone(),
            None => vec![visitor],
        }
    }
}

struct Live {
    engine: Engine,
    visitors: Visitors,
    dirty: bool,
}

/// Answers of shop-wide resources, valid for one model snapshot and one product base:
/// a shop's pages ask the same few questions over and over.
/// Holding the Arcs (not their addresses) keeps a freed address from being mistaken
/// for the same snapshot.
#[derive(Default)]
struct AnswerCache {
    models: Option<Arc<Models>>,
    base: Option<Arc<ProductBase>>,
    answers: HashMap<String, Arc<Vec<i64>>>,
}

impl AnswerCache {
    fn serves(&self, models: &Arc<Models>, base: &Arc<ProductBase>) -> bool {
        self.models.as_ref().is_some_and(|m| Arc::ptr_eq(m, models))
            && self.base.as_ref().is_some_and(|b| Arc::ptr_eq(b, base))
    }
}

const MAX_CACHED_ANSWERS: usize = 20_000;

pub struct PartnerRecs {
    rules: ArcSwap<RecommendationRules>,
    live: Mutex<Live>,
    models: ArcSwap<Models>,
    view: Mutex<Option<Arc<CatalogView>>>,
    cache: Mutex<AnswerCache>,
}

impl PartnerRecs {
    fn new(config: &propel_recs::Config) -> PartnerRecs {
        let mut engine = Engine::new(config.clone());
        let models = engine.snapshot(0);
        PartnerRecs {
            rules: ArcSwap::from_pointee(RecommendationRules::default()),
            live: Mutex::new(Live {
                engine,
                visitors: Visitors::default(),
                dirty: false,
            }),
            models: ArcSwap::from_pointee(models),
            view: Mutex::new(None),
            cache: Mutex::new(AnswerCache::default()),
        }
    }

    pub fn rules(&self) -> Arc<RecommendationRules> {
        self.rules.load_full()
    }

    /// New operator rules; cached answers made under the old ones are dropped.
    pub fn set_rules(&self, rules: RecommendationRules) {
        self.rules.store(Arc::new(rules));
        if let Ok(mut cache) = self.cache.lock() {
            *cache = AnswerCache::default();
        }
    }

    /// The cached answer to `key` for these models and this base, or `compute`'s.
    pub fn cached(
        &self,
        key: String,
        models: &Arc<Models>,
        base: &Arc<ProductBase>,
        compute: impl FnOnce() -> Vec<i64>,
    ) -> Arc<Vec<i64>> {
        if let Ok(cache) = self.cache.lock() {
            if cache.serves(models, base) {
                if let Some(hit) = cache.answers.get(&key) {
                    return hit.clone();
                }
            }
        }
        let answer = Arc::new(compute());
        if let Ok(mut cache) = self.cache.lock() {
            if !cache.serves(models, base) || cache.answers.len() >= MAX_CACHED_ANSWERS {
                // The models or the base changed (or the cache is full): start afresh.
                *cache = AnswerCache {
                    models: Some(models.clone()),
                    base: Some(base.clone()),
                    answers: HashMap::new(),
                };
            }
            cache.answers.insert(key, answer.clone());
        }
        answer
    }

    pub fn models(&self) -> Arc<Models> {
        self.models.load_full()
    }

    /// The visitor's profile joined across the sessions of its contact.
    pub fn profile(&self, session: &str) -> Option<Profile> {
        let live = self.live.lock().ok()?;
        let visitor = *live.visitors.by_session.get(session)?;
        Some(live.engine.merged_profile(&live.visitors.family(visitor)))
    }

    /// The engine's view of the current product base, rebuilt when the base changed.
    pub fn catalog(&self, base: Arc<ProductBase>) -> Arc<CatalogView> {
        let Ok(mut cached) = self.view.lock() else {
            return Arc::new(CatalogView::new(base));
        };
        match cached.as_ref() {
            Some(v) if Arc::ptr_eq(&v.base, &base) => v.clone(),
            _ => {
                let view = Arc::new(CatalogView::new(base));
                *cached = Some(view.clone());
                view
            }
        }
    }

    fn apply(&self, kind: EventKind, session: &str, ts_ms: i64, body: &Map<String, Value>) {
        let Ok(mut live) = self.live.lock() else {
            return;
        };
        let visitor = live.visitors.id(session);
        let product = body.get("productId").and_then(Value::as_i64);
        let interaction = |kind: Kind, item: i64| Interaction {
            visitor,
            item,
            kind,
            ts_ms,
        };
        let changed = match (kind, product) {
            (EventKind::View, Some(p)) => Some(interaction(Kind::View, p)),
            (EventKind::AddToBasket, Some(p)) => Some(interaction(Kind::AddToBasket, p)),
            (EventKind::Order, Some(p)) => Some(interaction(Kind::Order, p)),
            (EventKind::RecomTap, Some(p)) => Some(interaction(Kind::RecomTap, p)),
            (EventKind::RecomAddToBasket, Some(p)) => Some(interaction(Kind::RecomAddToBasket, p)),
            (EventKind::GroupView, _) => {
                // A group card stands for its first listed variant.
                body.get("productIds")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_i64)
                    .map(|p| interaction(Kind::View, p))
            }
            _ => None,
        };
        if let Some(i) = changed {
            live.engine.apply(&i);
            live.dirty = true;
        }
        match kind {
            EventKind::Search => {
                if let Some(phrase) = body.get("searchPhrase").and_then(Value::as_str) {
                    live.engine.apply_search(&SearchEvent {
                        visitor,
                        phrase: phrase.to_string(),
                        ts_ms,
                    });
                    live.dirty = true;
                }
            }
            EventKind::SetContact => {
                if let Some(contact) = body.get("contactExternalId").and_then(Value::as_str) {
                    live.visitors.link(visitor, contact);
                }
            }
            _ => {}
        }
    }

    /// Rebuilds the shop-wide models when events arrived since the last build.
    pub fn rebuild_if_dirty(&self, now_ms: i64) -> bool {
        let Ok(mut live) = self.live.lock() else {
            return false;
        };
        if !live.dirty {
            return false;
        }
        live.dirty = false;
        let models = live.engine.snapshot(now_ms);
        drop(live);
        self.models.store(Arc::new(models));
        true
    }
}

pub struct RecsRegistry {
    config: propel_recs::Config,
    partners: RwLock<HashMap<i64, Arc<PartnerRecs>>>,
}

impl RecsRegistry {
    pub fn new(config: propel_recs::Config) -> RecsRegistry {
        RecsRegistry {
            config,
            partners: RwLock::new(HashMap::new()),
        }
    }

    pub fn partner(&self, partner: i64) -> Arc<PartnerRecs> {
        if let Some(p) = self
            .partners
            .read()
            .ok()
            .and_then(|m| m.get(&partner).cloned())
        {
            return p;
        }
        let mut map = match self.partners.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(partner)
            .or_insert_with(|| Arc::new(PartnerRecs::new(&self.config)))
            .clone()
    }

    pub fn apply(
        &self,
        partner: i64,
        kind: EventKind,
        session: &str,
        ts_ms: i64,
        body: &Map<String, Value>,
    ) {
        self.partner(partner).apply(kind, session, ts_ms, body);
    }

    /// Feeds every stored event of every partner, then builds the models.
    pub fn replay(
        &self,
        store: &propel_store::Store,
        partners: &[i64],
        now_ms: i64,
    ) -> Result<usize, propel_store::StoreError> {
        let mut n = 0;
        for &partner in partners {
            let recs = self.partner(partner);
            if let Some(rules) = store
                .recommendation_rules(partner)?
                .and_then(|j| serde_json::from_str(&j).ok())
            {
                recs.set_rules(rules);
            }
            store.export_events(partner, None, |e| {
                if let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&e.body) {
                    recs.apply(e.kind, &e.session, e.ts_ms, &body);
                    n += 1;
                }
                true
            })?;
            recs.rebuild_if_dirty(now_ms);
        }
        Ok(n)
    }

    pub fn rebuild_dirty(&self, now_ms: i64) -> usize {
        let all: Vec<Arc<PartnerRecs>> = self
            .partners
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        all.iter().filter(|p| p.rebuild_if_dirty(now_ms)).count()
    }
}
