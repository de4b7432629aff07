//! The 15 tracking methods (spec/tracking.md): their names, fields and validation.

use crate::error::ApiError;
use crate::fields::{self, opt, req, FieldSpec, FieldType};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    View,
    GroupView,
    AddToBasket,
    CategoryView,
    CategoryViewByCategoryPath,
    Order,
    Search,
    SetContact,
    WelcomeSequence,
    EmailClick,
    RecomBlockViewed,
    RecomTap,
    RecomAddToBasket,
    ImpressionContentViewed,
    ImpressionContentClicked,
}

const SESSION: FieldSpec = req("sessionExternalId", FieldType::SessionId);
const TIMESTAMP: FieldSpec = opt("timestamp", FieldType::Timestamp);
const PRODUCT: FieldSpec = req("productId", FieldType::Int64);
const STOCK: FieldSpec = opt("stockId", FieldType::Text { max: 100 });
const BLOCK: FieldSpec = req("recomBlockId", FieldType::Text { max: 50 });
const IMPRESSION: FieldSpec = req("impressionContentId", FieldType::Text { max: 100 });

impl EventKind {
    pub const ALL: [EventKind; 15] = [
        EventKind::View,
        EventKind::GroupView,
        EventKind::AddToBasket,
        EventKind::CategoryView,
        EventKind::CategoryViewByCategoryPath,
        EventKind::Order,
        EventKind::Search,
        EventKind::SetContact,
        EventKind::WelcomeSequence,
        EventKind::EmailClick,
        EventKind::RecomBlockViewed,
        EventKind::RecomTap,
        EventKind::RecomAddToBasket,
        EventKind::ImpressionContentViewed,
        EventKind::ImpressionContentClicked,
    ];

    /// The method name in the URL and in batch envelopes.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::GroupView => "groupView",
            EventKind::AddToBasket => "addToBasket",
            EventKind::CategoryView => "categoryView",
            EventKind::CategoryViewByCategoryPath => "categoryViewByCategoryPath",
            EventKind::Order => "order",
            EventKind::Search => "search",
            EventKind::SetContact => "setContact",
            EventKind::WelcomeSequence => "welcomeSequence",
            EventKind::EmailClick => "emailClick",
            EventKind::RecomBlockViewed => "recomBlockViewed",
            EventKind::RecomTap => "recomTap",
            EventKind::RecomAddToBasket => "recomAddToBasket",
            EventKind::ImpressionContentViewed => "impressionContentViewed",
            EventKind::ImpressionContentClicked => "impressionContentClicked",
        }
    }

    /// Method names are matched exactly, as the original API does.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A stable small number for storage.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<EventKind> {
        EventKind::ALL.get(usize::from(code)).copied()
    }

    /// What happened, for the API description.
    pub fn summary(self) -> &'static str {
        match self {
            EventKind::View => "product card viewed",
            EventKind::GroupView => "card of a product group viewed (sizes/colours of one model)",
            EventKind::AddToBasket => "product put into the basket",
            EventKind::CategoryView => "category page viewed (integer category ids, YML product base)",
            EventKind::CategoryViewByCategoryPath => "category page viewed (category paths, Product API base)",
            EventKind::Order => "one line of a placed order; idempotent per (transaction, productId)",
            EventKind::Search => "visitor entered a search phrase",
            EventKind::SetContact => "the visitor became known: links the session to a contact",
            EventKind::WelcomeSequence => "start the welcome email chain for a subscriber (the address must be in the subscriber base)",
            EventKind::EmailClick => "visitor arrived from a link in an email",
            EventKind::RecomBlockViewed => "a recommendation block was shown",
            EventKind::RecomTap => "a product in a recommendation block was opened",
            EventKind::RecomAddToBasket => "a product was put into the basket from a recommendation block",
            EventKind::ImpressionContentViewed => "sponsored content was shown",
            EventKind::ImpressionContentClicked => "sponsored content was clicked",
        }
    }

    /// Every field of the method's body, common ones first.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            EventKind::View | EventKind::AddToBasket => {
                const F: &[FieldSpec] = &[SESSION, TIMESTAMP, PRODUCT, STOCK];
                F
            }
            EventKind::GroupView => {
                const F: &[FieldSpec] = &[
                    SESSION,
                    TIMESTAMP,
                    req("groupId", FieldType::Int64),
                    req("productIds", FieldType::Int64List),
                    STOCK,
                ];
                F
            }
            EventKind::CategoryView => {
                const F: &[FieldSpec] = &[SESSION, TIMESTAMP, req("categoryId", FieldType::Int64)];
                F
            }
            EventKind::CategoryViewByCategoryPath => {
                const F: &[FieldSpec] = &[
                    SESSION,
                    TIMESTAMP,
                    req("categoryPath", FieldType::CategoryPath),
                ];
                F
            }
            EventKind::Order => {
                const F: &[FieldSpec] = &[
                    SESSION,
                    TIMESTAMP,
                    PRODUCT,
                    STOCK,
                    req("price", FieldType::Price),
                    req("quantity", FieldType::Quantity),
                    req("transaction", FieldType::Text { max: 100 }),
                ];
                F
            }
            EventKind::Search => {
                const F: &[FieldSpec] = &[
                    SESSION,
                    TIMESTAMP,
                    req("searchPhrase", FieldType::Text { max: 500 }),
                    STOCK,
                ];
                F
            }
            EventKind::SetContact => {
                const F: &[FieldSpec] = &[
                    SESSION,
                    TIMESTAMP,
                    req("contactExternalId", FieldType::AlnumId { max: 50 }),
                    opt("email", FieldType::Email),
                    opt("phone", FieldType::Phone),
                    STOCK,
                    opt("customData", FieldType::Object),
                ];
                F
            }
            EventKind::WelcomeSequence => {
                const F: &[FieldSpec] = &[SESSION, TIMESTAMP, req("email", FieldType::Email)];
                F
            }
            EventKind::EmailClick => {
                const F: &[FieldSpec] = &[
                    SESSION,
                    TIMESTAMP,
                    req("mailTrackingId", FieldType::Text { max: 100 }),
                    opt("customData", FieldType::Object),
                ];
                F
            }
            EventKind::RecomBlockViewed => {
                const F: &[FieldSpec] = &[SESSION, TIMESTAMP, BLOCK];
                F
            }
            EventKind::RecomTap | EventKind::RecomAddToBasket => {
                const F: &[FieldSpec] = &[SESSION, TIMESTAMP, PRODUCT, STOCK, BLOCK];
                F
            }
            EventKind::ImpressionContentViewed | EventKind::ImpressionContentClicked => {
                const F: &[FieldSpec] = &[SESSION, TIMESTAMP, IMPRESSION];
                F
            }
        }
    }

    /// Validates one body of this method (see [`fields::validate`]).
    pub fn validate(self, body: &Value, now_ms: i64) -> Result<ValidatedEvent, ApiError> {
        let object = body.as_object().ok_or_else(|| {
            ApiError::invalid(
                "body",
                format!("a {} body must be a JSON object", self.name()),
            )
        })?;
        let (mut normalized, ts_ms) = fields::validate(self.fields(), object, now_ms)?;
        if let Some(Value::String(email)) = normalized.get_mut("email") {
            *email = fields::normalize_email(email);
        }
        let session = match normalized.get("sessionExternalId") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(ApiError::invalid(
                    "sessionExternalId",
                    crate::ids::SessionId::RULE,
                ))
            }
        };
        Ok(ValidatedEvent {
            kind: self,
            session,
            ts_ms,
            body: normalized,
        })
    }
}

/// An event that passed every rule; its body is normalized (see [`fields::validate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedEvent {
    pub kind: EventKind,
    pub session: String,
    pub ts_ms: i64,
    pub body: Map<String, Value>,
}

/// Short name kept for the rest of the code base.
pub type Event = ValidatedEvent;

impl ValidatedEvent {
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }

    pub fn i64_field(&self, name: &str) -> Option<i64> {
        self.body.get(name).and_then(Value::as_i64)
    }

    /// The idempotency key of an order line: (`transaction`, `productId`).
    pub fn order_key(&self) -> Option<String> {
        if self.kind != EventKind::Order {
            return None;
        }
        Some(format!(
            "{}\u{1f}{}",
            self.str_field("transaction")?,
            self.i64_field("productId")?
        ))
    }

    pub fn body_json(&self) -> String {
        serde_json::to_string(&self.body).unwrap_or_default()
    }
}

/// Validates a `visitorEvents` batch: an array of one-key envelopes, all or nothing.
pub fn validate_batch(
    body: &Value,
    now_ms: i64,
    max: usize,
) -> Result<Vec<ValidatedEvent>, ApiError> {
    let items = body.as_array().ok_or_else(|| {
        ApiError::invalid("body", "visitorEvents takes a JSON array of envelopes")
    })?;
    if items.len() > max {
        return Err(ApiError::invalid(
            "body",
            format!(
                "a batch holds at most {max} envelopes; this one has {}",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, envelope)| {
            let (kind, inner) = envelope_parts(envelope).map_err(|e| e.at_index(index, ""))?;
            kind.validate(inner, now_ms)
                .map_err(|e| e.at_index(index, &format!("{}.", kind.name())))
        })
        .collect()
}

fn envelope_parts(envelope: &Value) -> Result<(EventKind, &Value), ApiError> {
    let rule = "each envelope must be an object with exactly one key, a tracking method name";
    let object = envelope
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| ApiError::invalid("envelope", rule))?;
    let (name, inner) = object
        .iter()
        .next()
        .ok_or_else(|| ApiError::invalid("envelope", rule))?;
    let kind = EventKind::from_name(name).ok_or_else(|| {
        ApiError::invalid("envelope", format!("unknown tracking method '{name}'"))
    })?;
    Ok((kind, inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip_and_codes_are_stable() {
        for (i, kind) in EventKind::ALL.into_iter().enumerate() {
            assert_eq!(EventKind::from_name(kind.name()), Some(kind));
            assert_eq!(usize::from(kind.code()), i);
            assert_eq!(EventKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(EventKind::from_name("View"), None);
    }

    #[test]
    fn order_key_joins_transaction_and_product() {
        let e = EventKind::Order
            .validate(&json!({"sessionExternalId": "a", "productId": 7, "price": 1.5, "quantity": 2, "transaction": "T1"}), 0)
            .unwrap();
        assert_eq!(e.order_key().unwrap(), "T1\u{1f}7");
        let v = EventKind::View
            .validate(&json!({"sessionExternalId": "a", "productId": 7}), 0)
            .unwrap();
        assert_eq!(v.order_key(), None);
    }

    #[test]
    fn batch_names_first_bad_envelope() {
        let body = json!([
            {"view": {"sessionExternalId": "a", "productId": 1}},
            {"view": {"sessionExternalId": "a", "productId": "x"}},
            {"nope": {}}
        ]);
        let err = validate_batch(&body, 0, 10).unwrap_err();
        assert_eq!(err.index, Some(1));
        assert_eq!(err.field.as_deref(), Some("[1].view.productId"));
        let err = validate_batch(&json!([{"view": {}, "order": {}}]), 0, 10).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("[0].envelope"));
        let err = validate_batch(&json!([{}, {}]), 0, 1).unwrap_err();
        assert!(err.message.contains("at most 1"));
    }

    #[test]
    fn email_is_lowercased() {
        let e = EventKind::WelcomeSequence
            .validate(
                &json!({"sessionExternalId": "a", "email": " Ann@Example.COM "}),
                0,
            )
            .unwrap();
        assert_eq!(e.str_field("email"), Some("ann@example.com"));
    }
}
