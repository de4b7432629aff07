//! The one mapping of model errors to HTTP responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use propel_model::{ApiError, ErrorCode};

/// An [`ApiError`] on its way out, with the `Retry-After` of a 429.
#[derive(Debug)]
pub struct HttpError {
    pub error: ApiError,
    pub retry_after_secs: Option<u64>,
}

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        HttpError {
            error,
            retry_after_secs: None,
        }
    }
}

impl From<propel_store::StoreError> for HttpError {
    fn from(e: propel_store::StoreError) -> Self {
        match e {
            propel_store::StoreError::NotFound(what) => {
                ApiError::not_found(format!("no such {what}")).into()
            }
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::internal().into()
            }
        }
    }
}

impl From<propel_store::WriteError> for HttpError {
    fn from(e: propel_store::WriteError) -> Self {
        match e {
            propel_store::WriteError::Stopped => ApiError::new(
                ErrorCode::Unavailable,
                "the server is shutting down; retry on another instance or later",
            )
            .into(),
            propel_store::WriteError::Storage(detail) => {
                tracing::error!(error = %detail, "event write failed");
                ApiError::internal().into()
            }
        }
    }
}

/// A JSON answer. The body is taken as it is (a `String`, or a `&'static str` with no
/// allocation) and the content type is set once.
pub fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json_response(status, self.error.to_json());
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type HttpResult<T> = Result<T, HttpError>;
