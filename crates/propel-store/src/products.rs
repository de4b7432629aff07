//! The product base: products and categories per partner and generation, first-seen
//! times, scheduled feed sources.
//!
//! Each generation of a partner's products is a table of its own,
//! `catalog_products_{partner}_{generation}` (see [`products_table`]), whose rowid is the
//! product id: one b-tree insert per product, interior pages that hold only ids, and a
//! generation that leaves the base is dropped as a whole instead of row by row.
//!
//! A full import never holds the write lock for long: it creates generation N+1's table
//! and stages it in transactions of [`BATCH`] rows on a connection of its own, flips
//! `catalog_state.generation` in one tiny transaction, then drops generation N's table.
//! Readers load a partner's current generation inside one read transaction, so they see
//! the old base or the new one, never a mix. A failed import drops what it staged and
//! changes nothing. Product API upserts and deletes act on the current generation
//! directly (one short transaction per request).

use crate::{connect, now_ms, Result, Store};
use rusqlite::{params, CachedStatement, Connection, OptionalExtension, Transaction};

/// Rows per staging or deleting transaction.
pub const BATCH: usize = 5_000;

/// A category row of a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRow {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
}

/// A partner's current generation and change counter: a reader holding an older stamp
/// must reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogStamp {
    pub partner: i64,
    pub generation: i64,
    pub version: i64,
}

/// What a load returns besides the products it streamed.
#[derive(Debug, Clone, Default)]
pub struct CatalogRows {
    pub generation: i64,
    pub version: i64,
    pub categories: Vec<CategoryRow>,
}

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

/// A full import being staged as a new generation. Dropped without [`CatalogImport::commit`],
/// it deletes what it staged.
///
/// Rows go straight to SQLite through cached statements inside a transaction that is
/// committed every [`BATCH`] products; nothing is buffered in memory, and repeated offer
/// ids are found by the table's primary key, so memory does not grow with the feed.
pub struct CatalogImport {
    conn: Connection,
    partner: i64,
    generation: i64,
    started_ms: i64,
    /// Products written in the open transaction (`None`: no transaction open).
    pending: Option<usize>,
    staged: u64,
    finished: bool,
    flusher: Option<WalFlusher>,
}

/// Writes the WAL out on a thread of its own while the import goes on (one `fdatasync`
/// after each staged batch, skipped while one is running). Durability does not depend on
/// it: the checkpoints' and the flip's own syncs do that; it only means that when they
/// come, most of the WAL is on disk already and the import does not wait for it.
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

/// The page cache of an import's connection, in KiB: enough for a batch's dirty pages,
/// and a fixed ceiling whatever the feed's size.
const IMPORT_CACHE_KIB: i64 = 8 * 1024;

fn bump_state(tx: &Transaction<'_>, partner: i64, now: i64) -> Result<CatalogStamp> {
    tx.execute(
        "INSERT INTO catalog_state(partner, generation, last_generation, version, updated_ms)
         VALUES (?1, 1, 1, 1, ?2)
         ON CONFLICT(partner) DO UPDATE SET version = version + 1, updated_ms = ?2",
        params![partner, now],
    )?;
    Ok(tx.query_row(
        "SELECT generation, version FROM catalog_state WHERE partner = ?1",
        [partner],
        |r| {
            Ok(CatalogStamp {
                partner,
                generation: r.get(0)?,
                version: r.get(1)?,
            })
        },
    )?)
}

/// The table of one generation of a partner's products: `id INTEGER PRIMARY KEY`
/// (the rowid), `body` (the product's JSON).
pub(crate) fn products_table(partner: i64, generation: i64) -> String {
    format!("catalog_products_{partner}_{generation}")
}

fn create_products_table(conn: &Connection, table: &str) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"
    ))
}

fn table_exists(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1")?
        .exists([table])
}

/// Deletes one generation: its products table (one statement, no row-by-row delete) and
/// its category rows.
fn delete_generation(conn: &mut Connection, partner: i64, generation: i64) -> Result<()> {
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {}",
        products_table(partner, generation)
    ))?;
    conn.execute(
        "DELETE FROM product_categories WHERE partner = ?1 AND generation = ?2",
        params![partner, generation],
    )?;
    Ok(())
}

/// Migration 7: the products of each partner's current generation move from the shared
/// `products` table (migration 2) to their generation's own table; rows of generations
/// that were never made current (an import that crashed) are dropped with it.
pub(crate) fn split_generations(conn: &Connection) -> rusqlite::Result<()> {
    let current = conn
        .prepare("SELECT partner, generation FROM catalog_state")?
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (partner, generation) in current {
        let table = products_table(partner, generation);
        create_products_table(conn, &table)?;
        conn.execute(
            &format!(
                "INSERT INTO {table}(id, body) SELECT id, body FROM products
                 WHERE partner = ?1 AND generation = ?2"
            ),
            params![partner, generation],
        )?;
    }
    conn.execute_batch("DROP TABLE products")
}

impl Store {
    /// Starts staging a full import for `partner` as a new generation.
    pub fn begin_import(&self, partner: i64) -> Result<CatalogImport> {
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
        create_products_table(&tx, &products_table(partner, generation))?;
        tx.commit()?;
        // Staged batches need no fsync of their own: nobody reads them before the flip.
        // NORMAL (not OFF): a checkpoint still syncs the WAL before it writes the
        // database file and syncs that file before the WAL is reused, so a power loss
        // mid-import cannot tear the pages the current base shares with the staging one,
        // and every staged page is durable once the flip's commit (FULL again) has synced
        // the WAL.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -IMPORT_CACHE_KIB)?;
        Ok(CatalogImport {
            conn,
            partner,
            generation,
            started_ms: now,
            pending: None,
            staged: 0,
            finished: false,
            flusher: WalFlusher::start(&self.wal_path()),
        })
    }

    /// Every partner's current generation and change counter.
    pub fn catalog_stamps(&self) -> Result<Vec<CatalogStamp>> {
        self.with_conn(|c| {
            let mut stmt =
                c.prepare_cached("SELECT partner, generation, version FROM catalog_state")?;
            let rows = stmt.query_map([], |r| {
                Ok(CatalogStamp {
                    partner: r.get(0)?,
                    generation: r.get(1)?,
                    version: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Streams the partner's current products (id, JSON body, first-seen time) to
    /// `on_product`, all from one snapshot; `None` when the partner has no base.
    pub fn load_catalog(
        &self,
        partner: i64,
        mut on_product: impl FnMut(i64, &str, Option<i64>),
    ) -> Result<Option<CatalogRows>> {
        let mut conn = self.reader()?;
        let tx = conn.transaction()?;
        let state: Option<(i64, i64)> = tx
            .query_row(
                "SELECT generation, version FROM catalog_state WHERE partner = ?1",
                [partner],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((generation, version)) = state else {
            return Ok(None);
        };
        let mut categories = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT id, parent_id, name FROM product_categories
                 WHERE partner = ?1 AND generation = ?2",
            )?;
            let mut rows = stmt.query(params![partner, generation])?;
            while let Some(r) = rows.next()? {
                categories.push(CategoryRow {
                    id: r.get(0)?,
                    parent_id: r.get(1)?,
                    name: r.get(2)?,
                });
            }
            // No table: the partner's state exists but no product was ever stored in
            // this generation (an import that failed before any flip).
            let table = products_table(partner, generation);
            if table_exists(&tx, &table)? {
                let mut stmt = tx.prepare(&format!(
                    "SELECT p.id, p.body, f.first_seen_ms FROM {table} p
                     LEFT JOIN product_first_seen f ON f.partner = ?1 AND f.id = p.id"
                ))?;
                let mut rows = stmt.query([partner])?;
                while let Some(r) = rows.next()? {
                    let body = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
                    on_product(r.get(0)?, body, r.get(2)?);
                }
            }
        }
        tx.commit()?;
        Ok(Some(CatalogRows {
            generation,
            version,
            categories,
        }))
    }

    /// Inserts or replaces products (id, JSON body) in the current generation, in one
    /// transaction; returns the new stamp and each product's first-seen time, in order.
    pub fn upsert_products(
        &self,
        partner: i64,
        products: &[(i64, String)],
    ) -> Result<(CatalogStamp, Vec<i64>)> {
        let now = now_ms();
        self.with_conn(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let stamp = bump_state(&tx, partner, now)?;
            let generation = stamp.generation;
            let mut seen = Vec::with_capacity(products.len());
            let table = products_table(partner, generation);
            create_products_table(&tx, &table)?;
            {
                let mut put = tx.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO {table}(id, body) VALUES (?1, ?2)"
                ))?;
                let mut first = tx.prepare_cached(
                    "INSERT INTO product_first_seen(partner, id, first_seen_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(partner, id) DO UPDATE SET first_seen_ms = first_seen_ms
                     RETURNING first_seen_ms",
                )?;
                for (id, body) in products {
                    put.execute(params![id, body])?;
                    seen.push(first.query_row(params![partner, id, now], |r| r.get(0))?);
                }
            }
            tx.commit()?;
            Ok((stamp, seen))
        })
    }

    /// Removes a product from the current generation: the new stamp, `None` when it was
    /// not there.
    pub fn delete_product(&self, partner: i64, id: i64) -> Result<Option<CatalogStamp>> {
        let now = now_ms();
        self.with_conn(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let generation: Option<i64> = tx
                .query_row(
                    "SELECT generation FROM catalog_state WHERE partner = ?1",
                    [partner],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(generation) = generation else {
                return Ok(None);
            };
            let table = products_table(partner, generation);
            let n = if table_exists(&tx, &table)? {
                tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])?
            } else {
                0
            };
            let stamp = if n > 0 {
                Some(bump_state(&tx, partner, now)?)
            } else {
                None
            };
            tx.commit()?;
            Ok(stamp)
        })
    }

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

/// Stages rows of a [`CatalogImport`] through statements prepared once.
pub struct Stager<'a> {
    conn: &'a Connection,
    insert: CachedStatement<'a>,
    replace: CachedStatement<'a>,
    first_seen: CachedStatement<'a>,
    category: CachedStatement<'a>,
    partner: i64,
    generation: i64,
    started_ms: i64,
    pending: &'a mut Option<usize>,
    staged: &'a mut u64,
    flusher: Option<&'a WalFlusher>,
}

impl Stager<'_> {
    pub fn add_category(&mut self, c: CategoryRow) -> Result<()> {
        self.begin()?;
        let (partner, generation) = (self.partner, self.generation);
        self.category
            .execute(params![partner, generation, c.id, c.parent_id, c.name])?;
        Ok(())
    }

    /// Stages a product (JSON body). Returns `false` when a product with this id was
    /// staged before in this import: the later body replaces it. The staging table's
    /// primary key tells, so no set of ids is kept in memory.
    pub fn add_product(&mut self, id: i64, body: &str) -> Result<bool> {
        self.begin()?;
        let inserted = self.insert.execute(params![id, body])? > 0;
        if inserted {
            self.first_seen
                .execute(params![self.partner, id, self.started_ms])?;
        } else {
            self.replace.execute(params![id, body])?;
        }
        *self.staged += 1;
        let pending = self.pending.get_or_insert(0);
        *pending += 1;
        if *pending >= BATCH {
            commit_pending(self.conn, self.pending, self.flusher)?;
        }
        Ok(inserted)
    }

    /// Opens the staging transaction unless one is open.
    fn begin(&mut self) -> Result<()> {
        if self.pending.is_none() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            *self.pending = Some(0);
        }
        Ok(())
    }
}

/// Commits the open staging transaction, if any (`pending` is `Some` while one is open).
fn commit_pending(
    conn: &Connection,
    pending: &mut Option<usize>,
    flusher: Option<&WalFlusher>,
) -> Result<()> {
    if pending.take().is_some() {
        if let Err(e) = conn.execute_batch("COMMIT") {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(e.into());
        }
        if let Some(f) = flusher {
            f.poke();
        }
    }
    Ok(())
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
            partner,
            generation,
            started_ms,
            pending,
            staged,
            flusher,
            ..
        } = self;
        let conn: &Connection = conn;
        let table = products_table(*partner, *generation);
        Ok(Stager {
            insert: conn.prepare_cached(&format!(
                "INSERT INTO {table}(id, body) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING"
            ))?,
            replace: conn.prepare_cached(&format!("UPDATE {table} SET body = ?2 WHERE id = ?1"))?,
            first_seen: conn.prepare_cached(
                "INSERT OR IGNORE INTO product_first_seen(partner, id, first_seen_ms)
                 VALUES (?1, ?2, ?3)",
            )?,
            category: conn.prepare_cached(
                "INSERT OR REPLACE INTO product_categories(partner, generation, id, parent_id, name)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            conn,
            partner: *partner,
            generation: *generation,
            started_ms: *started_ms,
            pending,
            staged,
            flusher: flusher.as_ref(),
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

    /// Commits the open staging transaction, if any.
    fn flush(&mut self) -> Result<()> {
        commit_pending(&self.conn, &mut self.pending, None)
    }

    /// Writes what is left, makes the new generation current in one short transaction,
    /// then deletes the previous generation in batches. Returns the new stamp.
    pub fn commit(mut self) -> Result<CatalogStamp> {
        self.flush()?;
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
            delete_generation(&mut self.conn, partner, previous)?;
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
        let (partner, generation) = (self.partner, self.generation);
        delete_generation(&mut self.conn, partner, generation)?;
        // Products this import saw first were never visible: forget when they were seen
        // (unless the current generation holds them: a Product API upsert meanwhile).
        let current: Option<i64> = self
            .conn
            .query_row(
                "SELECT generation FROM catalog_state WHERE partner = ?1",
                [partner],
                |r| r.get(0),
            )
            .optional()?;
        let kept = match current.map(|g| products_table(partner, g)) {
            Some(table) if table_exists(&self.conn, &table)? => {
                format!("AND id NOT IN (SELECT id FROM {table})")
            }
            _ => String::new(),
        };
        while self.conn.execute(
            &format!(
                "DELETE FROM product_first_seen WHERE partner = ?1 AND first_seen_ms = ?2 AND id IN
                 (SELECT id FROM product_first_seen WHERE partner = ?1 AND first_seen_ms = ?2
                  {kept} LIMIT {BATCH})"
            ),
            params![partner, self.started_ms],
        )? > 0
        {}
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(store: &Store, partner: i64) -> Vec<(i64, Option<i64>)> {
        let mut out = Vec::new();
        store
            .load_catalog(partner, |id, _, seen| out.push((id, seen)))
            .unwrap();
        out.sort();
        out
    }

    #[test]
    fn import_flip_keeps_first_seen_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.load_catalog(1, |_, _, _| {}).unwrap().is_none());
        let mut imp = store.begin_import(1).unwrap();
        imp.add_category(CategoryRow {
            id: 5,
            parent_id: None,
            name: "Root".into(),
        })
        .unwrap();
        for id in 0..12_000 {
            assert!(imp.add_product(id, &format!("{{\"id\":{id}}}")).unwrap());
        }
        // Not visible before the flip.
        assert!(ids(&store, 1).is_empty());
        assert_eq!(imp.commit().unwrap().generation, 1);
        let first = ids(&store, 1);
        assert_eq!(first.len(), 12_000);
        let seen0 = first[0].1.unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut imp = store.begin_import(1).unwrap();
        imp.add_product(0, "{}").unwrap();
        imp.add_product(20_000, "{}").unwrap();
        imp.commit().unwrap();
        let second = ids(&store, 1);
        assert_eq!(second.len(), 2);
        assert_eq!(second[0], (0, Some(seen0)));
        assert!(second[1].1.unwrap() > seen0);
        let rows = store.load_catalog(1, |_, _, _| {}).unwrap().unwrap();
        assert!(rows.categories.is_empty());
        assert_eq!(rows.generation, 2);
        // Another partner sees nothing.
        assert!(ids(&store, 2).is_empty());
    }

    #[test]
    fn repeated_ids_are_told_and_the_later_body_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut imp = store.begin_import(1).unwrap();
        assert!(imp.add_product(7, "first").unwrap());
        // Across a batch boundary too: the staged rows are the only record of seen ids.
        for id in 100..100 + BATCH as i64 {
            assert!(imp.add_product(id, "{}").unwrap());
        }
        assert!(!imp.add_product(7, "second").unwrap());
        assert!(!imp.add_product(100, "again").unwrap());
        assert!(imp.add_product(8, "other").unwrap());
        assert_eq!(imp.staged(), BATCH as u64 + 4);
        imp.commit().unwrap();
        let mut bodies = std::collections::HashMap::new();
        store
            .load_catalog(1, |id, body, _| {
                bodies.insert(id, body.to_owned());
            })
            .unwrap();
        assert_eq!(bodies.len(), BATCH + 2);
        assert_eq!(
            (bodies[&7].as_str(), bodies[&100].as_str()),
            ("second", "again")
        );
        let seen: i64 = store
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM product_first_seen WHERE partner = 1",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(seen, BATCH as i64 + 2);
    }

    #[test]
    fn migration_7_moves_current_generations_to_their_tables() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut conn = connect(&crate::database_path(dir.path())).unwrap();
            crate::schema::migrate_to(&mut conn, 6).unwrap();
            conn.execute_batch(
                "INSERT INTO catalog_state(partner, generation, last_generation, version, updated_ms)
                 VALUES (1, 2, 3, 5, 0), (2, 1, 1, 1, 0);
                 INSERT INTO products(partner, generation, id, body) VALUES
                   (1, 2, 10, 'ten'), (1, 2, 11, 'eleven'), (1, 3, 12, 'staged'), (1, 1, 9, 'old'),
                   (2, 1, 10, 'other');
                 INSERT INTO product_first_seen(partner, id, first_seen_ms) VALUES (1, 10, 77);",
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let mut bodies = Vec::new();
        let rows = store
            .load_catalog(1, |id, body, seen| bodies.push((id, body.to_owned(), seen)))
            .unwrap()
            .unwrap();
        assert_eq!((rows.generation, rows.version), (2, 5));
        bodies.sort();
        assert_eq!(
            bodies,
            [(10, "ten".into(), Some(77)), (11, "eleven".into(), None)]
        );
        assert_eq!(ids(&store, 2), [(10, None)]);
        let tables: Vec<String> = store
            .with_conn(|c| {
                let mut stmt = c.prepare(
                    "SELECT name FROM sqlite_schema WHERE type = 'table'
                     AND (name = 'products' OR name LIKE 'catalog_products_%') ORDER BY name",
                )?;
                let names = stmt.query_map([], |r| r.get(0))?;
                Ok(names.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert_eq!(tables, ["catalog_products_1_2", "catalog_products_2_1"]);
        // Generation numbers go on from the last one given out.
        let imp = store.begin_import(1).unwrap();
        assert_eq!(imp.generation(), 4);
    }

    #[test]
    fn an_import_that_dies_before_the_flip_leaves_the_current_base() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.upsert_products(1, &[(7, "{}".into())]).unwrap();
        let before = ids(&store, 1);
        let mut imp = store.begin_import(1).unwrap();
        for id in 0..2 * BATCH as i64 {
            imp.add_product(id, "{}").unwrap();
        }
        // The process dies here: two batches committed, no flip, nothing cleaned up.
        std::mem::forget(imp);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(ids(&store, 1), before);
        // The next import goes past the dead one's generation.
        let mut imp = store.begin_import(1).unwrap();
        imp.add_product(8, "{}").unwrap();
        assert_eq!(imp.commit().unwrap().generation, 3);
        assert_eq!(ids(&store, 1).len(), 1);
    }

    #[test]
    fn a_dropped_import_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.upsert_products(1, &[(7, "{}".into())]).unwrap();
        {
            let mut imp = store.begin_import(1).unwrap();
            for id in 100..6_000 {
                imp.add_product(id, "{}").unwrap();
            }
        }
        assert_eq!(ids(&store, 1).len(), 1);
        let left: i64 = store
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT (SELECT count(*) FROM catalog_products_1_1)
                          + (SELECT count(*) FROM product_first_seen WHERE partner = 1)
                          + (SELECT count(*) FROM sqlite_schema WHERE name = 'catalog_products_1_2')",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(left, 2);
        assert!(store.delete_product(1, 7).unwrap().is_some());
        assert!(store.delete_product(1, 7).unwrap().is_none());
        assert!(ids(&store, 1).is_empty());
    }
}
