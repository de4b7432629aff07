//! The one error table: every refusal of every API is one of these codes, with its
//! HTTP status, and is rendered as `{"error", "message", "field"}` (spec/principles.md).

use serde::Serialize;

/// Machine codes of every error the server answers with, and their HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A parameter is missing, of the wrong type, or breaks its rule.
    InvalidParameter,
    /// The body is not JSON at all.
    MalformedJson,
    /// The request carries a body but not `Content-Type: application/json`.
    UnsupportedContentType,
    /// The body is over the endpoint's size limit.
    BodyTooLarge,
    /// apiKey missing, wrong, revoked, not this partner's; or partnerId unknown.
    Unauthorized,
    /// The partner is suspended.
    Forbidden,
    /// Unknown path, method or resource.
    NotFound,
    /// The partner's request rate for this API is over its limit.
    RateLimited,
    /// The admin API is not enabled on this server (no operator token configured).
    AdminDisabled,
    /// A conflicting state, e.g. a duplicate resource.
    Conflict,
    /// Something failed on our side; the request may be retried.
    Internal,
    /// The server is shutting down or storage is unavailable.
    Unavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::InvalidParameter,
        ErrorCode::MalformedJson,
        ErrorCode::UnsupportedContentType,
        ErrorCode::BodyTooLarge,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::RateLimited,
        ErrorCode::AdminDisabled,
        ErrorCode::Conflict,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ];

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidParameter
            | ErrorCode::MalformedJson
            | ErrorCode::UnsupportedContentType => 400,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound | ErrorCode::AdminDisabled => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::UnsupportedContentType => "unsupported_content_type",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::AdminDisabled => "admin_disabled",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(rename = "error")]
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Index of the offending element of a batch or array body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: None,
            index: None,
        }
    }

    /// A parameter broke its rule: 400 naming the field.
    pub fn invalid(field: impl Into<String>, rule: impl AsRef<str>) -> Self {
        let field = field.into();
        ApiError {
            code: ErrorCode::InvalidParameter,
            message: format!("{field}: {}", rule.as_ref()),
            field: Some(field),
            index: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub fn internal() -> Self {
        ApiError::new(
            ErrorCode::Internal,
            "internal error; the request may be retried",
        )
    }

    /// The same error, located in element `index` of an array body.
    pub fn at_index(mut self, index: usize, prefix: &str) -> Self {
        self.index = Some(index);
        if let Some(field) = &self.field {
            self.field = Some(format!("[{index}].{prefix}{field}"));
        }
        self.message = format!("element {index}: {}", self.message);
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"error":"internal","message":"error could not be rendered"}"#.to_string()
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_field_and_rule() {
        let e = ApiError::invalid("productId", "must be a 64-bit integer");
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["error"], "invalid_parameter");
        assert_eq!(v["field"], "productId");
        assert_eq!(v["message"], "productId: must be a 64-bit integer");
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn index_prefixes_field() {
        let e = ApiError::invalid("productId", "required").at_index(3, "view.");
        assert_eq!(e.field.as_deref(), Some("[3].view.productId"));
        assert_eq!(e.index, Some(3));
    }

    #[test]
    fn every_code_has_distinct_name() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }
}
