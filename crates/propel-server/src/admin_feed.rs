//! Feeds, for the operator (under `/admin`, behind the operator token):
//!
//! - `POST /admin/partners/{partnerId}/feed`: a YML feed as the body (`application/xml` or
//!   `text/xml`, optionally `Content-Encoding: gzip`), streamed to the parser as it
//!   arrives (limit `feed_body_limit_bytes`, 512 MiB by default); replaces the base.
//! - `PUT /admin/partners/{partnerId}/feed-url` `{"url", "intervalMinutes"}`, `GET` and
//!   `DELETE` of the same path: a feed the server fetches on schedule ([`run_background`]), with
//!   conditional GET and gzip; a failed fetch or import keeps the last good base.

use crate::admin::{blocking, known_partner};
use crate::body::read_json;
use crate::catalog_state::{ChannelReader, ImportError, ImportReport};
use crate::error::{json_response, HttpError, HttpResult};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{post, put};
use axum::Router;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use propel_model::{ApiError, ErrorCode};
use propel_store::FeedSource;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/partners/{partner}/feed", post(upload_feed))
        .route(
            "/partners/{partner}/feed-url",
            put(set_feed_url).get(get_feed_url).delete(delete_feed_url),
        )
}

/// Why a streamed import did not happen.
enum Failure {
    TooLarge(usize),
    Import(ImportError),
    Internal,
}

/// Streams `body` into a full import of the partner's base, on a blocking thread.
async fn import_stream<S, E>(
    state: &AppState,
    partner: i64,
    body: S,
) -> Result<ImportReport, Failure>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let limit = state.config.feed_body_limit_bytes;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let too_large = Arc::new(AtomicBool::new(false));
    let flag = too_large.clone();
    let forward = tokio::spawn(async move {
        let mut body = std::pin::pin!(body);
        let mut total = 0usize;
        while let Some(chunk) = body.next().await {
            let item = match chunk {
                Ok(bytes) => {
                    total += bytes.len();
                    if total > limit {
                        flag.store(true, Ordering::Release);
                        Err(std::io::Error::other(format!(
                            "the feed is over {limit} bytes"
                        )))
                    } else {
                        Ok(bytes)
                    }
                }
                Err(e) => Err(std::io::Error::other(format!(
                    "reading the feed failed: {e}"
                ))),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    let (store, catalogs) = (state.store.clone(), state.catalogs.clone());
    let result = tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::with_capacity(1 << 16, ChannelReader::new(rx));
        catalogs.import(&store, partner, reader)
    })
    .await;
    forward.abort();
    match result {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(_)) if too_large.load(Ordering::Acquire) => Err(Failure::TooLarge(limit)),
        Ok(Err(e)) => Err(Failure::Import(e)),
        Err(_) => Err(Failure::Internal),
    }
}

fn report_json(r: &ImportReport) -> Value {
    json!({
        "imported": r.imported,
        "skipped": r.skipped,
        "duplicates": r.duplicates,
        "categories": r.categories,
        "encoding": r.encoding,
        "problemCount": r.problem_count,
        "problems": r.problems.iter().map(|p| json!({"line": p.line, "reason": p.reason})).collect::<Vec<_>>(),
    })
}

fn failure_response(f: Failure) -> Response {
    match f {
        Failure::TooLarge(limit) => HttpError::from(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the feed is larger than the limit of {limit} bytes (feed_body_limit_bytes)"),
        ))
        .into_response_json(),
        Failure::Import(ImportError::Feed(e)) => json_response(
            StatusCode::BAD_REQUEST,
            json!({
                "error": ErrorCode::InvalidParameter.as_str(),
                "message": format!("body: the feed is not well-formed XML at line {}, column {}: {}; nothing was changed", e.line, e.column, e.message),
                "field": "body",
                "line": e.line,
                "column": e.column,
            })
            .to_string(),
        ),
        Failure::Import(ImportError::Store(e)) => HttpError::from(e).into_response_json(),
        Failure::Internal => HttpError::from(ApiError::internal()).into_response_json(),
    }
}

trait IntoJson {
    fn into_response_json(self) -> Response;
}

impl IntoJson for HttpError {
    fn into_response_json(self) -> Response {
        axum::response::IntoResponse::into_response(self)
    }
}

fn media_type(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
}

async fn upload_feed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    match media_type(&headers, header::CONTENT_TYPE).as_deref() {
        Some("application/xml" | "text/xml") => {}
        _ => {
            let mut e = ApiError::new(
                ErrorCode::UnsupportedContentType,
                "Content-Type must be application/xml or text/xml for a feed",
            );
            e.field = Some("Content-Type".into());
            return Err(e.into());
        }
    }
    match media_type(&headers, header::CONTENT_ENCODING).as_deref() {
        None | Some("identity" | "gzip" | "x-gzip") => {}
        Some(_) => {
            return Err(
                ApiError::invalid("Content-Encoding", "must be gzip or absent (identity)").into(),
            )
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.config.feed_body_limit_bytes) {
        return Ok(failure_response(Failure::TooLarge(
            state.config.feed_body_limit_bytes,
        )));
    }
    let started = std::time::Instant::now();
    match import_stream(&state, partner.rowid, body.into_data_stream()).await {
        Ok(report) => {
            tracing::info!(partner = %partner.id, imported = report.imported, skipped = report.skipped,
                millis = started.elapsed().as_millis() as u64, "feed uploaded");
            Ok(json_response(
                StatusCode::OK,
                report_json(&report).to_string(),
            ))
        }
        Err(f) => Ok(failure_response(f)),
    }
}

async fn set_feed_url(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let body = read_json(&headers, body, state.config.body_limit_bytes).await?;
    let url = body
        .get("url")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| {
            (u.starts_with("http://") || u.starts_with("https://"))
                && u.len() <= 2000
                && reqwest::Url::parse(u).is_ok()
        })
        .ok_or_else(|| {
            ApiError::invalid(
                "url",
                "is required: an http:// or https:// URL of at most 2000 characters",
            )
        })?
        .to_string();
    let interval = match body.get("intervalMinutes") {
        None | Some(Value::Null) => 60,
        Some(v) => v
            .as_i64()
            .filter(|n| (15..=120).contains(n))
            .ok_or_else(|| {
                ApiError::invalid("intervalMinutes", "must be an integer from 15 to 120")
            })?,
    };
    let (store, rowid, u) = (state.store.clone(), partner.rowid, url.clone());
    blocking(move || store.set_feed_source(rowid, &u, interval)).await?;
    tracing::info!(partner = %partner.id, %url, interval, "feed URL set");
    feed_url_response(&state, rowid).await
}

async fn delete_feed_url(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let (store, rowid) = (state.store.clone(), partner.rowid);
    if !blocking(move || store.delete_feed_source(rowid)).await? {
        return Err(ApiError::not_found("this partner has no feed URL").into());
    }
    tracing::info!(partner = %partner.id, "feed URL removed");
    Ok(json_response(
        StatusCode::OK,
        json!({"partnerId": partner.id.as_str(), "feedUrl": null}).to_string(),
    ))
}

async fn get_feed_url(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    feed_url_response(&state, partner.rowid).await
}

async fn feed_url_response(state: &AppState, partner: i64) -> HttpResult<Response> {
    let store = state.store.clone();
    let source = blocking(move || store.feed_source(partner))
        .await?
        .ok_or_else(|| ApiError::not_found("this partner has no feed URL"))?;
    let status: Value = serde_json::from_str(&source.status).unwrap_or_else(|_| json!({}));
    let body = json!({
        "url": source.url,
        "intervalMinutes": source.interval_minutes,
        "etag": source.etag,
        "lastModified": source.last_modified,
        "nextFetchAt": (source.next_fetch_ms > 0).then(|| propel_model::timestamp::format_rfc3339_ms(source.next_fetch_ms)),
        "status": status,
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// Background work of the product base: every second, picks up bases changed by another
/// process (the command-line import) and fetches the feeds that are due, one at a time.
pub async fn run_background(state: AppState) {
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(120))
        .user_agent(concat!("propel/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: feed URLs will not be fetched");
            return;
        }
    };
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (store, catalogs) = (state.store.clone(), state.catalogs.clone());
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || catalogs.refresh(&store)).await {
            tracing::warn!(error = %e, "product base refresh failed");
        }
        let store = state.store.clone();
        let now = crate::tracking::now_ms();
        let due = match tokio::task::spawn_blocking(move || store.due_feed_sources(now)).await {
            Ok(Ok(due)) => due,
            _ => continue,
        };
        for source in due {
            fetch(&state, &client, source).await;
        }
    }
}

fn count(status: &mut Map<String, Value>, name: &str) {
    let n = status.get(name).and_then(Value::as_u64).unwrap_or(0);
    status.insert(name.into(), json!(n + 1));
}

/// One conditional fetch of a feed URL and, when it changed, a full import.
async fn fetch(state: &AppState, client: &reqwest::Client, mut source: FeedSource) {
    let now = crate::tracking::now_ms();
    let mut status: Map<String, Value> = serde_json::from_str(&source.status).unwrap_or_default();
    let at = propel_model::timestamp::format_rfc3339_ms(now);
    status.insert("lastAttemptAt".into(), json!(at));
    count(&mut status, "fetches");
    let mut request = client
        .get(&source.url)
        .header(header::ACCEPT_ENCODING, "gzip");
    if let Some(etag) = &source.etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(lm) = &source.last_modified {
        request = request.header(header::IF_MODIFIED_SINCE, lm);
    }
    let outcome: Result<&str, String> = match request.send().await {
        Err(e) => Err(format!("fetch failed: {e}")),
        Ok(resp) => {
            status.insert("lastHttpStatus".into(), json!(resp.status().as_u16()));
            if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
                count(&mut status, "notModified");
                Ok("not_modified")
            } else if !resp.status().is_success() {
                Err(format!(
                    "the server answered HTTP {}",
                    resp.status().as_u16()
                ))
            } else {
                let header_text = |name: header::HeaderName| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let (etag, last_modified) = (
                    header_text(header::ETAG),
                    header_text(header::LAST_MODIFIED),
                );
                match import_stream(state, source.partner, resp.bytes_stream()).await {
                    Ok(report) => {
                        source.etag = etag;
                        source.last_modified = last_modified;
                        status.insert("lastSuccessAt".into(), json!(at));
                        status.insert("lastImport".into(), report_json(&report));
                        Ok("imported")
                    }
                    Err(Failure::TooLarge(limit)) => Err(format!("the feed is over {limit} bytes")),
                    Err(Failure::Import(ImportError::Feed(e))) => Err(format!(
                        "the feed is not well-formed XML at line {}, column {}: {}",
                        e.line, e.column, e.message
                    )),
                    Err(Failure::Import(ImportError::Store(e))) => Err(format!("storage: {e}")),
                    Err(Failure::Internal) => Err("internal error".into()),
                }
            }
        }
    };
    match outcome {
        Ok(result) => {
            status.insert("lastResult".into(), json!(result));
            status.remove("lastError");
        }
        Err(error) => {
            tracing::warn!(partner = source.partner, url = %source.url, %error, "feed fetch failed; the last good base stays");
            count(&mut status, "failures");
            status.insert("lastResult".into(), json!("failed"));
            status.insert("lastError".into(), json!(error));
        }
    }
    let interval_ms = match state.config.feed_poll_seconds {
        Some(s) => s.max(1) as i64 * 1000,
        None => source.interval_minutes * 60_000,
    };
    source.next_fetch_ms = crate::tracking::now_ms() + interval_ms;
    source.status = Value::Object(status).to_string();
    let store = state.store.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.record_feed_fetch(&source)).await
    {
        tracing::warn!(error = %e, "could not record a feed fetch");
    }
}

/// The OpenAPI entries of this module.
pub fn openapi_paths(paths: &mut Map<String, Value>) {
    let errors = |codes: &[u16]| {
        let mut out = Map::new();
        for c in codes {
            out.insert(c.to_string(), json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        }
        out
    };
    let partner =
        json!({"name": "partnerId", "in": "path", "required": true, "schema": {"type": "string"}});
    let report = json!({"type": "object", "properties": {
        "imported": {"type": "integer", "description": "products in the new base"},
        "skipped": {"type": "integer", "description": "offers skipped for a bad id, price or name"},
        "duplicates": {"type": "integer"}, "categories": {"type": "integer"}, "encoding": {"type": "string"},
        "problemCount": {"type": "integer"},
        "problems": {"type": "array", "maxItems": 100, "items": {"type": "object", "properties": {"line": {"type": "integer"}, "reason": {"type": "string"}}}}}});
    let mut upload = errors(&[401, 404, 413]);
    upload.insert("200".into(), json!({"description": "the feed replaced the partner's base", "content": {"application/json": {"schema": report}}}));
    upload.insert("400".into(), json!({"description": "the feed is not well-formed XML (nothing changed), or a wrong content type", "content": {"application/json": {"schema": {"allOf": [{"$ref": "#/components/schemas/Error"}, {"type": "object", "properties": {"line": {"type": "integer"}, "column": {"type": "integer"}}}]}}}}));
    paths.insert("/admin/partners/{partnerId}/feed".into(), json!({"post": {
        "tags": ["admin", "catalog"], "summary": "replace the partner's product base with a YML feed (streamed; Content-Encoding: gzip accepted; up to feed_body_limit_bytes, 512 MiB by default)",
        "security": [{"operatorToken": []}], "parameters": [partner],
        "requestBody": {"required": true, "content": {"application/xml": {"schema": {"type": "string"}}, "text/xml": {"schema": {"type": "string"}}}},
        "responses": upload}}));
    let source = json!({"type": "object", "properties": {
        "url": {"type": "string"}, "intervalMinutes": {"type": "integer"}, "etag": {"type": ["string", "null"]},
        "lastModified": {"type": ["string", "null"]}, "nextFetchAt": {"type": ["string", "null"], "format": "date-time"},
        "status": {"type": "object", "description": "lastAttemptAt, lastSuccessAt, lastResult (imported, not_modified, failed), lastError, lastHttpStatus, lastImport, fetches, notModified, failures"}}});
    let mut removed = errors(&[401, 404]);
    removed.insert("200".into(), json!({"description": "no longer fetched", "content": {"application/json": {"schema": {"type": "object", "properties": {"partnerId": {"type": "string"}, "feedUrl": {"type": "null"}}}}}}));
    let mut ok = errors(&[400, 401, 404]);
    ok.insert("200".into(), json!({"description": "the feed source and what its fetches did", "content": {"application/json": {"schema": source}}}));
    paths.insert("/admin/partners/{partnerId}/feed-url".into(), json!({
        "put": {"tags": ["admin", "catalog"], "summary": "fetch the partner's feed from a URL on a schedule (conditional GET, gzip); a failed fetch keeps the last good base",
            "security": [{"operatorToken": []}], "parameters": [partner.clone()],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "format": "uri"}, "intervalMinutes": {"type": "integer", "minimum": 15, "maximum": 120, "default": 60}}}}}},
            "responses": ok.clone()},
        "delete": {"tags": ["admin", "catalog"], "summary": "stop fetching the partner's feed URL (the base stays)",
            "security": [{"operatorToken": []}], "parameters": [partner.clone()], "responses": removed},
        "get": {"tags": ["admin", "catalog"], "summary": "the partner's feed URL and the status of its fetches",
            "security": [{"operatorToken": []}], "parameters": [partner], "responses": ok}}));
}
