//! Reading a JSON body: content type, size limit, syntax.

use crate::error::HttpError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use propel_model::{ApiError, ErrorCode};
use serde_json::Value;

/// `application/json`, any letter case, parameters such as `charset` allowed.
pub fn require_json(headers: &HeaderMap) -> Result<(), HttpError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if ok {
        Ok(())
    } else {
        let mut e = ApiError::new(
            ErrorCode::UnsupportedContentType,
            "Content-Type must be application/json for a request with a body",
        );
        e.field = Some("Content-Type".into());
        Err(e.into())
    }
}

pub async fn read_bytes(body: Body, limit: usize) -> Result<bytes::Bytes, HttpError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the body is larger than this endpoint's limit of {limit} bytes (or could not be read)"),
        )
        .into()
    })
}

pub fn parse_json(bytes: &[u8]) -> Result<Value, HttpError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let mut err = ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        );
        err.field = Some("body".into());
        err.into()
    })
}

/// Content type, size and syntax in one step.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, HttpError> {
    require_json(headers)?;
    parse_json(&read_bytes(body, limit).await?)
}
