//! Reading the event log back, in stored order, without holding it all in memory.

use crate::{Result, Store};
use propel_model::EventKind;
use rusqlite::params;

#[derive(Debug, Clone, PartialEq)]
pub struct ExportedEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub session: String,
    pub ts_ms: i64,
    /// The stored body, JSON text.
    pub body: String,
}

impl Store {
    /// Calls `each` for every event of the partner (of one session when given), in
    /// stored order, on a connection of its own. `each` returns false to stop early.
    pub fn export_events(
        &self,
        partner: i64,
        session: Option<&str>,
        mut each: impl FnMut(ExportedEvent) -> bool,
    ) -> Result<()> {
        let conn = self.session_reader()?;
        let (filter, session) = match session {
            Some(s) => (crate::session_index::of_session("= ?2"), s),
            None => ("partner = ?1 AND ?2 = ?2".to_string(), ""),
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT seq, kind, session, ts_ms, body FROM events WHERE {filter} ORDER BY seq"
        ))?;
        let mut rows = stmt.query(params![partner, session])?;
        while let Some(row) = rows.next()? {
            let code: u8 = row.get(1)?;
            let Some(kind) = EventKind::from_code(code) else {
                continue;
            };
            let event = ExportedEvent {
                seq: row.get(0)?,
                kind,
                session: row.get(2)?,
                ts_ms: row.get(3)?,
                body: row.get(4)?,
            };
            if !each(event) {
                break;
            }
        }
        Ok(())
    }
}
