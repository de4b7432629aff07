//! Visitor profiles: everything personal algorithms know of a visitor,
//! updated per event so the next request sees it. Derived views (category and
//! property interests) are computed on read from the bounded event list, so
//! they follow product-base changes and merge trivially across sessions.

use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::newest;
use crate::popularity::Decayed;
use crate::types::{CategoryId, ItemId, Kind};

/// One product event of a profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfileEvent {
    pub ts_ms: i64,
    pub item: ItemId,
    pub kind: Kind,
}

/// What is known of one visitor (or, merged, of one contact).
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// Latest product events, oldest first: the last `cap` count (see [`Profile::events`]),
    /// at most as many again wait to be dropped.
    events: Vec<ProfileEvent>,
    /// Ordered products, oldest first; kept apart because orders are rare
    /// and must outlive the view history.
    orders: Vec<(i64, ItemId)>,
    /// Normalised search phrases, oldest first.
    searches: Vec<(i64, String)>,
    cap: usize,
}

const MAX_ORDERS: usize = 1000;
const MAX_SEARCHES: usize = 50;

impl Profile {
    /// An empty profile keeping at most `cap` product events.
    pub fn new(cap: usize) -> Self {
        Profile {
            cap: cap.max(1),
            ..Default::default()
        }
    }

    /// Records one product event (in time order, whatever the arrival order).
    pub fn record(&mut self, ts_ms: i64, item: ItemId, kind: Kind) {
        let event = ProfileEvent { ts_ms, item, kind };
        newest::insert(&mut self.events, event, self.cap, |e| e.ts_ms);
        if kind == Kind::Order {
            let at = self.orders.partition_point(|o| o.0 <= ts_ms);
            self.orders.insert(at, (ts_ms, item));
            if self.orders.len() > MAX_ORDERS {
                self.orders.remove(0);
            }
        }
    }

    /// Records a (normalised) search phrase.
    pub fn record_search(&mut self, ts_ms: i64, phrase: String) {
        let at = self.searches.partition_point(|s| s.0 <= ts_ms);
        self.searches.insert(at, (ts_ms, phrase));
        if self.searches.len() > MAX_SEARCHES {
            self.searches.remove(0);
        }
    }

    /// Merges the profiles of several sessions of one contact.
    pub fn merged<'a>(profiles: impl IntoIterator<Item = &'a Profile>) -> Profile {
        let mut profiles = profiles.into_iter();
        let Some(first) = profiles.next() else {
            return Profile::new(1);
        };
        let Some(second) = profiles.next() else {
            // Most visitors have no contact: a copy, with nothing to sort.
            return first.clone();
        };
        let mut out = Profile::default();
        let profiles = [first, second].into_iter().chain(profiles);
        for p in profiles {
            out.cap = out.cap.max(p.cap);
            out.events.extend_from_slice(p.events());
            out.orders.extend_from_slice(&p.orders);
            out.searches.extend(p.searches.iter().cloned());
        }
        out.cap = out.cap.max(1);
        out.events.sort_by_key(|e| e.ts_ms);
        out.orders.sort_by_key(|o| o.0);
        out.searches.sort_by_key(|s| s.0);
        let extra = out.events.len().saturating_sub(out.cap);
        out.events.drain(..extra);
        out
    }

    /// Product events, oldest first.
    pub fn events(&self) -> &[ProfileEvent] {
        newest::newest(&self.events, self.cap)
    }

    pub fn is_empty(&self) -> bool {
        self.events().is_empty() && self.orders.is_empty()
    }

    /// Products seen (any product event), most recent first, each once.
    pub fn recent_items(&self) -> Vec<ItemId> {
        dedup_newest_first(self.events().iter().map(|e| e.item))
    }

    /// Products ordered, most recent first, each once.
    pub fn ordered_items(&self) -> Vec<ItemId> {
        dedup_newest_first(self.orders.iter().map(|o| o.1))
    }

    /// Searches, oldest first.
    pub fn searches(&self) -> &[(i64, String)] {
        &self.searches
    }

    /// The products of the current visit, oldest first: the events chained
    /// back from the latest with no pause longer than `gap_ms`.
    pub fn current_session(&self, gap_ms: i64) -> Vec<ItemId> {
        let events = self.events();
        let mut start = events.len();
        while start > 0 {
            if start < events.len() && events[start].ts_ms - events[start - 1].ts_ms > gap_ms {
                break;
            }
            start -= 1;
        }
        events[start..].iter().map(|e| e.item).collect()
    }

    /// Long-term category interests, decayed by the popularity half-life and
    /// weighted by kind, best first.
    pub fn category_interests(
        &self,
        catalog: &dyn Catalog,
        config: &Config,
        now_ms: i64,
    ) -> Vec<(CategoryId, f64)> {
        let mut acc: HashMap<CategoryId, Decayed> = HashMap::new();
        for e in self.events() {
            let w = config.kind_weight(e.kind);
            for &c in catalog.categories(e.item) {
                acc.entry(c)
                    .or_default()
                    .add(w, e.ts_ms, config.half_life_ms);
            }
        }
        let mut v: Vec<(CategoryId, f64)> = acc
            .into_iter()
            .map(|(c, d)| (c, d.at(now_ms, config.half_life_ms)))
            .collect();
        v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// Interest in product properties: kind-weighted counts of the
    /// (name, value) parameters of the products this visitor interacted with.
    pub fn property_interests(
        &self,
        catalog: &dyn Catalog,
        config: &Config,
    ) -> HashMap<(String, String), f64> {
        let mut acc: HashMap<(String, String), f64> = HashMap::new();
        for e in self.events() {
            let w = config.kind_weight(e.kind);
            for p in catalog.params(e.item) {
                *acc.entry(p.clone()).or_default() += w;
            }
        }
        acc
    }
}

fn dedup_newest_first(items: impl DoubleEndedIterator<Item = ItemId>) -> Vec<ItemId> {
    let mut seen = std::collections::HashSet::new();
    items.rev().filter(|i| seen.insert(*i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_session_stops_at_the_gap() {
        let mut p = Profile::new(10);
        p.record(0, 1, Kind::View);
        p.record(10_000, 2, Kind::View);
        p.record(11_000, 3, Kind::View);
        p.record(10_500, 4, Kind::View);
        assert_eq!(p.current_session(5_000), vec![2, 4, 3]);
        assert_eq!(p.recent_items(), vec![3, 4, 2, 1]);
    }

    #[test]
    fn merged_profiles_interleave_by_time() {
        let mut a = Profile::new(10);
        a.record(0, 1, Kind::Order);
        a.record(20, 3, Kind::View);
        let mut b = Profile::new(10);
        b.record(10, 2, Kind::Order);
        let m = Profile::merged([&a, &b]);
        assert_eq!(m.ordered_items(), vec![2, 1]);
        assert_eq!(m.recent_items(), vec![3, 2, 1]);
    }

    proptest::proptest! {
        /// Whatever the arrival order, the profile reads as the latest `cap` events by
        /// time, alone or merged, however many were dropped before.
        #[test]
        fn only_the_latest_cap_events_count(
            times in proptest::collection::vec(0i64..1_000, 0..60),
            cap in 1usize..8,
        ) {
            let mut p = Profile::new(cap);
            let mut all: Vec<(i64, ItemId)> = Vec::new();
            for (i, &t) in times.iter().enumerate() {
                p.record(t, i as ItemId, Kind::View);
                let at = all.partition_point(|e| e.0 <= t);
                all.insert(at, (t, i as ItemId));
            }
            let want: Vec<(i64, ItemId)> = all[all.len().saturating_sub(cap)..].to_vec();
            let got: Vec<(i64, ItemId)> = p.events().iter().map(|e| (e.ts_ms, e.item)).collect();
            proptest::prop_assert_eq!(&got, &want);
            let merged = Profile::merged([&p, &Profile::new(cap)]);
            let got: Vec<(i64, ItemId)> = merged.events().iter().map(|e| (e.ts_ms, e.item)).collect();
            proptest::prop_assert_eq!(&got, &want);
        }
    }
}
