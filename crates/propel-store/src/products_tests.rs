use super::*;
use crate::catalog_files::{catalog_dir, generation_file};
use crate::connect;
use std::path::Path;

thread_local! {
    /// Run once by the next load on this thread between reading the current generation
    /// and opening its file: a flip at the worst moment, on demand.
    pub(super) static BETWEEN_STATE_AND_ATTACH: std::cell::Cell<Option<Box<dyn FnOnce()>>> =
        std::cell::Cell::new(None);
}

fn ids(store: &Store, partner: i64) -> Vec<(i64, Option<i64>)> {
    let mut out = Vec::new();
    store
        .load_catalog(partner, |id, _, seen| out.push((id, seen)))
        .unwrap();
    out.sort();
    out
}

/// Partner 1 of the migration tests, after the migration: generation 2 at version 5
/// with its two products, one first seen at 77. Returns the load's rows.
fn assert_migrated_partner_1(store: &Store) -> CatalogRows {
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
    rows
}

/// How many products of `partner` have a first-seen time.
fn first_seen_count(store: &Store, partner: i64) -> i64 {
    store
        .with_conn(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM product_first_seen WHERE partner = ?1",
                [partner],
                |r| r.get(0),
            )?)
        })
        .unwrap()
}

/// Names of the generation files in the data directory, sorted (journals left out).
fn generation_files(data_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(catalog_dir(data_dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".db"))
        .collect();
    names.sort();
    names
}

/// Per-generation tables left in the main database (the layout before migration 8).
fn catalog_tables(store: &Store) -> Vec<String> {
    store
        .with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table'
                 AND (name IN ('products', 'product_categories') OR name LIKE 'catalog_products_%')",
            )?;
            let names = stmt.query_map([], |r| r.get(0))?;
            Ok(names.collect::<rusqlite::Result<_>>()?)
        })
        .unwrap()
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
    let seen = first_seen_count(&store, 1);
    assert_eq!(seen, BATCH as i64 + 2);
}

#[test]
fn migration_7_moves_current_generations_to_their_tables_then_files() {
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
    assert_migrated_partner_1(&store);
    assert_eq!(ids(&store, 2), [(10, None)]);
    assert!(catalog_tables(&store).is_empty());
    assert_eq!(
        generation_files(dir.path()),
        ["partner-1-generation-2.db", "partner-2-generation-1.db"]
    );
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
    let seen = first_seen_count(&store, 1);
    assert_eq!(seen, 1);
    // The dropped import's file is gone with it.
    assert_eq!(generation_files(dir.path()), ["partner-1-generation-1.db"]);
    assert!(store.delete_product(1, 7).unwrap().is_some());
    assert!(store.delete_product(1, 7).unwrap().is_none());
    assert!(ids(&store, 1).is_empty());
}

/// A data directory written before migration 8 (a table per generation in the main
/// database, categories in `product_categories`) opens and serves the same products.
#[test]
fn migration_8_moves_generation_tables_into_files() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut conn = connect(&crate::database_path(dir.path())).unwrap();
        crate::schema::migrate_to(&mut conn, 7).unwrap();
        conn.execute_batch(
            "INSERT INTO catalog_state(partner, generation, last_generation, version, updated_ms)
             VALUES (1, 2, 3, 5, 0), (2, 4, 4, 9, 0), (3, 0, 1, 0, 0);
             CREATE TABLE catalog_products_1_2 (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
             CREATE TABLE catalog_products_1_3 (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
             CREATE TABLE catalog_products_2_4 (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
             INSERT INTO catalog_products_1_2(id, body) VALUES (10, 'ten'), (11, 'eleven');
             INSERT INTO catalog_products_1_3(id, body) VALUES (12, 'staged');
             INSERT INTO catalog_products_2_4(id, body) VALUES (10, 'other');
             INSERT INTO product_categories(partner, generation, id, parent_id, name) VALUES
               (1, 2, 1, NULL, 'Root'), (1, 2, 2, 1, 'Leaf'), (1, 3, 3, NULL, 'Staged');
             INSERT INTO product_first_seen(partner, id, first_seen_ms) VALUES (1, 10, 77);",
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let rows = assert_migrated_partner_1(&store);
    let mut categories = rows.categories;
    categories.sort_by_key(|c| c.id);
    assert_eq!(
        categories,
        [
            CategoryRow {
                id: 1,
                parent_id: None,
                name: "Root".into()
            },
            CategoryRow {
                id: 2,
                parent_id: Some(1),
                name: "Leaf".into()
            }
        ]
    );
    assert_eq!(ids(&store, 2), [(10, None)]);
    // A partner whose first import never finished has a base with nothing in it.
    assert_eq!(ids(&store, 3), []);
    assert!(catalog_tables(&store).is_empty());
    assert_eq!(
        generation_files(dir.path()),
        [
            "partner-1-generation-2.db",
            "partner-2-generation-4.db",
            "partner-3-generation-0.db"
        ]
    );
    // Writes and imports go on in the files.
    store.upsert_products(1, &[(13, "new".into())]).unwrap();
    assert_eq!(ids(&store, 1).len(), 3);
    let mut imp = store.begin_import(1).unwrap();
    assert_eq!(imp.generation(), 4);
    imp.add_product(10, "again").unwrap();
    imp.commit().unwrap();
    assert_eq!(ids(&store, 1), [(10, Some(77))]);
    assert!(!generation_file(dir.path(), 1, 2).exists());
}

/// At start, files of generations that are no partner's current one (a crashed
/// import's, an old generation whose deletion did not happen, a journal of one) are
/// deleted; the current ones and other files stay.
#[test]
fn start_up_deletes_files_of_no_current_generation() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let mut imp = store.begin_import(1).unwrap();
        imp.add_product(1, "{}").unwrap();
        imp.commit().unwrap();
    }
    let current = generation_file(dir.path(), 1, 1);
    let catalog = catalog_dir(dir.path());
    let orphans = [
        generation_file(dir.path(), 1, 2),
        generation_file(dir.path(), 1, 0),
        generation_file(dir.path(), 7, 1),
        catalog.join("partner-1-generation-2.db-journal"),
        catalog.join("partner-1-generation-1.db-new"),
    ];
    for orphan in &orphans {
        std::fs::copy(&current, orphan).unwrap();
    }
    std::fs::write(catalog.join("notes.txt"), "kept").unwrap();
    let store = Store::open(dir.path()).unwrap();
    for orphan in &orphans {
        assert!(!orphan.exists(), "{orphan:?} left");
    }
    assert!(catalog.join("notes.txt").exists());
    assert_eq!(generation_files(dir.path()), ["partner-1-generation-1.db"]);
    assert_eq!(ids(&store, 1).len(), 1);
}

/// Another process opening the data directory (a command-line tool while the server
/// imports) must not delete the file an import is staging.
#[test]
fn start_up_spares_a_file_being_staged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut imp = store.begin_import(1).unwrap();
    imp.add_product(1, "{}").unwrap();
    let staged = generation_file(dir.path(), 1, imp.generation());
    let other = Store::open(dir.path()).unwrap();
    assert!(staged.exists());
    imp.add_product(2, "{}").unwrap();
    imp.commit().unwrap();
    assert_eq!(ids(&other, 1).len(), 2);
}

/// The Product API writes the current generation's file (creating it for a partner
/// without a base), and an import staging meanwhile does not carry the write over.
#[test]
fn product_api_writes_go_to_the_current_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.delete_product(1, 5).unwrap().is_none());
    let (stamp, _) = store.upsert_products(1, &[(5, "five".into())]).unwrap();
    assert_eq!((stamp.generation, stamp.version), (1, 1));
    // Before anything is staged: a staging batch holds the main database's write lock
    // until it commits, and a write on this thread would wait for it.
    let mut imp = store.begin_import(1).unwrap();
    let (stamp, _) = store.upsert_products(1, &[(7, "seven".into())]).unwrap();
    assert_eq!((stamp.generation, stamp.version), (1, 2));
    assert_eq!(ids(&store, 1).len(), 2);
    let stamp = store.delete_product(1, 5).unwrap().unwrap();
    assert_eq!(stamp.version, 3);
    // The write is in the file itself, with its journal truncated (committed).
    let file = rusqlite::Connection::open(generation_file(dir.path(), 1, 1)).unwrap();
    let n: i64 = file
        .query_row("SELECT count(*) FROM products WHERE id = 7", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 1);
    drop(file);
    let journal = catalog_dir(dir.path()).join("partner-1-generation-1.db-journal");
    assert_eq!(std::fs::metadata(journal).unwrap().len(), 0);
    imp.add_product(6, "six").unwrap();
    assert_eq!(imp.commit().unwrap().version, 4);
    assert_eq!(ids(&store, 1).iter().map(|p| p.0).collect::<Vec<_>>(), [6]);
    assert_eq!(generation_files(dir.path()), ["partner-1-generation-2.db"]);
}

/// Loads running while imports flip generations and delete the old files see one whole
/// generation each time (every body of a load names the same import), and Product API
/// upserts in between land in the generation they report.
#[test]
fn loads_racing_flips_never_mix_generations() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    const ROUNDS: i64 = 60;
    const PRODUCTS: i64 = 200;
    let import = |store: &Store, round: i64| {
        let mut imp = store.begin_import(1).unwrap();
        for id in 0..PRODUCTS {
            imp.add_product(id, &format!("r{round}")).unwrap();
        }
        imp.commit().unwrap();
    };
    // A whole base from the start: every load must find one (a load that met a deleted
    // file and gave up would find none).
    import(&store, 0);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let importer = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            for round in 1..=ROUNDS {
                import(&store, round);
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let writer = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut id = PRODUCTS;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                id += 1;
                let (stamp, _) = store.upsert_products(1, &[(id, "api".into())]).unwrap();
                let path = generation_file(store.data_dir(), 1, stamp.generation);
                if let Ok(file) = rusqlite::Connection::open_with_flags(
                    &path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                ) {
                    // Gone meanwhile (a flip deleted it) is the only excuse.
                    if let Ok(n) =
                        file.query_row("SELECT count(*) FROM products WHERE id = ?1", [id], |r| {
                            r.get::<_, i64>(0)
                        })
                    {
                        assert!(
                            n == 1 || !path.exists(),
                            "upsert {id} missing from {path:?}"
                        );
                    }
                }
            }
        })
    };
    let mut loads = 0;
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        let mut rounds = std::collections::BTreeSet::new();
        let mut imported = 0;
        store
            .load_catalog(1, |_, body, _| {
                if body != "api" {
                    imported += 1;
                    rounds.insert(body.to_owned());
                }
            })
            .unwrap();
        assert_eq!(rounds.len(), 1, "a load mixed generations: {rounds:?}");
        assert_eq!(imported, PRODUCTS);
        loads += 1;
    }
    importer.join().unwrap();
    writer.join().unwrap();
    assert!(loads > 0);
    assert_eq!(generation_files(dir.path()).len(), 1);
}

/// A flip that deletes the generation a load has just read as current, before the load
/// opens its file: the load reads `catalog_state` again and returns the new generation
/// whole (not an empty base, not an error).
#[test]
fn a_load_that_finds_its_file_deleted_reads_the_new_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let import = |store: &Store, body: &str| {
        let mut imp = store.begin_import(1).unwrap();
        for id in 0..10 {
            imp.add_product(id, body).unwrap();
        }
        imp.commit().unwrap()
    };
    import(&store, "old");
    let flipper = store.clone();
    BETWEEN_STATE_AND_ATTACH.with(|hook| {
        hook.set(Some(Box::new(move || {
            import(&flipper, "new");
            assert!(!generation_file(flipper.data_dir(), 1, 1).exists());
        })))
    });
    let mut bodies = Vec::new();
    let rows = store
        .load_catalog(1, |_, body, _| bodies.push(body.to_owned()))
        .unwrap()
        .unwrap();
    assert_eq!((rows.generation, rows.version), (2, 2));
    assert_eq!(bodies, vec!["new"; 10]);
}
