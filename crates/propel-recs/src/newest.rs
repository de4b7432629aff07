//! Time-ordered lists of which only the newest `keep` entries are read (a visitor's
//! profile, a session of the log): bots and kiosks would otherwise grow them without end.

/// Inserts `item` in time order, after entries of the same time (arrival order kept),
/// then drops the oldest entries once there are twice `keep`: in bulk, since dropping
/// one per insert would shift the whole list on every insert into a long one.
pub(crate) fn insert<T>(items: &mut Vec<T>, item: T, keep: usize, ts_ms: impl Fn(&T) -> i64) {
    let ts = ts_ms(&item);
    let at = items.partition_point(|e| ts_ms(e) <= ts);
    items.insert(at, item);
    if items.len() >= 2 * keep {
        let extra = items.len() - keep;
        items.drain(..extra);
    }
}

/// The newest `keep` entries of a list [`insert`] keeps, oldest first.
pub(crate) fn newest<T>(items: &[T], keep: usize) -> &[T] {
    &items[items.len().saturating_sub(keep)..]
}
