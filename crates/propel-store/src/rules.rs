//! Per-partner recommendation settings, kept as the JSON the operator sent.

use crate::{now_ms, Result, Store};
use rusqlite::{params, OptionalExtension};

impl Store {
    pub fn set_recommendation_rules(&self, partner: i64, rules_json: &str) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO partner_recommendation_rules(partner, rules, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(partner) DO UPDATE SET rules = excluded.rules, updated_ms = excluded.updated_ms",
                params![partner, rules_json, now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn recommendation_rules(&self, partner: i64) -> Result<Option<String>> {
        self.with_conn(|conn| {
            Ok(conn
                .query_row(
                    "SELECT rules FROM partner_recommendation_rules WHERE partner = ?1",
                    [partner],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }
}
