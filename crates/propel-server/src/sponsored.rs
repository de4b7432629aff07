//! The shop side of sponsored placements (spec/sponsored.md):
//! `GET /v1/partners/{partnerId}/{kind}/{placementId}/impressions`.
//!
//! The path is split here, from the router's fallback, instead of by an axum route
//! with path parameters: those cost about 3% of this request in an ad-hoc profile (a
//! map of decoded strings in the request's extensions) on a hot path of the server.

use crate::ads_state::{interests, BaseProducts};
use crate::auth::authorize_partner;
use crate::error::{json_response, HttpResult};
use crate::query::Query;
use crate::ratelimit::Api;
use crate::state::AppState;
use crate::tracking::now_ms;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use propel_ads::{Ask, ContentType, Page, PlacementKind, Visitor};
use propel_model::{ApiError, SessionId};
use serde_json::json;

/// The (partnerId, kind, placementId) segments of a sponsored path, as sent.
pub fn split_path(path: &str) -> Option<[&str; 3]> {
    let rest = path
        .strip_prefix("/v1/partners/")?
        .strip_suffix("/impressions")?;
    let mut parts = rest.split('/');
    let segments = [parts.next()?, parts.next()?, parts.next()?];
    (parts.next().is_none() && segments.iter().all(|s| !s.is_empty())).then_some(segments)
}

/// Serves a sponsored path (from the fallback); `None` when the path is not one.
pub async fn dispatch(state: AppState, method: &Method, uri: &Uri) -> Option<Response> {
    let segments = split_path(uri.path())?;
    let decode = |s| percent_decode_str(s).decode_utf8().ok();
    let [partner, kind, placement] = segments.map(decode);
    let (partner, kind, placement) = (partner?, kind?, placement?);
    if method != Method::GET {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return Some(response);
    }
    let answer = impressions(state, &partner, &kind, &placement, uri.query()).await;
    Some(answer.into_response())
}

fn required<'a>(query: &'a Query, name: &str, rule: &str) -> Result<&'a str, ApiError> {
    query
        .get(name)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid(name, rule))
}

fn int(query: &Query, name: &str) -> Result<i64, ApiError> {
    required(query, name, "is required: a 64-bit integer")?
        .parse()
        .map_err(|_| ApiError::invalid(name, "must be a 64-bit integer"))
}

/// The page of this request, from the kind's parameters.
fn page(kind: PlacementKind, query: &Query, base: &BaseProducts<'_>) -> Result<Page, ApiError> {
    let stock = match query.get("stockId") {
        Some(s) if s.trim().is_empty() || s.len() > 100 => {
            return Err(ApiError::invalid("stockId", "must be 1-100 characters"))
        }
        other => other,
    };
    let page = Page::new(kind, stock);
    Ok(match kind {
        PlacementKind::Product => page.with_products(&[int(query, "productId")?], base),
        PlacementKind::ProductGroup => {
            let rule = "is required: comma-separated 64-bit integers, 1 to 100 of them";
            let ids: Vec<i64> = required(query, "productIds", rule)?
                .split(',')
                .map(|s| s.trim().parse::<i64>())
                .collect::<Result<_, _>>()
                .ok()
                .filter(|l: &Vec<i64>| !l.is_empty() && l.len() <= 100)
                .ok_or_else(|| ApiError::invalid("productIds", rule))?;
            page.with_products(&ids, base)
        }
        PlacementKind::Category => {
            let category = match (query.get("categoryId"), query.get("categoryPath")) {
                (Some(_), None) => Some(int(query, "categoryId")?),
                (None, Some(p)) if !p.trim().is_empty() => base.0.tree().find_path(p.trim()),
                _ => {
                    return Err(ApiError::invalid(
                        "categoryId",
                        "exactly one of categoryId (an integer) and categoryPath (a non-empty path) is required",
                    ))
                }
            };
            page.with_category(category, base)
        }
        PlacementKind::Search => {
            let q = required(query, "searchQuery", "is required: a non-empty phrase")?;
            if q.chars().count() > 500 {
                return Err(ApiError::invalid(
                    "searchQuery",
                    "must be at most 500 characters",
                ));
            }
            page.with_query(q)
        }
        PlacementKind::Any => page,
    })
}

async fn impressions(
    state: AppState,
    partner_id: &str,
    kind: &str,
    placement_id: &str,
    raw: Option<&str>,
) -> HttpResult<Response> {
    let kind = PlacementKind::from_path_segment(kind)
        .ok_or_else(|| ApiError::not_found(format!("unknown placement kind '{kind}'")))?;
    let now = now_ms();
    let query = Query::parse(raw);
    let partner = authorize_partner(&state, partner_id, &query, Api::Sponsored, now)?;
    let placement = state
        .ads
        .placement(placement_id)
        .filter(|p| p.partner == partner.rowid && p.kind == kind)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no {} placement '{placement_id}' for this partner",
                kind.name()
            ))
        })?;
    let session = SessionId::parse(query.get("sessionExternalId").unwrap_or(""))?;
    let accept = query
        .get("acceptContent")
        .and_then(ContentType::parse_list)
        .ok_or_else(|| {
            ApiError::invalid(
                "acceptContent",
                "is required: a comma-separated list of 'string' and 'productIds'",
            )
        })?;
    let base = state.catalogs.get(partner.rowid);
    let products = BaseProducts(&base);
    let page = page(kind, &query, &products)?;
    let mut visitor = Visitor {
        session: session.as_str().to_string(),
        ..Default::default()
    };
    if state.ads.engine.needs_interests(partner.rowid) {
        visitor.interests = interests(&state, partner.rowid, session.as_str(), &base, now);
    }
    let ask = Ask {
        partner: partner.rowid,
        placement: &placement,
        accept: &accept,
        page: &page,
        visitor: &visitor,
        now_ms: now,
    };
    let Some(decision) = state.ads.engine.decide(&ask, &products) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut body = String::with_capacity(256);
    decision.write_json(&mut body);
    state.ads.writer.send(propel_store::AdWrite::served(
        &decision.impression_id(),
        partner.rowid,
        [
            decision.campaign_id(),
            decision.content_id(),
            &placement.id,
            &visitor.session,
        ],
        decision.served_ms,
    ));
    let mut response = json_response(StatusCode::OK, body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// OpenAPI entries of the shop side.
pub fn openapi_paths(paths: &mut serde_json::Map<String, serde_json::Value>) {
    for kind in PlacementKind::ALL {
        let mut params = vec![
            json!({"name": "partnerId", "in": "path", "required": true, "schema": {"type": "string"}}),
            json!({"name": "placementId", "in": "path", "required": true, "schema": {"type": "string"}}),
            json!({"$ref": "#/components/parameters/apiKey"}),
            json!({"name": "sessionExternalId", "in": "query", "required": true, "schema": {"type": "string"}}),
            json!({"name": "acceptContent", "in": "query", "required": true, "description": "comma-separated: string, productIds", "schema": {"type": "string"}}),
            json!({"name": "stockId", "in": "query", "required": false, "schema": {"type": "string"}}),
        ];
        let q = |name: &str, required: bool, ty: &str| json!({"name": name, "in": "query", "required": required, "schema": {"type": ty}});
        match kind {
            PlacementKind::Product => params.push(q("productId", true, "integer")),
            PlacementKind::ProductGroup => params.push(q("productIds", true, "string")),
            PlacementKind::Category => {
                params.push(q("categoryId", false, "integer"));
                params.push(q("categoryPath", false, "string"));
            }
            PlacementKind::Search => params.push(q("searchQuery", true, "string")),
            PlacementKind::Any => {}
        }
        let error = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        let mut responses = serde_json::Map::new();
        responses.insert("200".into(), json!({"description": "an impression: {id, content: {id, string | productIds}}",
            "content": {"application/json": {"schema": {"type": "object", "properties": {
                "id": {"type": "string"}, "content": {"type": "object", "properties": {
                    "id": {"type": "string"}, "string": {"type": "string"}, "productIds": {"type": "array", "items": {"type": "integer"}}}}}}}}}));
        responses.insert(
            "204".into(),
            json!({"description": "nothing to show for this request"}),
        );
        for (code, what) in [
            ("400", "malformed"),
            ("401", "authentication failed"),
            ("403", "not allowed"),
            ("404", "unknown placement, or of another kind or partner"),
            ("429", "over the limit"),
        ] {
            let mut e = error.clone();
            e["description"] = json!(what);
            responses.insert(code.into(), e);
        }
        paths.insert(
            format!("/v1/partners/{{partnerId}}/{}/{{placementId}}/impressions", kind.path_segment()),
            json!({"get": {"tags": ["sponsored"], "summary": format!("sponsored content for a {} placement", kind.name()),
                "security": [{"apiKey": []}], "parameters": params, "responses": responses}}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn splits_sponsored_paths_only() {
        assert_eq!(
            split_path("/v1/partners/a1/productPlacements/b%32/impressions"),
            Some(["a1", "productPlacements", "b%32"])
        );
        for path in [
            "/v1/partners/a1/productPlacements/impressions",
            "/v1/partners/a1/productPlacements/b/c/impressions",
            "/v1/partners//productPlacements/b/impressions",
            "/v1/partners/a1/productPlacements/b/impressions/",
            "/v2/partners/a1/productPlacements/b/impressions",
        ] {
            assert!(split_path(path).is_none(), "{path}");
        }
    }
}
