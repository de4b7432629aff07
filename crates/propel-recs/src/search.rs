//! Search phrase → products that visitors went on to view, basket and buy
//! after searching it, in the same visit.

use std::collections::HashMap;

use crate::config::Config;
use crate::history::{Session, What};
use crate::types::normalize_phrase;

/// Product events after a search that are credited to it.
const FOLLOW_EVENTS: usize = 10;
/// Products kept per phrase.
const TOP: usize = 200;
/// Weight of a similar (not equal) phrase relative to its token overlap.
const SIMILAR_WEIGHT: f32 = 0.5;
/// Weight of the phrase itself: above any sum of similar phrases' weights.
const EXACT_WEIGHT: f32 = 1000.0;

#[derive(Default)]
pub(crate) struct SearchIndex {
    ids: HashMap<String, u32>,
    tokens_of: Vec<Vec<String>>,
    lists: Vec<Vec<(u32, f32)>>,
    by_token: HashMap<String, Vec<u32>>,
}

impl SearchIndex {
    pub fn build<'a>(
        sessions: impl Iterator<Item = &'a Session>,
        dense: impl Fn(i64) -> Option<u32>,
        config: &Config,
    ) -> Self {
        let mut idx = SearchIndex::default();
        let mut acc: Vec<HashMap<u32, f32>> = Vec::new();
        for s in sessions {
            let mut active: Option<(u32, usize)> = None;
            for e in s.events() {
                match &e.what {
                    What::Search(p) if !p.is_empty() => {
                        let id = idx.intern(p);
                        if acc.len() <= id as usize {
                            acc.resize_with(id as usize + 1, HashMap::new);
                        }
                        active = Some((id, 0));
                    }
                    What::Search(_) => {}
                    What::Item(item, kind) => {
                        if let (Some((pid, steps)), Some(d)) = (active.as_mut(), dense(*item)) {
                            let w = config.kind_weight(*kind) as f32 / (1.0 + *steps as f32);
                            if let Some(m) = acc.get_mut(*pid as usize) {
                                *m.entry(d).or_default() += w;
                            }
                            *steps += 1;
                            if *steps >= FOLLOW_EVENTS {
                                active = None;
                            }
                        }
                    }
                }
            }
        }
        idx.lists = acc
            .into_iter()
            .map(|m| {
                let mut v: Vec<(u32, f32)> = m.into_iter().collect();
                v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                v.truncate(TOP);
                v
            })
            .collect();
        idx
    }

    fn intern(&mut self, phrase: &str) -> u32 {
        if let Some(&id) = self.ids.get(phrase) {
            return id;
        }
        let id = self.tokens_of.len() as u32;
        let toks: Vec<String> = phrase.split(' ').map(str::to_owned).collect();
        for t in &toks {
            let e = self.by_token.entry(t.clone()).or_default();
            if e.last() != Some(&id) {
                e.push(id);
            }
        }
        self.tokens_of.push(toks);
        self.ids.insert(phrase.to_owned(), id);
        id
    }

    /// Products for a raw phrase: its own followers first, then those of
    /// phrases sharing words, weighted by word overlap (Jaccard).
    pub fn query(&self, raw: &str) -> Vec<(u32, f32)> {
        let phrase = normalize_phrase(raw);
        let q: Vec<&str> = phrase.split(' ').filter(|t| !t.is_empty()).collect();
        let mut weights: HashMap<u32, f32> = HashMap::new();
        for t in &q {
            for &pid in self.by_token.get(*t).map_or(&[][..], |v| v.as_slice()) {
                let toks = &self.tokens_of[pid as usize];
                let inter = q.iter().filter(|x| toks.iter().any(|y| y == *x)).count();
                let union = q.len() + toks.len() - inter;
                let j = inter as f32 / union.max(1) as f32;
                // The phrase's own followers rank ahead of similar phrases'.
                let w = if self.ids.get(&phrase) == Some(&pid) {
                    EXACT_WEIGHT
                } else {
                    SIMILAR_WEIGHT * j
                };
                weights.insert(pid, w);
            }
        }
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for (pid, w) in weights {
            let list = &self.lists[pid as usize];
            let max = list.first().map_or(1.0, |x| x.1).max(1e-6);
            for &(it, s) in list {
                *scores.entry(it).or_default() += w * s / max;
            }
        }
        let mut v: Vec<(u32, f32)> = scores.into_iter().collect();
        v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}
