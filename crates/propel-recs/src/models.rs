//! The shop-wide models, rebuilt from the session log as one immutable
//! snapshot that requests read concurrently (share it in an `Arc`).

use std::collections::HashMap;

use crate::algorithms::{one_product_visits, SingleRankings};
use crate::config::Config;
use crate::cooc::{build_relations, Prepared, Relations};
use crate::history::{SessionLog, What};
use crate::knn::SessionIndex;
use crate::popularity::Popularity;
use crate::search::SearchIndex;
use crate::types::ItemId;

/// Immutable shop-wide models at one point in time.
pub struct Models {
    pub(crate) config: Config,
    built_at_ms: i64,
    /// Dense id → product id; dense ids follow popularity rank.
    ids: Vec<ItemId>,
    /// Read several times per request: a fast hash (seeded per process) over SipHash.
    dense: HashMap<ItemId, u32, foldhash::fast::RandomState>,
    /// Decayed popularity at build time, by dense id.
    pop: Vec<f32>,
    pub(crate) rel: Relations,
    pub(crate) knn: SessionIndex,
    pub(crate) search: SearchIndex,
    /// `personalComposite`'s ranking for each one-product visit.
    pub(crate) single: SingleRankings,
}

impl Models {
    /// Builds every shop-wide model from the log and the popularity counters.
    pub fn build(
        log: &SessionLog,
        popularity: &Popularity,
        config: &Config,
        now_ms: i64,
    ) -> Models {
        let ranked = popularity.ranked(now_ms, config.half_life_ms);
        let mut ids: Vec<ItemId> = Vec::with_capacity(ranked.len());
        let mut dense: HashMap<ItemId, u32, _> =
            HashMap::with_capacity_and_hasher(ranked.len(), foldhash::fast::RandomState::default());
        let mut pop: Vec<f32> = Vec::with_capacity(ranked.len());
        for (item, score) in ranked {
            dense.insert(item, ids.len() as u32);
            ids.push(item);
            pop.push(score as f32);
        }
        let sessions = log.sessions_by_end();
        let mut prepared: Vec<Prepared> = Vec::with_capacity(sessions.len());
        for s in &sessions {
            let mut seq: Vec<u32> = Vec::with_capacity(s.events().len());
            let mut intent: Vec<u32> = Vec::new();
            for e in s.events() {
                if let What::Item(item, kind) = e.what {
                    let d = *dense.entry(item).or_insert_with(|| {
                        ids.push(item);
                        pop.push(0.0);
                        (ids.len() - 1) as u32
                    });
                    if seq.last() != Some(&d) {
                        seq.push(d);
                    }
                    if kind.is_purchase_intent() && !intent.contains(&d) {
                        intent.push(d);
                    }
                }
            }
            if !seq.is_empty() {
                prepared.push(Prepared {
                    seq,
                    intent,
                    end_ms: s.end_ms,
                });
            }
        }
        let n = ids.len();
        let mut freq = vec![0f32; n];
        for p in &prepared {
            let mut u = p.seq.clone();
            u.sort_unstable();
            u.dedup();
            for i in u {
                freq[i as usize] += 1.0;
            }
        }
        let rel = build_relations(
            &prepared,
            n,
            &freq,
            config.window,
            config.pop_exponent,
            config.neighbours_per_item,
        );
        let knn = SessionIndex::build(&prepared, n, &config.knn);
        let search =
            SearchIndex::build(sessions.iter().copied(), |i| dense.get(&i).copied(), config);
        let mut models = Models {
            config: config.clone(),
            built_at_ms: now_ms,
            ids,
            dense,
            pop,
            rel,
            knn,
            search,
            single: SingleRankings::default(),
        };
        (models.rel.similar, models.single) =
            one_product_visits(&models, config.neighbours_per_item);
        models
    }

    /// When the snapshot was built (popularity is decayed to this time).
    pub fn built_at_ms(&self) -> i64 {
        self.built_at_ms
    }

    /// End of the newest visit the models learned from: personal answers
    /// do not depend on a request time at or after it.
    pub fn newest_visit_ms(&self) -> i64 {
        self.knn.newest_ms()
    }

    /// Products known to the models.
    pub fn item_count(&self) -> usize {
        self.ids.len()
    }

    /// Decayed popularity of a product at build time (0 when unknown).
    pub fn popularity(&self, item: ItemId) -> f64 {
        self.dense(item)
            .and_then(|d| self.pop.get(d as usize))
            .map_or(0.0, |&p| p as f64)
    }

    pub(crate) fn dense(&self, item: ItemId) -> Option<u32> {
        self.dense.get(&item).copied()
    }

    pub(crate) fn id(&self, dense: u32) -> ItemId {
        self.ids[dense as usize]
    }

    /// Products by popularity, best first (products without decayed weight last).
    pub(crate) fn popular_ids(&self) -> &[ItemId] {
        &self.ids
    }
}
