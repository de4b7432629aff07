//! Scheduled feed sources: a partner's feed URL, how often it is fetched, and what the
//! last fetches did.

use crate::{Result, Store};
use rusqlite::{params, OptionalExtension};

/// A partner's scheduled feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSource {
    pub partner: i64,
    pub url: String,
    pub interval_minutes: i64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// JSON object: what the last fetches did.
    pub status: String,
    pub next_fetch_ms: i64,
}

const FEED_COLUMNS: &str = "SELECT partner, url, interval_minutes, etag, last_modified, status, next_fetch_ms FROM feed_sources";

fn feed_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FeedSource> {
    Ok(FeedSource {
        partner: r.get(0)?,
        url: r.get(1)?,
        interval_minutes: r.get(2)?,
        etag: r.get(3)?,
        last_modified: r.get(4)?,
        status: r.get(5)?,
        next_fetch_ms: r.get(6)?,
    })
}

impl Store {
    /// Sets (or replaces) the partner's feed URL; a new URL forgets the validators.
    pub fn set_feed_source(&self, partner: i64, url: &str, interval_minutes: i64) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO feed_sources(partner, url, interval_minutes, status, next_fetch_ms)
                 VALUES (?1, ?2, ?3, '{}', 0)
                 ON CONFLICT(partner) DO UPDATE SET
                   etag = CASE WHEN url = ?2 THEN etag END,
                   last_modified = CASE WHEN url = ?2 THEN last_modified END,
                   url = ?2, interval_minutes = ?3, next_fetch_ms = 0",
                params![partner, url, interval_minutes],
            )?;
            Ok(())
        })
    }

    /// Stops fetching the partner's feed URL; `false` when it had none.
    pub fn delete_feed_source(&self, partner: i64) -> Result<bool> {
        self.with_conn(|c| {
            Ok(c.execute("DELETE FROM feed_sources WHERE partner = ?1", [partner])? > 0)
        })
    }

    pub fn feed_source(&self, partner: i64) -> Result<Option<FeedSource>> {
        self.with_conn(|c| {
            Ok(c.query_row(
                &format!("{FEED_COLUMNS} WHERE partner = ?1"),
                [partner],
                feed_from_row,
            )
            .optional()?)
        })
    }

    /// Feed sources whose next fetch is due at `now`.
    pub fn due_feed_sources(&self, now: i64) -> Result<Vec<FeedSource>> {
        self.with_conn(|c| {
            let mut stmt =
                c.prepare_cached(&format!("{FEED_COLUMNS} WHERE next_fetch_ms <= ?1"))?;
            let rows = stmt.query_map([now], feed_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Records a fetch: validators, status JSON, next due time. Ignored when the URL
    /// changed meanwhile.
    pub fn record_feed_fetch(&self, source: &FeedSource) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "UPDATE feed_sources SET etag = ?3, last_modified = ?4, status = ?5, next_fetch_ms = ?6
                 WHERE partner = ?1 AND url = ?2",
                params![
                    source.partner,
                    source.url,
                    source.etag,
                    source.last_modified,
                    source.status,
                    source.next_fetch_ms
                ],
            )?;
            Ok(())
        })
    }
}
