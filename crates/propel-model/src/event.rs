//! The 15 tracking methods (spec/tracking.md): their names, fields and validation.

use crate::body::{EventBody, FieldSlots};
use crate::error::ApiError;
use crate::fields::{self, opt, req, FieldSpec, FieldType};
use serde_json::Value;
use std::borrow::Cow;

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
        let fields = self.fields();
        self.validated(|i| object.get(fields[i].name).map(Cow::Borrowed), now_ms)
    }

    /// Validates a body straight from the request's bytes, with the result
    /// [`validate`](Self::validate) gives, without building the whole JSON value.
    /// `None` when the bytes are not one JSON object: the caller parses them the
    /// general way, which names what is wrong.
    pub fn parse(self, bytes: &[u8], now_ms: i64) -> Option<Result<ValidatedEvent, ApiError>> {
        let mut slots = FieldSlots::read(self.fields(), bytes)?;
        Some(self.validated(|i| slots.take(i).map(Cow::Owned), now_ms))
    }

    fn validated<'v>(
        self,
        get: impl FnMut(usize) -> Option<Cow<'v, Value>>,
        now_ms: i64,
    ) -> Result<ValidatedEvent, ApiError> {
        let (mut normalized, ts_ms) = fields::validate(self.fields(), get, now_ms)?;
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
    pub body: EventBody,
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

    /// The body as stored, JSON appended to `out` (which keeps its allocation).
    pub fn write_body_json(&self, out: &mut Vec<u8>) {
        // Writing a JSON value into memory cannot fail.
        let _ = serde_json::to_writer(out, &self.body);
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
    use proptest::prelude::*;
    use serde_json::json;

    /// Keys of `kind`'s fields, plus some it does not know: the same names in another
    /// letter case (names match exactly), and others.
    fn any_key(kind: EventKind) -> impl Strategy<Value = String> {
        let own = kind.fields().iter().map(|f| f.name.to_string());
        let mut names: Vec<String> = own.clone().collect();
        names.extend(
            own.map(|n| n.to_lowercase())
                .filter(|n| !names_has(kind, n)),
        );
        names.extend(["extra", "", "customData"].map(String::from));
        prop::sample::select(names)
    }

    fn names_has(kind: EventKind, name: &str) -> bool {
        kind.fields().iter().any(|f| f.name == name)
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-zA-Z0-9 @.+/-]{0,12}".prop_map(Value::from),
            Just(json!("2024-02-29T10:00:00.5+03:00")),
            Just(json!(" Ann@Example.COM ")),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A value that obeys `ty` (or nearly: texts may be blank).
    fn valid_value(ty: FieldType) -> BoxedStrategy<Value> {
        match ty {
            FieldType::SessionId => "[A-Za-z0-9-]{1,8}".prop_map(Value::from).boxed(),
            FieldType::Timestamp => prop::sample::select(vec![
                "2024-02-29T10:00:00.5+03:00",
                "2023-01-01T00:00:00Z",
                "2023-06-01 12:30",
            ])
            .prop_map(Value::from)
            .boxed(),
            FieldType::Int64 => any::<i64>().prop_map(Value::from).boxed(),
            FieldType::Int64List => prop::collection::vec(any::<i64>(), 1..4)
                .prop_map(Value::from)
                .boxed(),
            FieldType::Text { .. } => "[a-z ]{1,10}".prop_map(Value::from).boxed(),
            FieldType::AlnumId { .. } => "[A-Za-z0-9]{1,8}".prop_map(Value::from).boxed(),
            FieldType::Price | FieldType::Quantity => (0.01f64..1e4).prop_map(Value::from).boxed(),
            FieldType::Email => prop::sample::select(vec!["a@b.co", " Ann@Example.COM "])
                .prop_map(Value::from)
                .boxed(),
            FieldType::Phone => "\\+[1-9][0-9]{3,10}".prop_map(Value::from).boxed(),
            FieldType::Object => Just(json!({"b": 1, "a": [true, null]})).boxed(),
            FieldType::CategoryPath => "[a-z]{1,3}(/[a-z]{1,3}){0,2}".prop_map(Value::from).boxed(),
        }
    }

    /// A body of `kind` as a client might write it: its fields mostly valid, with other
    /// keys, repeated keys (the last one counts) and wrong values mixed in, in any order.
    fn any_body(kind: EventKind) -> impl Strategy<Value = Vec<u8>> {
        let fields: Vec<_> = kind
            .fields()
            .iter()
            .map(|f| {
                prop::option::weighted(
                    if f.required { 0.95 } else { 0.5 },
                    valid_value(f.ty).prop_map(move |v| (f.name.to_string(), v)),
                )
            })
            .collect();
        let noise = prop::collection::vec((any_key(kind), any_value()), 0..4);
        let object = (fields, noise, any::<u64>()).prop_map(|(fields, noise, seed)| {
            let mut pairs: Vec<(String, Value)> = fields.into_iter().flatten().collect();
            // Noise goes before or after the fields, so repeated keys win or lose.
            for (i, pair) in noise.into_iter().enumerate() {
                let at = (seed >> (i * 8)) as usize % (pairs.len() + 1);
                pairs.insert(at, pair);
            }
            let text: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {v}", Value::from(k.as_str())))
                .collect();
            format!("{{{}}}", text.join(", ")).into_bytes()
        });
        prop_oneof![
            6 => object,
            1 => any_value().prop_map(|v| v.to_string().into_bytes()),
            1 => prop::collection::vec(any::<u8>(), 0..24),
        ]
    }

    proptest! {
        /// Reading a body straight from its bytes gives what parsing it and then
        /// validating it gives, error included; bytes that are not one JSON object
        /// are left to the general parse.
        #[test]
        fn parsing_from_bytes_agrees_with_validating_a_value(
            (kind, body) in prop::sample::select(EventKind::ALL.to_vec())
                .prop_flat_map(|kind| (Just(kind), any_body(kind))),
        ) {
            let now = 1_700_000_000_000;
            let general = serde_json::from_slice::<Value>(&body);
            match kind.parse(&body, now) {
                Some(fast) => prop_assert_eq!(fast, kind.validate(&general.unwrap(), now)),
                None => prop_assert!(!matches!(general, Ok(Value::Object(_)))),
            }
        }
    }

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
