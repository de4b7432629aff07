//! The product base: products and categories per partner and generation, first-seen
//! times.
//!
//! Each generation of a partner's products is a SQLite file of its own,
//! `<data>/catalog/partner-{P}-generation-{G}.db` (see [`crate::catalog_files`]), whose
//! `products` rowid is the product id; the main database keeps which generation is
//! current (`catalog_state`) and when each product was first seen (`product_first_seen`).
//!
//! A full import ([`crate::CatalogImport`]) writes generation N+1's file without a
//! journal and without syncs (no WAL frames, no checkpoint copies), syncs it and its
//! directory entry, flips `catalog_state.generation` in one tiny transaction of the main
//! database, then deletes generation N's file whole. A crash before the flip leaves only
//! an orphan file, deleted at the next start. Readers attach the current generation's
//! file read-only and read it with `catalog_state` inside one read transaction, so they
//! see the old base or the new one, never a mix. Product API upserts and deletes write
//! the current file with a rollback journal at `synchronous=FULL`, holding the main
//! database's write lock so that no flip comes between reading the current generation
//! and bumping its version.

use crate::catalog_files::{create_empty, generation_file, is_missing, open_published, sqlite_uri};
use crate::{connect, now_ms, Result, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

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

/// Counts a Product API change of the partner's current generation, whose
/// `catalog_state` row [`Store::write_current_generation`] has made sure of.
fn bump_state(tx: &Transaction<'_>, partner: i64, now: i64) -> Result<CatalogStamp> {
    Ok(tx.query_row(
        "UPDATE catalog_state SET version = version + 1, updated_ms = ?2 WHERE partner = ?1
         RETURNING generation, version",
        params![partner, now],
        |r| {
            Ok(CatalogStamp {
                partner,
                generation: r.get(0)?,
                version: r.get(1)?,
            })
        },
    )?)
}

/// The partner's current generation and version; `None` when it has no base.
pub(crate) fn current_state(conn: &Connection, partner: i64) -> Result<Option<(i64, i64)>> {
    Ok(conn
        .prepare_cached("SELECT generation, version FROM catalog_state WHERE partner = ?1")?
        .query_row([partner], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

impl Store {
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
        loop {
            let mut conn = self.reader()?;
            let Some((generation, version)) = current_state(&conn, partner)? else {
                return Ok(None);
            };
            #[cfg(test)]
            tests::BETWEEN_STATE_AND_ATTACH.with(|hook| hook.take().map(|f| f()));
            let file = generation_file(self.data_dir(), partner, generation);
            // Opened before the transaction (ATTACH cannot run inside one); once open,
            // the file stays readable even if a flip deletes it meanwhile.
            let attached = match conn.execute("ATTACH ?1 AS gen", [sqlite_uri(&file, "ro")]) {
                Ok(_) => true,
                Err(e) if is_missing(&e) => false,
                Err(e) => return Err(e.into()),
            };
            let tx = conn.transaction()?;
            // Read first in the transaction: every Product API change up to this version
            // was committed to the file before it, so the file read next holds it.
            let Some((now_generation, now_version)) = current_state(&tx, partner)? else {
                return Ok(None);
            };
            if now_generation != generation {
                // A flip came between: the file opened is not the current one.
                continue;
            }
            if !attached {
                // Still current and no file: nothing was ever stored in this generation
                // (a base whose import has not finished yet). The version read before
                // the file was looked for goes with that emptiness.
                return Ok(Some(CatalogRows {
                    generation,
                    version,
                    categories: Vec::new(),
                }));
            }
            let mut categories = Vec::new();
            {
                let mut stmt = tx.prepare("SELECT id, parent_id, name FROM gen.categories")?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    categories.push(CategoryRow {
                        id: r.get(0)?,
                        parent_id: r.get(1)?,
                        name: r.get(2)?,
                    });
                }
                let mut stmt = tx.prepare(
                    "SELECT p.id, p.body, f.first_seen_ms FROM gen.products p
                     LEFT JOIN main.product_first_seen f ON f.partner = ?1 AND f.id = p.id",
                )?;
                let mut rows = stmt.query([partner])?;
                while let Some(r) = rows.next()? {
                    let body = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
                    on_product(r.get(0)?, body, r.get(2)?);
                }
            }
            tx.commit()?;
            return Ok(Some(CatalogRows {
                generation,
                version: now_version,
                categories,
            }));
        }
    }

    /// Inserts or replaces products (id, JSON body) in the current generation, in one
    /// transaction; returns the new stamp and each product's first-seen time, in order.
    pub fn upsert_products(
        &self,
        partner: i64,
        products: &[(i64, String)],
    ) -> Result<(CatalogStamp, Vec<i64>)> {
        let now = now_ms();
        let written = self.write_current_generation(partner, true, |file, tx| {
            let stamp = bump_state(tx, partner, now)?;
            let mut seen = Vec::with_capacity(products.len());
            let mut put =
                file.prepare_cached("INSERT OR REPLACE INTO products(id, body) VALUES (?1, ?2)")?;
            let mut first = tx.prepare_cached(
                "INSERT INTO product_first_seen(partner, id, first_seen_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(partner, id) DO UPDATE SET first_seen_ms = first_seen_ms
                 RETURNING first_seen_ms",
            )?;
            for (id, body) in products {
                put.execute(params![id, body])?;
                seen.push(first.query_row(params![partner, id, now], |r| r.get(0))?);
            }
            Ok(Some((stamp, seen)))
        })?;
        written.ok_or_else(|| StoreError::NotFound("the current generation's file".into()))
    }

    /// Removes a product from the current generation: the new stamp, `None` when it was
    /// not there.
    pub fn delete_product(&self, partner: i64, id: i64) -> Result<Option<CatalogStamp>> {
        let now = now_ms();
        self.write_current_generation(partner, false, |file, tx| {
            if file.execute("DELETE FROM products WHERE id = ?1", [id])? == 0 {
                return Ok(None);
            }
            Ok(Some(bump_state(tx, partner, now)?))
        })
    }

    /// Runs `write` on the partner's current generation file and on a write transaction
    /// of the main database, and commits both (the file first) when it returns `Some`.
    /// The file is created when the generation has none and `create` is set; without it,
    /// no file means `None`.
    ///
    /// The file is locked before the main database: waiting for its readers (a load of
    /// the whole base) must not hold the main database's write lock, which event commits
    /// wait on. The main database's write lock is held from reading the current
    /// generation to the commits, so no flip comes between. A crash between the two
    /// commits leaves the change in the file without its version bump; the request was
    /// not answered, and its retry bumps it.
    fn write_current_generation<T>(
        &self,
        partner: i64,
        create: bool,
        mut write: impl FnMut(&Connection, &Transaction<'_>) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let mut main = connect(&self.path)?;
        loop {
            let seen = current_state(&main, partner)?.map(|(g, _)| g);
            let locked = match seen {
                Some(g) => open_published(&generation_file(self.data_dir(), partner, g))?,
                None => None,
            };
            if let Some(file) = &locked {
                file.execute_batch("BEGIN EXCLUSIVE")?;
            }
            let tx = main.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let generation = current_state(&tx, partner)?.map(|(g, _)| g);
            if generation != seen {
                // A flip came between: the file locked may not be current.
                continue;
            }
            let file = match locked {
                Some(file) => file,
                None if !create => return Ok(None),
                None => {
                    let generation = match generation {
                        Some(g) => g,
                        None => {
                            tx.execute(
                                "INSERT INTO catalog_state(partner, generation, last_generation, version, updated_ms)
                                 VALUES (?1, 1, 1, 0, ?2)",
                                params![partner, now_ms()],
                            )?;
                            1
                        }
                    };
                    let path = generation_file(self.data_dir(), partner, generation);
                    // Another writer may have created it since it was looked for.
                    let file = match open_published(&path)? {
                        Some(file) => file,
                        None => {
                            create_empty(&path)?;
                            open_published(&path)?.ok_or_else(|| {
                                StoreError::NotFound("the current generation's file".into())
                            })?
                        }
                    };
                    file.execute_batch("BEGIN EXCLUSIVE")?;
                    file
                }
            };
            let Some(out) = write(&file, &tx)? else {
                return Ok(None);
            };
            file.execute_batch("COMMIT")?;
            tx.commit()?;
            return Ok(Some(out));
        }
    }
}

#[cfg(test)]
#[path = "products_tests.rs"]
mod tests;
