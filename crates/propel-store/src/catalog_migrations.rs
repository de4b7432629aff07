//! The code steps of the product base's migrations (7: a table per generation; 8: a
//! file per generation).

use crate::catalog_files::{
    catalog_dir, create_tables, current_generations, data_dir_of, generation_file,
    remove_generation, sync_with_directory,
};
use crate::Result;
use rusqlite::{params, Connection};

/// The table of one generation of a partner's products in the main database (migration
/// 7 to 8): `id INTEGER PRIMARY KEY` (the rowid), `body` (the product's JSON).
pub(crate) fn products_table(partner: i64, generation: i64) -> String {
    format!("catalog_products_{partner}_{generation}")
}

fn table_exists(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1")?
        .exists([table])
}

/// Migration 7: the products of each partner's current generation move from the shared
/// `products` table (migration 2) to their generation's own table; rows of generations
/// that were never made current (an import that crashed) are dropped with it.
pub(crate) fn split_generations(conn: &Connection) -> Result<()> {
    for (partner, generation) in current_generations(conn)? {
        let table = products_table(partner, generation);
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"
        ))?;
        conn.execute(
            &format!(
                "INSERT INTO {table}(id, body) SELECT id, body FROM products
                 WHERE partner = ?1 AND generation = ?2"
            ),
            params![partner, generation],
        )?;
    }
    conn.execute_batch("DROP TABLE products")?;
    Ok(())
}

/// Migration 8: each partner's current generation (its `catalog_products_*` table and
/// its `product_categories` rows) moves to its own file, synced before the migration
/// commits; every `catalog_products_*` table and `product_categories` are dropped.
/// Should the migration not commit, it runs again and rewrites the files.
pub(crate) fn generations_to_files(conn: &Connection) -> Result<()> {
    let data_dir = data_dir_of(conn)?;
    std::fs::create_dir_all(catalog_dir(&data_dir))?;
    for (partner, generation) in current_generations(conn)? {
        let path = generation_file(&data_dir, partner, generation);
        remove_generation(&path)?;
        let mut file = Connection::open(&path)?;
        file.pragma_update(None, "journal_mode", "OFF")?;
        file.pragma_update(None, "synchronous", "OFF")?;
        let tx = file.transaction()?;
        create_tables(&tx, "main")?;
        let table = products_table(partner, generation);
        if table_exists(conn, &table)? {
            let mut put = tx.prepare("INSERT INTO products(id, body) VALUES (?1, ?2)")?;
            let mut read = conn.prepare(&format!("SELECT id, body FROM {table}"))?;
            let mut rows = read.query([])?;
            while let Some(r) = rows.next()? {
                let body = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
                put.execute(params![r.get::<_, i64>(0)?, body])?;
            }
        }
        {
            let mut put =
                tx.prepare("INSERT INTO categories(id, parent_id, name) VALUES (?1, ?2, ?3)")?;
            let mut read = conn.prepare(
                "SELECT id, parent_id, name FROM product_categories
                 WHERE partner = ?1 AND generation = ?2",
            )?;
            let mut rows = read.query(params![partner, generation])?;
            while let Some(r) = rows.next()? {
                let name = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
                put.execute(params![
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    name
                ])?;
            }
        }
        tx.commit()?;
        drop(file);
        sync_with_directory(&path)?;
    }
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'catalog\\_products\\_%' ESCAPE '\\'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for table in tables {
        conn.execute_batch(&format!("DROP TABLE {table}"))?;
    }
    conn.execute_batch("DROP TABLE product_categories")?;
    Ok(())
}
