//! Contacts: `setContact` links a session to a contact and merges its channels and data.

use propel_model::ValidatedEvent;
use rusqlite::{params, OptionalExtension};
use serde_json::{Map, Value};

pub(crate) fn apply_set_contact(
    tx: &rusqlite::Connection,
    partner: i64,
    event: &ValidatedEvent,
) -> rusqlite::Result<()> {
    let Some(contact) = event.str_field("contactExternalId") else {
        return Ok(());
    };
    let existing: Option<String> = tx
        .query_row(
            "SELECT custom_data FROM contacts WHERE partner = ?1 AND external_id = ?2",
            params![partner, contact],
            |r| r.get(0),
        )
        .optional()?;
    let mut data: Map<String, Value> = existing
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    if let Some(Value::Object(update)) = event.body.get("customData") {
        // Top-level keys of the new data replace the stored ones; others stay.
        for (k, v) in update {
            data.insert(k.clone(), v.clone());
        }
    }
    let data = Value::Object(data).to_string();
    tx.prepare_cached(
        "INSERT INTO contacts(partner, external_id, email, phone, custom_data, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT(partner, external_id) DO UPDATE SET
           email = COALESCE(excluded.email, contacts.email),
           phone = COALESCE(excluded.phone, contacts.phone),
           custom_data = excluded.custom_data,
           updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        partner,
        contact,
        event.str_field("email"),
        event.str_field("phone"),
        data,
        event.ts_ms
    ])?;
    tx.prepare_cached(
        "INSERT INTO contact_sessions(partner, session, contact, linked_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(partner, session) DO UPDATE SET contact = excluded.contact, linked_ms = excluded.linked_ms",
    )?
    .execute(params![partner, event.session, contact, event.ts_ms])?;
    Ok(())
}

/// A contact as stored: channels, merged custom data and linked sessions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactRecord {
    pub contact_external_id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub custom_data: Value,
    pub sessions: Vec<String>,
}

impl crate::Store {
    pub fn contact(&self, partner: i64, external_id: &str) -> crate::Result<Option<ContactRecord>> {
        self.with_conn(|conn| {
            let found = conn
                .query_row(
                    "SELECT email, phone, custom_data FROM contacts WHERE partner = ?1 AND external_id = ?2",
                    params![partner, external_id],
                    |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, String>(2)?)),
                )
                .optional()?;
            let Some((email, phone, data)) = found else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(
                "SELECT session FROM contact_sessions WHERE partner = ?1 AND contact = ?2 ORDER BY linked_ms, session",
            )?;
            let sessions = stmt
                .query_map(params![partner, external_id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(Some(ContactRecord {
                contact_external_id: external_id.to_string(),
                email,
                phone,
                custom_data: serde_json::from_str(&data).unwrap_or(Value::Null),
                sessions,
            }))
        })
    }
}
