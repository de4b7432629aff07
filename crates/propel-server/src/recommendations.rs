//! The recommendation API: `GET /api/3.0/<group>/<algorithm>/`, every resource of the spec's table.

use crate::auth::authorize;
use crate::error::HttpResult;
use crate::query::Query;
use crate::ratelimit::Api;
use crate::state::AppState;
use crate::tracking::now_ms;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use propel_catalog::ProductBase;
use propel_model::{ApiError, SessionId};
use propel_recs::{recommend, Algorithm, Profile, Request};
use serde::Serialize;
use std::fmt::Write as _;

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

/// One route per resource (with and without the trailing slash), so a request
/// needs no path extraction or lookup; other `<group>/<algorithm>` pairs are 404s.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/3.0/{group}/{algorithm}", get(unknown))
        .route("/api/3.0/{group}/{algorithm}/", get(unknown));
    for (resource, (name, _, _)) in RESOURCES.iter().enumerate() {
        let handler =
            move |state: State<AppState>, raw: RawQuery| recommendations(state, resource, raw);
        router = router
            .route(&format!("/api/3.0/{name}"), get(handler))
            .route(&format!("/api/3.0/{name}/"), get(handler));
    }
    router
}

async fn unknown(Path((group, algorithm)): Path<(String, String)>) -> HttpResult<Response> {
    Err(ApiError::not_found(format!(
        "unknown recommendation resource '{group}/{algorithm}'"
    ))
    .into())
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
    resource: usize,
    RawQuery(raw): RawQuery,
) -> HttpResult<Response> {
    let (_, algorithm, needs) = RESOURCES[resource];
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
    let models = recs.models();
    // What the answer depends on besides the visitor, the models and the base.
    let mut key = String::with_capacity(64);
    // Strings are length-prefixed so that no two requests share a key.
    let (stock_key, phrase_key) = (stock.unwrap_or(""), phrase.unwrap_or(""));
    let _ = write!(
        key,
        "{resource}|{limit}|{}|{}:{stock_key}|{}:{phrase_key}|",
        u8::from(items),
        stock_key.len(),
        phrase_key.len(),
    );
    for id in products.iter().chain(&categories) {
        let _ = write!(key, ",{id}");
    }
    let no_categories_found = needs == Needs::CategoryPaths && categories.is_empty();
    let answer = |profile: Option<&Profile>| -> Bytes {
        let ids = if no_categories_found {
            Vec::new()
        } else {
            let catalog = recs.catalog(base.clone());
            // Operator rules apply to the two resources that use them.
            let rules = matches!(
                algorithm,
                Algorithm::RelatedWithRules | Algorithm::Accessories
            )
            .then(|| recs.rules().resolve(base.tree()));
            let request = Request {
                limit,
                stock,
                products: &products,
                categories: &categories,
                phrase,
                profile,
                rules: rules.as_ref(),
                now_ms: now,
            };
            recommend(algorithm, &models, catalog.as_ref(), &request)
        };
        body(&ids, items.then_some((base.as_ref(), stock)))
    };
    let (body, cache) = if algorithm.is_personal() {
        // The session decides the answer, so it is part of the key; only personal
        // resources read the visitor (the others skip the profile merge).
        key.push('|');
        key.push_str(session.as_str());
        let body = recs.personal(key, session.as_str(), now, &models, &base, answer);
        (body, CACHE_PERSONAL)
    } else {
        (
            recs.cached(key, &models, &base, || answer(None)),
            CACHE_SHARED,
        )
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(response)
}

/// One product of a `format=items` answer (keys in the order of the former
/// `serde_json::Value` answer: alphabetical).
#[derive(Serialize)]
struct Item<'a> {
    #[serde(rename = "categoryIds")]
    category_ids: &'a [i64],
    name: &'a str,
    #[serde(rename = "oldPrice")]
    old_price: Option<f64>,
    #[serde(rename = "pictureUrl")]
    picture_url: Option<&'a str>,
    price: f64,
    #[serde(rename = "productId")]
    product_id: i64,
    url: Option<&'a str>,
    vendor: Option<&'a str>,
}

/// The answer's JSON, written directly: `{"recommendations":[{"productId":[...]}]}`
/// (`[]` when there is nothing), with `items` when the base is given.
fn body(ids: &[i64], items: Option<(&ProductBase, Option<&str>)>) -> Bytes {
    let mut out = Vec::with_capacity(48 + ids.len() * 11);
    out.extend_from_slice(b"{");
    if let Some((base, stock)) = items {
        out.extend_from_slice(b"\"items\":");
        let list: Vec<Item> = ids
            .iter()
            .filter_map(|id| base.effective(*id, stock))
            .map(|e| Item {
                category_ids: base.category_ids(e.id),
                name: e.name,
                old_price: e.old_price,
                picture_url: e.picture_url,
                price: e.price,
                product_id: e.id,
                url: e.url,
                vendor: e.product.vendor.as_deref(),
            })
            .collect();
        if serde_json::to_writer(&mut out, &list).is_err() {
            out.extend_from_slice(b"[]");
        }
        out.push(b',');
    }
    out.extend_from_slice(b"\"recommendations\":[");
    if !ids.is_empty() {
        out.extend_from_slice(b"{\"productId\":[");
        // itoa: the fmt machinery cost more than the rest of the body.
        let mut digits = itoa::Buffer::new();
        for (n, id) in ids.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(digits.format(*id).as_bytes());
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}
