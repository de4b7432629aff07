//! The original service's subscriber upload: `POST /api/2.0/partner/{partnerId}/subscribers?apikey=KEY`
//! with a CSV body (see propel-email's `csv` module for the format). All rows or none:
//! a bad row is 400 naming its line, and nothing is applied.

use crate::auth::authorize;
use crate::body::read_bytes;
use crate::error::{json_response, HttpError, HttpResult};
use crate::query::Query;
use crate::ratelimit::Api;
use crate::state::AppState;
use crate::tracking::now_ms;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use propel_email::csv::{parse, MAX_BYTES};
use propel_model::ApiError;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/2.0/partner/{partner}/subscribers", post(upload))
}

async fn upload(
    State(state): State<AppState>,
    Path(partner_id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> HttpResult<Response> {
    // The partner comes from the path; the key (`apikey` or `apiKey`) from the query.
    let encoded: String = form_urlencoded::byte_serialize(partner_id.as_bytes()).collect();
    let query = format!("partnerId={encoded}&{}", raw.unwrap_or_default());
    let partner = authorize(&state, &Query::parse(Some(&query)), Api::Tracking, now_ms())?;
    let bytes = read_bytes(body, MAX_BYTES).await?;
    let rows = match parse(&bytes) {
        Ok(rows) => rows,
        Err(e) => {
            let field = e.field.clone().unwrap_or_else(|| "body".into());
            let message = match &e.field {
                Some(f) => format!("line {}: {f}: {}", e.line, e.rule),
                None => format!("line {}: {}", e.line, e.rule),
            };
            let body = json!({"error": "invalid_parameter", "message": message, "field": field, "line": e.line});
            return Ok(json_response(StatusCode::BAD_REQUEST, body.to_string()));
        }
    };
    let records: Vec<(String, bool, String)> = rows
        .iter()
        .map(|r| {
            (
                r.email.clone(),
                r.subscribed,
                Value::Object(r.attributes.clone()).to_string(),
            )
        })
        .collect();
    let (store, rowid) = (state.store.clone(), partner.rowid);
    tokio::task::spawn_blocking(move || store.upsert_subscribers(rowid, &records))
        .await
        .map_err(|_| HttpError::from(ApiError::internal()))??;
    let subscribed = rows.iter().filter(|r| r.subscribed).count();
    if let Ok(mut set) = state.subscribers.write() {
        for r in &rows {
            let key = (partner.rowid, r.email.clone());
            if r.subscribed {
                set.insert(key);
            } else {
                set.remove(&key);
            }
        }
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"rows": rows.len(), "subscribed": subscribed, "unsubscribed": rows.len() - subscribed}).to_string(),
    ))
}
