//! Live recommendation state per partner: the engine fed by every stored event, the
//! current model snapshot, and the mapping of sessions and contacts to visitors.
//!
//! Personal state changes with each event at once (the tracking handler applies an
//! event right after it is committed); shop-wide models are rebuilt in the background
//! every `model_rebuild_seconds` when something changed.

use crate::recs_catalog::CatalogView;
use crate::recs_rules::RecommendationRules;
use arc_swap::ArcSwap;
use bytes::Bytes;
use propel_catalog::ProductBase;
use propel_model::{BodyFields, EventKind};
use propel_recs::{Engine, Interaction, Kind, Models, Profile, SearchEvent, VisitorId};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

#[derive(Default)]
struct Visitors {
    by_session: HashMap<String, VisitorId>,
    /// The contact a visitor is linked to, and every visitor of a contact.
    contact_of: HashMap<VisitorId, String>,
    of_contact: HashMap<String, Vec<VisitorId>>,
    /// Per visitor (dense id): the clock when what its profile is made of last
    /// changed (an event of its own, or its contact's set of sessions).
    changed: Vec<u64>,
    clock: u64,
}

impl Visitors {
    fn id(&mut self, session: &str) -> VisitorId {
        // A known visitor, by far the most common, costs no copy of its session id.
        if let Some(&id) = self.by_session.get(session) {
            return id;
        }
        let id = self.by_session.len() as VisitorId;
        self.by_session.insert(session.to_string(), id);
        if self.changed.len() <= id as usize {
            self.changed.resize(id as usize + 1, 0);
        }
        id
    }

    /// Marks the visitor's profile as changed.
    fn touch(&mut self, visitor: VisitorId) {
        self.clock += 1;
        if let Some(c) = self.changed.get_mut(visitor as usize) {
            *c = self.clock;
        }
    }

    fn link(&mut self, visitor: VisitorId, contact: &str) {
        if self.contact_of.get(&visitor).map(String::as_str) == Some(contact) {
            return;
        }
        // Every visitor of the old and of the new contact now has another merged profile.
        let mut affected = self.family(visitor);
        if let Some(old) = self.contact_of.insert(visitor, contact.to_string()) {
            if let Some(list) = self.of_contact.get_mut(&old) {
                list.retain(|v| *v != visitor);
            }
        }
        let list = self.of_contact.entry(contact.to_string()).or_default();
        if !list.contains(&visitor) {
            list.push(visitor);
        }
        affected.extend_from_slice(list);
        for v in affected {
            self.touch(v);
        }
    }

    /// The version of the visitor's merged profile: it changes whenever the
    /// profile may have (the clock is global, so a member's change raises the maximum).
    fn version(&self, visitor: VisitorId) -> u64 {
        let stamp = |v: &VisitorId| self.changed.get(*v as usize).copied().unwrap_or(0);
        match self
            .contact_of
            .get(&visitor)
            .and_then(|c| self.of_contact.get(c))
        {
            Some(list) => list.iter().map(stamp).max().unwrap_or(0),
            None => stamp(&visitor),
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
struct AnswerCache<V> {
    models: Option<Arc<Models>>,
    base: Option<Arc<ProductBase>>,
    answers: HashMap<String, V>,
}

impl<V> Default for AnswerCache<V> {
    fn default() -> Self {
        AnswerCache {
            models: None,
            base: None,
            answers: HashMap::new(),
        }
    }
}

impl<V: Clone> AnswerCache<V> {
    fn serves(&self, models: &Arc<Models>, base: &Arc<ProductBase>) -> bool {
        self.models.as_ref().is_some_and(|m| Arc::ptr_eq(m, models))
            && self.base.as_ref().is_some_and(|b| Arc::ptr_eq(b, base))
    }

    fn get(&self, key: &str, models: &Arc<Models>, base: &Arc<ProductBase>) -> Option<V> {
        if !self.serves(models, base) {
            return None;
        }
        self.answers.get(key).cloned()
    }

    fn put(
        &mut self,
        key: String,
        value: V,
        models: &Arc<Models>,
        base: &Arc<ProductBase>,
        max: usize,
    ) {
        if !self.serves(models, base) || self.answers.len() >= max {
            // The models or the base changed (or the cache is full): start afresh.
            *self = AnswerCache {
                models: Some(models.clone()),
                base: Some(base.clone()),
                answers: HashMap::new(),
            };
        }
        if max > 0 {
            self.answers.insert(key, value);
        }
    }
}

const MAX_CACHED_ANSWERS: usize = 20_000;

pub struct PartnerRecs {
    rules: ArcSwap<RecommendationRules>,
    live: Mutex<Live>,
    models: ArcSwap<Models>,
    view: Mutex<Option<Arc<CatalogView>>>,
    cache: Mutex<AnswerCache<Bytes>>,
    /// Personal answers with the version of the visitor's profile they were made from.
    personal: Mutex<AnswerCache<(u64, Bytes)>>,
    personal_capacity: usize,
}

impl PartnerRecs {
    fn new(config: &propel_recs::Config, personal_capacity: usize) -> PartnerRecs {
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
            personal: Mutex::new(AnswerCache::default()),
            personal_capacity,
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
        compute: impl FnOnce() -> Bytes,
    ) -> Bytes {
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&key, models, base))
        {
            return hit;
        }
        let answer = compute();
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(key, answer.clone(), models, base, MAX_CACHED_ANSWERS);
        }
        answer
    }

    /// The answer to a personal request `key` of `session`: cached while the visitor's
    /// merged profile, the models and the base stay the same, else `compute`'s from the
    /// profile (`None` for an unknown visitor). At or after the models' newest visit
    /// (`now_ms >= models.newest_visit_ms()`, the rule unless events are dated in the
    /// future) a personal answer is a function of these three only (the algorithms do
    /// not read the clock in a way that changes a ranking), so a cached one is the answer
    /// a computation would give; before it, nothing is cached.
    pub fn personal(
        &self,
        key: String,
        session: &str,
        now_ms: i64,
        models: &Arc<Models>,
        base: &Arc<ProductBase>,
        compute: impl FnOnce(Option<&Profile>) -> Bytes,
    ) -> Bytes {
        let cacheable = self.personal_capacity > 0 && now_ms >= models.newest_visit_ms();
        if cacheable {
            let version = self.profile_version(session);
            if let Some((v, hit)) = self
                .personal
                .lock()
                .ok()
                .and_then(|c| c.get(&key, models, base))
            {
                if v == version {
                    return hit;
                }
            }
        }
        // The profile and its version are read together: an event arriving meanwhile
        // gives a newer version next time, never a stale answer under a new version.
        let (version, profile) = self.profile_with_version(session);
        let answer = compute(profile.as_ref());
        if cacheable {
            if let Ok(mut cache) = self.personal.lock() {
                cache.put(
                    key,
                    (version, answer.clone()),
                    models,
                    base,
                    self.personal_capacity,
                );
            }
        }
        answer
    }

    /// The version of the visitor's merged profile (0 for an unknown visitor).
    pub fn profile_version(&self, session: &str) -> u64 {
        let Ok(live) = self.live.lock() else {
            return 0;
        };
        live.visitors
            .by_session
            .get(session)
            .map_or(0, |&v| live.visitors.version(v))
    }

    fn profile_with_version(&self, session: &str) -> (u64, Option<Profile>) {
        let Ok(live) = self.live.lock() else {
            return (0, None);
        };
        let Some(&visitor) = live.visitors.by_session.get(session) else {
            return (0, None);
        };
        (
            live.visitors.version(visitor),
            Some(live.engine.merged_profile(&live.visitors.family(visitor))),
        )
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

    fn apply(&self, kind: EventKind, session: &str, ts_ms: i64, body: &impl BodyFields) {
        let Ok(mut live) = self.live.lock() else {
            return;
        };
        let visitor = live.visitors.id(session);
        let product = body.field("productId").and_then(Value::as_i64);
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
                body.field("productIds")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_i64)
                    .map(|p| interaction(Kind::View, p))
            }
            _ => None,
        };
        if let Some(i) = changed {
            live.engine.apply(&i);
            live.visitors.touch(visitor);
            live.dirty = true;
        }
        match kind {
            EventKind::Search => {
                if let Some(phrase) = body.field("searchPhrase").and_then(Value::as_str) {
                    live.engine.apply_search(&SearchEvent {
                        visitor,
                        phrase: phrase.to_string(),
                        ts_ms,
                    });
                    live.visitors.touch(visitor);
                    live.dirty = true;
                }
            }
            EventKind::SetContact => {
                if let Some(contact) = body.field("contactExternalId").and_then(Value::as_str) {
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
    personal_capacity: usize,
    partners: RwLock<HashMap<i64, Arc<PartnerRecs>>>,
}

impl RecsRegistry {
    /// `personal_capacity`: personal answers kept per partner (each is one visitor's answer
    /// to one request), 0 for none; `recs_personal_cache` in the configuration.
    pub fn new(config: propel_recs::Config, personal_capacity: usize) -> RecsRegistry {
        RecsRegistry {
            config,
            personal_capacity,
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
            .or_insert_with(|| Arc::new(PartnerRecs::new(&self.config, self.personal_capacity)))
            .clone()
    }

    pub fn apply(
        &self,
        partner: i64,
        kind: EventKind,
        session: &str,
        ts_ms: i64,
        body: &impl BodyFields,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};
    use std::cell::Cell;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Asks for `session`'s cached personal answer (its products, most recent first),
    /// counting the computations.
    fn ask(recs: &PartnerRecs, session: &str, base: &Arc<ProductBase>, runs: &Cell<u32>) -> String {
        let models = recs.models();
        let now = models.newest_visit_ms();
        let answer = recs.personal(format!("k|{session}"), session, now, &models, base, |p| {
            runs.set(runs.get() + 1);
            let items: Vec<String> = p
                .map(|p| p.recent_items().iter().map(i64::to_string).collect())
                .unwrap_or_default();
            Bytes::from(items.join(","))
        });
        String::from_utf8(answer.to_vec()).unwrap_or_default()
    }

    #[test]
    fn personal_answers_are_cached_until_the_visitors_profile_changes() {
        let recs = PartnerRecs::new(&propel_recs::Config::default(), 100);
        let base = Arc::new(ProductBase::empty());
        let runs = Cell::new(0);
        let view = |session: &str, ts: i64, product: i64| {
            recs.apply(
                EventKind::View,
                session,
                ts,
                &body(json!({"productId": product})),
            );
        };
        view("a", 1, 11);
        assert_eq!(ask(&recs, "a", &base, &runs), "11");
        assert_eq!(ask(&recs, "a", &base, &runs), "11");
        assert_eq!(
            runs.get(),
            1,
            "asked again without an event: from the cache"
        );
        // Another visitor's event leaves this answer cached.
        view("b", 2, 21);
        assert_eq!(ask(&recs, "a", &base, &runs), "11");
        assert_eq!(runs.get(), 1);
        // The visitor's own event: the next answer follows it.
        view("a", 3, 12);
        assert_eq!(ask(&recs, "a", &base, &runs), "12,11");
        assert_eq!(runs.get(), 2);
        // Linking another session of the same contact changes the merged profile...
        let contact = |session: &str| {
            recs.apply(
                EventKind::SetContact,
                session,
                4,
                &body(json!({"contactExternalId": "ann"})),
            );
        };
        contact("b");
        assert_eq!(ask(&recs, "a", &base, &runs), "12,11", "not linked yet");
        contact("a");
        assert_eq!(ask(&recs, "a", &base, &runs), "12,21,11");
        // ...and so does an event of that other session.
        view("b", 5, 22);
        assert_eq!(ask(&recs, "a", &base, &runs), "22,12,21,11");
        // A new product base (or new models) is a new cache.
        let runs_before = runs.get();
        let other_base = Arc::new(ProductBase::empty());
        assert_eq!(ask(&recs, "a", &other_base, &runs), "22,12,21,11");
        assert_eq!(runs.get(), runs_before + 1);
    }

    #[test]
    fn nothing_is_cached_for_a_request_time_before_the_newest_visit() {
        let recs = PartnerRecs::new(&propel_recs::Config::default(), 100);
        let base = Arc::new(ProductBase::empty());
        let models = recs.models();
        let runs = Cell::new(0);
        let early = models.newest_visit_ms() - 1;
        for _ in 0..2 {
            recs.personal("k".into(), "a", early, &models, &base, |_| {
                runs.set(runs.get() + 1);
                Bytes::new()
            });
        }
        assert_eq!(runs.get(), 2);
    }

    #[test]
    fn a_capacity_of_zero_turns_the_personal_cache_off() {
        let recs = PartnerRecs::new(&propel_recs::Config::default(), 0);
        let base = Arc::new(ProductBase::empty());
        let runs = Cell::new(0);
        recs.apply(EventKind::View, "a", 1, &body(json!({"productId": 11})));
        ask(&recs, "a", &base, &runs);
        ask(&recs, "a", &base, &runs);
        assert_eq!(runs.get(), 2);
    }
}
