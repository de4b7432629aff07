//! Background WAL checkpoints.
//!
//! Left to SQLite, a checkpoint runs inside whichever commit finds the WAL past
//! `wal_autocheckpoint` pages: the event or impression writer then copies tens of
//! megabytes into the database in one go, on the core that serves requests, and the
//! requests of those 100-250 ms wait (ad hoc: in one sponsored bench round with
//! checkpoints put off by a temporary change the p99 was 3.4 ms, against 5.1-5.7 ms with
//! them inline; with this thread, 5.1-5.5 ms). Here a thread of its own checkpoints
//! every [`EVERY`] while commits keep coming, so each copy, and the database sync that
//! ends it, is small. `PASSIVE` never blocks writers or readers; the writers' own
//! `wal_autocheckpoint` stays as the safety net should this thread fall behind.
//!
//! Small and often matters twice under load: a copy that falls behind leaves the rest to
//! the event writer's inline checkpoint (about 30 ms with every request waiting), and a
//! large database sync holds up the WAL syncs queued behind it on the disk. Measured ad
//! hoc (scratch `lat.sh`, three alternating 8 s runs of `POST /1.0/view` at 16 x 10):
//! every 200 ms at nice 19, the slowest thousandth of requests took 15.5-20.4 ms;
//! every 25 ms at nice 10, 5.3-8.0 ms.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::{connect, Store};

const EVERY: Duration = Duration::from_millis(25);

/// The pause after a checkpoint that found nothing new in the WAL.
const IDLE_EVERY: Duration = Duration::from_millis(200);

/// Nice value of the thread: below the serving threads, so a request being served goes
/// first, but not the lowest: on a saturated core a thread at nice 19 fell behind, and
/// the writers' inline checkpoints took over.
const NICE: i32 = 10;

/// Starts the checkpoint thread for `store`; it ends when the store is dropped.
pub(crate) fn start(store: &Arc<Store>) -> std::io::Result<()> {
    let weak: Weak<Store> = Arc::downgrade(store);
    let path: PathBuf = store.path().to_path_buf();
    std::thread::Builder::new()
        .name("checkpointer".into())
        .spawn(move || {
            crate::priority::lower(NICE);
            let Ok(conn) = connect(&path) else {
                tracing::error!("checkpointer: cannot open the database; checkpoints stay inline");
                return;
            };
            // (frames in the WAL, frames copied) after the last checkpoint.
            let mut last = (0, 0);
            let mut idle = true;
            loop {
                std::thread::sleep(if idle { IDLE_EVERY } else { EVERY });
                if weak.strong_count() == 0 {
                    return;
                }
                let frames = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                });
                match frames {
                    Ok(now) => {
                        // Nothing committed since the last look: idle.
                        idle = now == last;
                        last = now;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "background checkpoint failed");
                        idle = true;
                    }
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Store;
    use std::time::{Duration, Instant};

    /// Committed pages reach the database file without any writer checkpointing
    /// (the WAL stays far below `wal_autocheckpoint`).
    #[test]
    fn commits_reach_the_database_file_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let db = crate::database_path(dir.path());
        // Nothing pending: let a first background checkpoint pass.
        std::thread::sleep(super::IDLE_EVERY * 2);
        let before = std::fs::metadata(&db).unwrap().len();
        store
            .with_conn(|c| {
                c.execute_batch(
                    "CREATE TABLE filler(x BLOB);
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
                     INSERT INTO filler SELECT randomblob(4000) FROM n;",
                )?;
                Ok(())
            })
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&db).unwrap().len() < before + 1_000_000 {
            assert!(
                Instant::now() < deadline,
                "the database file did not grow: no background checkpoint"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
