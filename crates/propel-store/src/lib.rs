//! propel's embedded storage. Only this crate knows SQL.
//!
//! One SQLite database per data directory (WAL, `synchronous=FULL`), plus one SQLite file
//! per generation of each partner's product base under `catalog/` (see `products`).
//! Events go through one writer thread that commits whatever is queued as one
//! transaction (group commit); every waiter is answered only after that commit and a
//! later `fdatasync` of the WAL (see `writer`).

mod ads;
mod catalog_files;
mod catalog_import;
mod catalog_migrations;
mod checkpointer;
pub use ads::{AdImpressionRow, AdReportRow, AdTotals, AdWrite, AdWriter};
mod contacts;
pub use contacts::ContactRecord;
mod email;
pub use email::{Behaviour, ContactEmail, Erased, OutboxRow, ReportRow};
mod export;
mod feed_sources;
mod partners;
mod priority;
mod products;
mod rules;
mod schema;
mod session_index;
mod subscribers;
mod writer;

pub use catalog_import::{CatalogImport, Stager};
pub use export::ExportedEvent;
pub use feed_sources::FeedSource;
pub use partners::{KeyHash, Limits, PartnerRecord};
pub use products::{CatalogRows, CatalogStamp, CategoryRow};
pub use writer::{serving_busy, serving_idle, CommitObserver, EventWriter, WriteError};

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("storage lock poisoned")]
    Poisoned,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The database file inside a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("propel.db")
}

/// Opens a connection with the durability settings every connection must have.
pub(crate) fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoints run in the background (`checkpointer`); this is the safety net,
    // far enough out that a writer rarely copies the WAL inline.
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    Ok(conn)
}

/// The storage of one data directory: an operator connection plus the event writer.
pub struct Store {
    path: PathBuf,
    admin: Mutex<Connection>,
}

impl Store {
    /// Opens (creating when needed) the database under `data_dir` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Arc<Store>> {
        std::fs::create_dir_all(data_dir)?;
        let path = database_path(data_dir);
        let mut conn = connect(&path)?;
        schema::migrate(&mut conn)?;
        catalog_files::init(data_dir, &mut conn)?;
        session_index::prepare(&conn, data_dir)?;
        session_index::attach(&conn, data_dir)?;
        let store = Arc::new(Store {
            path,
            admin: Mutex::new(conn),
        });
        checkpointer::start(&store)?;
        session_index::start(&store)?;
        Ok(store)
    }

    /// Starts the single event writer on its own thread.
    /// `gather_window`: see the writer; zero commits every group at once.
    pub fn start_writer(
        &self,
        observer: Option<CommitObserver>,
        gather_window: std::time::Duration,
    ) -> Result<EventWriter> {
        let conn = connect(&self.path)?;
        EventWriter::start(conn, self.wal_path(), observer, gather_window)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data directory the database is in.
    pub(crate) fn data_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The database's write-ahead log, which SQLite keeps beside it.
    pub(crate) fn wal_path(&self) -> PathBuf {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        wal.into()
    }

    /// Runs `f` on the operator connection (short administrative statements).
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.admin.lock().map_err(|_| StoreError::Poisoned)?;
        f(&mut conn)
    }

    /// A fresh read-only connection, for long reads that must not block the operator
    /// connection (`file:` URIs allowed, to attach a generation file read-only).
    pub(crate) fn reader(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
                | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }

    /// A [`Store::reader`] that can look events up by session ([`session_index::of_session`]).
    pub(crate) fn session_reader(&self) -> Result<Connection> {
        let conn = self.reader()?;
        session_index::attach(&conn, self.data_dir())?;
        Ok(conn)
    }

    /// Readiness: the database answers a query.
    pub fn ping(&self) -> Result<()> {
        self.with_conn(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
