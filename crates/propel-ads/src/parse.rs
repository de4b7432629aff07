//! Campaigns and placements from the admin API's JSON: every rule names its field.

use crate::campaign::{Budget, Campaign, Content, ContentBody, FrequencyCap, PricingModel};
use crate::placement::{ContentType, Placement, PlacementKind};
use crate::targeting::{normalize, PriceRange, Targeting};
use crate::{Nanos, NANOS_PER_UNIT};
use propel_model::timestamp::parse_iso8601_ms;
use propel_model::ApiError;
use serde_json::Value;

type Parsed<T> = Result<T, ApiError>;

fn text(v: Option<&Value>, field: &str, max: usize) -> Parsed<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= max)
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("is required: a non-empty string of at most {max} characters"),
            )
        })
}

fn money(v: Option<&Value>, field: &str, max: f64) -> Parsed<Nanos> {
    v.and_then(Value::as_f64)
        .filter(|x| x.is_finite() && *x > 0.0 && *x <= max)
        .map(|x| (x * NANOS_PER_UNIT).round() as Nanos)
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ApiError::invalid(field, format!("must be a number above 0 and at most {max}"))
        })
}

fn time(v: Option<&Value>, field: &str) -> Parsed<Option<i64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(parse_iso8601_ms)
            .map(Some)
            .ok_or_else(|| ApiError::invalid(field, "must be an RFC 3339 date-time")),
    }
}

fn absent(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

fn int_list(v: Option<&Value>, field: &str) -> Parsed<Option<Vec<i64>>> {
    if absent(v) {
        return Ok(None);
    }
    v.and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
        .filter(|l| !l.is_empty() && l.len() <= 10_000)
        .map(Some)
        .ok_or_else(|| ApiError::invalid(field, "must be an array of 1 to 10000 integers"))
}

fn str_list(
    v: Option<&Value>,
    field: &str,
    each: impl Fn(&str) -> String,
) -> Parsed<Option<Vec<String>>> {
    if absent(v) {
        return Ok(None);
    }
    v.and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::trim)
                        .filter(|s| !s.is_empty() && s.len() <= 500)
                        .map(&each)
                })
                .collect::<Option<Vec<_>>>()
        })
        .filter(|l| !l.is_empty() && l.len() <= 10_000)
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                "must be an array of 1 to 10000 non-empty strings of at most 500 bytes",
            )
        })
}

fn price_range(v: Option<&Value>) -> Parsed<Option<PriceRange>> {
    if absent(v) {
        return Ok(None);
    }
    let obj = v
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::invalid("targeting.priceRange", "must be an object {min, max}"))?;
    let bound = |name: &str| -> Parsed<Option<f64>> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid(
                        format!("targeting.priceRange.{name}"),
                        "must be a number of at least 0",
                    )
                }),
        }
    };
    let (min, max) = (bound("min")?, bound("max")?);
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            return Err(ApiError::invalid(
                "targeting.priceRange",
                "min must not be above max",
            ));
        }
    }
    Ok(Some(PriceRange { min, max }))
}

fn targeting(v: Option<&Value>) -> Parsed<Targeting> {
    if absent(v) {
        return Ok(Targeting::default());
    }
    let t = v
        .filter(|x| x.is_object())
        .ok_or_else(|| ApiError::invalid("targeting", "must be an object"))?;
    let f = |k: &str| t.get(k);
    Ok(Targeting {
        category_ids: int_list(f("categoryIds"), "targeting.categoryIds")?,
        category_paths: str_list(
            f("categoryPaths"),
            "targeting.categoryPaths",
            str::to_string,
        )?,
        vendors: str_list(f("vendors"), "targeting.vendors", str::to_lowercase)?,
        product_ids: int_list(f("productIds"), "targeting.productIds")?,
        price_range: price_range(f("priceRange"))?,
        keywords: str_list(f("keywords"), "targeting.keywords", normalize)?,
        interest_category_ids: int_list(f("interestCategoryIds"), "targeting.interestCategoryIds")?,
        stock_ids: str_list(f("stockIds"), "targeting.stockIds", str::to_string)?,
    })
}

fn contents(v: Option<&Value>, campaign_id: &str) -> Parsed<Vec<Content>> {
    let list = v
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty() && a.len() <= 100)
        .ok_or_else(|| {
            ApiError::invalid("contents", "is required: an array of 1 to 100 contents")
        })?;
    let mut out = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let field = |name: &str| format!("contents[{i}].{name}");
        let kind = c
            .get("type")
            .and_then(Value::as_str)
            .and_then(ContentType::from_name)
            .ok_or_else(|| ApiError::invalid(field("type"), "must be 'string' or 'productIds'"))?;
        let body = match kind {
            ContentType::String => {
                ContentBody::String(text(c.get("string"), &field("string"), 100_000)?)
            }
            ContentType::ProductIds => ContentBody::ProductIds(
                c.get("productIds")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
                    .filter(|l| !l.is_empty() && l.len() <= 100)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            field("productIds"),
                            "must be an array of 1 to 100 integers",
                        )
                    })?,
            ),
        };
        out.push(Content {
            id: format!("{campaign_id}-{}", i + 1),
            body,
        });
    }
    Ok(out)
}

/// A campaign from its JSON; `partner_rowid` resolves a partnerId (None: unknown).
pub fn campaign_from_json(
    body: &Value,
    id: &str,
    partner_rowid: &dyn Fn(&str) -> Option<i64>,
    now_ms: i64,
) -> Parsed<Campaign> {
    let advertiser_id = text(body.get("advertiserId"), "advertiserId", 100)?;
    let name = text(body.get("name"), "name", 200)?;
    let ids = body
        .get("partnerIds")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .filter(|l| !l.is_empty() && l.len() <= 1000)
        .ok_or_else(|| {
            ApiError::invalid(
                "partnerIds",
                "is required: an array of 1 to 1000 partner ids",
            )
        })?;
    let partners = ids
        .iter()
        .map(|p| {
            partner_rowid(p).ok_or_else(|| {
                ApiError::invalid("partnerIds", format!("'{p}' is not a known partner"))
            })
        })
        .collect::<Parsed<Vec<i64>>>()?;
    let starts_ms = time(body.get("startsAt"), "startsAt")?.unwrap_or(now_ms);
    let ends_ms = time(body.get("endsAt"), "endsAt")?;
    if ends_ms.is_some_and(|e| e <= starts_ms) {
        return Err(ApiError::invalid("endsAt", "must be after startsAt"));
    }
    let b = body
        .get("budget")
        .filter(|b| b.is_object())
        .ok_or_else(|| ApiError::invalid("budget", "is required: an object {total, daily}"))?;
    let total = money(b.get("total"), "budget.total", 1e9)?;
    let daily = match b.get("daily") {
        None | Some(Value::Null) => None,
        d => Some(money(d, "budget.daily", 1e9)?),
    };
    let p = body
        .get("pricing")
        .filter(|p| p.is_object())
        .ok_or_else(|| ApiError::invalid("pricing", "is required: an object {model, bid}"))?;
    let model = match p.get("model").and_then(Value::as_str) {
        Some("cpm") => PricingModel::Cpm,
        Some("cpc") => PricingModel::Cpc,
        _ => return Err(ApiError::invalid("pricing.model", "must be 'cpm' or 'cpc'")),
    };
    let bid = money(p.get("bid"), "pricing.bid", 1e6)?;
    let frequency_cap = match body.get("frequencyCap") {
        None | Some(Value::Null) => None,
        Some(f) => {
            let int = |name: &str, max: u64| {
                f.get(name)
                    .and_then(Value::as_u64)
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid(
                            format!("frequencyCap.{name}"),
                            format!("must be an integer from 1 to {max}"),
                        )
                    })
            };
            Some(FrequencyCap {
                count: int("count", 1_000_000)? as u32,
                period_ms: int("periodHours", 8_760)? as i64 * 3_600_000,
            })
        }
    };
    Ok(Campaign {
        id: id.to_string(),
        advertiser_id,
        name,
        partners,
        partner_ids: ids,
        starts_ms,
        ends_ms,
        budget: Budget { total, daily },
        model,
        bid,
        frequency_cap,
        targeting: targeting(body.get("targeting"))?,
        contents: contents(body.get("contents"), id)?,
        paused: false,
        created_ms: now_ms,
    })
}

pub fn placement_from_json(body: &Value, id: &str, partner: i64) -> Parsed<Placement> {
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .and_then(PlacementKind::from_name)
        .ok_or_else(|| {
            ApiError::invalid(
                "kind",
                "must be one of product, productGroup, category, search, any",
            )
        })?;
    let name = text(body.get("name"), "name", 200)?;
    let mut content_types = Vec::new();
    let list = body
        .get("contentTypes")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "contentTypes",
                "is required: an array of 'string' and/or 'productIds'",
            )
        })?;
    for v in list {
        let t = v.as_str().and_then(ContentType::from_name).ok_or_else(|| {
            ApiError::invalid(
                "contentTypes",
                "every element must be 'string' or 'productIds'",
            )
        })?;
        if !content_types.contains(&t) {
            content_types.push(t);
        }
    }
    Ok(Placement {
        id: id.to_string(),
        partner,
        kind,
        name,
        content_types,
    })
}
