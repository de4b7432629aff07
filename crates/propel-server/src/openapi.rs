//! The OpenAPI description, generated from the same tables that validate requests.

use propel_model::fields::FieldSpec;
use propel_model::{ErrorCode, EventKind};
use serde_json::{json, Map, Value};

fn body_schema(fields: &[FieldSpec]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for f in fields {
        let mut schema = f.ty.schema();
        if let Some(obj) = schema.as_object_mut() {
            obj.insert("description".into(), Value::String(f.ty.rule()));
        }
        properties.insert(f.name.to_string(), schema);
        if f.required {
            required.push(Value::String(f.name.to_string()));
        }
    }
    json!({"type": "object", "properties": properties, "required": required})
}

fn error_responses(codes: &[u16]) -> Map<String, Value> {
    let mut out = Map::new();
    for status in codes {
        let described: Vec<&str> = ErrorCode::ALL
            .iter()
            .filter(|c| c.status() == *status)
            .map(|c| c.as_str())
            .collect();
        out.insert(
            status.to_string(),
            json!({
                "description": format!("error: {}", described.join(", ")),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            }),
        );
    }
    out
}

fn tracking_operation(summary: &str, schema: Value) -> Value {
    let mut responses = error_responses(&[400, 401, 403, 413, 429]);
    responses.insert(
        "200".into(),
        json!({"description": "durably stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stored"}}}}),
    );
    json!({"post": {
        "tags": ["tracking"],
        "summary": summary,
        "security": [{"apiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/partnerId"}, {"$ref": "#/components/parameters/apiKey"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": schema}}},
        "responses": responses
    }})
}

fn admin_operation(
    verb: &str,
    summary: &str,
    request: Option<Value>,
    ok_status: u16,
    ok: Value,
) -> (String, Value) {
    let mut responses = error_responses(&[400, 401, 404]);
    responses.insert(
        ok_status.to_string(),
        json!({"description": "done", "content": {"application/json": {"schema": ok}}}),
    );
    let mut op = json!({"tags": ["admin"], "summary": summary, "security": [{"operatorToken": []}], "responses": responses});
    if let Some(schema) = request {
        op["requestBody"] = json!({"content": {"application/json": {"schema": schema}}});
    }
    (verb.to_string(), op)
}

fn admin_paths(paths: &mut Map<String, Value>) {
    let partner = json!({"type": "object", "properties": {
        "partnerId": {"type": "string"}, "name": {"type": "string"}, "url": {"type": "string"},
        "createdAt": {"type": "string", "format": "date-time"}, "suspended": {"type": "boolean"},
        "limits": {"$ref": "#/components/schemas/Limits"}, "eventsReceived": {"type": "integer"},
        "lastEventAt": {"type": ["string", "null"], "format": "date-time"}, "activeKeys": {"type": "integer"}}});
    let key = json!({"type": "object", "properties": {"partnerId": {"type": "string"}, "apiKey": {"type": "string"}}});
    let state = json!({"type": "object", "properties": {"partnerId": {"type": "string"}, "suspended": {"type": "boolean"}}});
    let entries = vec![
        (
            "/admin/partners",
            vec![
                admin_operation(
                    "post",
                    "register a partner; the apiKey is shown once",
                    Some(
                        json!({"type": "object", "required": ["name", "url"], "properties": {"name": {"type": "string"}, "url": {"type": "string"}}}),
                    ),
                    201,
                    key.clone(),
                ),
                admin_operation(
                    "get",
                    "list partners with state, event counts, last activity",
                    None,
                    200,
                    json!({"type": "object", "properties": {"partners": {"type": "array", "items": partner.clone()}}}),
                ),
            ],
        ),
        (
            "/admin/partners/{partnerId}",
            vec![admin_operation("get", "one partner", None, 200, partner)],
        ),
        (
            "/admin/partners/{partnerId}/rotate-key",
            vec![admin_operation(
                "post",
                "issue a new apiKey; old keys stop now or after graceSeconds",
                Some(
                    json!({"type": "object", "properties": {"graceSeconds": {"type": "integer", "minimum": 0, "maximum": 2_592_000}}}),
                ),
                200,
                json!({"type": "object", "properties": {"apiKey": {"type": "string"}, "graceSeconds": {"type": "integer"}}}),
            )],
        ),
        (
            "/admin/partners/{partnerId}/suspend",
            vec![admin_operation(
                "post",
                "suspend: 403 on every API",
                None,
                200,
                state.clone(),
            )],
        ),
        (
            "/admin/partners/{partnerId}/resume",
            vec![admin_operation(
                "post",
                "resume a suspended partner",
                None,
                200,
                state,
            )],
        ),
        (
            "/admin/partners/{partnerId}/limits",
            vec![admin_operation(
                "put",
                "change rate limits (absent keys keep their value)",
                Some(json!({"$ref": "#/components/schemas/Limits"})),
                200,
                json!({"$ref": "#/components/schemas/Limits"}),
            )],
        ),
        (
            "/admin/partners/{partnerId}/subscribers",
            vec![admin_operation(
                "post",
                "add subscribed addresses",
                Some(
                    json!({"type": "object", "required": ["emails"], "properties": {"emails": {"type": "array", "items": {"type": "string", "format": "email"}}}}),
                ),
                200,
                json!({"type": "object", "properties": {"subscribed": {"type": "integer"}}}),
            )],
        ),
        (
            "/admin/partners/{partnerId}/events",
            vec![{
                let (verb, mut op) = admin_operation(
                    "get",
                    "export stored events as NDJSON, one {kind, event} per line, in stored order",
                    None,
                    200,
                    json!({"type": "object", "properties": {"kind": {"type": "string"}, "event": {"type": "object"}}}),
                );
                op["parameters"] = json!([{"name": "sessionExternalId", "in": "query", "required": false, "schema": {"type": "string"}}]);
                op["responses"]["200"]["content"] = json!({"application/x-ndjson": {"schema": {"type": "object", "properties": {"kind": {"type": "string"}, "event": {"type": "object"}}}}});
                (verb, op)
            }],
        ),
        ("/admin/partners/{partnerId}/recommendation-rules", {
            let cat = json!({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "description": "category path, levels joined by '/'"}]});
            let rules = json!({"type": "object", "properties": {
                    "relatedWithRules": {"type": "array", "items": {"type": "object", "required": ["category", "recommendFrom"], "properties": {"category": cat, "recommendFrom": {"type": "array", "minItems": 1, "items": cat}}}},
                    "promotedCategories": {"type": "array", "items": cat},
                    "accessories": {"type": "array", "items": {"type": "object", "required": ["category", "accessoryCategories"], "properties": {"category": cat, "accessoryCategories": {"type": "array", "minItems": 1, "items": cat}}}}}});
            vec![
                    admin_operation("put", "set the partner's relatedWithRules rules, promoted categories and accessory categories", Some(rules.clone()), 200, rules.clone()),
                    admin_operation("get", "the partner's recommendation rules", None, 200, rules),
                ]
        }),
    ];
    for (path, ops) in entries {
        let mut item = Map::new();
        for (verb, mut op) in ops {
            if path.contains("{partnerId}") {
                let mut params = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                params.insert(0, json!({"name": "partnerId", "in": "path", "required": true, "schema": {"type": "string"}}));
                op["parameters"] = Value::Array(params);
            }
            item.insert(verb, op);
        }
        paths.insert(path.to_string(), Value::Object(item));
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut envelopes = Vec::new();
    for kind in EventKind::ALL {
        let schema = body_schema(kind.fields());
        envelopes.push(json!({"type": "object", "additionalProperties": false, "required": [kind.name()], "properties": {kind.name(): schema.clone()}}));
        paths.insert(
            format!("/1.0/{}", kind.name()),
            tracking_operation(kind.summary(), schema),
        );
    }
    paths.insert(
        "/1.0/visitorEvents".into(),
        tracking_operation(
            "ordered batch of up to 10,000 envelopes, all or nothing; answered once all are durably stored",
            json!({"type": "array", "maxItems": 10_000, "items": {"oneOf": envelopes}}),
        ),
    );
    admin_paths(&mut paths);
    crate::admin_feed::openapi_paths(&mut paths);
    crate::catalog_api::openapi_paths(&mut paths);
    crate::email_api::openapi_paths(&mut paths);
    crate::sponsored::openapi_paths(&mut paths);
    crate::admin_ads::openapi_paths(&mut paths);
    for name in crate::recommendations::resource_names() {
        let mut responses = error_responses(&[400, 401, 403, 429]);
        responses.insert("200".into(), json!({"description": "ranked product ids, best first; `items` with format=items",
            "content": {"application/json": {"schema": {"type": "object", "properties": {
                "recommendations": {"type": "array", "items": {"type": "object", "properties": {"productId": {"type": "array", "items": {"type": "integer"}}}}},
                "items": {"type": "array", "items": {"type": "object"}}}}}}}));
        let mut params = vec![
            json!({"$ref": "#/components/parameters/partnerId"}),
            json!({"$ref": "#/components/parameters/apiKey"}),
            json!({"name": "sessionExternalId", "in": "query", "required": true, "schema": {"type": "string"}}),
            json!({"name": "stockId", "in": "query", "required": false, "schema": {"type": "string"}}),
            json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}),
            json!({"name": "format", "in": "query", "required": false, "schema": {"type": "string", "enum": ["items"]}}),
        ];
        let extra = if name.ends_with("ByCategoryPath") {
            Some((
                "categoryPaths",
                json!({"type": "array", "items": {"type": "string"}}),
            ))
        } else if name.starts_with("categoryRecommendations/") {
            Some((
                "categoryIds",
                json!({"type": "string", "description": "comma-separated integers"}),
            ))
        } else if name.starts_with("productRecommendations/") {
            Some((
                "productIds",
                json!({"type": "string", "description": "comma-separated integers"}),
            ))
        } else if name.starts_with("searchRecommendations/") {
            Some(("searchPhrase", json!({"type": "string"})))
        } else {
            None
        };
        if let Some((p, schema)) = extra {
            params.push(json!({"name": p, "in": "query", "required": true, "schema": schema}));
        }
        paths.insert(
            format!("/api/3.0/{name}/"),
            json!({"get": {"tags": ["recommendations"], "summary": name, "security": [{"apiKey": []}], "parameters": params, "responses": responses}}),
        );
    }
    for (path, summary) in [
        ("/healthz", "alive"),
        ("/readyz", "storage open, ready to serve"),
        ("/metrics", "Prometheus metrics"),
        ("/openapi.json", "this document"),
    ] {
        paths.insert(path.into(), json!({"get": {"tags": ["operations"], "summary": summary, "responses": {"200": {"description": "ok"}}}}));
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "propel", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Self-hosted e-commerce personalization, wire-compatible with the Retail Rocket integration APIs."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "query", "name": "apiKey"},
                "operatorToken": {"type": "http", "scheme": "bearer"}
            },
            "parameters": {
                "partnerId": {"name": "partnerId", "in": "query", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{24}$"}},
                "apiKey": {"name": "apiKey", "in": "query", "required": true, "schema": {"type": "string"}}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string", "enum": ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
                    "message": {"type": "string"}, "field": {"type": "string"}, "index": {"type": "integer"}}},
                "Stored": {"type": "object", "properties": {"stored": {"type": "integer"}}},
                "Limits": {"type": "object", "properties": {
                    "trackingRps": {"type": "integer", "minimum": 1}, "recommendationsRps": {"type": "integer", "minimum": 1},
                    "sponsoredRps": {"type": "integer", "minimum": 1}}}
            }
        }
    })
}

pub fn document_json() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_default()
}
