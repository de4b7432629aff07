//! The session log the shop-wide models are rebuilt from: every visitor's
//! events cut into visits (sessions) by inactivity, kept in event-time order
//! even when events arrive late.

use std::collections::HashMap;

use crate::newest;
use crate::types::{ItemId, Kind, VisitorId};

/// What happened at one moment of a session.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    Item(ItemId, Kind),
    /// A normalised search phrase.
    Search(String),
}

/// One event of a session.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub ts_ms: i64,
    pub what: What,
}

/// One visit of one visitor.
#[derive(Clone, Debug, Default)]
pub struct Session {
    pub visitor: VisitorId,
    pub start_ms: i64,
    pub end_ms: i64,
    /// In event-time order; the newest `keep` count (see [`Session::events`]).
    events: Vec<Event>,
    keep: usize,
}

impl Session {
    /// The newest events, at most the log's `max_session_len`, in event-time order.
    pub fn events(&self) -> &[Event] {
        newest::newest(&self.events, self.keep)
    }
}

/// All sessions, bounded by [`SessionLog::prune`].
#[derive(Clone, Debug, Default)]
pub struct SessionLog {
    gap_ms: i64,
    max_session_len: usize,
    sessions: HashMap<u64, Session>,
    by_visitor: HashMap<VisitorId, Vec<u64>>,
    next_id: u64,
}

impl SessionLog {
    pub fn new(gap_ms: i64, max_session_len: usize) -> Self {
        SessionLog {
            gap_ms,
            max_session_len: max_session_len.max(2),
            ..Default::default()
        }
    }

    /// Files the event into the visitor's session it belongs to in time,
    /// opening a new session when it is farther than the gap from all of them.
    pub fn push(&mut self, visitor: VisitorId, ev: Event) {
        let ids = self.by_visitor.entry(visitor).or_default();
        let gap = self.gap_ms;
        let found = ids.iter().rev().copied().find(|id| {
            self.sessions.get(id).is_some_and(|s| {
                ev.ts_ms >= s.start_ms.saturating_sub(gap)
                    && ev.ts_ms <= s.end_ms.saturating_add(gap)
            })
        });
        let id = match found {
            Some(id) => id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                ids.push(id);
                self.sessions.insert(
                    id,
                    Session {
                        visitor,
                        start_ms: ev.ts_ms,
                        end_ms: ev.ts_ms,
                        events: Vec::new(),
                        keep: self.max_session_len,
                    },
                );
                id
            }
        };
        if let Some(s) = self.sessions.get_mut(&id) {
            s.start_ms = s.start_ms.min(ev.ts_ms);
            s.end_ms = s.end_ms.max(ev.ts_ms);
            // Very long sessions (bots, kiosks) would dominate pair counts.
            newest::insert(&mut s.events, ev, s.keep, |e| e.ts_ms);
        }
    }

    /// Drops the oldest sessions beyond `max`.
    pub fn prune(&mut self, max: usize) {
        if self.sessions.len() <= max {
            return;
        }
        let mut ends: Vec<(i64, u64)> = self
            .sessions
            .iter()
            .map(|(&id, s)| (s.end_ms, id))
            .collect();
        ends.sort_unstable();
        let drop = ends.len() - max;
        for &(_, id) in &ends[..drop] {
            self.sessions.remove(&id);
        }
        let sessions = &self.sessions;
        self.by_visitor.retain(|_, ids| {
            ids.retain(|id| sessions.contains_key(id));
            !ids.is_empty()
        });
    }

    /// Sessions, oldest end first (so a dense index follows recency).
    pub fn sessions_by_end(&self) -> Vec<&Session> {
        let mut v: Vec<(&u64, &Session)> = self.sessions.iter().collect();
        v.sort_unstable_by_key(|(id, s)| (s.end_ms, **id));
        v.into_iter().map(|(_, s)| s).collect()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(ts: i64, item: ItemId) -> Event {
        Event {
            ts_ms: ts,
            what: What::Item(item, Kind::View),
        }
    }

    #[test]
    fn late_events_go_into_their_session_in_time_order() {
        let mut log = SessionLog::new(1000, 50);
        log.push(1, view(0, 10));
        log.push(1, view(5000, 20));
        log.push(1, view(500, 11));
        let s = log.sessions_by_end();
        assert_eq!(s.len(), 2);
        let first: Vec<_> = s[0].events().iter().map(|e| e.what.clone()).collect();
        assert_eq!(
            first,
            vec![What::Item(10, Kind::View), What::Item(11, Kind::View)]
        );
    }

    #[test]
    fn a_long_session_keeps_its_newest_events() {
        let mut log = SessionLog::new(1000, 3);
        for i in 0..10 {
            log.push(1, view(i, i as ItemId));
            let s = log.sessions_by_end();
            let items: Vec<_> = s[0].events().iter().map(|e| e.what.clone()).collect();
            let newest: Vec<_> = ((i - 2).max(0)..=i)
                .map(|j| What::Item(j as ItemId, Kind::View))
                .collect();
            assert_eq!(items, newest);
        }
        // A late event older than all kept ones is dropped as the oldest.
        log.push(1, view(-5, 99));
        let items: Vec<_> = log.sessions_by_end()[0]
            .events()
            .iter()
            .map(|e| e.what.clone())
            .collect();
        assert_eq!(
            items,
            (7..10)
                .map(|j| What::Item(j, Kind::View))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn prune_keeps_the_newest() {
        let mut log = SessionLog::new(10, 50);
        for i in 0..5 {
            log.push(i, view(i as i64 * 100, 1));
        }
        log.prune(2);
        let s = log.sessions_by_end();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].visitor, 3);
    }
}
