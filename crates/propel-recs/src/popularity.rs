//! Time-decayed popularity, updated per event, exact whatever the arrival
//! order: each score is kept as a value at a reference time and decayed on read.

use std::collections::HashMap;

use crate::types::ItemId;

/// A sum of weights decaying with a half-life: `Σ w · 2^(-(now - ts)/half_life)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Decayed {
    value: f64,
    ref_ms: i64,
}

impl Decayed {
    /// Adds `weight` happened at `ts_ms`. The reference moves forward only,
    /// so values stay at most 1 × the weights and never overflow.
    pub fn add(&mut self, weight: f64, ts_ms: i64, half_life_ms: i64) {
        if self.value == 0.0 {
            *self = Decayed {
                value: weight,
                ref_ms: ts_ms,
            };
        } else if ts_ms > self.ref_ms {
            self.value = self.value * decay(ts_ms - self.ref_ms, half_life_ms) + weight;
            self.ref_ms = ts_ms;
        } else {
            self.value += weight * decay(self.ref_ms - ts_ms, half_life_ms);
        }
    }

    /// The value as seen at `now_ms`.
    pub fn at(&self, now_ms: i64, half_life_ms: i64) -> f64 {
        self.value * decay(now_ms - self.ref_ms, half_life_ms)
    }
}

fn decay(age_ms: i64, half_life_ms: i64) -> f64 {
    if half_life_ms <= 0 {
        return 1.0;
    }
    (-(age_ms as f64) / half_life_ms as f64).exp2()
}

/// Decayed popularity of every item with events.
#[derive(Clone, Debug, Default)]
pub struct Popularity {
    scores: HashMap<ItemId, Decayed>,
}

impl Popularity {
    pub fn add(&mut self, item: ItemId, weight: f64, ts_ms: i64, half_life_ms: i64) {
        self.scores
            .entry(item)
            .or_default()
            .add(weight, ts_ms, half_life_ms);
    }

    /// Every item with its score at `now_ms`, best first (ties: lower id first,
    /// so rankings are deterministic).
    pub fn ranked(&self, now_ms: i64, half_life_ms: i64) -> Vec<(ItemId, f64)> {
        let mut v: Vec<(ItemId, f64)> = self
            .scores
            .iter()
            .map(|(&i, d)| (i, d.at(now_ms, half_life_ms)))
            .collect();
        v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn order_of_arrival_does_not_matter() {
        let mut a = Decayed::default();
        a.add(1.0, 0, DAY);
        a.add(2.0, 3 * DAY, DAY);
        let mut b = Decayed::default();
        b.add(2.0, 3 * DAY, DAY);
        b.add(1.0, 0, DAY);
        assert!((a.at(4 * DAY, DAY) - b.at(4 * DAY, DAY)).abs() < 1e-12);
        // 2 * 0.5 + 1 * 2^-4
        assert!((a.at(4 * DAY, DAY) - (1.0 + 0.0625)).abs() < 1e-12);
    }

    #[test]
    fn recent_beats_old_of_same_weight() {
        let mut p = Popularity::default();
        p.add(1, 1.0, 0, DAY);
        p.add(1, 1.0, 0, DAY);
        p.add(2, 1.0, 5 * DAY, DAY);
        let r = p.ranked(5 * DAY, DAY);
        assert_eq!(r[0].0, 2);
    }
}
