//! The tracking API: `POST /1.0/<method>` and the ordered batch `POST /1.0/visitorEvents`.

use crate::auth::authorize;
use crate::body::{parse_json, read_bytes, require_json};
use crate::error::{json_response, HttpResult};
use crate::query::Query;
use crate::ratelimit::Api;
use crate::state::AppState;
use axum::body::HttpBody;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use propel_model::event::validate_batch;
use propel_model::{ApiError, EventKind, ValidatedEvent};
use propel_store::PartnerRecord;
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/1.0/visitorEvents", post(batch))
        .route("/1.0/{method}", post(single))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A tracking request the front service hands straight to its handler.
#[derive(Debug, Clone, Copy)]
pub enum DirectMethod {
    Single(EventKind),
    Batch,
}

/// `POST /1.0/<a method's exact name>`, which [`crate::front`] serves without the
/// router; any other path, even one the router maps to a method, goes through the router.
pub fn direct_method(method: &axum::http::Method, path: &str) -> Option<DirectMethod> {
    if method != axum::http::Method::POST {
        return None;
    }
    match path.strip_prefix("/1.0/")? {
        "visitorEvents" => Some(DirectMethod::Batch),
        name => EventKind::from_name(name).map(DirectMethod::Single),
    }
}

/// Serves a request [`direct_method`] recognized, reading hyper's body as it is (the
/// router would box it first).
pub async fn direct(
    state: AppState,
    method: DirectMethod,
    request: hyper::Request<hyper::body::Incoming>,
) -> HttpResult<Response> {
    match method {
        DirectMethod::Single(kind) => single_event(state, kind, request).await,
        DirectMethod::Batch => batch_events(state, request).await,
    }
}

async fn single(
    State(state): State<AppState>,
    Path(method): Path<String>,
    request: Request,
) -> HttpResult<Response> {
    let kind = EventKind::from_name(&method)
        .ok_or_else(|| ApiError::not_found(format!("unknown tracking method '{method}'")))?;
    single_event(state, kind, request).await
}

// The handlers take the whole request: the `HeaderMap` and `RawQuery` extractors copy
// the headers and the query string, measurable on the hottest path.
async fn single_event<B: TrackingBody>(
    state: AppState,
    kind: EventKind,
    request: hyper::Request<B>,
) -> HttpResult<Response> {
    let now = now_ms();
    let (partner, bytes) = accept(&state, request, state.config.body_limit_bytes, now).await?;
    // Straight from the bytes when they are one JSON object; otherwise the general
    // parse names what is wrong with them.
    let event = match kind.parse(&bytes, now) {
        Some(event) => event?,
        None => kind.validate(&parse_json(&bytes)?, now)?,
    };
    check_subscribed(&state, partner.rowid, &event)?;
    store(&state, partner.rowid, vec![event], now).await
}

async fn batch(State(state): State<AppState>, request: Request) -> HttpResult<Response> {
    batch_events(state, request).await
}

async fn batch_events<B: TrackingBody>(
    state: AppState,
    request: hyper::Request<B>,
) -> HttpResult<Response> {
    let now = now_ms();
    let (partner, bytes) =
        accept(&state, request, state.config.batch_body_limit_bytes, now).await?;
    let events = validate_batch(&parse_json(&bytes)?, now, state.config.max_batch_events)?;
    for (index, event) in events.iter().enumerate() {
        check_subscribed(&state, partner.rowid, event)
            .map_err(|e| e.at_index(index, "welcomeSequence."))?;
    }
    store(&state, partner.rowid, events, now).await
}

/// A request body tracking can read: axum's from the router, hyper's from the front.
pub trait TrackingBody: HttpBody<Data = bytes::Bytes> + Send {}
impl<B: HttpBody<Data = bytes::Bytes> + Send> TrackingBody for B {}

/// The caller's partner (authorized, within its rate) and the request's body, declared
/// JSON and within `body_limit`; the caller parses it.
async fn accept<B: TrackingBody>(
    state: &AppState,
    request: hyper::Request<B>,
    body_limit: usize,
    now: i64,
) -> HttpResult<(Arc<PartnerRecord>, bytes::Bytes)> {
    let (parts, body) = request.into_parts();
    let partner = authorize(state, &Query::parse(parts.uri.query()), Api::Tracking, now)?;
    require_json(&parts.headers)?;
    Ok((partner, read_bytes(body, body_limit).await?))
}

/// `welcomeSequence` only for addresses in the partner's subscriber base.
fn check_subscribed(
    state: &AppState,
    partner: i64,
    event: &ValidatedEvent,
) -> Result<(), ApiError> {
    if event.kind != EventKind::WelcomeSequence {
        return Ok(());
    }
    match event.str_field("email") {
        Some(email) if state.is_subscribed(partner, email) => Ok(()),
        _ => Err(ApiError::invalid(
            "email",
            "must be an address in the partner's subscriber base, subscribed",
        )),
    }
}

async fn store(
    state: &AppState,
    partner: i64,
    events: Vec<ValidatedEvent>,
    now: i64,
) -> HttpResult<Response> {
    let n = events.len();
    let events = Arc::new(events);
    state.writer.write(partner, events.clone()).await?;
    // Personal answers see the event on the visitor's next request.
    for e in events.iter() {
        state
            .recs
            .apply(partner, e.kind, &e.session, e.ts_ms, &e.body);
    }
    state.ads.count(partner, &events, now).await;
    crate::mailer::after_commit(state, partner, &events).await;
    Ok(match n {
        1 => json_response(StatusCode::OK, r#"{"stored":1}"#),
        n => json_response(StatusCode::OK, format!("{{\"stored\":{n}}}")),
    })
}
