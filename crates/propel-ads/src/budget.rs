//! Budget accounting of one campaign. Serving reads the counters without a lock;
//! charging is serialized per campaign, so a budget is never overspent by more than
//! one event's price, however many threads count at once: an event is charged only
//! while the spend is still under the total.

use crate::pacing::day_of;
use crate::Nanos;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

/// What a campaign has done, as stored (to restore the counters at start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub spent: Nanos,
    /// The UTC day (days since the epoch) of `day_spent`.
    pub day: i64,
    pub day_spent: Nanos,
    pub served: u64,
    pub views: u64,
    pub clicks: u64,
}

#[derive(Debug, Default)]
pub struct Counters {
    spent: AtomicI64,
    day: AtomicI64,
    day_spent: AtomicI64,
    served: AtomicU64,
    views: AtomicU64,
    clicks: AtomicU64,
    charging: Mutex<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    View,
    Click,
}

impl Counters {
    pub fn from_totals(t: Totals) -> Counters {
        let c = Counters::default();
        c.spent.store(t.spent, Ordering::Relaxed);
        c.day.store(t.day, Ordering::Relaxed);
        c.day_spent.store(t.day_spent, Ordering::Relaxed);
        c.served.store(t.served, Ordering::Relaxed);
        c.views.store(t.views, Ordering::Relaxed);
        c.clicks.store(t.clicks, Ordering::Relaxed);
        c
    }

    pub fn spent(&self) -> Nanos {
        self.spent.load(Ordering::Acquire)
    }

    /// Today's spend (zero when nothing was charged yet today).
    pub fn day_spent(&self, now_ms: i64) -> Nanos {
        if self.day.load(Ordering::Acquire) == day_of(now_ms) {
            self.day_spent.load(Ordering::Acquire)
        } else {
            0
        }
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    pub fn views(&self) -> u64 {
        self.views.load(Ordering::Relaxed)
    }

    pub fn clicks(&self) -> u64 {
        self.clicks.load(Ordering::Relaxed)
    }

    pub fn add_served(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an event and charges `price` when the spend is under `total`; returns
    /// what was charged (0 once the budget is used up).
    pub fn charge(&self, kind: EventKind, price: Nanos, total: Nanos, now_ms: i64) -> Nanos {
        let _serial = match self.charging.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match kind {
            EventKind::View => self.views.fetch_add(1, Ordering::Relaxed),
            EventKind::Click => self.clicks.fetch_add(1, Ordering::Relaxed),
        };
        let today = day_of(now_ms);
        if self.day.load(Ordering::Acquire) != today {
            self.day.store(today, Ordering::Release);
            self.day_spent.store(0, Ordering::Release);
        }
        let spent = self.spent.load(Ordering::Acquire);
        if price <= 0 || spent >= total {
            return 0;
        }
        self.spent.store(spent + price, Ordering::Release);
        self.day_spent.fetch_add(price, Ordering::AcqRel);
        price
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_charges_overspend_by_at_most_one_price() {
        let c = Arc::new(Counters::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    (0..10_000)
                        .map(|_| c.charge(EventKind::View, 7, 1_000, 0))
                        .sum::<i64>()
                })
            })
            .collect();
        let charged: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(charged, c.spent());
        assert!(c.spent() >= 1_000 && c.spent() < 1_000 + 7);
        assert_eq!(c.views(), 80_000);
    }
}
