//! Which events belong to a session, kept off the commit path.
//!
//! A B-tree index on `events(partner, session, seq)` made every commit rewrite one index
//! page for every distinct session in it: visitors are many and their keys scattered, so
//! a group of events from 1,000 visitors rewrote about 1,000 pages (measured ad hoc with
//! `h2load` sending 1,000-event `visitorEvents` batches of 1,000 random visitors: 15.7 MB
//! of WAL a batch and 39 batches/s with the index; 0.15 MB and 177-267 batches/s without
//! it). Here the event log has no session index; a background thread reads the newly
//! committed events in order, sorts them by session and adds them to a separate
//! database, `session-index.db`, synced only at its own checkpoints: it can always be
//! rebuilt from the log. Lookups ([`of_session`]) read the index up to the point it has reached
//! (`indexed.upto`) and scan the short tail of the log after it, so they see every
//! committed event whatever the indexer's lag.
//!
//! An order line sent again may move its row to another session (`events_order_lines`
//! keeps one row per line): the trigger of schema migration 9 records such a move in
//! `session_moves`, which lookups read too; the index's stale entry is filtered out by
//! the row's own `session`.

use crate::{priority, Result, Store};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The schema name the index database is attached under on reading connections.
const SCHEMA: &str = "session_idx";

/// Events read from the log at a time: one short read transaction each, so that the
/// indexer never holds back a checkpoint for long.
const CHUNK: usize = 5_000;

/// The pause once the index has caught up with the log.
const CAUGHT_UP_PAUSE: Duration = Duration::from_millis(200);

/// The lowest priority: the index is only read by operator exports and the mailer, so
/// it is built from whatever CPU time the requests leave.
const NICE: i32 = 19;

pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("session-index.db")
}

/// The condition on `events` selecting the rows of partner `?1` whose session is
/// `?2` (`sessions` is `"= ?2"`) or is in a subquery (`"IN (SELECT ...)"`), for
/// connections with the index attached ([`attach`]). The union of seqs lets SQLite
/// look rows up by seq; the same lookup written with `OR` scanned the whole log.
pub(crate) fn of_session(sessions: &str) -> String {
    format!(
        "(partner = ?1 AND session {sessions} AND seq IN (
            SELECT seq FROM {SCHEMA}.session_index WHERE partner = ?1 AND session {sessions}
            UNION ALL SELECT seq FROM session_moves WHERE partner = ?1 AND session {sessions}
            UNION ALL SELECT seq FROM events WHERE seq > COALESCE((SELECT upto FROM {SCHEMA}.indexed), 0)
                AND partner = ?1 AND session {sessions}))"
    )
}

/// Attaches the index database to `conn` (read-only when `conn` is).
pub(crate) fn attach(conn: &Connection, data_dir: &Path) -> Result<()> {
    conn.execute(
        &format!("ATTACH DATABASE ?1 AS {SCHEMA}"),
        [path(data_dir).to_string_lossy()],
    )?;
    Ok(())
}

fn open_index(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Derived data: a crash may lose the last chunks, which are indexed again.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS session_index (
            partner INTEGER NOT NULL,
            session TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (partner, session, seq)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS indexed (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            database_id INTEGER NOT NULL,
            upto INTEGER NOT NULL
        );",
    )?;
    Ok(conn)
}

/// Opens (creating) the index of the database `main` and empties it when it was built
/// from another database or from a later state of this one (a restored backup): every
/// lookup then scans the log until the indexer has caught up again.
pub(crate) fn prepare(main: &Connection, data_dir: &Path) -> Result<()> {
    let index_path = path(data_dir);
    match open_index(&index_path).and_then(|c| check(main, &c)) {
        Ok(()) => Ok(()),
        // Only a damaged file is thrown away: a busy one may be in use by another process.
        Err(e) if is_damaged(&e) => {
            tracing::warn!(error = %e, "session index unreadable; rebuilding it");
            for suffix in ["", "-wal", "-shm"] {
                let mut file = index_path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
            check(main, &open_index(&index_path)?)
        }
        Err(e) => Err(e),
    }
}

fn is_damaged(e: &crate::StoreError) -> bool {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    matches!(
        e,
        crate::StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if matches!(f.code, DatabaseCorrupt | NotADatabase)
    )
}

fn check(main: &Connection, index: &Connection) -> Result<()> {
    let id: i64 = main.query_row(
        "SELECT value FROM meta WHERE key = 'database_id'",
        [],
        |r| r.get(0),
    )?;
    let last: i64 = main.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
    let state: Option<(i64, i64)> = index
        .query_row("SELECT database_id, upto FROM indexed", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((built_from, upto)) = state {
        if built_from == id && upto <= last {
            return Ok(());
        }
    }
    index.execute_batch("BEGIN IMMEDIATE; DELETE FROM session_index; DELETE FROM indexed;")?;
    index.execute(
        "INSERT INTO indexed(one, database_id, upto) VALUES (1, ?1, 0)",
        [id],
    )?;
    index.execute_batch("COMMIT")?;
    Ok(())
}

/// Indexes up to `limit` events committed after the index's `upto`, in one transaction
/// of the index; returns how many.
pub(crate) fn index_chunk(
    main: &Connection,
    index: &mut Connection,
    limit: usize,
) -> Result<usize> {
    let state = index
        .query_row("SELECT upto FROM indexed", [], |r| r.get(0))
        .optional()?;
    let upto: i64 = match state {
        Some(upto) => upto,
        // Emptied by another process: start again.
        None => {
            check(main, index)?;
            0
        }
    };
    // Seqs grow with every commit of the single writer, so every event up to the last
    // one read here is committed: none can appear below `upto` later.
    let mut rows = {
        let mut stmt = main.prepare_cached(
            "SELECT partner, session, seq FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![upto, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows
    };
    let Some(last) = rows.last().map(|r| r.2) else {
        return Ok(0);
    };
    // In key order, each index page is written once a chunk.
    rows.sort_unstable();
    let tx = index.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO session_index(partner, session, seq) VALUES (?1, ?2, ?3)",
        )?;
        for (partner, session, seq) in &rows {
            insert.execute(params![partner, session, seq])?;
        }
    }
    // MAX: another process on the same data directory may have gone further.
    tx.execute("UPDATE indexed SET upto = MAX(upto, ?1)", [last])?;
    tx.commit()?;
    Ok(rows.len())
}

/// Starts the indexing thread of `store`; it ends when the store is dropped.
pub(crate) fn start(store: &Arc<Store>) -> std::io::Result<()> {
    let weak: Weak<Store> = Arc::downgrade(store);
    let main_path = store.path().to_path_buf();
    let index_path = path(store.data_dir());
    std::thread::Builder::new()
        .name("session-indexer".into())
        .spawn(move || {
            priority::lower(NICE);
            let main = Connection::open_with_flags(
                &main_path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            );
            let (Ok(main), Ok(mut index)) = (main, open_index(&index_path)) else {
                tracing::error!("session indexer: cannot open the databases; lookups scan the log");
                return;
            };
            let _ = main.busy_timeout(Duration::from_secs(10));
            loop {
                if weak.strong_count() == 0 {
                    return;
                }
                #[cfg(test)]
                if tests::paused(&index_path) {
                    std::thread::sleep(CAUGHT_UP_PAUSE);
                    continue;
                }
                match index_chunk(&main, &mut index, CHUNK) {
                    Ok(n) if n == CHUNK => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "session indexing failed"),
                }
                std::thread::sleep(CAUGHT_UP_PAUSE);
            }
        })?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{index_chunk, open_index, path};
    use crate::writer::tests::event;
    use crate::{Limits, Store};
    use propel_model::{EventKind, PartnerId, ValidatedEvent};
    use serde_json::json;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    static PAUSED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    /// Whether a test builds this index itself ([`paused_store`]).
    pub(crate) fn paused(index: &Path) -> bool {
        PAUSED.lock().unwrap().iter().any(|p| p == index)
    }

    /// A store whose background indexer leaves the index to the test, with one partner.
    fn paused_store(seed: u8) -> (tempfile::TempDir, Arc<Store>, i64) {
        let dir = tempfile::tempdir().unwrap();
        PAUSED.lock().unwrap().push(path(dir.path()));
        let store = Store::open(dir.path()).unwrap();
        let partner = store
            .create_partner(
                &PartnerId::from_bytes([seed; 12]),
                "S",
                "https://s.example",
                [0; 32],
                Limits::default(),
            )
            .unwrap();
        (dir, store, partner.rowid)
    }

    fn view(session: &str, product: i64) -> ValidatedEvent {
        event(
            EventKind::View,
            json!({"sessionExternalId": session, "productId": product}),
        )
    }

    async fn write(store: &Store, partner: i64, events: Vec<ValidatedEvent>) {
        let writer = store.start_writer(None, Duration::ZERO).unwrap();
        writer.write(partner, Arc::new(events)).await.unwrap();
        writer.stop().await;
    }

    fn seqs_of(store: &Store, partner: i64, session: &str) -> Vec<i64> {
        let mut seqs = Vec::new();
        store
            .export_events(partner, Some(session), |e| {
                assert_eq!(e.session, session);
                seqs.push(e.seq);
                true
            })
            .unwrap();
        seqs
    }

    fn upto(dir: &Path) -> i64 {
        open_index(&path(dir))
            .unwrap()
            .query_row("SELECT upto FROM indexed", [], |r| r.get(0))
            .unwrap()
    }

    /// Wherever the indexer stands, a lookup by session returns exactly that session's
    /// events in stored order: those indexed, those after `upto`, and an order line
    /// indexed under one session and then sent again from another.
    #[tokio::test]
    async fn lookups_see_every_event_wherever_the_index_stands() {
        let (dir, store, partner) = paused_store(1);
        let line = |session: &str| {
            event(
                EventKind::Order,
                json!({"sessionExternalId": session, "productId": 7, "price": 1.0, "quantity": 1, "transaction": "T"}),
            )
        };
        let mut first: Vec<_> = (0..20)
            .map(|i| view(["a", "b", "c"][i % 3], i as i64))
            .collect();
        first.push(line("a"));
        write(&store, partner, first).await;
        let (main, mut index) = (
            crate::connect(store.path()).unwrap(),
            open_index(&path(dir.path())).unwrap(),
        );
        // Everything so far indexed, the order line under "a".
        while index_chunk(&main, &mut index, 4).unwrap() > 0 {}
        // The line moves to "b"; later events stay in the tail for now.
        let mut second = vec![line("b")];
        second.extend((20..30).map(|i| view(["a", "b"][i % 2], i as i64)));
        write(&store, partner, second).await;

        let mut all = Vec::new();
        store
            .export_events(partner, None, |e| {
                all.push((e.session, e.seq));
                true
            })
            .unwrap();
        let expected = |session: &str| -> Vec<i64> {
            all.iter()
                .filter(|(s, _)| s == session)
                .map(|(_, seq)| *seq)
                .collect()
        };
        // The line keeps its place (seq 21, after the first 20 views) under session b.
        assert!(
            all.contains(&("b".to_string(), 21)),
            "the order line is b's now"
        );
        loop {
            for session in ["a", "b", "c", "d"] {
                assert_eq!(
                    seqs_of(&store, partner, session),
                    expected(session),
                    "session {session} with the index up to {}",
                    upto(dir.path())
                );
            }
            if index_chunk(&main, &mut index, 3).unwrap() == 0 {
                break;
            }
        }
        assert_eq!(upto(dir.path()), all.iter().map(|(_, s)| *s).max().unwrap());
    }

    /// A database from before migration 9 loses the index on the log, keeps its
    /// events readable by session at once, and gets them indexed.
    #[test]
    fn migration_9_moves_the_session_index_out_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        PAUSED.lock().unwrap().push(path(dir.path()));
        {
            let mut conn = crate::connect(&crate::database_path(dir.path())).unwrap();
            crate::schema::migrate_to(&mut conn, 8).unwrap();
            conn.execute_batch(
                "INSERT INTO events(partner, session, kind, ts_ms, body) VALUES
                   (1, 'a', 1, 0, '{}'), (1, 'b', 1, 0, '{}'), (2, 'a', 1, 0, '{}'), (1, 'a', 1, 0, '{}');",
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let indexes: i64 = store
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql LIKE '%session%'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(indexes, 0, "no index on the log by session");
        assert_eq!(upto(dir.path()), 0);
        assert_eq!(seqs_of(&store, 1, "a"), vec![1, 4]);
        let (main, mut index) = (
            crate::connect(store.path()).unwrap(),
            open_index(&path(dir.path())).unwrap(),
        );
        assert_eq!(index_chunk(&main, &mut index, 100).unwrap(), 4);
        assert_eq!(seqs_of(&store, 1, "a"), vec![1, 4]);
        assert_eq!(seqs_of(&store, 2, "a"), vec![3]);
        assert_eq!(seqs_of(&store, 1, "b"), vec![2]);
    }

    /// A commit writes the events' own pages and no session index: 500 events from 500
    /// visitors already known (20,000 of them) add 19 pages to the WAL; with the index on
    /// `events(partner, session, seq)` put back, 172.
    #[tokio::test]
    async fn a_commit_writes_no_index_page_per_visitor() {
        let (dir, store, partner) = paused_store(2);
        write(
            &store,
            partner,
            (0..20_000)
                .map(|i| view(&format!("visitor-{i}"), i))
                .collect(),
        )
        .await;
        let conn = crate::connect(store.path()).unwrap();
        let wal = dir.path().join("propel.db-wal");
        // Empty the WAL (the background checkpointer may be mid-way: try again).
        for _ in 0..100 {
            let (busy, log): (i64, i64) = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            if busy == 0 && log == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            0,
            "the WAL was emptied"
        );
        let scattered = (0..500)
            .map(|i| view(&format!("visitor-{}", (i * 7919) % 20_000), i))
            .collect();
        write(&store, partner, scattered).await;
        let page: u64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        let frames = (std::fs::metadata(&wal).unwrap().len() - 32) / (page + 24);
        assert!(
            frames < 60,
            "{frames} pages written for 500 events of 500 visitors"
        );
    }

    /// An index built from another database, or from a later state of this one (a
    /// restored backup), or unreadable, is emptied on open and lookups stay right.
    #[tokio::test]
    async fn a_foreign_stale_or_broken_index_is_rebuilt() {
        let (dir, store, partner) = paused_store(3);
        write(&store, partner, (0..10).map(|i| view("a", i)).collect()).await;
        let (main, mut index) = (
            crate::connect(store.path()).unwrap(),
            open_index(&path(dir.path())).unwrap(),
        );
        while index_chunk(&main, &mut index, 100).unwrap() > 0 {}
        assert_eq!(upto(dir.path()), 10);
        drop((main, index, store));

        // Another database's index: a different database_id.
        let (other, other_store, _) = paused_store(4);
        drop(other_store);
        for suffix in ["", "-wal", "-shm"] {
            let name = format!("session-index.db{suffix}");
            let _ = std::fs::remove_file(other.path().join(&name));
            if dir.path().join(&name).exists() {
                std::fs::copy(dir.path().join(&name), other.path().join(&name)).unwrap();
            }
        }
        let _reopened = Store::open(other.path()).unwrap();
        assert_eq!(upto(other.path()), 0, "a foreign index is emptied");

        // This database's index, but ahead of the log (as after restoring a backup).
        open_index(&path(dir.path()))
            .unwrap()
            .execute("UPDATE indexed SET upto = 99", [])
            .unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(upto(dir.path()), 0, "an index ahead of the log is emptied");
        assert_eq!(seqs_of(&store, partner, "a"), (1..=10).collect::<Vec<_>>());
        drop(store);

        // Not a database at all.
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.path().join(format!("session-index.db{suffix}")));
        }
        std::fs::write(
            path(dir.path()),
            b"not a database, not at all, but long enough to be read",
        )
        .unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(upto(dir.path()), 0);
        assert_eq!(seqs_of(&store, partner, "a"), (1..=10).collect::<Vec<_>>());

        // Its state row gone (another process emptying it): the whole log is the tail.
        open_index(&path(dir.path()))
            .unwrap()
            .execute("DELETE FROM indexed", [])
            .unwrap();
        assert_eq!(seqs_of(&store, partner, "a"), (1..=10).collect::<Vec<_>>());
        let (main, mut index) = (
            crate::connect(store.path()).unwrap(),
            open_index(&path(dir.path())).unwrap(),
        );
        assert_eq!(index_chunk(&main, &mut index, 100).unwrap(), 10);
        assert_eq!(upto(dir.path()), 10, "the indexer starts again");
    }
}
