//! Per-partner, per-API token buckets: `rps` tokens a second, bursts of one second.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Tracking,
    Recommendations,
    Sponsored,
}

impl Api {
    pub fn label(self) -> &'static str {
        match self {
            Api::Tracking => "tracking",
            Api::Recommendations => "recommendations",
            Api::Sponsored => "sponsored",
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Keyed by partner rowid and API, never by what a client sends, so the fast hasher
/// needs no protection against chosen collisions.
type Buckets = HashMap<(i64, Api), Mutex<Bucket>, foldhash::fast::RandomState>;

#[derive(Default)]
pub struct RateLimiter {
    buckets: RwLock<Buckets>,
}

impl RateLimiter {
    /// Takes one token; when none is left, the whole seconds until one is.
    pub fn check(&self, partner: i64, api: Api, rps: u32) -> Result<(), u64> {
        self.check_at(partner, api, rps, Instant::now())
    }

    fn check_at(&self, partner: i64, api: Api, rps: u32, now: Instant) -> Result<(), u64> {
        let rate = f64::from(rps.max(1));
        let key = (partner, api);
        {
            let buckets = self.buckets.read().unwrap_or_else(|p| p.into_inner());
            if let Some(bucket) = buckets.get(&key) {
                return take(bucket, rate, now);
            }
        }
        let mut buckets = self.buckets.write().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key).or_insert_with(|| {
            Mutex::new(Bucket {
                tokens: rate,
                last: now,
            })
        });
        take(bucket, rate, now)
    }
}

fn take(bucket: &Mutex<Bucket>, rate: f64, now: Instant) -> Result<(), u64> {
    let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
    let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
    b.tokens = (b.tokens + elapsed * rate).min(rate);
    b.last = now;
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        Ok(())
    } else {
        Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refuses_then_refills() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.check_at(1, Api::Tracking, 5, t0).is_ok());
        }
        assert_eq!(limiter.check_at(1, Api::Tracking, 5, t0), Err(1));
        // Other partners and other APIs have buckets of their own.
        assert!(limiter.check_at(2, Api::Tracking, 5, t0).is_ok());
        assert!(limiter.check_at(1, Api::Sponsored, 5, t0).is_ok());
        assert!(limiter
            .check_at(1, Api::Tracking, 5, t0 + Duration::from_millis(200))
            .is_ok());
        assert!(limiter
            .check_at(1, Api::Tracking, 5, t0 + Duration::from_millis(200))
            .is_err());
    }
}
