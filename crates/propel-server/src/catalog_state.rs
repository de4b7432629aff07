//! Every partner's product base in memory, and the one way a feed becomes a base.
//!
//! [`CatalogRegistry::get`] is lock-free (an `ArcSwap` of the partner map). A base changes
//! by a full import ([`import_feed`], then [`CatalogRegistry::reload`]), or by Product API
//! upserts and deletes, applied to a copy of the base ([`ProductBase::with_upserts`]: one
//! pointer copied per product, ~10 ms per million products) and swapped in. Each base
//! carries the store's change counter (`version`) so that a late writer never installs an
//! older base over a newer one, and so that changes made by another process (the
//! command-line import) are noticed by [`CatalogRegistry::refresh`].

use arc_swap::ArcSwap;
use propel_catalog::{
    parse_yml_into, Category, FeedError, FeedSink, ParseOptions, Problem, Product, ProductBase,
};
use propel_store::{CatalogStamp, CategoryRow, Stager, Store, StoreError};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct Entry {
    version: i64,
    base: Arc<ProductBase>,
}

#[derive(Default)]
pub struct CatalogRegistry {
    bases: ArcSwap<HashMap<i64, Entry>>,
    empty: Arc<ProductBase>,
    /// Serializes swaps (short: no I/O is done while it is held).
    swap: Mutex<()>,
    /// Serializes full imports of this process (one at a time, any partner).
    imports: Mutex<()>,
}

impl CatalogRegistry {
    /// Loads every partner's current base from the store.
    pub fn load(store: &Store) -> Result<CatalogRegistry, StoreError> {
        let registry = CatalogRegistry::default();
        registry.refresh(store)?;
        Ok(registry)
    }

    /// The partner's base (an empty one when it has none).
    pub fn get(&self, partner_rowid: i64) -> Arc<ProductBase> {
        self.bases
            .load()
            .get(&partner_rowid)
            .map_or_else(|| self.empty.clone(), |e| e.base.clone())
    }

    fn version(&self, partner: i64) -> Option<i64> {
        self.bases.load().get(&partner).map(|e| e.version)
    }

    /// Installs `base` unless a newer one is already there.
    fn install(&self, partner: i64, version: i64, base: Arc<ProductBase>) {
        let Ok(_guard) = self.swap.lock() else {
            return;
        };
        let current = self.bases.load();
        if current.get(&partner).is_some_and(|e| e.version >= version) {
            return;
        }
        let mut next = HashMap::clone(&current);
        next.insert(partner, Entry { version, base });
        self.bases.store(Arc::new(next));
    }

    /// Reads the partner's base from the store and installs it.
    pub fn reload(&self, store: &Store, partner: i64) -> Result<(), StoreError> {
        if let Some((version, base)) = load_base(store, partner)? {
            self.install(partner, version, Arc::new(base));
        }
        Ok(())
    }

    /// Reloads every partner whose base changed in the store since it was loaded here.
    pub fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        for stamp in store.catalog_stamps()? {
            if self
                .version(stamp.partner)
                .is_none_or(|v| v < stamp.version)
            {
                self.reload(store, stamp.partner)?;
            }
        }
        Ok(())
    }

    /// Applies stored upserts (with their first-seen times) to the in-memory base.
    pub fn apply_upserts(
        &self,
        store: &Store,
        stamp: CatalogStamp,
        products: Vec<(Product, i64)>,
    ) -> Result<(), StoreError> {
        let partner = stamp.partner;
        if self.version(partner) == Some(stamp.version - 1) {
            let next = self.get(partner).with_upserts(products);
            self.install(partner, stamp.version, Arc::new(next));
            if self.version(partner) == Some(stamp.version) {
                return Ok(());
            }
        }
        // Another change came in between: read the whole base back.
        self.reload(store, partner)
    }

    /// Applies a stored delete to the in-memory base.
    pub fn apply_delete(
        &self,
        store: &Store,
        stamp: CatalogStamp,
        id: i64,
    ) -> Result<(), StoreError> {
        let partner = stamp.partner;
        if self.version(partner) == Some(stamp.version - 1) {
            let next = self.get(partner).without(id);
            self.install(partner, stamp.version, Arc::new(next));
            if self.version(partner) == Some(stamp.version) {
                return Ok(());
            }
        }
        self.reload(store, partner)
    }

    /// Runs a full import (see [`import_feed`]) and installs the new base.
    pub fn import<R: BufRead>(
        &self,
        store: &Store,
        partner: i64,
        reader: R,
    ) -> Result<ImportReport, ImportError> {
        let _one_at_a_time = self.imports.lock().map_err(|_| StoreError::Poisoned)?;
        let report = import_feed(store, partner, reader, |_| {})?;
        self.reload(store, partner)?;
        Ok(report)
    }
}

/// Reads a partner's current base: its change counter and the base; `None` without one.
pub fn load_base(store: &Store, partner: i64) -> Result<Option<(i64, ProductBase)>, StoreError> {
    let mut products = Vec::new();
    let rows = store.load_catalog(partner, |id, body, seen| {
        match serde_json::from_str::<Product>(body) {
            Ok(p) => products.push((p, seen.unwrap_or(0))),
            Err(e) => {
                tracing::error!(partner, id, error = %e, "unreadable stored product; skipped")
            }
        }
    })?;
    Ok(rows.map(|rows| {
        let categories = rows
            .categories
            .into_iter()
            .map(|c| Category {
                id: c.id,
                parent_id: c.parent_id,
                name: c.name,
            })
            .collect();
        (rows.version, ProductBase::new(products, categories))
    }))
}

/// What a full import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Products in the new base.
    pub imported: u64,
    /// Offers skipped for a bad id, price or name.
    pub skipped: u64,
    /// Offers whose id came again (the later one was kept).
    pub duplicates: u64,
    pub categories: u64,
    pub encoding: String,
    pub problem_count: u64,
    /// The first 100 problems.
    pub problems: Vec<Problem>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The feed is not well-formed XML or could not be read: nothing was applied.
    #[error("the feed does not parse: {0}")]
    Feed(FeedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses a YML feed into a new generation of the partner's base and makes it current
/// when the whole feed parsed; on any failure what was staged is deleted and the current
/// base stays. `progress` gets the count of offers read so far, every 1,000 offers.
/// Gzip-compressed input is recognized by its magic bytes and decompressed on the fly.
///
/// One thread: each offer is encoded and written to the staging generation as it is
/// read (no queue, no batch held in memory), and repeated offer ids are found by the
/// staging table's primary key rather than by a set in memory, so memory is the same
/// whatever the feed's size.
pub fn import_feed<R: BufRead>(
    store: &Store,
    partner: i64,
    reader: R,
    progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let mut import = store.begin_import(partner)?;
    let options = ParseOptions {
        detect_duplicates: false,
        ..ParseOptions::default()
    };
    let (parsed, failed) = match import.stager() {
        Ok(stager) => {
            let mut sink = StagingSink {
                stager,
                body: String::with_capacity(4096),
                offers: 0,
                progress,
                failed: None,
            };
            let parsed = parse_yml_into(maybe_gunzip(reader), &options, &mut sink);
            (sink.progress)(sink.offers);
            (parsed, sink.failed)
        }
        Err(e) => (Ok(Default::default()), Some(e)),
    };
    if let Some(e) = failed {
        import.abort()?;
        return Err(e.into());
    }
    let summary = match parsed {
        Ok(s) => s,
        Err(e) => {
            import.abort()?;
            return Err(ImportError::Feed(e));
        }
    };
    import.commit()?;
    Ok(ImportReport {
        imported: summary.offers - summary.duplicates,
        skipped: summary.skipped,
        duplicates: summary.duplicates,
        categories: summary.categories,
        encoding: summary.encoding,
        problem_count: summary.problem_count,
        problems: summary.problems,
    })
}

/// Writes what the parser reads into the staging generation; stops the parse on the
/// first storage error.
struct StagingSink<'a, P> {
    stager: Stager<'a>,
    /// The JSON body being written (its allocation is reused).
    body: String,
    offers: u64,
    progress: P,
    failed: Option<StoreError>,
}

impl<P: FnMut(u64)> FeedSink for StagingSink<'_, P> {
    fn category(&mut self, c: Category) {
        if self.failed.is_none() {
            let row = CategoryRow {
                id: c.id,
                parent_id: c.parent_id,
                name: c.name,
            };
            self.failed = self.stager.add_category(row).err();
        }
    }

    fn offer(&mut self, product: Product, _line: u64) -> bool {
        self.offers += 1;
        if self.offers.is_multiple_of(1000) {
            (self.progress)(self.offers);
        }
        if self.failed.is_some() {
            return false;
        }
        self.body.clear();
        product.write_json(&mut self.body);
        match self.stager.add_product(product.id, &self.body) {
            Ok(inserted) => !inserted,
            Err(e) => {
                self.failed = Some(e);
                false
            }
        }
    }

    fn problem(&mut self, _problem: &Problem) {}

    fn stopped(&self) -> bool {
        self.failed.is_some()
    }
}

/// The reader itself, or a gunzipping reader over it when it starts with gzip's magic.
pub fn maybe_gunzip<'a, R: BufRead + 'a>(mut reader: R) -> Box<dyn BufRead + 'a> {
    let gzip = reader
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    if gzip {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    }
}

/// A blocking reader over chunks sent from async code (a request or response body).
pub struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    current: bytes::Bytes,
}

impl ChannelReader {
    pub fn new(rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>) -> Self {
        ChannelReader {
            rx,
            current: bytes::Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
