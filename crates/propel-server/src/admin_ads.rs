//! The operator's side of retail media under `/admin` (behind the operator token):
//! placements, advertisers, campaigns, pause/resume, reports.

use crate::admin::blocking;
use crate::body::read_json;
use crate::error::{json_response, HttpError, HttpResult};
use crate::keys::random_bytes;
use crate::state::AppState;
use crate::tracking::now_ms;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use propel_ads::{
    campaign_from_json, placement_from_json, to_units, Campaign, ContentBody, Live, PricingModel,
    Report, ReportRow, Totals,
};
use propel_model::timestamp::format_rfc3339_ms;
use propel_model::{ApiError, PartnerId};
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/partners/{partner}/placements", post(create_placement))
        .route("/advertisers", post(create_advertiser))
        .route("/campaigns", post(create_campaign))
        .route("/campaigns/{campaign}", get(get_campaign))
        .route("/campaigns/{campaign}/pause", post(pause))
        .route("/campaigns/{campaign}/resume", post(resume))
        .route("/campaigns/{campaign}/report", get(report))
}

fn new_id() -> String {
    random_bytes::<12>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn created(value: Value) -> Response {
    json_response(StatusCode::CREATED, value.to_string())
}

fn partner_rowid(state: &AppState, id: &str) -> Option<i64> {
    PartnerId::parse(id)
        .ok()
        .and_then(|id| state.partners.get(id.as_str()))
        .map(|p| p.rowid)
}

fn campaign(state: &AppState, id: &str) -> HttpResult<Arc<Live>> {
    state
        .ads
        .engine
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("no campaign {id}")).into())
}

async fn create_placement(
    State(state): State<AppState>,
    Path(partner): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let rowid = partner_rowid(&state, &partner)
        .ok_or_else(|| ApiError::not_found(format!("no partner {partner}")))?;
    let body = read_json(&headers, body, state.config.body_limit_bytes).await?;
    let placement = placement_from_json(&body, &new_id(), rowid)?;
    let json = serde_json::to_string(&placement).map_err(|_| ApiError::internal())?;
    let (store, id) = (state.store.clone(), placement.id.clone());
    blocking(move || store.create_ad_placement(&id, rowid, &json)).await?;
    let id = placement.id.clone();
    state.ads.add_placement(placement);
    Ok(created(json!({"placementId": id})))
}

async fn create_advertiser(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let body = read_json(&headers, body, state.config.body_limit_bytes).await?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= 200)
        .ok_or_else(|| {
            ApiError::invalid(
                "name",
                "is required: a non-empty string of at most 200 characters",
            )
        })?
        .to_string();
    let (store, id) = (state.store.clone(), new_id());
    let stored = id.clone();
    blocking(move || store.create_advertiser(&stored, &name)).await?;
    Ok(created(json!({"advertiserId": id})))
}

async fn create_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let body = read_json(&headers, body, state.config.body_limit_bytes).await?;
    let resolve = |id: &str| partner_rowid(&state, id);
    let campaign = campaign_from_json(&body, &new_id(), &resolve, now_ms())?;
    let (store, advertiser) = (state.store.clone(), campaign.advertiser_id.clone());
    if !blocking(move || store.advertiser_exists(&advertiser)).await? {
        return Err(ApiError::invalid("advertiserId", "is not a known advertiser").into());
    }
    let json = serde_json::to_string(&campaign).map_err(|_| ApiError::internal())?;
    let (store, id, advertiser) = (
        state.store.clone(),
        campaign.id.clone(),
        campaign.advertiser_id.clone(),
    );
    blocking(move || store.create_campaign(&id, &advertiser, &json)).await?;
    let answer = json!({
        "campaignId": campaign.id,
        "contentIds": campaign.contents.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
    });
    tracing::info!(campaign = %campaign.id, "campaign created");
    state.ads.engine.insert(campaign, Totals::default());
    Ok(created(answer))
}

/// The campaign in the shape it was created in, plus its state and counters.
fn campaign_json(live: &Live, now: i64) -> Value {
    let c: &Campaign = &live.campaign;
    let mut targeting = serde_json::to_value(&c.targeting).unwrap_or(Value::Null);
    if let Some(obj) = targeting.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
    }
    let contents: Vec<Value> = c
        .contents
        .iter()
        .map(|x| match &x.body {
            ContentBody::String(s) => json!({"id": x.id, "type": "string", "string": s}),
            ContentBody::ProductIds(ids) => {
                json!({"id": x.id, "type": "productIds", "productIds": ids})
            }
        })
        .collect();
    let counters = &live.counters;
    let status = if live.paused() {
        "paused"
    } else if now < c.starts_ms {
        "scheduled"
    } else if c.ends_ms.is_some_and(|e| now >= e) {
        "ended"
    } else if counters.spent() >= c.budget.total {
        "exhausted"
    } else {
        "active"
    };
    let mut out = Map::new();
    out.insert("campaignId".into(), json!(c.id));
    out.insert("advertiserId".into(), json!(c.advertiser_id));
    out.insert("name".into(), json!(c.name));
    out.insert("partnerIds".into(), json!(c.partner_ids));
    out.insert("startsAt".into(), json!(format_rfc3339_ms(c.starts_ms)));
    out.insert("endsAt".into(), json!(c.ends_ms.map(format_rfc3339_ms)));
    out.insert(
        "budget".into(),
        json!({"total": to_units(c.budget.total), "daily": c.budget.daily.map(to_units)}),
    );
    let model = match c.model {
        PricingModel::Cpm => "cpm",
        PricingModel::Cpc => "cpc",
    };
    out.insert(
        "pricing".into(),
        json!({"model": model, "bid": to_units(c.bid)}),
    );
    out.insert(
        "frequencyCap".into(),
        json!(c
            .frequency_cap
            .map(|f| json!({"count": f.count, "periodHours": f.period_ms / 3_600_000}))),
    );
    out.insert("targeting".into(), targeting);
    out.insert("contents".into(), Value::Array(contents));
    out.insert("paused".into(), json!(live.paused()));
    out.insert("status".into(), json!(status));
    out.insert("served".into(), json!(counters.served()));
    out.insert("viewed".into(), json!(counters.views()));
    out.insert("clicked".into(), json!(counters.clicks()));
    out.insert("spend".into(), json!(to_units(counters.spent())));
    Value::Object(out)
}

async fn get_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> HttpResult<Response> {
    let live = campaign(&state, &id)?;
    Ok(json_response(
        StatusCode::OK,
        campaign_json(&live, now_ms()).to_string(),
    ))
}

async fn set_paused(state: &AppState, id: &str, paused: bool) -> HttpResult<Response> {
    campaign(state, id)?;
    let (store, stored) = (state.store.clone(), id.to_string());
    blocking(move || store.set_campaign_paused(&stored, paused)).await?;
    state.ads.engine.set_paused(id, paused);
    tracing::info!(campaign = %id, paused, "campaign state changed");
    Ok(json_response(
        StatusCode::OK,
        json!({"campaignId": id, "paused": paused}).to_string(),
    ))
}

async fn pause(State(state): State<AppState>, Path(id): Path<String>) -> HttpResult<Response> {
    set_paused(&state, &id, true).await
}

async fn resume(State(state): State<AppState>, Path(id): Path<String>) -> HttpResult<Response> {
    set_paused(&state, &id, false).await
}

async fn report(State(state): State<AppState>, Path(id): Path<String>) -> HttpResult<Response> {
    campaign(&state, &id)?;
    state.ads.writer.flush().await.map_err(HttpError::from)?;
    let (store, stored) = (state.store.clone(), id.clone());
    let rows = blocking(move || store.campaign_report(&stored)).await?;
    let rows: Vec<ReportRow> = rows
        .into_iter()
        .map(|r| ReportRow {
            day: r.day,
            placement: r.placement,
            content: r.content,
            served: r.served,
            viewed: r.viewed,
            clicked: r.clicked,
            spend: r.spend,
        })
        .collect();
    let report =
        serde_json::to_value(Report::from_rows(&rows)).map_err(|_| ApiError::internal())?;
    Ok(json_response(StatusCode::OK, report.to_string()))
}

/// OpenAPI entries of the admin side.
pub fn openapi_paths(paths: &mut Map<String, Value>) {
    let op = |summary: &str, request: Option<Value>, status: &str, ok: Value| {
        let mut responses = Map::new();
        for code in ["400", "401", "404"] {
            responses.insert(code.into(), json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        }
        responses.insert(
            status.into(),
            json!({"description": "done", "content": {"application/json": {"schema": ok}}}),
        );
        let mut o = json!({"tags": ["admin", "retail media"], "summary": summary, "security": [{"operatorToken": []}], "responses": responses});
        if let Some(r) = request {
            o["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": r}}});
        }
        o
    };
    let s = json!({"type": "string"});
    let ids = json!({"type": "array", "items": {"type": "integer"}});
    let strs = json!({"type": "array", "items": {"type": "string"}});
    let path_param = |name: &str| json!([{"name": name, "in": "path", "required": true, "schema": {"type": "string"}}]);
    let mut placement = op(
        "create a placement of a partner",
        Some(
            json!({"type": "object", "required": ["kind", "name", "contentTypes"], "properties": {
        "kind": {"type": "string", "enum": ["product", "productGroup", "category", "search", "any"]}, "name": s,
        "contentTypes": {"type": "array", "items": {"type": "string", "enum": ["string", "productIds"]}}}}),
        ),
        "201",
        json!({"type": "object", "properties": {"placementId": s}}),
    );
    placement["parameters"] = path_param("partnerId");
    paths.insert(
        "/admin/partners/{partnerId}/placements".into(),
        json!({"post": placement}),
    );
    paths.insert("/admin/advertisers".into(), json!({"post": op("create an advertiser", Some(json!({"type": "object", "required": ["name"], "properties": {"name": s}})), "201", json!({"type": "object", "properties": {"advertiserId": s}}))}));
    let money = json!({"type": "number", "exclusiveMinimum": 0});
    let campaign = json!({"type": "object", "required": ["advertiserId", "name", "partnerIds", "budget", "pricing", "contents"], "properties": {
        "advertiserId": s, "name": s, "partnerIds": strs,
        "startsAt": {"type": "string", "format": "date-time"}, "endsAt": {"type": "string", "format": "date-time"},
        "budget": {"type": "object", "required": ["total"], "properties": {"total": money, "daily": money}},
        "pricing": {"type": "object", "required": ["model", "bid"], "properties": {"model": {"type": "string", "enum": ["cpm", "cpc"]}, "bid": money}},
        "frequencyCap": {"type": "object", "properties": {"count": {"type": "integer", "minimum": 1}, "periodHours": {"type": "integer", "minimum": 1, "maximum": 8760}}},
        "targeting": {"type": "object", "properties": {"categoryIds": ids, "categoryPaths": strs, "vendors": strs, "productIds": ids,
            "priceRange": {"type": "object", "properties": {"min": {"type": "number"}, "max": {"type": "number"}}},
            "keywords": strs, "interestCategoryIds": ids, "stockIds": strs}},
        "contents": {"type": "array", "items": {"type": "object", "required": ["type"], "properties": {
            "type": {"type": "string", "enum": ["string", "productIds"]}, "string": s, "productIds": ids}}}}});
    paths.insert("/admin/campaigns".into(), json!({"post": op("create a campaign", Some(campaign), "201", json!({"type": "object", "properties": {"campaignId": s, "contentIds": strs}}))}));
    let with_id = |mut o: Value| {
        o["parameters"] = path_param("campaignId");
        o
    };
    paths.insert("/admin/campaigns/{campaignId}".into(), json!({"get": with_id(op("a campaign with its state and counters", None, "200", json!({"type": "object"})))}));
    for (verb, summary) in [
        ("pause", "pause a campaign"),
        ("resume", "resume a paused campaign"),
    ] {
        paths.insert(format!("/admin/campaigns/{{campaignId}}/{verb}"), json!({"post": with_id(op(summary, None, "200", json!({"type": "object", "properties": {"campaignId": s, "paused": {"type": "boolean"}}})))}));
    }
    let line = json!({"served": {"type": "integer"}, "viewed": {"type": "integer"}, "clicked": {"type": "integer"}, "ctr": {"type": "number"}, "spend": {"type": "number"}});
    let rows = json!({"type": "array", "items": {"type": "object"}});
    let mut report = line.clone();
    report["byDay"] = rows.clone();
    report["byPlacement"] = rows.clone();
    report["byContent"] = rows;
    paths.insert("/admin/campaigns/{campaignId}/report".into(), json!({"get": with_id(op("served, viewed, clicked, click-through rate and spend: totals, by day, placement and content", None, "200", json!({"type": "object", "properties": report})))}));
}
