//! The files that hold the product base: one SQLite file per generation of a partner's
//! products, `<data>/catalog/partner-{P}-generation-{G}.db` (tables `products` and
//! `categories`), beside the main database that says which generation is current.
//!
//! A file is written once without a journal while it is staged, synced with its
//! directory entry before it is made current, written with a rollback journal
//! (`TRUNCATE`, `synchronous=FULL`) once it is current, and deleted whole when it is
//! replaced.

use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The tables of a generation file, created in schema `{schema}`.
pub(crate) fn create_tables(conn: &Connection, schema: &str) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE {schema}.products (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         CREATE TABLE {schema}.categories (id INTEGER PRIMARY KEY, parent_id INTEGER, name TEXT NOT NULL);"
    ))
}

pub(crate) fn catalog_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("catalog")
}

/// The file of one generation of a partner's products.
pub(crate) fn generation_file(data_dir: &Path, partner: i64, generation: i64) -> PathBuf {
    catalog_dir(data_dir).join(format!("partner-{partner}-generation-{generation}.db"))
}

/// (partner, generation) of a generation file's name or of its journal's.
fn parse_name(name: &str) -> Option<(i64, i64)> {
    let rest = name.strip_prefix("partner-")?;
    let rest = rest
        .strip_suffix(".db")
        .or_else(|| rest.strip_suffix(".db-journal"))?;
    let (partner, generation) = rest.split_once("-generation-")?;
    Some((partner.parse().ok()?, generation.parse().ok()?))
}

/// A `file:` URI for `path` (every byte outside a safe set percent-encoded), so that
/// `ATTACH` can be told `mode=ro` (never create) or `mode=rwc`.
pub(crate) fn sqlite_uri(path: &Path, mode: &str) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=");
    uri.push_str(mode);
    uri
}

/// Whether `e` says a database file could not be opened (it does not exist).
pub(crate) fn is_missing(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::CannotOpen)
}

/// Syncs a file written without syncs, then its directory so the file's entry is durable.
pub(crate) fn sync_with_directory(path: &Path) -> Result<()> {
    File::open(path)?.sync_all()?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Deletes a generation's file and its journal; a file already gone is no error.
pub(crate) fn remove_generation(path: &Path) -> Result<()> {
    let mut journal = path.as_os_str().to_owned();
    journal.push("-journal");
    for p in [path, Path::new(&journal)] {
        match std::fs::remove_file(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// Opens a published (current) generation file for writing: rollback journal,
/// `synchronous=FULL`. `None` when it does not exist (it is never created here).
pub(crate) fn open_published(path: &Path) -> Result<Option<Connection>> {
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // A writer waits here for loads of the whole base to end (it holds no lock of the
    // main database meanwhile): a million products take seconds to load.
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    // TRUNCATE: the commit is the journal's truncation, synced; DELETE would need the
    // directory synced after each unlink to be durable.
    conn.pragma_update(None, "journal_mode", "TRUNCATE")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(Some(conn))
}

/// Creates an empty generation file (the current generation of a partner whose base was
/// never imported, written by the Product API), durable before it is used. It is written
/// under another name and renamed, so a reader never opens it half-made.
pub(crate) fn create_empty(path: &Path) -> Result<()> {
    let mut new = path.as_os_str().to_owned();
    new.push(NEW_SUFFIX);
    let new = PathBuf::from(new);
    remove_generation(&new)?;
    {
        let conn = Connection::open(&new)?;
        conn.pragma_update(None, "journal_mode", "OFF")?;
        create_tables(&conn, "main")?;
    }
    File::open(&new)?.sync_all()?;
    std::fs::rename(&new, path)?;
    sync_with_directory(path)
}

/// The suffix of a file [`create_empty`] has not renamed into place yet.
const NEW_SUFFIX: &str = "-new";

/// Held (shared) by every import from before its generation is given out until its
/// flip is committed or its file deleted: start-up cleanup runs only when it can take
/// it exclusively, so it never deletes a file being staged by another process.
pub(crate) struct StagingLock {
    _file: File,
}

impl StagingLock {
    fn file(data_dir: &Path) -> Result<File> {
        Ok(OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(catalog_dir(data_dir).join("staging.lock"))?)
    }

    pub(crate) fn shared(data_dir: &Path) -> Result<StagingLock> {
        let file = StagingLock::file(data_dir)?;
        file.lock_shared()?;
        Ok(StagingLock { _file: file })
    }

    /// `None` while an import holds it.
    fn try_exclusive(data_dir: &Path) -> Result<Option<StagingLock>> {
        let file = StagingLock::file(data_dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StagingLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

/// At start: creates the catalog directory, deletes the files of generations that are
/// no partner's current one (an import that crashed, an old generation whose deletion
/// did not happen) and files left half-made by [`create_empty`], and rolls back any hot journal of a current one (a Product API
/// write cut short) so that read-only loads never meet one.
pub(crate) fn init(data_dir: &Path, conn: &mut Connection) -> Result<()> {
    let dir = catalog_dir(data_dir);
    if !dir.exists() {
        std::fs::create_dir_all(&dir)?;
        File::open(data_dir)?.sync_all()?;
    }
    let Some(_lock) = StagingLock::try_exclusive(data_dir)? else {
        tracing::info!("an import is staging: leftover catalog files stay until next start");
        return Ok(());
    };
    // The main DB's write lock: no flip, and no file created by a Product API write,
    // between reading the current generations and deleting the others.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: HashSet<(i64, i64)> = current_generations(&tx)?.into_iter().collect();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        // A file being created is renamed into place under the write lock held here.
        let unfinished = name.ends_with(NEW_SUFFIX) && name.starts_with("partner-");
        if unfinished || parse_name(name).is_some_and(|key| !current.contains(&key)) {
            tracing::info!(file = ?entry.path(), "deleting a catalog file of no current generation");
            match std::fs::remove_file(entry.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
    }
    tx.commit()?;
    for (partner, generation) in current {
        if let Some(file) = open_published(&generation_file(data_dir, partner, generation))? {
            file.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
        }
    }
    Ok(())
}

/// Every partner's current generation: (partner, generation).
pub(crate) fn current_generations(conn: &Connection) -> rusqlite::Result<Vec<(i64, i64)>> {
    conn.prepare("SELECT partner, generation FROM catalog_state")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// The data directory of a connection's main database.
pub(crate) fn data_dir_of(conn: &Connection) -> Result<PathBuf> {
    conn.path()
        .and_then(|p| Path::new(p).parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| StoreError::NotFound("the database's directory".into()))
}
