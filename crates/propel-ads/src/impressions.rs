//! Served impressions that may still count, by id.
//!
//! This process's ids are its random prefix and a counter, so its impressions sit in
//! sharded logs indexed by the counter: serving writes near the end of a shard
//! instead of inserting into a hash table that holds a day of impressions, and
//! pruning pops the front. Impressions restored from earlier processes (other
//! prefixes) go to a hash map.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

const SHARDS: u64 = 32;

/// Counter `n` lives in shard `n % SHARDS` at position `n / SHARDS - first`.
struct Shard<T> {
    first: u64,
    slots: VecDeque<Option<T>>,
}

pub(crate) struct Impressions<T> {
    prefix: u64,
    shards: Vec<Mutex<Shard<T>>>,
    restored: Mutex<HashMap<u128, T>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl<T> Impressions<T> {
    pub(crate) fn new(prefix: u64) -> Self {
        Impressions {
            prefix,
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        first: 0,
                        slots: VecDeque::new(),
                    })
                })
                .collect(),
            restored: Mutex::default(),
        }
    }

    /// The id of this process's `n`-th impression: its prefix and the counter.
    pub(crate) fn key(&self, n: u64) -> u128 {
        ((self.prefix as u128) << 64) | n as u128
    }

    /// The shard and counter position of one of this process's ids.
    fn split(&self, key: u128) -> Option<(usize, u64)> {
        let n = key as u64;
        ((key >> 64) as u64 == self.prefix).then_some(((n % SHARDS) as usize, n / SHARDS))
    }

    pub(crate) fn insert(&self, key: u128, value: T) {
        let Some((shard, at)) = self.split(key) else {
            lock(&self.restored).insert(key, value);
            return;
        };
        let mut s = lock(&self.shards[shard]);
        // Pruned past already (served a day ago): it can no longer count.
        let Some(index) = at.checked_sub(s.first) else {
            return;
        };
        let index = index as usize;
        if index >= s.slots.len() {
            s.slots.resize_with(index + 1, || None);
        }
        s.slots[index] = Some(value);
    }

    /// Runs `f` on the impression, if it is held.
    pub(crate) fn with<R>(&self, key: u128, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let Some((shard, at)) = self.split(key) else {
            return lock(&self.restored).get_mut(&key).map(f);
        };
        let mut s = lock(&self.shards[shard]);
        let index = usize::try_from(at.checked_sub(s.first)?).ok()?;
        s.slots.get_mut(index)?.as_mut().map(f)
    }

    /// Drops every impression `keep` refuses. Counters are served in order, so a
    /// shard's front is its oldest: it is popped while refused or empty; a refused
    /// impression behind a kept one is emptied in place.
    pub(crate) fn retain(&self, keep: impl Fn(&T) -> bool) {
        for shard in &self.shards {
            let mut s = lock(shard);
            while s
                .slots
                .front()
                .is_some_and(|v| v.as_ref().is_none_or(|v| !keep(v)))
            {
                s.slots.pop_front();
                s.first += 1;
            }
            for slot in s.slots.iter_mut() {
                if slot.as_ref().is_some_and(|v| !keep(v)) {
                    *slot = None;
                }
            }
        }
        lock(&self.restored).retain(|_, v| keep(v));
    }

    /// Impressions held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let live: usize = self
            .shards
            .iter()
            .map(|s| lock(s).slots.iter().filter(|v| v.is_some()).count())
            .sum();
        live + lock(&self.restored).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 0xabcd;

    fn key(prefix: u64, n: u64) -> u128 {
        ((prefix as u128) << 64) | n as u128
    }

    #[test]
    fn finds_what_was_inserted_in_any_order_and_nothing_else() {
        let log = Impressions::new(P);
        for n in [5u64, 0, 70, 3, 33] {
            log.insert(key(P, n), n);
        }
        log.insert(key(7, 5), 1005);
        for n in [5u64, 0, 70, 3, 33] {
            assert_eq!(log.with(key(P, n), |v| *v), Some(n));
        }
        assert_eq!(log.with(key(7, 5), |v| *v), Some(1005));
        for n in [1u64, 4, 37, 69, 71, 10_000] {
            assert_eq!(log.with(key(P, n), |v| *v), None, "{n}");
        }
        assert_eq!(log.with(key(8, 5), |v| *v), None);
        assert_eq!(log.len(), 6);
    }

    #[test]
    fn retain_drops_the_refused_and_keeps_the_rest_findable() {
        let log = Impressions::new(P);
        for n in 0..200u64 {
            log.insert(key(P, n), n);
        }
        log.insert(key(9, 1), 1);
        log.insert(key(9, 500), 500);
        // Refuse the old ones and, out of order, every 7th.
        log.retain(|v| *v >= 100 && *v % 7 != 0);
        for n in 0..200u64 {
            let want = (n >= 100 && n % 7 != 0).then_some(n);
            assert_eq!(log.with(key(P, n), |v| *v), want, "{n}");
        }
        assert_eq!(log.with(key(9, 1), |v| *v), None);
        assert_eq!(log.with(key(9, 500), |v| *v), Some(500));
        assert_eq!(log.len(), 86 + 1);
        // New serves after pruning are found again.
        log.insert(key(P, 200), 200);
        assert_eq!(log.with(key(P, 200), |v| *v), Some(200));
        // An id already pruned past is not taken back.
        log.insert(key(P, 3), 3);
        assert_eq!(log.with(key(P, 3), |v| *v), None);
    }

    #[test]
    fn with_changes_the_held_impression() {
        let log = Impressions::new(P);
        log.insert(key(P, 42), 0u32);
        assert_eq!(log.with(key(P, 42), |v| std::mem::replace(v, 9)), Some(0));
        assert_eq!(log.with(key(P, 42), |v| *v), Some(9));
    }
}
