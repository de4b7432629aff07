//! The mutable side: events in, per-visitor profiles updated at once,
//! shop-wide models rebuilt by [`Engine::snapshot`].

use std::collections::HashMap;

use crate::config::Config;
use crate::history::{Event, SessionLog, What};
use crate::models::Models;
use crate::popularity::Popularity;
use crate::profile::Profile;
use crate::types::{normalize_phrase, Interaction, SearchEvent, VisitorId};

/// Accumulates behaviour; owns the profiles and what rebuilds need.
pub struct Engine {
    config: Config,
    log: SessionLog,
    popularity: Popularity,
    profiles: HashMap<VisitorId, Profile>,
}

impl Engine {
    pub fn new(config: Config) -> Self {
        Engine {
            log: SessionLog::new(config.session_gap_ms, config.max_session_len),
            config,
            popularity: Popularity::default(),
            profiles: HashMap::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One product event: the visitor's profile and popularity change now;
    /// co-occurrence, kNN and search follow at the next snapshot.
    pub fn apply(&mut self, ev: &Interaction) {
        let w = self.config.kind_weight(ev.kind);
        self.popularity
            .add(ev.item, w, ev.ts_ms, self.config.half_life_ms);
        self.profile_mut(ev.visitor)
            .record(ev.ts_ms, ev.item, ev.kind);
        self.log.push(
            ev.visitor,
            Event {
                ts_ms: ev.ts_ms,
                what: What::Item(ev.item, ev.kind),
            },
        );
    }

    /// One search: phrases are normalised here.
    pub fn apply_search(&mut self, ev: &SearchEvent) {
        let phrase = normalize_phrase(&ev.phrase);
        if phrase.is_empty() {
            return;
        }
        self.profile_mut(ev.visitor)
            .record_search(ev.ts_ms, phrase.clone());
        self.log.push(
            ev.visitor,
            Event {
                ts_ms: ev.ts_ms,
                what: What::Search(phrase),
            },
        );
    }

    fn profile_mut(&mut self, v: VisitorId) -> &mut Profile {
        let cap = self.config.profile_len;
        self.profiles.entry(v).or_insert_with(|| Profile::new(cap))
    }

    /// The visitor's profile, if it has any event.
    pub fn profile(&self, v: VisitorId) -> Option<&Profile> {
        self.profiles.get(&v)
    }

    /// The profile of a contact: all its visitors (sessions) merged.
    pub fn merged_profile(&self, visitors: &[VisitorId]) -> Profile {
        Profile::merged(visitors.iter().filter_map(|v| self.profiles.get(v)))
    }

    /// Forgets a visitor's profile (retention, erasure requests).
    pub fn forget(&mut self, v: VisitorId) {
        self.profiles.remove(&v);
    }

    /// Rebuilds the shop-wide models as of `now_ms`, first dropping the
    /// oldest sessions beyond `max_sessions`.
    pub fn snapshot(&mut self, now_ms: i64) -> Models {
        self.log.prune(self.config.max_sessions);
        Models::build(&self.log, &self.popularity, &self.config, now_ms)
    }
}
