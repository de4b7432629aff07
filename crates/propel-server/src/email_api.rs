//! Admin routes of the email side: scenarios, one contact (read, erase), the email report.

use crate::admin::{blocking, known_partner};
use crate::body::read_json;
use crate::error::{json_response, HttpResult};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use axum::Router;
use propel_email::scenario::{Scenario, ScenarioKind};
use propel_model::fields::{check_value, FieldType};
use propel_model::{ApiError, EventKind};
use serde_json::{json, Map, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/partners/{partner}/scenarios/{kind}",
            put(set_scenario).get(get_scenario),
        )
        .route(
            "/partners/{partner}/contacts/{contact}",
            get(get_contact).delete(erase_contact),
        )
        .route(
            "/partners/{partner}/contacts/{contact}/export",
            get(export_contact),
        )
        .route("/partners/{partner}/email/report", get(report))
}

fn scenario_kind(name: &str) -> HttpResult<ScenarioKind> {
    ScenarioKind::from_name(name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no scenario '{name}': the scenarios are welcome and abandonedBasket"
        ))
        .into()
    })
}

fn ok(value: Value) -> Response {
    json_response(StatusCode::OK, value.to_string())
}

async fn set_scenario(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let kind = scenario_kind(&kind)?;
    let body = read_json(&headers, body, state.config.body_limit_bytes).await?;
    let scenario = Scenario::from_json(&body).map_err(|e| ApiError::invalid(e.field, e.rule))?;
    let config = serde_json::to_string(&scenario).map_err(|_| ApiError::internal())?;
    let (store, rowid) = (state.store.clone(), partner.rowid);
    blocking(move || store.set_email_scenario(rowid, kind.name(), &config)).await?;
    state.email.set(partner.rowid, kind, scenario.clone());
    Ok(ok(
        json!({"scenario": kind.name(), "from": scenario.from, "emails": scenario.emails}),
    ))
}

async fn get_scenario(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let kind = scenario_kind(&kind)?;
    let scenario = state.email.scenario(partner.rowid, kind).ok_or_else(|| {
        ApiError::not_found(format!("the {} scenario is not configured", kind.name()))
    })?;
    Ok(ok(
        json!({"scenario": kind.name(), "from": scenario.from, "emails": scenario.emails}),
    ))
}

/// The same rule as `setContact`'s `contactExternalId`.
fn contact_id(raw: &str) -> HttpResult<String> {
    let rule = FieldType::AlnumId { max: 50 };
    match check_value(rule, &Value::String(raw.to_string())) {
        Some(_) => Ok(raw.to_string()),
        None => Err(ApiError::invalid("contactExternalId", rule.rule()).into()),
    }
}

async fn get_contact(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let contact = contact_id(&contact)?;
    let (store, rowid) = (state.store.clone(), partner.rowid);
    let found = blocking(move || {
        let Some(record) = store.contact(rowid, &contact)? else {
            return Ok(None);
        };
        let subscription = match &record.email {
            Some(email) => Some((
                store.subscription(rowid, email)?,
                store.subscriber_attributes(rowid, email)?,
            )),
            None => None,
        };
        let behaviour = store.contact_behaviour(rowid, &contact, EventKind::Order.code())?;
        Ok(Some((record, subscription, behaviour)))
    })
    .await?;
    let Some((record, subscription, behaviour)) = found else {
        return Err(ApiError::not_found("no such contact").into());
    };
    let mut events = Map::new();
    let mut last = None::<i64>;
    for (code, count, ts) in behaviour.kinds {
        if let Some(kind) = EventKind::from_code(code) {
            events.insert(kind.name().to_string(), json!(count));
        }
        last = Some(last.map_or(ts, |l| l.max(ts)));
    }
    let subscription = subscription.map(|(subscribed, attributes)| {
        json!({
            "inBase": subscribed.is_some(),
            "subscribed": subscribed.unwrap_or(false),
            "attributes": attributes.and_then(|a| serde_json::from_str::<Value>(&a).ok()).unwrap_or(json!({})),
        })
    });
    Ok(ok(json!({
        "contactExternalId": record.contact_external_id,
        "email": record.email,
        "phone": record.phone,
        "customData": record.custom_data,
        "sessions": record.sessions,
        "subscription": subscription,
        "behaviour": {
            "events": events,
            "lastActivityAt": last.map(propel_model::timestamp::format_rfc3339_ms),
            "orders": behaviour.orders,
            "revenue": behaviour.revenue,
        },
    })))
}

/// Privacy export: everything stored about one contact, as one JSON document.
async fn export_contact(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let contact = contact_id(&contact)?;
    let (store, rowid) = (state.store.clone(), partner.rowid);
    let found = blocking(move || {
        let Some(record) = store.contact(rowid, &contact)? else {
            return Ok(None);
        };
        let mut events = Vec::new();
        for session in &record.sessions {
            store.export_events(rowid, Some(session), |e| {
                let body = serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null);
                events.push(json!({"kind": e.kind.name(), "event": body}));
                true
            })?;
        }
        let subscriber = match &record.email {
            Some(email) => store
                .subscription(rowid, email)?
                .map(|s| (s, store.subscriber_attributes(rowid, email))),
            None => None,
        };
        let subscriber = match subscriber {
            Some((subscribed, attributes)) => Some((subscribed, attributes?)),
            None => None,
        };
        let emails = store.contact_emails(rowid, &contact, record.email.as_deref())?;
        Ok(Some((record, events, subscriber, emails)))
    })
    .await?;
    let Some((record, events, subscriber, emails)) = found else {
        return Err(ApiError::not_found("no such contact").into());
    };
    let subscriber = subscriber.map(|(subscribed, attributes)| {
        json!({"subscribed": subscribed,
               "attributes": attributes.and_then(|a| serde_json::from_str::<Value>(&a).ok()).unwrap_or(json!({}))})
    });
    Ok(ok(json!({
        "contact": record,
        "subscriber": subscriber,
        "events": events,
        "emails": emails,
    })))
}

async fn erase_contact(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let contact = contact_id(&contact)?;
    let (store, rowid, cid) = (state.store.clone(), partner.rowid, contact.clone());
    let kinds = (
        EventKind::SetContact.code(),
        EventKind::WelcomeSequence.code(),
    );
    let erased =
        blocking(move || store.erase_contact(rowid, &cid, crate::mailer::email_hash, kinds))
            .await?
            .ok_or_else(|| ApiError::not_found("no such contact"))?;
    if let Some(email) = &erased.email {
        if let Ok(mut set) = state.subscribers.write() {
            set.remove(&(partner.rowid, email.clone()));
        }
    }
    tracing::info!(partner = %partner.id, "contact erased");
    Ok(ok(json!({
        "contactExternalId": contact,
        "erased": true,
        "sessionsUnlinked": erased.sessions_unlinked,
    })))
}

async fn report(State(state): State<AppState>, Path(id): Path<String>) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let (store, rowid) = (state.store.clone(), partner.rowid);
    let rows = blocking(move || store.email_report(rowid)).await?;
    Ok(ok(json!({"partnerId": partner.id.as_str(), "days": rows})))
}

/// The email side's entries of the OpenAPI description (admin routes, the subscriber
/// upload, the unsubscribe page).
pub fn openapi_paths(paths: &mut Map<String, Value>) {
    let error = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let errors = |codes: &[u16]| -> Map<String, Value> {
        codes
            .iter()
            .map(|c| {
                (
                    c.to_string(),
                    json!({"description": "error", "content": error["content"].clone()}),
                )
            })
            .collect()
    };
    let partner =
        json!({"name": "partnerId", "in": "path", "required": true, "schema": {"type": "string"}});
    let contact = json!({"name": "contactExternalId", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,50}$"}});
    let kind = json!({"name": "scenario", "in": "path", "required": true, "schema": {"type": "string", "enum": ["welcome", "abandonedBasket"]}});
    let op = |summary: &str, params: Vec<Value>, ok: Value, codes: &[u16]| {
        let mut responses = errors(codes);
        responses.insert(
            "200".into(),
            json!({"description": "done", "content": {"application/json": {"schema": ok}}}),
        );
        json!({"tags": ["email"], "summary": summary, "security": [{"operatorToken": []}], "parameters": params, "responses": responses})
    };
    let email = json!({"type": "object", "required": ["delaySeconds", "subject", "html"], "properties": {
        "delaySeconds": {"type": "integer", "minimum": 0, "description": "counted from the start of the chain"},
        "subject": {"type": "string", "description": "Liquid template"},
        "html": {"type": "string", "description": "Liquid template; variables: contact (email, contactExternalId, customData), recommendations.popular, recommendations.personal, recommendations.related, basket (products: id, name, url, pictureUrl, price, oldPrice), unsubscribeUrl"}}});
    let scenario = json!({"type": "object", "required": ["from", "emails"], "properties": {
        "from": {"type": "string", "example": "Shop <shop@example.com>"},
        "emails": {"type": "array", "minItems": 1, "maxItems": 20, "items": email}}});
    let mut put_scenario = op(
        "configure a scenario (welcome: started by welcomeSequence; abandonedBasket: a basket without order); 400 when a template does not parse",
        vec![partner.clone(), kind.clone()],
        scenario.clone(),
        &[400, 401, 404],
    );
    put_scenario["requestBody"] =
        json!({"required": true, "content": {"application/json": {"schema": scenario}}});
    paths.insert(
        "/admin/partners/{partnerId}/scenarios/{scenario}".into(),
        json!({"put": put_scenario, "get": op("a configured scenario", vec![partner.clone(), kind], json!({"type": "object"}), &[401, 404])}),
    );
    let contact_doc = json!({"type": "object", "properties": {
        "contactExternalId": {"type": "string"}, "email": {"type": ["string", "null"]}, "phone": {"type": ["string", "null"]},
        "customData": {"type": "object"}, "sessions": {"type": "array", "items": {"type": "string"}},
        "subscription": {"type": ["object", "null"], "properties": {"inBase": {"type": "boolean"}, "subscribed": {"type": "boolean"}, "attributes": {"type": "object"}}},
        "behaviour": {"type": "object", "properties": {"events": {"type": "object", "additionalProperties": {"type": "integer"}},
            "lastActivityAt": {"type": ["string", "null"], "format": "date-time"}, "orders": {"type": "integer"}, "revenue": {"type": "number"}}}}});
    paths.insert(
        "/admin/partners/{partnerId}/contacts/{contactExternalId}".into(),
        json!({
            "get": op("one contact: channels, custom data, sessions, subscription, behaviour", vec![partner.clone(), contact.clone()], contact_doc, &[400, 401, 404]),
            "delete": op("erase a contact (right to be forgotten): email, phone, custom data gone, sessions unlinked, never emailed again",
                vec![partner.clone(), contact.clone()], json!({"type": "object", "properties": {"contactExternalId": {"type": "string"}, "erased": {"type": "boolean"}, "sessionsUnlinked": {"type": "integer"}}}), &[400, 401, 404]),
        }),
    );
    paths.insert(
        "/admin/partners/{partnerId}/contacts/{contactExternalId}/export".into(),
        json!({"get": op("privacy export: the contact, its subscriber entry, every event of its sessions, every email scheduled for it",
            vec![partner.clone(), contact.clone()], json!({"type": "object", "properties": {"contact": {"type": "object"}, "subscriber": {"type": ["object", "null"]},
                "events": {"type": "array", "items": {"type": "object"}}, "emails": {"type": "array", "items": {"type": "object"}}}}), &[400, 401, 404])}),
    );
    let day = json!({"type": "object", "properties": {"scenario": {"type": "string"}, "day": {"type": "string", "format": "date"},
        "scheduled": {"type": "integer"}, "sent": {"type": "integer"}, "failed": {"type": "integer"}, "clicked": {"type": "integer"},
        "unsubscribed": {"type": "integer"}, "attributedOrders": {"type": "integer"}, "revenue": {"type": "number"}}});
    paths.insert(
        "/admin/partners/{partnerId}/email/report".into(),
        json!({"get": op("emails per scenario and day (UTC)", vec![partner.clone()], json!({"type": "object", "properties": {"partnerId": {"type": "string"}, "days": {"type": "array", "items": day}}}), &[401, 404])}),
    );
    let mut upload_responses = errors(&[400, 401, 403, 413, 429]);
    upload_responses.insert("200".into(), json!({"description": "applied", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "rows": {"type": "integer"}, "subscribed": {"type": "integer"}, "unsubscribed": {"type": "integer"}}}}}}));
    paths.insert(
        "/api/2.0/partner/{partnerId}/subscribers".into(),
        json!({"post": {"tags": ["email"], "summary": "load subscribers from CSV (UTF-8; columns Email, IsSubscribed, others custom attributes; at most 4 MB and 100,000 lines); 400 names the first bad line (`line`) and nothing is applied",
            "security": [{"apiKey": []}],
            "parameters": [partner, {"name": "apikey", "in": "query", "required": true, "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
            "responses": upload_responses}}),
    );
    let token =
        json!({"name": "token", "in": "path", "required": true, "schema": {"type": "string"}});
    let page = json!({"description": "an HTML page", "content": {"text/html": {"schema": {"type": "string"}}}});
    paths.insert(
        "/unsubscribe/{token}".into(),
        json!({
            "get": {"tags": ["email"], "summary": "the unsubscribe page of an email (changes nothing)", "parameters": [token.clone()], "responses": {"200": page.clone(), "404": error.clone()}},
            "post": {"tags": ["email"], "summary": "unsubscribe (the page's button and RFC 8058 one-click)", "parameters": [token], "responses": {"200": page, "404": error}},
        }),
    );
}
