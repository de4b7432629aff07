//! Field rules as data: one table drives both the validation of request bodies and
//! their description in the OpenAPI document, so the two cannot drift apart.

use crate::body::EventBody;
use crate::error::ApiError;
use crate::ids::{is_session_id, SessionId};
use crate::timestamp::{format_rfc3339_ms, parse_iso8601_ms};
use serde_json::Value;
use std::borrow::Cow;

/// How far in the future a client timestamp may lie.
pub const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    SessionId,
    Timestamp,
    /// A JSON integer within int64.
    Int64,
    /// A non-empty array of int64, at most 1,000 items.
    Int64List,
    /// A non-empty (after trimming) string of at most `max` characters.
    Text {
        max: usize,
    },
    /// ASCII letters and digits, 1 to `max` characters.
    AlnumId {
        max: usize,
    },
    /// A number >= 0.
    Price,
    /// A number > 0.
    Quantity,
    Email,
    /// E.164: `+`, then 2 to 15 digits, the first not 0.
    Phone,
    /// Any JSON object.
    Object,
    /// Category levels joined by `/`, none empty.
    CategoryPath,
}

impl FieldType {
    /// The rule, as told to a person when it is broken.
    pub fn rule(self) -> String {
        match self {
            FieldType::SessionId => SessionId::RULE.to_string(),
            FieldType::Timestamp => "must be an ISO 8601 date-time (e.g. 2018-09-15T15:53:00+00:00) no more than 24 hours in the future".to_string(),
            FieldType::Int64 => "must be an integer within the signed 64-bit range".to_string(),
            FieldType::Int64List => "must be a non-empty array of at most 1000 integers within the signed 64-bit range".to_string(),
            FieldType::Text { max } => format!("must be a non-empty string of at most {max} characters"),
            FieldType::AlnumId { max } => format!("must be 1-{max} characters, ASCII letters and digits only"),
            FieldType::Price => "must be a number greater than or equal to 0".to_string(),
            FieldType::Quantity => "must be a number greater than 0".to_string(),
            FieldType::Email => "must be an email address (local@domain, at most 254 characters)".to_string(),
            FieldType::Phone => "must be a phone number in E.164 form, e.g. +79161234567".to_string(),
            FieldType::Object => "must be a JSON object".to_string(),
            FieldType::CategoryPath => "must be category names joined by '/', none empty, at most 1000 characters".to_string(),
        }
    }

    /// The JSON Schema of a valid value.
    pub fn schema(self) -> Value {
        use serde_json::json;
        match self {
            FieldType::SessionId => json!({"type": "string", "pattern": "^[A-Za-z0-9-]{1,50}$"}),
            FieldType::Timestamp => json!({"type": "string", "format": "date-time"}),
            FieldType::Int64 => json!({"type": "integer", "format": "int64"}),
            FieldType::Int64List => {
                json!({"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "integer", "format": "int64"}})
            }
            FieldType::Text { max } => json!({"type": "string", "minLength": 1, "maxLength": max}),
            FieldType::AlnumId { max } => {
                json!({"type": "string", "pattern": format!("^[A-Za-z0-9]{{1,{max}}}$")})
            }
            FieldType::Price => json!({"type": "number", "minimum": 0}),
            FieldType::Quantity => json!({"type": "number", "exclusiveMinimum": 0}),
            FieldType::Email => json!({"type": "string", "format": "email", "maxLength": 254}),
            FieldType::Phone => json!({"type": "string", "pattern": "^\\+[1-9][0-9]{1,14}$"}),
            FieldType::Object => json!({"type": "object"}),
            FieldType::CategoryPath => json!({"type": "string", "minLength": 1, "maxLength": 1000}),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
}

pub const fn req(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: true,
    }
}

pub const fn opt(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: false,
    }
}

/// Checks a body, whose fields `get` gives by their index in `specs`, against `specs`
/// and returns the normalized body: only the known fields, `null` treated as absent,
/// strings trimmed, the timestamp in UTC RFC 3339 (the server's `now_ms` when absent).
/// Returns the event time too. Values given owned are kept without a copy when valid
/// and unchanged.
pub fn validate<'v>(
    specs: &[FieldSpec],
    mut get: impl FnMut(usize) -> Option<Cow<'v, Value>>,
    now_ms: i64,
) -> Result<(EventBody, i64), ApiError> {
    let mut out = EventBody::with_capacity(specs.len());
    let mut ts_ms = now_ms;
    for (i, spec) in specs.iter().enumerate() {
        let value = match get(i) {
            Some(v) if !v.is_null() => v,
            _ if spec.required => {
                return Err(ApiError::invalid(
                    spec.name,
                    format!("is required and {}", spec.ty.rule()),
                ));
            }
            _ => continue,
        };
        let bad = || ApiError::invalid(spec.name, spec.ty.rule());
        let normalized = match spec.ty {
            FieldType::Timestamp => {
                let ms = value.as_str().and_then(parse_iso8601_ms).ok_or_else(bad)?;
                if ms > now_ms + MAX_FUTURE_MS {
                    return Err(ApiError::invalid(
                        spec.name,
                        "must not lie more than 24 hours in the future",
                    ));
                }
                ts_ms = ms;
                Value::String(format_rfc3339_ms(ms))
            }
            ty => checked(ty, value).ok_or_else(bad)?,
        };
        out.insert(spec.name, normalized);
    }
    if !out.contains_key("timestamp") && specs.iter().any(|s| s.ty == FieldType::Timestamp) {
        out.insert("timestamp", Value::String(format_rfc3339_ms(now_ms)));
    }
    Ok((out, ts_ms))
}

/// The normalized value when `value` obeys `ty` (timestamps excluded).
pub fn check_value(ty: FieldType, value: &Value) -> Option<Value> {
    checked(ty, Cow::Borrowed(value))
}

/// [`check_value`], keeping an owned value that needs no change instead of copying it.
fn checked(ty: FieldType, value: Cow<'_, Value>) -> Option<Value> {
    match ty {
        FieldType::SessionId => string(value, |s| is_session_id(s).then_some(s)),
        FieldType::Int64 => value.as_i64().map(Value::from),
        FieldType::Int64List => {
            let items = value
                .as_array()
                .filter(|a| !a.is_empty() && a.len() <= 1000)?;
            items
                .iter()
                .map(|v| v.as_i64().map(Value::from))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array)
        }
        FieldType::Text { max } => string(value, |s| {
            let t = s.trim();
            (!t.is_empty() && t.chars().count() <= max).then_some(t)
        }),
        FieldType::AlnumId { max } => string(value, |s| {
            (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric()))
                .then_some(s)
        }),
        FieldType::Price => value
            .as_f64()
            .filter(|n| *n >= 0.0 && n.is_finite())
            .map(|_| value.into_owned()),
        FieldType::Quantity => value
            .as_f64()
            .filter(|n| *n > 0.0 && n.is_finite())
            .map(|_| value.into_owned()),
        FieldType::Email => string(value, |s| Some(s.trim()).filter(|t| is_email(t))),
        FieldType::Phone => string(value, |s| Some(s.trim()).filter(|t| is_e164(t))),
        FieldType::Object => value.is_object().then(|| value.into_owned()),
        FieldType::CategoryPath => string(value, |s| {
            Some(s.trim()).filter(|t| {
                !t.is_empty() && t.len() <= 1000 && t.split('/').all(|l| !l.trim().is_empty())
            })
        }),
        FieldType::Timestamp => None,
    }
}

/// A string value: `keep` gives the part of it to store (itself, or trimmed), or `None`
/// when it breaks the rule. Kept whole, the value is moved, not copied.
fn string(value: Cow<'_, Value>, keep: impl Fn(&str) -> Option<&str>) -> Option<Value> {
    let trimmed = {
        let s = value.as_str()?;
        let kept = keep(s)?;
        (kept.len() != s.len()).then(|| kept.to_string())
    };
    Some(match trimmed {
        Some(t) => Value::String(t),
        None => value.into_owned(),
    })
}

/// A deliberately plain address check: one `@`, a local part, a dotted domain, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !s.chars().any(|c| {
            c.is_whitespace() || c.is_control() || c == ',' || c == ';' || c == '<' || c == '>'
        })
}

pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Emails are compared and stored in lower case.
pub fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails() {
        assert!(is_email("a@b.co"));
        assert!(is_email("first.last+tag@sub.example.com"));
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.de", "a@.b", "a@b.", "a@b..c",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert!(is_e164("+79161234567"));
        assert!(is_e164("+12"));
        for bad in [
            "79161234567",
            "+0916",
            "+7 916",
            "+1234567890123456",
            "+",
            "+7a",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    /// Strings are stored trimmed, whether the value was borrowed (a parsed body) or
    /// handed over (read straight from the request's bytes).
    #[test]
    fn strings_are_trimmed_whether_given_owned_or_borrowed() {
        for (ty, given, stored) in [
            (FieldType::Text { max: 10 }, "  red  ", "red"),
            (FieldType::Email, " a@b.co ", "a@b.co"),
            (FieldType::Phone, " +4915112345678 ", "+4915112345678"),
            (FieldType::CategoryPath, " a/b ", "a/b"),
            (FieldType::SessionId, "s-1", "s-1"),
        ] {
            let given = json!(given);
            assert_eq!(check_value(ty, &given), Some(json!(stored)), "{ty:?}");
            assert_eq!(
                checked(ty, Cow::Owned(given)),
                Some(json!(stored)),
                "{ty:?}"
            );
        }
        let long = json!("  abcd ");
        assert_eq!(check_value(FieldType::Text { max: 3 }, &long), None);
        assert_eq!(checked(FieldType::Text { max: 3 }, Cow::Owned(long)), None);
    }

    #[test]
    fn validate_normalizes_and_refuses() {
        let specs = [
            req("sessionExternalId", FieldType::SessionId),
            opt("timestamp", FieldType::Timestamp),
            req("productId", FieldType::Int64),
            opt("stockId", FieldType::Text { max: 100 }),
        ];
        let body = json!({"sessionExternalId": "s1", "productId": 5, "stockId": null, "extra": 1});
        let (out, ts) = validate(
            &specs,
            |i| body.get(specs[i].name).map(Cow::Borrowed),
            1_000,
        )
        .unwrap();
        assert_eq!(ts, 1_000);
        assert_eq!(
            Value::Object(out.to_map()),
            json!({"sessionExternalId": "s1", "productId": 5, "timestamp": "1970-01-01T00:00:01Z"})
        );

        let body = json!({"sessionExternalId": "s1", "productId": 5.5});
        let err = validate(&specs, |i| body.get(specs[i].name).map(Cow::Borrowed), 0).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("productId"));

        let body = json!({"sessionExternalId": "s1"});
        let err = validate(&specs, |i| body.get(specs[i].name).map(Cow::Borrowed), 0).unwrap_err();
        assert!(err.message.contains("required"));

        let body =
            json!({"sessionExternalId": "s1", "productId": 1, "timestamp": "2000-01-03T00:00:01Z"});
        let now = parse_iso8601_ms("2000-01-02T00:00:00Z").unwrap();
        let err =
            validate(&specs, |i| body.get(specs[i].name).map(Cow::Borrowed), now).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("timestamp"));
    }

    #[test]
    fn int64_refuses_out_of_range_and_strings() {
        assert!(check_value(FieldType::Int64, &json!(9_223_372_036_854_775_807i64)).is_some());
        assert!(check_value(FieldType::Int64, &json!(9_223_372_036_854_775_808u64)).is_none());
        assert!(check_value(FieldType::Int64, &json!("5")).is_none());
        assert!(check_value(FieldType::Int64List, &json!([])).is_none());
        assert!(check_value(FieldType::Int64List, &json!([1, "2"])).is_none());
    }
}
