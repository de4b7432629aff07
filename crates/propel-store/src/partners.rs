//! Partners (shops), their key hashes and limits.

use crate::{now_ms, Result, Store, StoreError};
use propel_model::PartnerId;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

/// Requests per second allowed per API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    #[serde(alias = "tracking_rps")]
    pub tracking_rps: u32,
    #[serde(alias = "recommendations_rps")]
    pub recommendations_rps: u32,
    #[serde(alias = "sponsored_rps")]
    pub sponsored_rps: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tracking_rps: 100,
            recommendations_rps: 100,
            sponsored_rps: 50,
        }
    }
}

/// The SHA-256 of an apiKey, and when it stops being accepted (None: never).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHash {
    pub hash: [u8; 32],
    pub expires_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct PartnerRecord {
    pub rowid: i64,
    pub id: PartnerId,
    pub name: String,
    pub url: String,
    pub created_ms: i64,
    pub suspended: bool,
    pub limits: Limits,
    pub events_received: i64,
    pub last_event_ms: Option<i64>,
    pub keys: Vec<KeyHash>,
}

const COLUMNS: &str = "rowid, id, name, url, created_ms, suspended, tracking_rps, recommendations_rps, sponsored_rps, events_received, last_event_ms";

fn from_row(row: &Row<'_>) -> rusqlite::Result<PartnerRecord> {
    let id: String = row.get(1)?;
    Ok(PartnerRecord {
        rowid: row.get(0)?,
        id: PartnerId::parse(&id).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?,
        name: row.get(2)?,
        url: row.get(3)?,
        created_ms: row.get(4)?,
        suspended: row.get(5)?,
        limits: Limits {
            tracking_rps: row.get(6)?,
            recommendations_rps: row.get(7)?,
            sponsored_rps: row.get(8)?,
        },
        events_received: row.get(9)?,
        last_event_ms: row.get(10)?,
        keys: Vec::new(),
    })
}

fn load_keys(conn: &Connection, partner: &mut PartnerRecord, now: i64) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, expires_ms FROM api_keys WHERE partner = ?1 AND (expires_ms IS NULL OR expires_ms > ?2)",
    )?;
    let rows = stmt.query_map(params![partner.rowid, now], |r| {
        let blob: Vec<u8> = r.get(0)?;
        Ok((blob, r.get::<_, Option<i64>>(1)?))
    })?;
    for row in rows {
        let (blob, expires_ms) = row?;
        if let Ok(hash) = <[u8; 32]>::try_from(blob.as_slice()) {
            partner.keys.push(KeyHash { hash, expires_ms });
        }
    }
    Ok(())
}

fn bump_version(conn: &Connection) -> Result<()> {
    conn.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'partners_version'",
        [],
    )?;
    Ok(())
}

fn rowid_of(conn: &Connection, id: &PartnerId) -> Result<i64> {
    conn.query_row(
        "SELECT rowid FROM partners WHERE id = ?1",
        [id.as_str()],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("partner {id}")))
}

impl Store {
    pub fn create_partner(
        &self,
        id: &PartnerId,
        name: &str,
        url: &str,
        key_hash: [u8; 32],
        limits: Limits,
    ) -> Result<PartnerRecord> {
        self.with_conn(|conn| {
            let now = now_ms();
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO partners(id, name, url, created_ms, tracking_rps, recommendations_rps, sponsored_rps) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id.as_str(), name, url, now, limits.tracking_rps, limits.recommendations_rps, limits.sponsored_rps],
            )?;
            let rowid = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO api_keys(partner, hash, created_ms) VALUES (?1, ?2, ?3)",
                params![rowid, &key_hash[..], now],
            )?;
            bump_version(&tx)?;
            tx.commit()?;
            Ok(())
        })?;
        self.partner(id)?
            .ok_or_else(|| StoreError::NotFound(format!("partner {id}")))
    }

    pub fn partner(&self, id: &PartnerId) -> Result<Option<PartnerRecord>> {
        self.with_conn(|conn| {
            let found = conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM partners WHERE id = ?1"),
                    [id.as_str()],
                    from_row,
                )
                .optional()?;
            match found {
                Some(mut p) => {
                    load_keys(conn, &mut p, now_ms())?;
                    Ok(Some(p))
                }
                None => Ok(None),
            }
        })
    }

    pub fn partners(&self) -> Result<Vec<PartnerRecord>> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare(&format!("SELECT {COLUMNS} FROM partners ORDER BY rowid"))?;
            let mut list = stmt
                .query_map([], from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let now = now_ms();
            for p in &mut list {
                load_keys(conn, p, now)?;
            }
            Ok(list)
        })
    }

    /// Issues a new key. Old keys stop at once, or after `grace_ms` (never later than before).
    pub fn rotate_key(&self, id: &PartnerId, new_hash: [u8; 32], grace_ms: i64) -> Result<()> {
        self.with_conn(|conn| {
            let now = now_ms();
            let tx = conn.transaction()?;
            let rowid = rowid_of(&tx, id)?;
            if grace_ms <= 0 {
                tx.execute("DELETE FROM api_keys WHERE partner = ?1", [rowid])?;
            } else {
                let until = now + grace_ms;
                tx.execute(
                    "UPDATE api_keys SET expires_ms = MIN(COALESCE(expires_ms, ?2), ?2) WHERE partner = ?1",
                    params![rowid, until],
                )?;
                tx.execute("DELETE FROM api_keys WHERE partner = ?1 AND expires_ms <= ?2", params![rowid, now])?;
            }
            tx.execute(
                "INSERT INTO api_keys(partner, hash, created_ms) VALUES (?1, ?2, ?3)",
                params![rowid, &new_hash[..], now],
            )?;
            bump_version(&tx)?;
            tx.commit()?;
            Ok(())
        })
    }

    pub fn set_suspended(&self, id: &PartnerId, suspended: bool) -> Result<()> {
        self.update_partner(
            id,
            "UPDATE partners SET suspended = ?2 WHERE id = ?1",
            suspended,
        )
    }

    pub fn set_limits(&self, id: &PartnerId, limits: Limits) -> Result<()> {
        self.with_conn(|conn| {
            let n = conn.execute(
                "UPDATE partners SET tracking_rps = ?2, recommendations_rps = ?3, sponsored_rps = ?4 WHERE id = ?1",
                params![id.as_str(), limits.tracking_rps, limits.recommendations_rps, limits.sponsored_rps],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("partner {id}")));
            }
            bump_version(conn)
        })
    }

    fn update_partner(&self, id: &PartnerId, sql: &str, value: bool) -> Result<()> {
        self.with_conn(|conn| {
            if conn.execute(sql, params![id.as_str(), value])? == 0 {
                return Err(StoreError::NotFound(format!("partner {id}")));
            }
            bump_version(conn)
        })
    }

    /// Changes whenever a partner, key or limit changes, from this process or another.
    pub fn partners_version(&self) -> Result<i64> {
        self.with_conn(|conn| {
            Ok(conn.query_row(
                "SELECT value FROM meta WHERE key = 'partners_version'",
                [],
                |r| r.get(0),
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: u8) -> PartnerId {
        PartnerId::from_bytes([n; 12])
    }

    #[test]
    fn create_rotate_suspend() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let v0 = store.partners_version().unwrap();
        let p = store
            .create_partner(
                &pid(1),
                "Shop",
                "https://shop.example",
                [1; 32],
                Limits::default(),
            )
            .unwrap();
        assert_eq!(
            p.keys,
            vec![KeyHash {
                hash: [1; 32],
                expires_ms: None
            }]
        );
        assert!(store.partners_version().unwrap() > v0);

        store.rotate_key(&pid(1), [2; 32], 60_000).unwrap();
        let p = store.partner(&pid(1)).unwrap().unwrap();
        assert_eq!(p.keys.len(), 2);
        assert!(p
            .keys
            .iter()
            .any(|k| k.hash == [1; 32] && k.expires_ms.is_some()));

        store.rotate_key(&pid(1), [3; 32], 0).unwrap();
        let p = store.partner(&pid(1)).unwrap().unwrap();
        assert_eq!(
            p.keys,
            vec![KeyHash {
                hash: [3; 32],
                expires_ms: None
            }]
        );

        store.set_suspended(&pid(1), true).unwrap();
        assert!(store.partner(&pid(1)).unwrap().unwrap().suspended);
        let limits = Limits {
            tracking_rps: 7,
            recommendations_rps: 8,
            sponsored_rps: 9,
        };
        store.set_limits(&pid(1), limits).unwrap();
        assert_eq!(store.partners().unwrap()[0].limits, limits);
        assert!(matches!(
            store.set_suspended(&pid(2), true),
            Err(StoreError::NotFound(_))
        ));
    }
}
