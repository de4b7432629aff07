//! Shop-wide algorithms: popularity, novelty and search.

use crate::catalog::Catalog;
use crate::models::Models;
use crate::types::ItemId;

use super::{in_any, Picker, Request};

/// `partnerRecommendations/popular`: decayed bestsellers.
pub fn popular(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let mut p = Picker::new(c, r);
    p.extend(m.popular_ids().iter().copied());
    p.finish()
}

/// `categoryRecommendations/popular`: bestsellers of the categories'
/// subtrees; products without behaviour yet follow, newest first.
pub fn category_popular(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    filtered_popular(m, c, r, |_| true)
}

/// `categoryRecommendations/saleByPopular`: discounted bestsellers of the subtrees.
pub fn sale_by_popular(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    filtered_popular(m, c, r, |i| c.is_on_sale(i, r.stock))
}

fn filtered_popular(
    m: &Models,
    c: &dyn Catalog,
    r: &Request,
    keep: impl Fn(ItemId) -> bool,
) -> Vec<ItemId> {
    if r.categories.is_empty() {
        return Vec::new();
    }
    let mut p = Picker::new(c, r);
    let full = p.extend(
        m.popular_ids()
            .iter()
            .copied()
            .filter(|&i| m.popularity(i) > 0.0 && keep(i) && in_any(c, i, r.categories)),
    );
    if !full {
        p.extend(newest(c, r, |i| keep(i) && m.popularity(i) <= 0.0));
    }
    p.finish()
}

/// `categoryRecommendations/latest`: newest products of the subtrees.
pub fn latest(c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    if r.categories.is_empty() {
        return Vec::new();
    }
    let mut p = Picker::new(c, r);
    p.extend(newest(c, r, |_| true));
    p.finish()
}

/// `categoryRecommendations/saleByLatest`: newest discounted products of the subtrees.
pub fn sale_by_latest(c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    if r.categories.is_empty() {
        return Vec::new();
    }
    let mut p = Picker::new(c, r);
    p.extend(newest(c, r, |i| c.is_on_sale(i, r.stock)));
    p.finish()
}

/// Available products of the request's subtrees passing `keep`, newest first
/// (ties: higher id first). A scan of the catalog: callers with big bases
/// cache `latest` answers per category for a few seconds.
fn newest(c: &dyn Catalog, r: &Request, keep: impl Fn(ItemId) -> bool) -> Vec<ItemId> {
    let mut v: Vec<(i64, ItemId)> = c
        .items()
        .filter(|&i| c.is_available(i, r.stock) && in_any(c, i, r.categories) && keep(i))
        .map(|i| (c.first_seen_ms(i).unwrap_or(i64::MIN), i))
        .collect();
    let want = r.limit + r.products.len();
    if v.len() > want {
        v.select_nth_unstable_by(want, |a, b| b.cmp(a));
        v.truncate(want);
    }
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.into_iter().map(|(_, i)| i).collect()
}

/// `searchRecommendations/search`: what searchers of this or a similar phrase
/// went on to view, basket and buy. No fallback: an unknown phrase gets nothing.
pub fn search(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let Some(phrase) = r.phrase else {
        return Vec::new();
    };
    let mut p = Picker::new(c, r);
    p.extend(m.search.query(phrase).into_iter().map(|(d, _)| m.id(d)));
    p.finish()
}
