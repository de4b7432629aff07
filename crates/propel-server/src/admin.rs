//! The operator's admin API under `/admin`, behind `Authorization: Bearer <token>`.

use crate::body::read_json;
use crate::error::{json_response, HttpError, HttpResult};
use crate::keys::{hash_key, hashes_equal, new_api_key, new_partner_id};
use crate::query::Query;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use propel_model::fields::{is_email, normalize_email};
use propel_model::{ApiError, ErrorCode, PartnerId, SessionId};
use propel_store::{Limits, PartnerRecord};
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/partners", post(create_partner).get(list_partners))
        .route("/partners/{partner}", get(get_partner))
        .route("/partners/{partner}/rotate-key", post(rotate_key))
        .route("/partners/{partner}/suspend", post(suspend))
        .route("/partners/{partner}/resume", post(resume))
        .route("/partners/{partner}/limits", put(set_limits))
        .route("/partners/{partner}/subscribers", post(add_subscribers))
        .route("/partners/{partner}/events", get(export_events))
        .merge(crate::admin_feed::routes())
        .merge(crate::admin_ads::routes())
        .merge(crate::email_api::routes())
        .merge(crate::admin_rules::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            require_operator,
        ))
}

/// 404 when no token is configured (the admin API does not exist), 401 on a wrong one.
async fn require_operator(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, HttpError> {
    let Some(token) = state.config.admin_token.as_deref() else {
        return Err(ApiError::new(
            ErrorCode::AdminDisabled,
            "the admin API is disabled: set PROPEL_ADMIN_TOKEN to enable it",
        )
        .into());
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if hashes_equal(&hash_key(p), &hash_key(token)) => Ok(next.run(request).await),
        _ => {
            let mut e = ApiError::new(
                ErrorCode::Unauthorized,
                "Authorization: Bearer <operator token> is missing or wrong",
            );
            e.field = Some("Authorization".into());
            Err(e.into())
        }
    }
}

fn partner_json(p: &PartnerRecord) -> Value {
    json!({
        "partnerId": p.id.as_str(),
        "name": p.name,
        "url": p.url,
        "createdAt": propel_model::timestamp::format_rfc3339_ms(p.created_ms),
        "suspended": p.suspended,
        "limits": p.limits,
        "eventsReceived": p.events_received,
        "lastEventAt": p.last_event_ms.map(propel_model::timestamp::format_rfc3339_ms),
        "activeKeys": p.keys.len(),
    })
}

fn ok_json(status: StatusCode, value: Value) -> Response {
    json_response(status, value.to_string())
}

/// Runs blocking storage work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, propel_store::StoreError> + Send + 'static,
) -> HttpResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| HttpError::from(ApiError::internal()))?
        .map_err(HttpError::from)
}

pub(crate) fn known_partner(state: &AppState, id: &str) -> HttpResult<Arc<PartnerRecord>> {
    PartnerId::parse(id)
        .ok()
        .and_then(|id| state.partners.get(id.as_str()))
        .ok_or_else(|| ApiError::not_found(format!("no partner {id}")).into())
}

async fn refresh(state: &AppState) -> HttpResult<()> {
    let (store, partners) = (state.store.clone(), state.partners.clone());
    blocking(move || partners.reload(&store)).await
}

fn text_field(body: &Value, name: &str, max: usize) -> Result<String, ApiError> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= max)
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::invalid(
                name,
                format!("is required: a non-empty string of at most {max} characters"),
            )
        })
}

async fn create_partner(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let body = read_json(&headers, body, state.config.body_limit_bytes).await?;
    let name = text_field(&body, "name", 200)?;
    let url = text_field(&body, "url", 2000)?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiError::invalid("url", "must be an http:// or https:// URL").into());
    }
    let (id, key) = (new_partner_id(), new_api_key());
    let (store, limits, hash, pid) = (
        state.store.clone(),
        state.config.default_limits,
        hash_key(&key),
        id.clone(),
    );
    blocking(move || store.create_partner(&pid, &name, &url, hash, limits)).await?;
    refresh(&state).await?;
    tracing::info!(partner = %id, "partner created");
    Ok(ok_json(
        StatusCode::CREATED,
        json!({"partnerId": id.as_str(), "apiKey": key}),
    ))
}

async fn list_partners(State(state): State<AppState>) -> HttpResult<Response> {
    let store = state.store.clone();
    let list = blocking(move || store.partners()).await?;
    Ok(ok_json(
        StatusCode::OK,
        json!({"partners": list.iter().map(partner_json).collect::<Vec<_>>()}),
    ))
}

async fn get_partner(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let (store, pid) = (state.store.clone(), partner.id.clone());
    let fresh = blocking(move || store.partner(&pid))
        .await?
        .ok_or_else(|| ApiError::not_found("no such partner"))?;
    Ok(ok_json(StatusCode::OK, partner_json(&fresh)))
}

async fn rotate_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let has_body = headers.contains_key(header::CONTENT_TYPE)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v != "0");
    let grace_seconds = if has_body {
        let body = read_json(&headers, body, state.config.body_limit_bytes).await?;
        match body.get("graceSeconds") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .filter(|n| (0..=30 * 86_400).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "graceSeconds",
                        "must be an integer from 0 to 2592000 (30 days)",
                    )
                })?,
        }
    } else {
        0
    };
    let key = new_api_key();
    let (store, pid, hash) = (state.store.clone(), partner.id.clone(), hash_key(&key));
    blocking(move || store.rotate_key(&pid, hash, grace_seconds * 1000)).await?;
    refresh(&state).await?;
    tracing::info!(partner = %partner.id, grace_seconds, "api key rotated");
    Ok(ok_json(
        StatusCode::OK,
        json!({"apiKey": key, "graceSeconds": grace_seconds}),
    ))
}

async fn set_state(state: &AppState, id: &str, suspended: bool) -> HttpResult<Response> {
    let partner = known_partner(state, id)?;
    let (store, pid) = (state.store.clone(), partner.id.clone());
    blocking(move || store.set_suspended(&pid, suspended)).await?;
    refresh(state).await?;
    tracing::info!(partner = %partner.id, suspended, "partner state changed");
    Ok(ok_json(
        StatusCode::OK,
        json!({"partnerId": partner.id.as_str(), "suspended": suspended}),
    ))
}

async fn suspend(State(state): State<AppState>, Path(id): Path<String>) -> HttpResult<Response> {
    set_state(&state, &id, true).await
}

async fn resume(State(state): State<AppState>, Path(id): Path<String>) -> HttpResult<Response> {
    set_state(&state, &id, false).await
}

async fn set_limits(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let body = read_json(&headers, body, state.config.body_limit_bytes).await?;
    let rule = "must be an integer from 1 to 1000000 requests per second";
    let read = |name: &str, current: u32| -> Result<u32, ApiError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(current),
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=1_000_000).contains(n))
                .map(|n| n as u32)
                .ok_or_else(|| ApiError::invalid(name, rule)),
        }
    };
    let limits = Limits {
        tracking_rps: read("trackingRps", partner.limits.tracking_rps)?,
        recommendations_rps: read("recommendationsRps", partner.limits.recommendations_rps)?,
        sponsored_rps: read("sponsoredRps", partner.limits.sponsored_rps)?,
    };
    let (store, pid) = (state.store.clone(), partner.id.clone());
    blocking(move || store.set_limits(&pid, limits)).await?;
    refresh(&state).await?;
    Ok(ok_json(StatusCode::OK, json!(limits)))
}

async fn add_subscribers(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let body = read_json(&headers, body, state.config.batch_body_limit_bytes).await?;
    let list = body
        .get("emails")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid("emails", "is required: an array of email addresses"))?;
    let mut emails = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v.as_str().map(str::trim).filter(|s| is_email(s)) {
            Some(e) => emails.push(normalize_email(e)),
            None => {
                return Err(
                    ApiError::invalid("emails", "every element must be an email address")
                        .at_index(i, "")
                        .into(),
                )
            }
        }
    }
    let (store, rowid, added) = (state.store.clone(), partner.rowid, emails.clone());
    let n = blocking(move || store.add_subscribers(rowid, &added)).await?;
    if let Ok(mut set) = state.subscribers.write() {
        set.extend(emails.into_iter().map(|e| (partner.rowid, e)));
    }
    Ok(ok_json(StatusCode::OK, json!({"subscribed": n})))
}

/// NDJSON, streamed from a connection of its own so a large export stays small in memory.
async fn export_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let query = Query::parse(raw.as_deref());
    let session = match query.get("sessionExternalId") {
        Some(s) => Some(SessionId::parse(s)?.as_str().to_string()),
        None => None,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut chunk = String::with_capacity(64 * 1024);
        let result = store.export_events(partner.rowid, session.as_deref(), |e| {
            chunk.push_str("{\"kind\":\"");
            chunk.push_str(e.kind.name());
            chunk.push_str("\",\"event\":");
            chunk.push_str(&e.body);
            chunk.push_str("}\n");
            if chunk.len() >= 60 * 1024 {
                let full = std::mem::replace(&mut chunk, String::with_capacity(64 * 1024));
                return tx.blocking_send(Ok(full.into())).is_ok();
            }
            true
        });
        match result {
            Ok(()) if !chunk.is_empty() => {
                let _ = tx.blocking_send(Ok(chunk.into()));
            }
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, "event export failed");
                let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
            }
        }
    });
    let mut response = Response::new(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
