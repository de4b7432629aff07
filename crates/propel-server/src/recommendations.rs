//! The recommendation API: `GET /api/3.0/<group>/<algorithm>/`, every resource of the spec's table.

use crate::auth::authorize;
use crate::error::{json_response, HttpResult};
use crate::query::Query;
use crate::ratelimit::Api;
use crate::state::AppState;
use crate::tracking::now_ms;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use propel_model::{ApiError, SessionId};
use propel_recs::{recommend, Algorithm, Request};
use serde_json::{json, Value};

/// What a resource needs besides the session.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    CategoryIds,
    CategoryPaths,
    SearchPhrase,
    ProductIds,
}

/// The resources of spec/recommendations.md (its table lists 20 paths).
const RESOURCES: [(&str, Algorithm, Needs); 20] = [
    (
        "partnerRecommendations/popular",
        Algorithm::Popular,
        Needs::Nothing,
    ),
    (
        "categoryRecommendations/popular",
        Algorithm::CategoryPopular,
        Needs::CategoryIds,
    ),
    (
        "categoryRecommendations/popularByCategoryPath",
        Algorithm::CategoryPopular,
        Needs::CategoryPaths,
    ),
    (
        "categoryRecommendations/saleByPopular",
        Algorithm::SaleByPopular,
        Needs::CategoryIds,
    ),
    (
        "categoryRecommendations/saleByPopularByCategoryPath",
        Algorithm::SaleByPopular,
        Needs::CategoryPaths,
    ),
    (
        "categoryRecommendations/latest",
        Algorithm::Latest,
        Needs::CategoryIds,
    ),
    (
        "categoryRecommendations/latestByCategoryPath",
        Algorithm::Latest,
        Needs::CategoryPaths,
    ),
    (
        "categoryRecommendations/saleByLatest",
        Algorithm::SaleByLatest,
        Needs::CategoryIds,
    ),
    (
        "categoryRecommendations/saleByLatestByCategoryPath",
        Algorithm::SaleByLatest,
        Needs::CategoryPaths,
    ),
    (
        "searchRecommendations/search",
        Algorithm::Search,
        Needs::SearchPhrase,
    ),
    (
        "productRecommendations/alternatives",
        Algorithm::Alternatives,
        Needs::ProductIds,
    ),
    (
        "productRecommendations/related",
        Algorithm::Related,
        Needs::ProductIds,
    ),
    (
        "productRecommendations/relatedByInterestedProperties",
        Algorithm::RelatedByInterestedProperties,
        Needs::ProductIds,
    ),
    (
        "productRecommendations/relatedWithoutCurrentCategory",
        Algorithm::RelatedWithoutCurrentCategory,
        Needs::ProductIds,
    ),
    (
        "productRecommendations/relatedWithRules",
        Algorithm::RelatedWithRules,
        Needs::ProductIds,
    ),
    (
        "productRecommendations/accessories",
        Algorithm::Accessories,
        Needs::ProductIds,
    ),
    (
        "partnerRecommendations/personalComposite",
        Algorithm::PersonalComposite,
        Needs::Nothing,
    ),
    (
        "partnerRecommendations/personalViewed",
        Algorithm::PersonalViewed,
        Needs::Nothing,
    ),
    (
        "partnerRecommendations/personalOrdered",
        Algorithm::PersonalOrdered,
        Needs::Nothing,
    ),
    (
        "partnerRecommendations/popularInInterestedCategories",
        Algorithm::PopularInInterestedCategories,
        Needs::Nothing,
    ),
];

/// Shared caches may keep shop-wide answers for a minute (the models' own freshness);
/// personal answers change with the visitor's next event, so they are never stored.
const CACHE_SHARED: &str = "public, max-age=60";
const CACHE_PERSONAL: &str = "private, no-store";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/3.0/{group}/{algorithm}", get(recommendations))
        .route("/api/3.0/{group}/{algorithm}/", get(recommendations))
}

pub fn resource_names() -> impl Iterator<Item = &'static str> {
    RESOURCES.iter().map(|(name, _, _)| *name)
}

fn int_list(query: &Query, name: &str) -> Result<Vec<i64>, ApiError> {
    let raw = query.get(name).unwrap_or("");
    let list: Result<Vec<i64>, _> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect();
    match list {
        Ok(l) if !l.is_empty() && l.len() <= 100 => Ok(l),
        _ => Err(ApiError::invalid(
            name,
            "is required: comma-separated integers, 1 to 100 of them",
        )),
    }
}

async fn recommendations(
    State(state): State<AppState>,
    Path((group, algorithm)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> HttpResult<Response> {
    let name = format!("{group}/{algorithm}");
    let (_, algorithm, needs) = *RESOURCES
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| ApiError::not_found(format!("unknown recommendation resource '{name}'")))?;
    let now = now_ms();
    let query = Query::parse(raw.as_deref());
    let partner = authorize(&state, &query, Api::Recommendations, now)?;
    let session = SessionId::parse(query.get("sessionExternalId").unwrap_or(""))?;
    let stock = match query.get("stockId") {
        Some(s) if s.trim().is_empty() || s.len() > 100 => {
            return Err(ApiError::invalid("stockId", "must be 1-100 characters").into())
        }
        other => other,
    };
    let limit = match query.get("limit") {
        None => 20,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "must be an integer from 1 to 100"))?,
    };
    let items = match query.get("format") {
        None => false,
        Some("items") => true,
        Some(_) => return Err(ApiError::invalid("format", "must be 'items' when given").into()),
    };
    let base = state.catalogs.get(partner.rowid);
    let (mut products, mut categories, mut phrase) = (Vec::new(), Vec::new(), None);
    match needs {
        Needs::Nothing => {}
        Needs::ProductIds => products = int_list(&query, "productIds")?,
        Needs::CategoryIds => categories = int_list(&query, "categoryIds")?,
        Needs::CategoryPaths => {
            let paths = query.all("categoryPaths");
            if paths.is_empty() || paths.iter().any(|p| p.trim().is_empty()) {
                return Err(ApiError::invalid(
                    "categoryPaths",
                    "is required: one or more category paths, levels joined by '/'",
                )
                .into());
            }
            // An unknown path names no products: the answer is empty, not an error.
            categories = paths
                .iter()
                .filter_map(|p| base.tree().find_path(p))
                .collect();
        }
        Needs::SearchPhrase => {
            phrase = Some(
                query
                    .get("searchPhrase")
                    .map(str::trim)
                    .filter(|p| !p.is_empty() && p.chars().count() <= 500)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "searchPhrase",
                            "is required: a non-empty phrase of at most 500 characters",
                        )
                    })?,
            );
        }
    }
    let recs = state.recs.partner(partner.rowid);
    // Only personal resources read the visitor; the others skip the profile merge.
    let profile = if algorithm.is_personal() {
        recs.profile(session.as_str())
    } else {
        None
    };
    let models = recs.models();
    let catalog = recs.catalog(base.clone());
    // Operator rules apply to the two resources that use them.
    let rules = matches!(
        algorithm,
        Algorithm::RelatedWithRules | Algorithm::Accessories
    )
    .then(|| recs.rules().resolve(base.tree()));
    let no_categories_found = needs == Needs::CategoryPaths && categories.is_empty();
    let ids = if no_categories_found {
        Vec::new()
    } else {
        let request = Request {
            limit,
            stock,
            products: &products,
            categories: &categories,
            phrase,
            profile: profile.as_ref(),
            rules: rules.as_ref(),
            now_ms: now,
        };
        let run = || recommend(algorithm, &models, catalog.as_ref(), &request);
        if algorithm.is_personal() {
            run()
        } else {
            let key = format!("{name}|{products:?}|{categories:?}|{phrase:?}|{stock:?}|{limit}");
            recs.cached(key, &models, &base, run).as_ref().clone()
        }
    };
    let mut body = if ids.is_empty() {
        json!({"recommendations": []})
    } else {
        json!({"recommendations": [{"productId": ids}]})
    };
    if items {
        let list: Vec<Value> = ids
            .iter()
            .filter_map(|id| base.effective(*id, stock))
            .map(|e| {
                json!({"productId": e.id, "name": e.name, "price": e.price, "oldPrice": e.old_price, "url": e.url,
                       "pictureUrl": e.picture_url, "categoryIds": base.category_ids(e.id), "vendor": e.product.vendor})
            })
            .collect();
        body["items"] = Value::Array(list);
    }
    let mut response = json_response(StatusCode::OK, body.to_string());
    let cache = if algorithm.is_personal() {
        CACHE_PERSONAL
    } else {
        CACHE_SHARED
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(response)
}
