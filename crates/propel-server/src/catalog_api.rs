//! The Product API, for shops without a YML feed (`partnerId` + `apiKey`; it takes its
//! tokens from the partner's tracking rate limit, since shops call it from the same
//! places as tracking, e.g. the product card):
//!
//! - `POST /catalog/1.0/products`: one product or an array, all or nothing;
//! - `POST /catalog/1.0/productGroups`: a group (or an array) whose members inherit its fields;
//! - `DELETE /catalog/1.0/products/{productId}`;
//! - `GET /catalog/1.0/products/{productId}[?stockId=S]`: the product as recommendations see it.

use crate::admin::blocking;
use crate::auth::authorize;
use crate::body::read_json;
use crate::error::{json_response, HttpError, HttpResult};
use crate::query::Query;
use crate::ratelimit::Api;
use crate::state::AppState;
use crate::tracking::now_ms;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use propel_catalog::{Param, Product, StockOverride, MAX_ID};
use propel_model::ApiError;
use propel_store::PartnerRecord;
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/catalog/1.0/products", post(upsert_products))
        .route("/catalog/1.0/productGroups", post(upsert_groups))
        .route(
            "/catalog/1.0/products/{product}",
            get(get_product).delete(delete_product),
        )
}

fn partner<'q>(
    state: &AppState,
    raw: Option<&'q str>,
) -> HttpResult<(Arc<PartnerRecord>, Query<'q>)> {
    let query = Query::parse(raw);
    let partner = authorize(state, &query, Api::Tracking, now_ms())?;
    Ok((partner, query))
}

async fn upsert_products(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let (partner, _) = partner(&state, raw.as_deref())?;
    let json = read_json(&headers, body, state.config.batch_body_limit_bytes).await?;
    let products = match &json {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| product_from_json(v, "").map_err(|e| e.at_index(i, "")))
            .collect::<Result<Vec<_>, _>>()?,
        Value::Object(_) => vec![product_from_json(&json, "")?],
        _ => {
            return Err(
                ApiError::invalid("body", "must be a product object or an array of them").into(),
            )
        }
    };
    store_products(&state, partner.rowid, products).await
}

async fn upsert_groups(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let (partner, _) = partner(&state, raw.as_deref())?;
    let json = read_json(&headers, body, state.config.batch_body_limit_bytes).await?;
    let products = match &json {
        Value::Array(items) => {
            let mut all = Vec::new();
            for (i, v) in items.iter().enumerate() {
                all.extend(group_from_json(v).map_err(|e| e.at_index(i, ""))?);
            }
            all
        }
        Value::Object(_) => group_from_json(&json)?,
        _ => {
            return Err(ApiError::invalid(
                "body",
                "must be a product group object or an array of them",
            )
            .into())
        }
    };
    store_products(&state, partner.rowid, products).await
}

async fn store_products(
    state: &AppState,
    partner: i64,
    products: Vec<Product>,
) -> HttpResult<Response> {
    let n = products.len();
    let bodies = products
        .iter()
        .map(|p| serde_json::to_string(p).map(|b| (p.id, b)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| HttpError::from(ApiError::internal()))?;
    let (store, catalogs) = (state.store.clone(), state.catalogs.clone());
    blocking(move || {
        let (stamp, seen) = store.upsert_products(partner, &bodies)?;
        catalogs.apply_upserts(&store, stamp, products.into_iter().zip(seen).collect())
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        json!({"upserted": n}).to_string(),
    ))
}

async fn delete_product(
    State(state): State<AppState>,
    Path(product): Path<String>,
    RawQuery(raw): RawQuery,
) -> HttpResult<Response> {
    let (partner, _) = partner(&state, raw.as_deref())?;
    let id = path_id(&product)?;
    let (store, catalogs, rowid) = (state.store.clone(), state.catalogs.clone(), partner.rowid);
    let deleted = blocking(move || match store.delete_product(rowid, id)? {
        Some(stamp) => catalogs.apply_delete(&store, stamp, id).map(|_| true),
        None => Ok(false),
    })
    .await?;
    if !deleted {
        return Err(ApiError::not_found(format!("no product {id} in this partner's base")).into());
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"deleted": id}).to_string(),
    ))
}

async fn get_product(
    State(state): State<AppState>,
    Path(product): Path<String>,
    RawQuery(raw): RawQuery,
) -> HttpResult<Response> {
    let (partner, query) = partner(&state, raw.as_deref())?;
    let id = path_id(&product)?;
    let stock = query.get("stockId");
    let base = state.catalogs.get(partner.rowid);
    let Some(e) = base.effective(id, stock) else {
        return Err(ApiError::not_found(format!("no product {id} in this partner's base")).into());
    };
    let p = e.product;
    let params: Map<String, Value> = p
        .params
        .iter()
        .map(|x| (x.name.clone(), Value::String(x.value.clone())))
        .collect();
    let body = json!({
        "id": p.id,
        "name": e.name,
        "url": e.url,
        "pictureUrl": e.picture_url,
        "price": e.price,
        "oldPrice": e.old_price,
        "isAvailable": e.available,
        "isOnSale": e.is_on_sale(),
        "stockId": e.stock_id,
        "categoryIds": base.category_ids(id),
        "categoryPaths": base.category_paths(id),
        "vendor": p.vendor,
        "model": p.model,
        "groupId": p.group_id,
        "params": params,
        "description": e.description,
        "firstSeenAt": base.first_seen_ms(id).map(propel_model::timestamp::format_rfc3339_ms),
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| (0..=MAX_ID).contains(n))
        .ok_or_else(|| {
            ApiError::invalid("productId", "must be an integer from 0 to 9007199254740991")
        })
}

/// The OpenAPI entries of the Product API.
pub fn openapi_paths(paths: &mut Map<String, Value>) {
    let errors = |codes: &[u16]| {
        let mut out = Map::new();
        for c in codes {
            out.insert(c.to_string(), json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        }
        out
    };
    let id = json!({"type": "integer", "minimum": 0, "maximum": MAX_ID});
    let price = json!({"type": "number", "minimum": 0});
    let stock = json!({"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"}, "isAvailable": {"type": "boolean"}, "price": price, "oldPrice": price,
        "name": {"type": "string"}, "description": {"type": "string"}, "url": {"type": "string"}, "pictureUrl": {"type": "string"}}});
    let params = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let paths_schema = json!({"type": "array", "items": {"type": "string", "description": "levels joined by '/'; every prefix is a category too"}});
    let product = json!({"type": "object", "required": ["id", "name", "price"], "properties": {
        "id": id, "name": {"type": "string", "minLength": 1}, "url": {"type": "string"}, "pictureUrl": {"type": "string"},
        "price": price, "oldPrice": price, "isAvailable": {"type": "boolean", "default": true},
        "categoryPaths": paths_schema, "vendor": {"type": "string"}, "model": {"type": "string"}, "typePrefix": {"type": "string"},
        "description": {"type": "string"}, "groupId": id, "params": params, "stocks": {"type": "array", "items": stock}}});
    let member = json!({"type": "object", "properties": {
        "isAvailable": {"type": "boolean"}, "name": {"type": "string"}, "color": {"type": "string"}, "size": {"type": "string"},
        "url": {"type": "string"}, "pictureUrl": {"type": "string"}, "price": price, "oldPrice": price,
        "description": {"type": "string"}, "params": params}});
    let group = json!({"type": "object", "required": ["groupId", "name", "price", "products"], "properties": {
        "groupId": id, "name": {"type": "string"}, "price": price, "pictureUrl": {"type": "string"}, "url": {"type": "string"},
        "isAvailable": {"type": "boolean"}, "categoryPaths": paths_schema, "description": {"type": "string"},
        "products": {"type": "object", "description": "product id to the member's own fields; members inherit the group's", "additionalProperties": member}}});
    let auth = json!([{"$ref": "#/components/parameters/partnerId"}, {"$ref": "#/components/parameters/apiKey"}]);
    let upserted = json!({"description": "stored and served at once", "content": {"application/json": {"schema": {"type": "object", "properties": {"upserted": {"type": "integer"}}}}}});
    let mut write = errors(&[400, 401, 403, 413, 429]);
    write.insert("200".into(), upserted);
    let upsert = |summary: &str, one: &Value| {
        json!({"post": {"tags": ["catalog"], "summary": summary, "security": [{"apiKey": []}], "parameters": auth,
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [one, {"type": "array", "items": one}]}}}},
            "responses": write}})
    };
    paths.insert("/catalog/1.0/products".into(), upsert("insert or replace products (one or an array; all or nothing, 400 names the index and field of the first bad one)", &product));
    paths.insert("/catalog/1.0/productGroups".into(), upsert("insert or replace product groups: each member inherits the group's fields and overrides them", &group));
    let mut with_id = auth.as_array().cloned().unwrap_or_default();
    with_id.insert(
        0,
        json!({"name": "productId", "in": "path", "required": true, "schema": id}),
    );
    let mut read = with_id.clone();
    read.push(
        json!({"name": "stockId", "in": "query", "required": false, "schema": {"type": "string"}}),
    );
    let view = json!({"type": "object", "properties": {
        "id": id, "name": {"type": "string"}, "url": {"type": ["string", "null"]}, "pictureUrl": {"type": ["string", "null"]},
        "price": price, "oldPrice": {"type": ["number", "null"]}, "isAvailable": {"type": "boolean"}, "isOnSale": {"type": "boolean"},
        "stockId": {"type": ["string", "null"]}, "categoryIds": {"type": "array", "items": {"type": "integer"}},
        "categoryPaths": {"type": "array", "items": {"type": "string"}}, "vendor": {"type": ["string", "null"]},
        "model": {"type": ["string", "null"]}, "groupId": {"type": ["integer", "null"]}, "params": params,
        "description": {"type": ["string", "null"]}, "firstSeenAt": {"type": "string", "format": "date-time"}}});
    let mut get_responses = errors(&[400, 401, 403, 404, 429]);
    get_responses.insert("200".into(), json!({"description": "the product as recommendations see it (the stock's values applied with stockId)", "content": {"application/json": {"schema": view}}}));
    let mut delete_responses = errors(&[400, 401, 403, 404, 429]);
    delete_responses.insert("200".into(), json!({"description": "removed from the base", "content": {"application/json": {"schema": {"type": "object", "properties": {"deleted": {"type": "integer"}}}}}}));
    paths.insert("/catalog/1.0/products/{productId}".into(), json!({
        "get": {"tags": ["catalog"], "summary": "one product of the base", "security": [{"apiKey": []}], "parameters": read, "responses": get_responses},
        "delete": {"tags": ["catalog"], "summary": "remove a product from the base", "security": [{"apiKey": []}], "parameters": with_id, "responses": delete_responses}}));
}

// ---- validation: JSON -> Product, naming the field and the rule ----

const ID_RULE: &str = "must be an integer from 0 to 9007199254740991";

fn field(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

fn id_value(v: &Value) -> Option<i64> {
    v.as_i64().filter(|n| (0..=MAX_ID).contains(n))
}

fn opt_string(
    obj: &Map<String, Value>,
    name: &str,
    prefix: &str,
) -> Result<Option<String>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(field(prefix, name), "must be a string")),
    }
}

fn opt_price(obj: &Map<String, Value>, name: &str, prefix: &str) -> Result<Option<f64>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|p| p.is_finite() && *p >= 0.0)
            .map(Some)
            .ok_or_else(|| ApiError::invalid(field(prefix, name), "must be a number >= 0")),
    }
}

fn opt_bool(obj: &Map<String, Value>, name: &str, prefix: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(
            field(prefix, name),
            "must be true or false",
        )),
    }
}

/// `/`-joined levels, each non-empty once trimmed (a leading or trailing `/` is allowed).
fn category_path(raw: &str) -> Option<String> {
    let segments: Vec<&str> = raw
        .trim()
        .trim_matches('/')
        .split('/')
        .map(str::trim)
        .collect();
    (!segments.iter().any(|s| s.is_empty())).then(|| segments.join("/"))
}

fn paths(obj: &Map<String, Value>, prefix: &str) -> Result<Vec<String>, ApiError> {
    let rule = "must be an array of category paths: levels joined by '/', none empty";
    match obj.get("categoryPaths") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().and_then(category_path))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::invalid(field(prefix, "categoryPaths"), rule)),
        Some(_) => Err(ApiError::invalid(field(prefix, "categoryPaths"), rule)),
    }
}

fn params(obj: &Map<String, Value>, prefix: &str) -> Result<Vec<Param>, ApiError> {
    match obj.get("params") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if !k.trim().is_empty() => Ok(Param {
                    name: k.clone(),
                    value: s.clone(),
                    unit: None,
                }),
                _ => Err(ApiError::invalid(
                    field(prefix, &format!("params.{k}")),
                    "params must map non-empty names to string values",
                )),
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(
            field(prefix, "params"),
            "must be an object of names to string values",
        )),
    }
}

fn stocks(obj: &Map<String, Value>, prefix: &str) -> Result<Vec<StockOverride>, ApiError> {
    let items = match obj.get("stocks") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::invalid(
                field(prefix, "stocks"),
                "must be an array of stocks",
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = format!("{prefix}stocks[{i}].");
            let s = v.as_object().ok_or_else(|| {
                ApiError::invalid(field(prefix, &format!("stocks[{i}]")), "must be an object")
            })?;
            let id = match s.get("id") {
                Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_string(),
                _ => {
                    return Err(ApiError::invalid(
                        field(&p, "id"),
                        "is required: a non-empty string",
                    ))
                }
            };
            Ok(StockOverride {
                id,
                available: opt_bool(s, "isAvailable", &p)?,
                price: opt_price(s, "price", &p)?,
                old_price: opt_price(s, "oldPrice", &p)?,
                name: opt_string(s, "name", &p)?,
                description: opt_string(s, "description", &p)?,
                url: opt_string(s, "url", &p)?,
                picture_url: opt_string(s, "pictureUrl", &p)?,
            })
        })
        .collect()
}

/// One Product API product; `prefix` locates it in the body for error fields.
fn product_from_json(v: &Value, prefix: &str) -> Result<Product, ApiError> {
    let obj = v.as_object().ok_or_else(|| {
        ApiError::invalid(
            if prefix.is_empty() {
                "body"
            } else {
                prefix.trim_end_matches('.')
            },
            "must be a product object",
        )
    })?;
    let id = obj.get("id").and_then(id_value).ok_or_else(|| {
        ApiError::invalid(field(prefix, "id"), format!("is required and {ID_RULE}"))
    })?;
    let name = match obj.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            return Err(ApiError::invalid(
                field(prefix, "name"),
                "is required: a non-empty string",
            ))
        }
    };
    let price = opt_price(obj, "price", prefix)?
        .ok_or_else(|| ApiError::invalid(field(prefix, "price"), "is required: a number >= 0"))?;
    let group_id = match obj.get("groupId") {
        None | Some(Value::Null) => None,
        Some(g) => {
            Some(id_value(g).ok_or_else(|| ApiError::invalid(field(prefix, "groupId"), ID_RULE))?)
        }
    };
    let picture_url = opt_string(obj, "pictureUrl", prefix)?;
    Ok(Product {
        id,
        name,
        url: opt_string(obj, "url", prefix)?,
        pictures: picture_url.iter().cloned().collect(),
        picture_url,
        price,
        old_price: opt_price(obj, "oldPrice", prefix)?,
        available: opt_bool(obj, "isAvailable", prefix)?.unwrap_or(true),
        category_ids: Vec::new(),
        category_paths: paths(obj, prefix)?,
        vendor: opt_string(obj, "vendor", prefix)?,
        model: opt_string(obj, "model", prefix)?,
        type_prefix: opt_string(obj, "typePrefix", prefix)?,
        group_id,
        params: params(obj, prefix)?,
        description: opt_string(obj, "description", prefix)?,
        stocks: stocks(obj, prefix)?,
    })
}

/// Group fields every member inherits (and may override).
const INHERITED: [&str; 12] = [
    "name",
    "price",
    "oldPrice",
    "pictureUrl",
    "url",
    "isAvailable",
    "categoryPaths",
    "description",
    "vendor",
    "model",
    "typePrefix",
    "stocks",
];

/// A product group: one product per member, the group's fields under the member's own.
fn group_from_json(v: &Value) -> Result<Vec<Product>, ApiError> {
    let group = v
        .as_object()
        .ok_or_else(|| ApiError::invalid("body", "must be a product group object"))?;
    let group_id = group
        .get("groupId")
        .and_then(id_value)
        .ok_or_else(|| ApiError::invalid("groupId", format!("is required and {ID_RULE}")))?;
    let members = match group.get("products") {
        Some(Value::Object(m)) if !m.is_empty() => m,
        _ => {
            return Err(ApiError::invalid(
                "products",
                "is required: an object of product id to the member's fields",
            ))
        }
    };
    let group_params = params(group, "")?;
    let mut out = Vec::with_capacity(members.len());
    for (key, member) in members {
        let prefix = format!("products.{key}.");
        let id = key
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=MAX_ID).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    format!("products.{key}"),
                    format!("the key is a product id and {ID_RULE}"),
                )
            })?;
        let own = member
            .as_object()
            .ok_or_else(|| ApiError::invalid(format!("products.{key}"), "must be an object"))?;
        let mut merged = Map::new();
        for name in INHERITED {
            if let Some(v) = group.get(name) {
                merged.insert(name.to_string(), v.clone());
            }
        }
        for (k, v) in own {
            if !matches!(k.as_str(), "params" | "color" | "size") {
                merged.insert(k.clone(), v.clone());
            }
        }
        merged.insert("id".into(), json!(id));
        merged.insert("groupId".into(), json!(group_id));
        let mut product = product_from_json(&Value::Object(merged), &prefix)?;
        let mut all = group_params.clone();
        for p in params(own, &prefix)? {
            all.retain(|q| q.name != p.name);
            all.push(p);
        }
        for name in ["color", "size"] {
            if let Some(value) = opt_string(own, name, &prefix)? {
                all.retain(|q| q.name != name);
                all.push(Param {
                    name: name.to_string(),
                    value,
                    unit: None,
                });
            }
        }
        product.params = all;
        out.push(product);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_rules() {
        let ok = json!({"id": 5, "name": " Kettle ", "price": 10.5, "categoryPaths": ["/Home/ Kitchen "],
            "params": {"Colour": "white"}, "stocks": [{"id": "msk", "price": 9, "isAvailable": false}]});
        let p = product_from_json(&ok, "").unwrap();
        assert_eq!(
            (p.name.as_str(), p.category_paths[0].as_str()),
            ("Kettle", "Home/Kitchen")
        );
        assert_eq!(p.stocks[0].price, Some(9.0));
        for (bad, field) in [
            (json!({"id": -1, "name": "a", "price": 1}), "id"),
            (
                json!({"id": 9007199254740992i64, "name": "a", "price": 1}),
                "id",
            ),
            (json!({"id": 1, "name": " ", "price": 1}), "name"),
            (json!({"id": 1, "name": "a", "price": -1}), "price"),
            (json!({"id": 1, "name": "a", "price": 1, "url": 5}), "url"),
            (
                json!({"id": 1, "name": "a", "price": 1, "isAvailable": "yes"}),
                "isAvailable",
            ),
            (
                json!({"id": 1, "name": "a", "price": 1, "categoryPaths": ["a//b"]}),
                "categoryPaths",
            ),
            (
                json!({"id": 1, "name": "a", "price": 1, "params": {"x": 1}}),
                "params.x",
            ),
            (
                json!({"id": 1, "name": "a", "price": 1, "stocks": [{"price": 1}]}),
                "stocks[0].id",
            ),
        ] {
            let e = product_from_json(&bad, "").unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{bad}");
        }
    }

    #[test]
    fn group_members_inherit_and_override() {
        let g = json!({"groupId": 7, "name": "Shirt", "price": 20, "url": "u", "categoryPaths": ["Clothes"],
            "products": {"71": {"color": "red"}, "72": {"price": 25, "size": "XL", "isAvailable": false}}});
        let ps = group_from_json(&g).unwrap();
        assert_eq!(ps.len(), 2);
        let p72 = ps.iter().find(|p| p.id == 72).unwrap();
        assert_eq!(
            (p72.price, p72.available, p72.group_id),
            (25.0, false, Some(7))
        );
        assert_eq!(p72.params[0].name, "size");
        assert_eq!(p72.url.as_deref(), Some("u"));
        let bad = json!({"groupId": 7, "name": "S", "price": 1, "products": {"71": {"price": -2}}});
        assert_eq!(
            group_from_json(&bad).unwrap_err().field.as_deref(),
            Some("products.71.price")
        );
    }
}
