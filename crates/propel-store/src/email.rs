//! Email storage: scenarios, the durable outbox, clicks, unsubscribes, attributed orders,
//! erased addresses and the per-scenario daily report.
//!
//! Outbox states: `scheduled` (waits for `due_ms`), `claimed` (being sent right now),
//! `sent`, `failed` (permanent failure or attempts exhausted), `cancelled` (unsubscribed,
//! erased, order placed, scenario removed), `uncertain` (a crash came between the claim
//! and the record of the result: never sent again, see [`Store::outbox_recover`]).

use crate::{now_ms, Result, Store};
use rusqlite::{params, OptionalExtension};

/// One email waiting in (or taken from) the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub partner: i64,
    pub scenario: String,
    pub step: usize,
    pub email: String,
    pub contact: Option<String>,
    pub session: Option<String>,
    /// JSON: the basket's product ids (abandoned-basket emails).
    pub data: String,
    pub tracking_id: String,
    pub attempts: u32,
}

/// One line of the email report: a scenario on a day (UTC, `YYYY-MM-DD`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRow {
    pub scenario: String,
    pub day: String,
    pub scheduled: i64,
    pub sent: i64,
    pub failed: i64,
    pub clicked: i64,
    pub unsubscribed: i64,
    pub attributed_orders: i64,
    pub revenue: f64,
}

/// A contact's behaviour over all its sessions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Behaviour {
    /// (event kind code, count, last timestamp)
    pub kinds: Vec<(u8, i64, i64)>,
    /// Sum of price x quantity of its order lines.
    pub revenue: f64,
    /// Distinct transactions.
    pub orders: i64,
}

/// One email of a contact, for the privacy export.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactEmail {
    pub scenario: String,
    pub step: usize,
    pub state: String,
    pub created_ms: i64,
    pub sent_ms: Option<i64>,
    pub mail_tracking_id: String,
}

/// What erasing a contact touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Erased {
    pub email: Option<String>,
    pub sessions_unlinked: usize,
}

const PENDING: &str = "state IN ('scheduled', 'claimed')";
const NEW_TRACKING_ID: &str = "lower(hex(randomblob(12)))";

fn insert_chain(
    tx: &rusqlite::Transaction<'_>,
    partner: i64,
    scenario: &str,
    who: (&str, Option<&str>, Option<&str>),
    data: &str,
    dues: &[i64],
    now: i64,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO email_outbox(partner, scenario, step, email, contact, session, data, due_ms, state,
           tracking_id, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'scheduled', {NEW_TRACKING_ID}, ?9, ?9)"
    ))?;
    for (step, due) in dues.iter().enumerate() {
        stmt.execute(params![
            partner,
            scenario,
            step as i64,
            who.0,
            who.1,
            who.2,
            data,
            due,
            now
        ])?;
    }
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        partner: r.get(1)?,
        scenario: r.get(2)?,
        step: r.get::<_, i64>(3)? as usize,
        email: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
        contact: r.get(5)?,
        session: r.get(6)?,
        data: r.get(7)?,
        tracking_id: r.get(8)?,
        attempts: r.get::<_, i64>(9)? as u32,
    })
}

const ROW_COLUMNS: &str =
    "id, partner, scenario, step, email, contact, session, data, tracking_id, attempts";

impl Store {
    pub fn set_email_scenario(&self, partner: i64, kind: &str, config: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO email_scenarios(partner, kind, config, updated_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(partner, kind) DO UPDATE SET config = excluded.config, updated_ms = excluded.updated_ms",
                params![partner, kind, config, now_ms()],
            )?;
            Ok(())
        })
    }

    /// Every partner's scenarios as (partner, kind, config JSON).
    pub fn email_scenarios(&self) -> Result<Vec<(i64, String, String)>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare("SELECT partner, kind, config FROM email_scenarios")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The contact a session is linked to, with its email.
    pub fn contact_of_session(
        &self,
        partner: i64,
        session: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT s.contact, c.email FROM contact_sessions s
                 LEFT JOIN contacts c ON c.partner = s.partner AND c.external_id = s.contact
                 WHERE s.partner = ?1 AND s.session = ?2",
                params![partner, session],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
    }

    /// Schedules the welcome chain for `email` unless one was ever scheduled for it.
    pub fn start_welcome(
        &self,
        partner: i64,
        email: &str,
        contact: Option<&str>,
        session: &str,
        dues: &[i64],
    ) -> Result<bool> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM email_outbox WHERE partner = ?1 AND scenario = 'welcome' AND email = ?2)",
                params![partner, email],
                |r| r.get(0),
            )?;
            if exists {
                return Ok(false);
            }
            let who = (email, contact, Some(session));
            insert_chain(&tx, partner, "welcome", who, "[]", dues, now_ms())?;
            tx.commit()?;
            Ok(true)
        })
    }

    /// A product went into the basket of `contact`: adds it to the pending abandoned-basket
    /// chain, or starts one. Returns whether a chain was started.
    pub fn basket_added(
        &self,
        partner: i64,
        contact: &str,
        email: &str,
        session: &str,
        product: i64,
        dues: &[i64],
    ) -> Result<bool> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            let updated = tx.execute(
                &format!(
                    "UPDATE email_outbox SET data = json_insert(data, '$[#]', ?3), session = ?4
                     WHERE partner = ?1 AND scenario = 'abandonedBasket' AND contact = ?2 AND {PENDING}"
                ),
                params![partner, contact, product, session],
            )?;
            if updated > 0 {
                tx.commit()?;
                return Ok(false);
            }
            let data = format!("[{product}]");
            let who = (email, Some(contact), Some(session));
            insert_chain(&tx, partner, "abandonedBasket", who, &data, dues, now_ms())?;
            tx.commit()?;
            Ok(true)
        })
    }

    /// Products put into the session's basket since `since_ms`, after its last order and
    /// after the contact's last abandoned-basket chain began (the kinds are the codes of
    /// `addToBasket` and `order`), oldest first.
    pub fn session_basket(
        &self,
        partner: i64,
        session: &str,
        contact: &str,
        since_ms: i64,
        kinds: (u8, u8),
    ) -> Result<Vec<i64>> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let of_session = crate::session_index::of_session("= ?2");
            format!(
                "SELECT json_extract(body, '$.productId') FROM events
                 WHERE {of_session} AND kind = ?3
                   AND ts_ms >= MAX(?5, COALESCE((SELECT MAX(created_ms) FROM email_outbox
                     WHERE partner = ?1 AND scenario = 'abandonedBasket' AND contact = ?6), 0))
                   AND seq > COALESCE((SELECT MAX(seq) FROM events WHERE {of_session} AND kind = ?4), 0)
                 ORDER BY seq"
            )
        });
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(&SQL)?;
            let rows = stmt.query_map(
                params![partner, session, kinds.0, kinds.1, since_ms, contact],
                |r| r.get::<_, Option<i64>>(0),
            )?;
            Ok(rows
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect())
        })
    }

    /// An order stops the pending abandoned-basket chain of the contact (or the session).
    pub fn cancel_basket_chain(
        &self,
        partner: i64,
        contact: Option<&str>,
        session: &str,
    ) -> Result<usize> {
        self.with_conn(|c| {
            Ok(c.execute(
                "UPDATE email_outbox SET state = 'cancelled', last_error = 'order placed', updated_ms = ?4
                 WHERE partner = ?1 AND scenario = 'abandonedBasket' AND state = 'scheduled'
                   AND (contact = ?2 OR session = ?3)",
                params![partner, contact, session, now_ms()],
            )?)
        })
    }

    /// At start: rows still `claimed` were being sent when the process stopped. Whether the
    /// relay took them is unknown; they become `uncertain` and are never sent again
    /// (at most once). Returns how many.
    pub fn outbox_recover(&self) -> Result<usize> {
        self.with_conn(|c| {
            Ok(c.execute(
                "UPDATE email_outbox SET state = 'uncertain', updated_ms = ?1 WHERE state = 'claimed'",
                params![now_ms()],
            )?)
        })
    }

    /// Claims up to `limit` due emails (durably, before any is sent), oldest first.
    pub fn outbox_claim_due(&self, now: i64, limit: usize) -> Result<Vec<OutboxRow>> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            let rows = {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {ROW_COLUMNS} FROM email_outbox WHERE state = 'scheduled' AND due_ms <= ?1
                     ORDER BY due_ms, id LIMIT ?2"
                ))?;
                let rows = stmt
                    .query_map(params![now, limit as i64], row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut claim = tx.prepare_cached(
                    "UPDATE email_outbox SET state = 'claimed', attempts = attempts + 1, updated_ms = ?2 WHERE id = ?1",
                )?;
                for r in &rows {
                    claim.execute(params![r.id, now])?;
                }
                rows
            };
            tx.commit()?;
            Ok(rows
                .into_iter()
                .map(|r| OutboxRow {
                    attempts: r.attempts + 1,
                    ..r
                })
                .collect())
        })
    }

    /// The earliest due time of a scheduled email, for the mailer's sleep.
    pub fn outbox_next_due(&self) -> Result<Option<i64>> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT MIN(due_ms) FROM email_outbox WHERE state = 'scheduled'",
                [],
                |r| r.get(0),
            )?)
        })
    }

    /// When an email last went to this address of the partner (sent, or possibly sent).
    pub fn last_sent_to(&self, partner: i64, email: &str) -> Result<Option<i64>> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT MAX(COALESCE(sent_ms, updated_ms)) FROM email_outbox
                 WHERE partner = ?1 AND email = ?2 AND state IN ('sent', 'uncertain')",
                params![partner, email],
                |r| r.get(0),
            )?)
        })
    }

    /// Whether the address may get email: subscribed and not erased.
    pub fn may_email(&self, partner: i64, email: &str, email_hash: &str) -> Result<bool> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT EXISTS(SELECT 1 FROM subscribers WHERE partner = ?1 AND email = ?2 AND subscribed = 1)
                   AND NOT EXISTS(SELECT 1 FROM email_suppressions WHERE partner = ?1 AND email_hash = ?3)",
                params![partner, email, email_hash],
                |r| r.get(0),
            )?)
        })
    }

    /// The subscriber's custom attributes (JSON object text), when in the base.
    pub fn subscriber_attributes(&self, partner: i64, email: &str) -> Result<Option<String>> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT attributes FROM subscribers WHERE partner = ?1 AND email = ?2",
                params![partner, email],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Ends a claimed row: `sent`, `failed`, `cancelled`, or back to `scheduled` at `due`.
    pub fn outbox_finish(
        &self,
        id: i64,
        state: &str,
        due_ms: Option<i64>,
        error: Option<&str>,
        uncount_attempt: bool,
    ) -> Result<()> {
        self.with_conn(|c| {
            let now = now_ms();
            c.execute(
                "UPDATE email_outbox SET state = ?2, due_ms = COALESCE(?3, due_ms), last_error = ?4,
                   attempts = attempts - ?5, updated_ms = ?6,
                   sent_ms = CASE WHEN ?2 = 'sent' THEN ?6 ELSE sent_ms END
                 WHERE id = ?1",
                params![id, state, due_ms, error, uncount_attempt as i64, now],
            )?;
            Ok(())
        })
    }

    /// `emailClick`: the email of this tracking id (of this partner) was clicked in `session`.
    pub fn record_email_click(
        &self,
        partner: i64,
        tracking_id: &str,
        session: &str,
        ts_ms: i64,
    ) -> Result<bool> {
        self.with_conn(|c| {
            let outbox: Option<i64> = c
                .query_row(
                    "SELECT id FROM email_outbox WHERE partner = ?1 AND tracking_id = ?2",
                    params![partner, tracking_id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(outbox) = outbox else {
                return Ok(false);
            };
            c.execute(
                "INSERT INTO email_clicks(partner, outbox, session, ts_ms) VALUES (?1, ?2, ?3, ?4)",
                params![partner, outbox, session, ts_ms],
            )?;
            Ok(true)
        })
    }

    /// An order line of `session`: attributed to the email last clicked in that session
    /// within `window_ms` before it. Idempotent per order line.
    #[allow(clippy::too_many_arguments)]
    pub fn attribute_order(
        &self,
        partner: i64,
        session: &str,
        order_key: &str,
        transaction: &str,
        revenue: f64,
        ts_ms: i64,
        window_ms: i64,
    ) -> Result<bool> {
        self.with_conn(|c| {
            let outbox: Option<i64> = c
                .query_row(
                    "SELECT outbox FROM email_clicks WHERE partner = ?1 AND session = ?2
                       AND ts_ms <= ?3 AND ts_ms >= ?4 ORDER BY ts_ms DESC LIMIT 1",
                    params![partner, session, ts_ms, ts_ms - window_ms],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(outbox) = outbox else {
                return Ok(false);
            };
            c.execute(
                "INSERT INTO email_orders(partner, order_key, outbox, transaction_id, revenue, ts_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(partner, order_key) DO UPDATE SET outbox = excluded.outbox,
                   transaction_id = excluded.transaction_id, revenue = excluded.revenue, ts_ms = excluded.ts_ms",
                params![partner, order_key, outbox, transaction, revenue, ts_ms],
            )?;
            Ok(true)
        })
    }

    /// The unsubscribe link of one email: unsubscribes its address and cancels what is
    /// pending for it. Returns (partner, email) when the token is known.
    pub fn unsubscribe_by_token(&self, token: &str) -> Result<Option<(i64, String)>> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            let found: Option<(i64, i64, Option<String>)> = tx
                .query_row(
                    "SELECT id, partner, email FROM email_outbox WHERE tracking_id = ?1",
                    params![token],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((outbox, partner, Some(email))) = found else {
                return Ok(None);
            };
            let now = now_ms();
            unsubscribe_in(&tx, partner, &email, now)?;
            tx.execute(
                "INSERT OR IGNORE INTO email_unsubscribes(outbox, ts_ms) VALUES (?1, ?2)",
                params![outbox, now],
            )?;
            tx.commit()?;
            Ok(Some((partner, email)))
        })
    }

    /// Loads subscriber rows (email, subscribed, attributes JSON object) in one transaction:
    /// attributes are merged into the stored ones; unsubscribed addresses lose what is pending.
    pub fn upsert_subscribers(&self, partner: i64, rows: &[(String, bool, String)]) -> Result<()> {
        self.with_conn(|c| {
            let now = now_ms();
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO subscribers(partner, email, subscribed, updated_ms, attributes) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(partner, email) DO UPDATE SET subscribed = excluded.subscribed,
                       updated_ms = excluded.updated_ms, attributes = json_patch(subscribers.attributes, excluded.attributes)",
                )?;
                for (email, subscribed, attributes) in rows {
                    stmt.execute(params![partner, email, *subscribed, now, attributes])?;
                    if !subscribed {
                        unsubscribe_in(&tx, partner, email, now)?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Right to be forgotten: the contact's row and session links are deleted, its email,
    /// phone and custom data scrubbed from stored `setContact`/`welcomeSequence` events, its
    /// address removed from the subscriber base and the outbox, and its hash kept so that
    /// nothing is ever sent to it again.
    pub fn erase_contact(
        &self,
        partner: i64,
        external_id: &str,
        email_hash: impl Fn(&str) -> String,
        kinds: (u8, u8),
    ) -> Result<Option<Erased>> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            let found: Option<Option<String>> = tx
                .query_row(
                    "SELECT email FROM contacts WHERE partner = ?1 AND external_id = ?2",
                    params![partner, external_id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(email) = found else {
                return Ok(None);
            };
            let now = now_ms();
            tx.execute(
                "DELETE FROM contacts WHERE partner = ?1 AND external_id = ?2",
                params![partner, external_id],
            )?;
            let sessions_unlinked = tx.execute(
                "DELETE FROM contact_sessions WHERE partner = ?1 AND contact = ?2",
                params![partner, external_id],
            )?;
            tx.execute(
                "UPDATE events SET body = json_remove(body, '$.email', '$.phone', '$.customData')
                 WHERE partner = ?1 AND kind = ?2 AND json_extract(body, '$.contactExternalId') = ?3",
                params![partner, kinds.0, external_id],
            )?;
            tx.execute(
                "UPDATE email_outbox SET contact = NULL, state = CASE WHEN state = 'scheduled' THEN 'cancelled' ELSE state END,
                   updated_ms = ?3 WHERE partner = ?1 AND contact = ?2",
                params![partner, external_id, now],
            )?;
            if let Some(email) = &email {
                tx.execute(
                    "UPDATE events SET body = json_remove(body, '$.email')
                     WHERE partner = ?1 AND kind = ?2 AND json_extract(body, '$.email') = ?3",
                    params![partner, kinds.1, email],
                )?;
                tx.execute(
                    "DELETE FROM subscribers WHERE partner = ?1 AND email = ?2",
                    params![partner, email],
                )?;
                tx.execute(
                    "UPDATE email_outbox SET email = NULL, last_error = NULL, state = CASE WHEN state = 'scheduled' THEN 'cancelled' ELSE state END,
                       updated_ms = ?3 WHERE partner = ?1 AND email = ?2",
                    params![partner, email, now],
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO email_suppressions(partner, email_hash) VALUES (?1, ?2)",
                    params![partner, email_hash(email)],
                )?;
            }
            tx.commit()?;
            Ok(Some(Erased {
                email,
                sessions_unlinked,
            }))
        })
    }

    /// Every email scheduled for the contact or its address, oldest first.
    pub fn contact_emails(
        &self,
        partner: i64,
        contact: &str,
        email: Option<&str>,
    ) -> Result<Vec<ContactEmail>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT scenario, step, state, created_ms, sent_ms, tracking_id FROM email_outbox
                 WHERE partner = ?1 AND (contact = ?2 OR email = ?3) ORDER BY id",
            )?;
            let rows = stmt.query_map(params![partner, contact, email], |r| {
                Ok(ContactEmail {
                    scenario: r.get(0)?,
                    step: r.get::<_, i64>(1)? as usize,
                    state: r.get(2)?,
                    created_ms: r.get(3)?,
                    sent_ms: r.get(4)?,
                    mail_tracking_id: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Whether the address is subscribed (`None`: not in the base).
    pub fn subscription(&self, partner: i64, email: &str) -> Result<Option<bool>> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT subscribed FROM subscribers WHERE partner = ?1 AND email = ?2",
                params![partner, email],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// The contact's behaviour over all its sessions (`order_kind`: the code of `order`).
    pub fn contact_behaviour(
        &self,
        partner: i64,
        external_id: &str,
        order_kind: u8,
    ) -> Result<Behaviour> {
        let conn = self.session_reader()?;
        let sessions = crate::session_index::of_session(
            "IN (SELECT session FROM contact_sessions WHERE partner = ?1 AND contact = ?2)",
        );
        let mut stmt = conn.prepare(&format!(
            "SELECT kind, COUNT(*), MAX(ts_ms) FROM events WHERE {sessions} GROUP BY kind"
        ))?;
        let kinds = stmt
            .query_map(params![partner, external_id], |r| {
                Ok((r.get::<_, i64>(0)? as u8, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let (revenue, orders) = conn.query_row(
            &format!(
                "SELECT COALESCE(SUM(json_extract(body, '$.price') * json_extract(body, '$.quantity')), 0),
                        COUNT(DISTINCT json_extract(body, '$.transaction'))
                 FROM events WHERE {sessions} AND kind = ?3"
            ),
            params![partner, external_id, order_kind],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Behaviour {
            kinds,
            revenue,
            orders,
        })
    }

    /// Emails per scenario and day: scheduled, sent, failed, clicked (distinct emails),
    /// unsubscribed, attributed orders (distinct transactions) and their revenue.
    pub fn email_report(&self, partner: i64) -> Result<Vec<ReportRow>> {
        let conn = self.reader()?;
        let day = |col: &str| format!("strftime('%Y-%m-%d', {col} / 1000, 'unixepoch')");
        let queries = [
            format!("SELECT scenario, {}, COUNT(*), 0 FROM email_outbox WHERE partner = ?1 GROUP BY 1, 2", day("created_ms")),
            format!("SELECT scenario, {}, COUNT(*), 0 FROM email_outbox WHERE partner = ?1 AND state = 'sent' GROUP BY 1, 2", day("sent_ms")),
            format!("SELECT scenario, {}, COUNT(*), 0 FROM email_outbox WHERE partner = ?1 AND state IN ('failed', 'uncertain') GROUP BY 1, 2", day("updated_ms")),
            format!("SELECT o.scenario, {}, COUNT(DISTINCT k.outbox), 0 FROM email_clicks k JOIN email_outbox o ON o.id = k.outbox WHERE k.partner = ?1 GROUP BY 1, 2", day("k.ts_ms")),
            format!("SELECT o.scenario, {}, COUNT(*), 0 FROM email_unsubscribes u JOIN email_outbox o ON o.id = u.outbox WHERE o.partner = ?1 GROUP BY 1, 2", day("u.ts_ms")),
            format!("SELECT o.scenario, {}, COUNT(DISTINCT e.transaction_id), SUM(e.revenue) FROM email_orders e JOIN email_outbox o ON o.id = e.outbox WHERE e.partner = ?1 GROUP BY 1, 2", day("e.ts_ms")),
        ];
        let mut report: std::collections::BTreeMap<(String, String), ReportRow> =
            std::collections::BTreeMap::new();
        for (which, sql) in queries.iter().enumerate() {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map(params![partner], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, f64>(3)?,
                ))
            })?;
            for r in rows {
                let (scenario, day, n, revenue) = r?;
                let day = day.unwrap_or_default();
                let entry = report
                    .entry((scenario.clone(), day.clone()))
                    .or_insert_with(|| ReportRow {
                        scenario,
                        day,
                        ..ReportRow::default()
                    });
                match which {
                    0 => entry.scheduled = n,
                    1 => entry.sent = n,
                    2 => entry.failed = n,
                    3 => entry.clicked = n,
                    4 => entry.unsubscribed = n,
                    _ => {
                        entry.attributed_orders = n;
                        entry.revenue = revenue;
                    }
                }
            }
        }
        Ok(report.into_values().collect())
    }
}

/// Unsubscribes one address and cancels its pending emails, inside `tx`.
fn unsubscribe_in(
    tx: &rusqlite::Transaction<'_>,
    partner: i64,
    email: &str,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE subscribers SET subscribed = 0, updated_ms = ?3 WHERE partner = ?1 AND email = ?2",
        params![partner, email, now],
    )?;
    tx.execute(
        "UPDATE email_outbox SET state = 'cancelled', last_error = 'unsubscribed', updated_ms = ?3
         WHERE partner = ?1 AND email = ?2 AND state = 'scheduled'",
        params![partner, email, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Limits, Store};
    use propel_model::PartnerId;

    #[test]
    fn outbox_claims_once_and_recovers_as_uncertain() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let p = store
            .create_partner(
                &PartnerId::from_bytes([3; 12]),
                "S",
                "https://s.example",
                [0; 32],
                Limits::default(),
            )
            .unwrap()
            .rowid;
        store
            .upsert_subscribers(p, &[("a@b.io".into(), true, "{\"n\":\"A\"}".into())])
            .unwrap();
        assert!(store
            .start_welcome(p, "a@b.io", None, "s1", &[0, 10, 20])
            .unwrap());
        assert!(
            !store.start_welcome(p, "a@b.io", None, "s1", &[0]).unwrap(),
            "once per address"
        );
        let claimed = store.outbox_claim_due(5, 10).unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].attempts, 1);
        assert!(
            store.outbox_claim_due(5, 10).unwrap().is_empty(),
            "claimed rows are not claimed again"
        );
        assert_eq!(store.outbox_recover().unwrap(), 1);
        let next = store.outbox_claim_due(15, 10).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].step, 1);
        store
            .outbox_finish(next[0].id, "sent", None, None, false)
            .unwrap();
        assert!(store.last_sent_to(p, "a@b.io").unwrap().is_some());
        assert!(store.may_email(p, "a@b.io", "h").unwrap());
        assert_eq!(
            store.unsubscribe_by_token(&next[0].tracking_id).unwrap(),
            Some((p, "a@b.io".into()))
        );
        assert!(!store.may_email(p, "a@b.io", "h").unwrap());
        assert!(
            store.outbox_claim_due(100, 10).unwrap().is_empty(),
            "unsubscribing cancels the rest"
        );
        let report = store.email_report(p).unwrap();
        assert_eq!(report.len(), 1);
        assert_eq!(
            (
                report[0].scheduled,
                report[0].sent,
                report[0].failed,
                report[0].unsubscribed
            ),
            (3, 1, 1, 1)
        );
    }

    #[test]
    fn basket_chain_collects_products_and_stops_on_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let p = 1;
        assert!(store
            .basket_added(p, "c1", "a@b.io", "s1", 7, &[0])
            .unwrap());
        assert!(!store
            .basket_added(p, "c1", "a@b.io", "s2", 8, &[0])
            .unwrap());
        let rows = store.outbox_claim_due(1, 10).unwrap();
        assert_eq!(rows[0].data, "[7,8]");
        store
            .outbox_finish(rows[0].id, "scheduled", Some(0), None, true)
            .unwrap();
        assert_eq!(
            store.cancel_basket_chain(p, Some("c1"), "other").unwrap(),
            1
        );
        assert!(store.outbox_claim_due(1, 10).unwrap().is_empty());
    }
}
