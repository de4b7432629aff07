//! Schema migrations, applied in order and recorded in `PRAGMA user_version`.

use crate::Result;
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: partners, keys, the event log, contacts, subscribers.
    r#"
    CREATE TABLE partners (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        suspended INTEGER NOT NULL DEFAULT 0,
        tracking_rps INTEGER NOT NULL,
        recommendations_rps INTEGER NOT NULL,
        sponsored_rps INTEGER NOT NULL,
        events_received INTEGER NOT NULL DEFAULT 0,
        last_event_ms INTEGER
    );
    CREATE TABLE api_keys (
        partner INTEGER NOT NULL REFERENCES partners(rowid),
        hash BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER
    );
    CREATE INDEX api_keys_partner ON api_keys(partner);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        partner INTEGER NOT NULL,
        session TEXT NOT NULL,
        kind INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        order_key TEXT
    );
    CREATE INDEX events_by_session ON events(partner, session, seq);
    CREATE UNIQUE INDEX events_order_lines ON events(partner, order_key) WHERE order_key IS NOT NULL;
    CREATE TABLE contacts (
        partner INTEGER NOT NULL,
        external_id TEXT NOT NULL,
        email TEXT,
        phone TEXT,
        custom_data TEXT NOT NULL DEFAULT '{}',
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (partner, external_id)
    );
    CREATE TABLE contact_sessions (
        partner INTEGER NOT NULL,
        session TEXT NOT NULL,
        contact TEXT NOT NULL,
        linked_ms INTEGER NOT NULL,
        PRIMARY KEY (partner, session)
    );
    CREATE INDEX contact_sessions_by_contact ON contact_sessions(partner, contact);
    CREATE TABLE subscribers (
        partner INTEGER NOT NULL,
        email TEXT NOT NULL,
        subscribed INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (partner, email)
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO meta(key, value) VALUES ('partners_version', 0);
    "#,
    // 2: the product base: products and categories per partner and generation (a feed
    // import stages generation N+1, then flips `catalog_state.generation`), first-seen
    // times kept across imports, and scheduled feed sources.
    r#"
    CREATE TABLE catalog_state (
        partner INTEGER PRIMARY KEY,
        generation INTEGER NOT NULL,
        last_generation INTEGER NOT NULL,
        version INTEGER NOT NULL DEFAULT 0,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE products (
        partner INTEGER NOT NULL,
        generation INTEGER NOT NULL,
        id INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (partner, generation, id)
    ) WITHOUT ROWID;
    CREATE TABLE product_categories (
        partner INTEGER NOT NULL,
        generation INTEGER NOT NULL,
        id INTEGER NOT NULL,
        parent_id INTEGER,
        name TEXT NOT NULL,
        PRIMARY KEY (partner, generation, id)
    ) WITHOUT ROWID;
    CREATE TABLE product_first_seen (
        partner INTEGER NOT NULL,
        id INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        PRIMARY KEY (partner, id)
    ) WITHOUT ROWID;
    CREATE TABLE feed_sources (
        partner INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        interval_minutes INTEGER NOT NULL,
        etag TEXT,
        last_modified TEXT,
        status TEXT NOT NULL DEFAULT '{}',
        next_fetch_ms INTEGER NOT NULL
    );
    "#,
    // 3: per-partner recommendation settings (business rules, accessory categories).
    r#"
    CREATE TABLE partner_recommendation_rules (
        partner INTEGER PRIMARY KEY,
        rules TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    "#,
    // 4: email: scenarios, the outbox (one row per email to send; its tracking id is also
    // its unsubscribe token and Message-ID), clicks, unsubscribes, attributed orders,
    // erased addresses (hashes only), and custom attributes of subscribers.
    r#"
    CREATE TABLE email_scenarios (
        partner INTEGER NOT NULL,
        kind TEXT NOT NULL,
        config TEXT NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (partner, kind)
    );
    CREATE TABLE email_outbox (
        id INTEGER PRIMARY KEY,
        partner INTEGER NOT NULL,
        scenario TEXT NOT NULL,
        step INTEGER NOT NULL,
        email TEXT,
        contact TEXT,
        session TEXT,
        data TEXT NOT NULL DEFAULT '[]',
        due_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        tracking_id TEXT NOT NULL UNIQUE,
        last_error TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        sent_ms INTEGER
    );
    CREATE INDEX email_outbox_due ON email_outbox(state, due_ms);
    CREATE INDEX email_outbox_recipient ON email_outbox(partner, email, sent_ms);
    CREATE INDEX email_outbox_contact ON email_outbox(partner, contact);
    CREATE TABLE email_clicks (
        partner INTEGER NOT NULL,
        outbox INTEGER NOT NULL,
        session TEXT NOT NULL,
        ts_ms INTEGER NOT NULL
    );
    CREATE INDEX email_clicks_session ON email_clicks(partner, session, ts_ms);
    CREATE TABLE email_unsubscribes (
        outbox INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL
    );
    CREATE TABLE email_orders (
        partner INTEGER NOT NULL,
        order_key TEXT NOT NULL,
        outbox INTEGER NOT NULL,
        transaction_id TEXT NOT NULL,
        revenue REAL NOT NULL,
        ts_ms INTEGER NOT NULL,
        PRIMARY KEY (partner, order_key)
    );
    CREATE TABLE email_suppressions (
        partner INTEGER NOT NULL,
        email_hash TEXT NOT NULL,
        PRIMARY KEY (partner, email_hash)
    );
    ALTER TABLE subscribers ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
    "#,
    // 5: retail media: placements, advertisers, campaigns (their validated JSON), and
    // every served impression with its counted view and click and what they cost
    // (billionths of the currency unit).
    r#"
    CREATE TABLE ad_placements (
        id TEXT PRIMARY KEY,
        partner INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE ad_advertisers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE ad_campaigns (
        id TEXT PRIMARY KEY,
        advertiser TEXT NOT NULL REFERENCES ad_advertisers(id),
        body TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE ad_impressions (
        id TEXT PRIMARY KEY,
        partner INTEGER NOT NULL,
        campaign TEXT NOT NULL,
        content TEXT NOT NULL,
        placement TEXT NOT NULL,
        session TEXT NOT NULL,
        served_ms INTEGER NOT NULL,
        viewed_ms INTEGER,
        clicked_ms INTEGER,
        view_spend INTEGER NOT NULL DEFAULT 0,
        click_spend INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX ad_impressions_by_campaign ON ad_impressions(campaign, served_ms);
    CREATE INDEX ad_impressions_by_time ON ad_impressions(served_ms);
    "#,
    // 6: retail media, cheaper to write. Served impressions are stored as one row per
    // writer commit (`body`: one line per impression, tab-separated: id, partner,
    // campaign, content, placement, session, served_ms), counted views and clicks in
    // their own table, reports as sums per (campaign, UTC day of serving, placement,
    // content) updated in the same transaction. `ad_impressions` keeps what was served
    // before and is only read from now on (its rows are summed into the report here).
    r#"
    CREATE TABLE ad_report (
        campaign TEXT NOT NULL,
        day INTEGER NOT NULL,
        placement TEXT NOT NULL,
        content TEXT NOT NULL,
        served INTEGER NOT NULL DEFAULT 0,
        viewed INTEGER NOT NULL DEFAULT 0,
        clicked INTEGER NOT NULL DEFAULT 0,
        spend INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign, day, placement, content)
    ) WITHOUT ROWID;
    INSERT INTO ad_report(campaign, day, placement, content, served, viewed, clicked, spend)
        SELECT campaign, served_ms / 86400000, placement, content, COUNT(*), COUNT(viewed_ms),
               COUNT(clicked_ms), SUM(view_spend + click_spend)
        FROM ad_impressions GROUP BY campaign, served_ms / 86400000, placement, content;
    CREATE TABLE ad_served (
        batch INTEGER PRIMARY KEY,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX ad_served_by_time ON ad_served(last_ms);
    CREATE TABLE ad_counted (
        id TEXT PRIMARY KEY,
        campaign TEXT NOT NULL,
        placement TEXT NOT NULL,
        content TEXT NOT NULL,
        served_ms INTEGER NOT NULL,
        viewed_ms INTEGER,
        view_spend INTEGER NOT NULL DEFAULT 0,
        clicked_ms INTEGER,
        click_spend INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX ad_counted_by_time ON ad_counted(served_ms);
    INSERT INTO ad_counted(id, campaign, placement, content, served_ms, viewed_ms, view_spend, clicked_ms, click_spend)
        SELECT id, campaign, placement, content, served_ms, viewed_ms, view_spend, clicked_ms, click_spend
        FROM ad_impressions WHERE viewed_ms IS NOT NULL OR clicked_ms IS NOT NULL;
    DROP INDEX ad_impressions_by_campaign;
    "#,
    // 7: each generation of a partner's products in a table of its own,
    // `catalog_products_{partner}_{generation}` with the product id as rowid: the code
    // step `products::split_generations` moves the current generations' rows there and
    // drops the shared `products` table.
    "",
    // 8: each generation of a partner's products (and its categories) in a SQLite file
    // of its own under `<data>/catalog/` (see `catalog_files`): the code step
    // `catalog_migrations::generations_to_files` writes the current generations' files
    // and drops the `catalog_products_*` tables and `product_categories`.
    "",
    // 9: the session index leaves the commit path (see `session_index`): lookups by
    // session read `session-index.db`, built in the background, plus the log's tail and
    // the order lines moved to another session, recorded here.
    r#"
    DROP INDEX events_by_session;
    CREATE TABLE session_moves (
        partner INTEGER NOT NULL,
        session TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (partner, session, seq)
    ) WITHOUT ROWID;
    CREATE TRIGGER events_session_moved AFTER UPDATE OF session ON events
    WHEN OLD.session IS NOT NEW.session
    BEGIN
        INSERT OR IGNORE INTO session_moves(partner, session, seq) VALUES (NEW.partner, NEW.session, NEW.seq);
    END;
    INSERT INTO meta(key, value) VALUES ('database_id', abs(random()));
    "#,
];

/// Migrations that also need code (table names computed from the data), run after the
/// SQL of the migration with the same number, in its transaction.
type CodeStep = fn(&Connection) -> Result<()>;
const CODE_STEPS: &[(usize, CodeStep)] = &[
    (7, crate::catalog_migrations::split_generations),
    (8, crate::catalog_migrations::generations_to_files),
];

pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Applies the migrations up to number `last` (tests build older databases with it).
pub(crate) fn migrate_to(conn: &mut Connection, last: usize) -> Result<()> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().take(last).skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        for (_, step) in CODE_STEPS.iter().filter(|(n, _)| *n == i + 1) {
            step(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
