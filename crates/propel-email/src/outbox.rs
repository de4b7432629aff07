//! The outbox's rules, free of storage: when a failed attempt is retried, and when an
//! email must wait for the per-recipient gap.

/// Attempts after which a temporarily failing email is given up (marked failed).
pub const MAX_ATTEMPTS: u32 = 8;

/// Delay before attempt `attempts + 1`, after `attempts` failed ones: `base` doubled per
/// failure, at most one hour.
pub fn retry_delay_ms(attempts: u32, base_ms: i64) -> i64 {
    let factor = 1i64 << attempts.saturating_sub(1).min(20);
    base_ms.saturating_mul(factor).min(3_600_000)
}

/// When an email to a recipient last sent to at `last_sent_ms` may go, given the gap.
pub fn not_before_ms(last_sent_ms: Option<i64>, gap_ms: i64) -> Option<i64> {
    last_sent_ms.map(|t| t.saturating_add(gap_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(retry_delay_ms(1, 1000), 1000);
        assert_eq!(retry_delay_ms(2, 1000), 2000);
        assert_eq!(retry_delay_ms(4, 1000), 8000);
        assert_eq!(retry_delay_ms(60, 1000), 3_600_000);
        assert_eq!(not_before_ms(Some(10), 60_000), Some(60_010));
        assert_eq!(not_before_ms(None, 60_000), None);
    }
}
