//! `PUT`/`GET /admin/partners/{partnerId}/recommendation-rules` (see [`crate::recs_rules`]).

use crate::admin::{blocking, known_partner};
use crate::body::read_json;
use crate::error::{json_response, HttpResult};
use crate::recs_rules::RecommendationRules;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::put;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/partners/{partner}/recommendation-rules",
        put(set_rules).get(get_rules),
    )
}

async fn set_rules(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let rules = RecommendationRules::parse(
        &read_json(&headers, body, state.config.body_limit_bytes).await?,
    )?;
    let json = serde_json::to_string(&rules).map_err(|_| propel_model::ApiError::internal())?;
    let (store, rowid, stored) = (state.store.clone(), partner.rowid, json.clone());
    blocking(move || store.set_recommendation_rules(rowid, &stored)).await?;
    state.recs.partner(partner.rowid).set_rules(rules);
    Ok(json_response(StatusCode::OK, json))
}

async fn get_rules(State(state): State<AppState>, Path(id): Path<String>) -> HttpResult<Response> {
    let partner = known_partner(&state, &id)?;
    let rules = state.recs.partner(partner.rowid).rules();
    let json =
        serde_json::to_string(rules.as_ref()).map_err(|_| propel_model::ApiError::internal())?;
    Ok(json_response(StatusCode::OK, json))
}
