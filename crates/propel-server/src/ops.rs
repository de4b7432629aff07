//! Operations: liveness, readiness, metrics, the API description, and 404.

use crate::error::{json_response, HttpError};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use propel_model::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, r#"{"status":"alive"}"#)
}

async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.ping()).await {
        Ok(Ok(())) => json_response(StatusCode::OK, r#"{"status":"ready","storage":"open"}"#),
        _ => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"not ready","storage":"unavailable"}"#,
        ),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn openapi() -> Response {
    json_response(StatusCode::OK, crate::openapi::document_json())
}

/// Paths no route names: the sponsored paths (see `sponsored`), else 404.
pub async fn fallback(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    match crate::sponsored::dispatch(state, &method, &uri).await {
        Some(response) => response,
        None => HttpError::from(ApiError::not_found("no such resource")).into_response(),
    }
}
