//! Admin routes of the email side: scenarios, one contact (read, erase), the email report.

use crate::body::read_json;
use crate::error::{json_response, HttpError, HttpResult};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use axum::Router;
use propel_email::scenario::{Scenario, ScenarioKind};
use propel_model::{ApiError, EventKind, PartnerId};
use propel_store::PartnerRecord;
use serde_json::{json, Map, Value};
use std::sync::Arc;

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
        .route("/partners/{partner}/email/report", get(report))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, propel_store::StoreError> + Send + 'static,
) -> HttpResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| HttpError::from(ApiError::internal()))?
        .map_err(HttpError::from)
}

fn partner(state: &AppState, id: &str) -> HttpResult<Arc<PartnerRecord>> {
    PartnerId::parse(id)
        .ok()
        .and_then(|id| state.partners.get(id.as_str()))
        .ok_or_else(|| ApiError::not_found(format!("no partner {id}")).into())
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
    let partner = partner(&state, &id)?;
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
    let partner = partner(&state, &id)?;
    let kind = scenario_kind(&kind)?;
    let scenario = state.email.scenario(partner.rowid, kind).ok_or_else(|| {
        ApiError::not_found(format!("the {} scenario is not configured", kind.name()))
    })?;
    Ok(ok(
        json!({"scenario": kind.name(), "from": scenario.from, "emails": scenario.emails}),
    ))
}

fn contact_id(raw: &str) -> HttpResult<String> {
    if !raw.is_empty() && raw.len() <= 50 && raw.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::invalid("contactExternalId", "must be 1-50 letters and digits").into())
    }
}

async fn get_contact(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
) -> HttpResult<Response> {
    let partner = partner(&state, &id)?;
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

async fn erase_contact(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
) -> HttpResult<Response> {
    let partner = partner(&state, &id)?;
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
    let partner = partner(&state, &id)?;
    let (store, rowid) = (state.store.clone(), partner.rowid);
    let rows = blocking(move || store.email_report(rowid)).await?;
    Ok(ok(json!({"partnerId": partner.id.as_str(), "days": rows})))
}
