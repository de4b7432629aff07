//! The subscriber base: addresses with consent, per partner.

use crate::{now_ms, Result, Store};
use rusqlite::params;

impl Store {
    /// Adds (or re-subscribes) addresses; they must already be normalized.
    pub fn add_subscribers(&self, partner: i64, emails: &[String]) -> Result<usize> {
        self.with_conn(|conn| {
            let now = now_ms();
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO subscribers(partner, email, subscribed, updated_ms) VALUES (?1, ?2, 1, ?3)
                     ON CONFLICT(partner, email) DO UPDATE SET subscribed = 1, updated_ms = excluded.updated_ms",
                )?;
                for email in emails {
                    stmt.execute(params![partner, email, now])?;
                }
            }
            tx.commit()?;
            Ok(emails.len())
        })
    }

    /// Every subscribed address of every partner, as (partner rowid, email).
    pub fn subscribed_emails(&self) -> Result<Vec<(i64, String)>> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare("SELECT partner, email FROM subscribers WHERE subscribed = 1")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
