//! Daily pacing: by a given time of the (UTC) day, a campaign may have spent its daily
//! budget's share of the elapsed day plus one hour's share of slack, never more than the
//! whole daily budget. Serving stops while spend is ahead of that line.

use crate::{Nanos, DAY_MS};

/// Whether a campaign that spent `day_spent` today may be served at `now_ms`.
pub fn allowed(daily: Nanos, day_spent: Nanos, now_ms: i64) -> bool {
    let elapsed = now_ms.rem_euclid(DAY_MS) as f64 / DAY_MS as f64;
    let line = daily as f64 * (elapsed + 1.0 / 24.0).min(1.0);
    (day_spent as f64) < line
}

pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ahead_of_the_line_is_held_back() {
        let day = 10 * DAY_MS;
        assert!(allowed(24_000, 0, day));
        assert!(!allowed(24_000, 1_000, day));
        assert!(allowed(24_000, 12_500, day + DAY_MS / 2));
        assert!(!allowed(24_000, 13_000, day + DAY_MS / 2));
        assert!(!allowed(24_000, 24_000, day + DAY_MS - 1));
    }
}
