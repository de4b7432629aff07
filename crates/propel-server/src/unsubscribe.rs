//! The unsubscribe page of every email: `GET /unsubscribe/{token}` shows a confirmation
//! button; `POST /unsubscribe/{token}` unsubscribes (the button, and the one-click
//! `List-Unsubscribe-Post` of RFC 8058, whose body is `List-Unsubscribe=One-Click`).
//! A GET changes nothing, so link scanners of mail providers cannot unsubscribe anyone.

use crate::error::HttpResult;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use propel_model::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/unsubscribe/{token}", get(page).post(unsubscribe))
}

fn valid_token(token: &str) -> bool {
    token.len() == 24 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn html(status: StatusCode, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Unsubscribe</title></head><body style=\"font-family:sans-serif;max-width:30em;margin:3em auto\">{body}</body></html>"
    );
    let mut response = (status, page).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

async fn page(Path(token): Path<String>) -> HttpResult<Response> {
    if !valid_token(&token) {
        return Err(ApiError::not_found("no such unsubscribe link").into());
    }
    Ok(html(
        StatusCode::OK,
        &format!(
            "<h1>Unsubscribe</h1><p>Stop receiving these emails?</p>\
             <form method=\"post\" action=\"/unsubscribe/{token}\"><button type=\"submit\">Unsubscribe</button></form>"
        ),
    ))
}

async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> HttpResult<Response> {
    if !valid_token(&token) {
        return Err(ApiError::not_found("no such unsubscribe link").into());
    }
    let store = state.store.clone();
    let done = tokio::task::spawn_blocking(move || store.unsubscribe_by_token(&token))
        .await
        .map_err(|_| ApiError::internal())??;
    let Some((partner, email)) = done else {
        return Err(ApiError::not_found("no such unsubscribe link").into());
    };
    if let Ok(mut set) = state.subscribers.write() {
        set.remove(&(partner, email));
    }
    tracing::info!(partner, "address unsubscribed by its link");
    Ok(html(
        StatusCode::OK,
        "<h1>Unsubscribed</h1><p>You will receive no more of these emails.</p>",
    ))
}
