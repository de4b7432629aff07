//! A full import: a new generation staged in a file of its own, then made current.

use crate::catalog_files::{
    create_tables, generation_file, is_missing, remove_generation, sqlite_uri, sync_with_directory,
    StagingLock,
};
use crate::products::{current_state, CatalogStamp, CategoryRow, BATCH};
use crate::{connect, now_ms, Result, Store};
use rusqlite::{params, CachedStatement, Connection, OptionalExtension};
use std::path::PathBuf;

/// A full import being staged as a new generation. Dropped without [`CatalogImport::commit`],
/// it deletes what it staged.
///
/// The connection is the main database's with the generation's file attached as `gen`.
/// Rows go straight to the file through cached statements inside a transaction that is
/// committed every [`BATCH`] products; nothing is buffered in memory, and repeated offer
/// ids are found by the file's primary key, so memory does not grow with the feed.
/// Staging never touches the main database (no write lock held, nothing for events to
/// wait on); the first-seen times of new products are written at the commit, in id order
/// from the file, in transactions of [`BATCH`] ids: a lookup per staged product in the
/// main database cost a 1M re-import about two seconds more (its pages were read again
/// and again while the file grew).
pub struct CatalogImport {
    conn: Connection,
    data_dir: PathBuf,
    file: PathBuf,
    partner: i64,
    generation: i64,
    started_ms: i64,
    /// Products written in the open transaction (`None`: no transaction open).
    pending: Option<usize>,
    staged: u64,
    finished: bool,
    /// First-seen rows of this import may be in the main database (the commit began
    /// writing them): a discard must delete them.
    first_seen_written: bool,
    flusher: Option<WalFlusher>,
    /// Dropped last: until then start-up cleanup leaves the file alone.
    _staging: StagingLock,
}

/// Writes the main database's WAL (first-seen times of new products) out on a thread of
/// its own while the commit writes them (one `fdatasync` after each batch, skipped
/// while one is running). Durability does not depend on it: the checkpoints' and the
/// flip's own syncs do that; it only means that when they come, most of the WAL is on
/// disk already and the import does not wait for it.
struct WalFlusher {
    poke: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WalFlusher {
    fn start(wal: &std::path::Path) -> Option<WalFlusher> {
        let file = std::fs::File::open(wal).ok()?;
        let (poke, pokes) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("import-wal-sync".into())
            .spawn(move || {
                while pokes.recv().is_ok() {
                    let _ = file.sync_data();
                }
            })
            .ok()?;
        Some(WalFlusher {
            poke: Some(poke),
            thread: Some(thread),
        })
    }

    fn poke(&self) {
        if let Some(p) = &self.poke {
            let _ = p.try_send(());
        }
    }
}

impl Drop for WalFlusher {
    fn drop(&mut self) {
        self.poke.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The page cache of the generation file on an import's connection, in KiB: enough for
/// a batch's dirty pages, and a fixed ceiling whatever the feed's size.
const IMPORT_CACHE_KIB: i64 = 8 * 1024;

impl Store {
    /// Starts staging a full import for `partner` as a new generation.
    pub fn begin_import(&self, partner: i64) -> Result<CatalogImport> {
        let staging = StagingLock::shared(self.data_dir())?;
        let mut conn = connect(&self.path)?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO catalog_state(partner, generation, last_generation, version, updated_ms)
             VALUES (?1, 0, 0, 0, ?2) ON CONFLICT(partner) DO NOTHING",
            params![partner, now],
        )?;
        let generation: i64 = tx.query_row(
            "UPDATE catalog_state SET last_generation = last_generation + 1 WHERE partner = ?1
             RETURNING last_generation",
            [partner],
            |r| r.get(0),
        )?;
        tx.commit()?;
        let file = generation_file(self.data_dir(), partner, generation);
        remove_generation(&file)?;
        conn.execute("ATTACH ?1 AS gen", [sqlite_uri(&file, "rwc")])?;
        // Nobody reads the file before the flip, and a crash leaves only an orphan file
        // (deleted at the next start): no journal, no sync until the flip's. EXCLUSIVE:
        // no lock taken and released per batch.
        conn.execute_batch(&format!(
            "PRAGMA gen.journal_mode = OFF; PRAGMA gen.synchronous = OFF;
             PRAGMA gen.locking_mode = EXCLUSIVE; PRAGMA gen.cache_size = -{IMPORT_CACHE_KIB};"
        ))?;
        create_tables(&conn, "gen")?;
        // First-seen rows need no fsync per batch: nobody needs them before the flip.
        // NORMAL (not OFF): a checkpoint still syncs the WAL before it writes the
        // database file and syncs that file before the WAL is reused, so a power loss
        // mid-import cannot tear pages of the main database, and every row is durable
        // once the flip's commit (FULL again) has synced the WAL.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(CatalogImport {
            flusher: WalFlusher::start(&self.wal_path()),
            conn,
            data_dir: self.data_dir().to_path_buf(),
            file,
            partner,
            generation,
            started_ms: now,
            pending: None,
            staged: 0,
            finished: false,
            first_seen_written: false,
            _staging: staging,
        })
    }
}

/// Stages rows of a [`CatalogImport`] through statements prepared once.
pub struct Stager<'a> {
    conn: &'a Connection,
    insert: CachedStatement<'a>,
    replace: CachedStatement<'a>,
    category: CachedStatement<'a>,
    pending: &'a mut Option<usize>,
    staged: &'a mut u64,
}

impl Stager<'_> {
    pub fn add_category(&mut self, c: CategoryRow) -> Result<()> {
        self.begin()?;
        self.category.execute(params![c.id, c.parent_id, c.name])?;
        Ok(())
    }

    /// Stages a product (JSON body). Returns `false` when a product with this id was
    /// staged before in this import: the later body replaces it. The staging file's
    /// primary key tells, so no set of ids is kept in memory.
    pub fn add_product(&mut self, id: i64, body: &str) -> Result<bool> {
        self.begin()?;
        let inserted = self.insert.execute(params![id, body])? > 0;
        if !inserted {
            self.replace.execute(params![id, body])?;
        }
        *self.staged += 1;
        let pending = self.pending.get_or_insert(0);
        *pending += 1;
        if *pending >= BATCH {
            commit_pending(self.conn, self.pending)?;
        }
        Ok(inserted)
    }

    /// Opens the staging transaction unless one is open (deferred: only the file is
    /// written, so only the file is locked).
    fn begin(&mut self) -> Result<()> {
        if self.pending.is_none() {
            self.conn.execute_batch("BEGIN")?;
            *self.pending = Some(0);
        }
        Ok(())
    }
}

/// Commits the open staging transaction, if any (`pending` is `Some` while one is open).
fn commit_pending(conn: &Connection, pending: &mut Option<usize>) -> Result<()> {
    if pending.take().is_some() {
        if let Err(e) = conn.execute_batch("COMMIT") {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(e.into());
        }
    }
    Ok(())
}

impl CatalogImport {
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Products staged so far (a repeated id counts once per time it came).
    pub fn staged(&self) -> u64 {
        self.staged
    }

    /// A stager holding the import's prepared statements: the way to stage many rows.
    pub fn stager(&mut self) -> Result<Stager<'_>> {
        let CatalogImport {
            conn,
            pending,
            staged,
            ..
        } = self;
        let conn: &Connection = conn;
        Ok(Stager {
            insert: conn.prepare_cached(
                "INSERT INTO gen.products(id, body) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING",
            )?,
            replace: conn.prepare_cached("UPDATE gen.products SET body = ?2 WHERE id = ?1")?,
            category: conn.prepare_cached(
                "INSERT OR REPLACE INTO gen.categories(id, parent_id, name) VALUES (?1, ?2, ?3)",
            )?,
            conn,
            pending,
            staged,
        })
    }

    /// Stages one category (see [`Stager::add_category`]).
    pub fn add_category(&mut self, category: CategoryRow) -> Result<()> {
        self.stager()?.add_category(category)
    }

    /// Stages one product (see [`Stager::add_product`]).
    pub fn add_product(&mut self, id: i64, body: &str) -> Result<bool> {
        self.stager()?.add_product(id, body)
    }

    /// Closes the generation file on this connection (statements that name it first).
    fn detach(&self) -> Result<()> {
        self.conn.flush_prepared_statement_cache();
        self.conn.execute_batch("DETACH gen")?;
        Ok(())
    }

    /// Records when the staged products were first seen (those the main database does
    /// not know yet), walking the file in id order, [`BATCH`] ids per transaction so
    /// the main database's write lock is held briefly each time.
    fn write_first_seen(&mut self) -> Result<()> {
        self.first_seen_written = true;
        let mut after = i64::MIN;
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let last: Option<i64> = tx
                .prepare_cached(&format!(
                    "SELECT id FROM gen.products WHERE id > ?1 ORDER BY id LIMIT 1 OFFSET {}",
                    BATCH - 1
                ))?
                .query_row([after], |r| r.get(0))
                .optional()?;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO main.product_first_seen(partner, id, first_seen_ms)
                 SELECT ?1, id, ?2 FROM gen.products WHERE id > ?3 AND id <= ?4",
            )?
            .execute(params![
                self.partner,
                self.started_ms,
                after,
                last.unwrap_or(i64::MAX)
            ])?;
            tx.commit()?;
            if let Some(f) = &self.flusher {
                f.poke();
            }
            match last {
                Some(last) => after = last,
                None => return Ok(()),
            }
        }
    }

    /// Writes what is left and the first-seen times, syncs the file and its directory
    /// entry, makes the new generation current in one short transaction, then deletes
    /// the previous generation's file. Returns the new stamp.
    pub fn commit(mut self) -> Result<CatalogStamp> {
        commit_pending(&self.conn, &mut self.pending)?;
        self.write_first_seen()?;
        self.detach()?;
        sync_with_directory(&self.file)?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let (partner, generation) = (self.partner, self.generation);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let previous: i64 = tx.query_row(
            "SELECT generation FROM catalog_state WHERE partner = ?1",
            [partner],
            |r| r.get(0),
        )?;
        let version: i64 = tx.query_row(
            "UPDATE catalog_state SET generation = ?2, version = version + 1, updated_ms = ?3
             WHERE partner = ?1 RETURNING version",
            params![partner, generation, now_ms()],
            |r| r.get(0),
        )?;
        tx.commit()?;
        self.finished = true;
        self.flusher.take();
        if previous != generation {
            // A reader that opened it before the flip keeps reading it: unlinking does
            // not disturb open files.
            remove_generation(&generation_file(&self.data_dir, partner, previous))?;
        }
        Ok(CatalogStamp {
            partner,
            generation,
            version,
        })
    }

    /// Deletes what was staged (and the first-seen times this import recorded).
    pub fn abort(mut self) -> Result<()> {
        self.discard()
    }

    fn discard(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.pending = None;
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        // Already detached when a commit failed after the detach; the file goes anyway.
        let _ = self.detach();
        remove_generation(&self.file)?;
        if !self.first_seen_written {
            return Ok(());
        }
        // Products this import saw first were never visible: forget when they were seen,
        // unless the current generation holds them (a Product API upsert meanwhile).
        // Those are read before any write: a Product API writer locks the current file
        // before the main database, so reading that file while holding the main
        // database's write lock could deadlock with it.
        let partner = self.partner;
        self.conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS kept_first_seen(id INTEGER PRIMARY KEY);
             DELETE FROM temp.kept_first_seen;",
        )?;
        if let Some((g, _)) = current_state(&self.conn, partner)? {
            let uri = sqlite_uri(&generation_file(&self.data_dir, partner, g), "ro");
            match self.conn.execute("ATTACH ?1 AS cur", [uri]) {
                Ok(_) => {
                    let kept = self.conn.execute(
                        "INSERT INTO temp.kept_first_seen(id) SELECT p.id FROM cur.products p
                         JOIN main.product_first_seen f
                           ON f.partner = ?1 AND f.id = p.id AND f.first_seen_ms = ?2",
                        params![partner, self.started_ms],
                    );
                    self.conn.execute_batch("DETACH cur")?;
                    kept?;
                }
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        while self.conn.execute(
            &format!(
                "DELETE FROM product_first_seen WHERE partner = ?1 AND first_seen_ms = ?2 AND id IN
                 (SELECT id FROM product_first_seen WHERE partner = ?1 AND first_seen_ms = ?2
                  AND id NOT IN (SELECT id FROM temp.kept_first_seen) LIMIT {BATCH})"
            ),
            params![partner, self.started_ms],
        )? > 0
        {}
        self.conn.execute_batch("DROP TABLE temp.kept_first_seen")?;
        Ok(())
    }
}

impl Drop for CatalogImport {
    fn drop(&mut self) {
        if let Err(e) = self.discard() {
            tracing::warn!(error = %e, partner = self.partner, "could not discard a failed import");
        }
    }
}
