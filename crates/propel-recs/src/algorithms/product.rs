//! Product-to-product algorithms over the precomputed neighbour lists.

use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::cooc::Neighbours;
use crate::models::Models;
use crate::types::{CategoryId, ItemId};

use crate::knn::{with_scratch, Acc, Scratch};

use super::{extend_ranked, in_any, Picker, Request, Rules};

/// Sum over the inputs of each input's neighbour scores, normalised by that
/// input's best score so that every input counts alike.
fn blend(m: &Models, lists: &Neighbours, inputs: &[ItemId]) -> HashMap<u32, f32> {
    let mut acc: HashMap<u32, f32> = HashMap::new();
    for &i in inputs {
        let Some(list) = m.dense(i).and_then(|d| lists.get(d as usize)) else {
            continue;
        };
        let max = list.first().map_or(1.0, |x| x.1).max(1e-9);
        for &(j, s) in list {
            *acc.entry(j).or_default() += s / max;
        }
    }
    acc
}

fn sorted(m: &Models, scores: HashMap<u32, f32>) -> Vec<(ItemId, f32)> {
    let mut v: Vec<(u32, f32)> = scores.into_iter().collect();
    v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(d, s)| (m.id(d), s)).collect()
}

/// Adds, for each input, its neighbour scores normalised by its best one
/// into `acc` (as [`blend`]).
fn blend_into(m: &Models, lists: &Neighbours, inputs: &[ItemId], acc: &mut Acc) {
    for &i in inputs {
        let Some(list) = m.dense(i).and_then(|d| lists.get(d as usize)) else {
            continue;
        };
        let max = list.first().map_or(1.0, |x| x.1).max(1e-9);
        for &(j, s) in list {
            acc.add(j, s / max);
        }
    }
}

/// Related candidates with scores into `s.scores`: complements (basketed or
/// bought together) first, then what visitors viewed next after the inputs.
fn related_into(m: &Models, r: &Request, s: &mut Scratch) {
    let n = m.item_count();
    s.other.reset(n);
    blend_into(m, &m.rel.complements, r.products, &mut s.other);
    s.scores.reset(n);
    blend_into(m, &m.rel.next, r.products, &mut s.scores);
    blend_into(m, &m.rel.similar, r.products, &mut s.scores);
    for (j, c) in s.other.entries() {
        // Complements always outrank plain "viewed next" products.
        let next = s.scores.get(j).unwrap_or(0.0);
        s.scores.set(j, 1000.0 + c + 0.01 * next);
    }
}

/// Related candidates with scores, best first.
fn related_scored(m: &Models, r: &Request) -> Vec<(ItemId, f32)> {
    with_scratch(|s| {
        related_into(m, r, s);
        let mut v: Vec<(u32, f32)> = s.scores.entries().collect();
        v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().map(|(d, s)| (m.id(d), s)).collect()
    })
}

/// `productRecommendations/related`: complementary products.
pub fn related(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    with_scratch(|s| {
        related_into(m, r, s);
        let mut p = Picker::new(c, r);
        extend_ranked(m, &mut p, &mut s.keys, s.scores.entries());
        p.finish()
    })
}

/// `productRecommendations/alternatives`: substitutes, viewed together in a
/// visit without being bought together; products sharing a category with an
/// input are preferred, and the inputs' category bestsellers fill up.
pub fn alternatives(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let comp = blend(m, &m.rel.complements, r.products);
    let mut subs = blend(m, &m.rel.substitutes, r.products);
    for (j, s) in blend(m, &m.rel.similar, r.products) {
        *subs.entry(j).or_default() += s;
    }
    subs.retain(|j, _| !comp.contains_key(j));
    let cats: Vec<CategoryId> = input_categories(c, r.products);
    if !cats.is_empty() {
        for (&j, s) in subs.iter_mut() {
            if shares_category(c, m.id(j), &cats) {
                *s *= 2.0;
            }
        }
    }
    let mut p = Picker::new(c, r);
    let full = p.extend(sorted(m, subs).into_iter().map(|x| x.0));
    if !full && !cats.is_empty() {
        let complements: Vec<ItemId> = comp.keys().map(|&d| m.id(d)).collect();
        p.extend(m.popular_ids().iter().copied().filter(|&i| {
            m.popularity(i) > 0.0 && !complements.contains(&i) && in_any(c, i, &cats)
        }));
    }
    p.finish()
}

/// `productRecommendations/relatedByInterestedProperties`: related, re-ranked
/// by how well each product's parameters match the visitor's interests.
pub fn related_by_interested_properties(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let mut cands = related_scored(m, r);
    if let Some(profile) = r.profile {
        let interests = profile.property_interests(c, &m.config);
        // Per parameter name, the visitor's total: interest is a share per value.
        let mut totals: HashMap<&str, f64> = HashMap::new();
        for ((name, _), w) in &interests {
            *totals.entry(name.as_str()).or_default() += w;
        }
        for (item, s) in cands.iter_mut() {
            let mut matched = 0.0;
            for (name, value) in c.params(*item) {
                if let (Some(w), Some(t)) = (
                    interests.get(&(name.clone(), value.clone())),
                    totals.get(name.as_str()),
                ) {
                    matched += w / t;
                }
            }
            *s *= 1.0 + 4.0 * matched as f32;
        }
        cands.sort_by(|a, b| b.1.total_cmp(&a.1));
    }
    let mut p = Picker::new(c, r);
    p.extend(cands.into_iter().map(|x| x.0));
    p.finish()
}

/// `productRecommendations/relatedWithoutCurrentCategory`: related, minus
/// products in (the subtree of) any category of an input.
pub fn related_without_current_category(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let cats = input_categories(c, r.products);
    let mut p = Picker::new(c, r);
    p.extend(
        related_scored(m, r)
            .into_iter()
            .map(|x| x.0)
            .filter(|&i| !shares_category(c, i, &cats) && !in_any(c, i, &cats)),
    );
    p.finish()
}

/// `productRecommendations/relatedWithRules`: related, restricted to the
/// target categories of the rules matching the inputs' categories (filled with
/// those categories' bestsellers), promoted categories first.
pub fn related_with_rules(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let Some(rules) = r.rules else {
        return related(m, c, r);
    };
    let targets = Rules::targets_for(&rules.targets, c, r.products);
    let mut cands: Vec<ItemId> = related_scored(m, r).into_iter().map(|x| x.0).collect();
    if !targets.is_empty() {
        cands.retain(|&i| in_any(c, i, &targets));
        cands.extend(
            m.popular_ids()
                .iter()
                .copied()
                .filter(|&i| m.popularity(i) > 0.0 && in_any(c, i, &targets))
                .take(r.limit + r.products.len()),
        );
    }
    // Stable partition: promoted products first, each group keeps its order.
    let (mut first, rest): (Vec<ItemId>, Vec<ItemId>) = cands
        .into_iter()
        .partition(|&i| in_any(c, i, &rules.promoted));
    first.extend(rest);
    let mut p = Picker::new(c, r);
    p.extend(first);
    p.finish()
}

/// `productRecommendations/accessories`: related products of other categories
/// that are cheaper than the input, ranked by how strongly their category goes
/// with the input's (summed related scores per category) times their own score.
pub fn accessories(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let cats = input_categories(c, r.products);
    let max_price = r
        .products
        .iter()
        .filter_map(|&i| c.price(i, r.stock))
        .fold(None, |acc: Option<f64>, p| {
            Some(acc.map_or(p, |a| a.max(p)))
        });
    let configured = r
        .rules
        .map(|rules| Rules::targets_for(&rules.accessories, c, r.products))
        .unwrap_or_default();
    let cheaper = |i: ItemId| match (max_price, c.price(i, r.stock)) {
        (Some(mp), Some(p)) => p < mp,
        _ => true,
    };
    let mut cands: Vec<(ItemId, f32)> = related_scored(m, r)
        .into_iter()
        .filter(|&(i, _)| !shares_category(c, i, &cats))
        .filter(|&(i, _)| cheaper(i))
        .collect();
    if !configured.is_empty() {
        // The operator named the accessory categories: only those, and their
        // bestsellers fill what behaviour has not shown yet.
        cands.retain(|&(i, _)| in_any(c, i, &configured));
        let known: std::collections::HashSet<ItemId> = cands.iter().map(|x| x.0).collect();
        let fill: Vec<(ItemId, f32)> = m
            .popular_ids()
            .iter()
            .copied()
            .filter(|&i| !known.contains(&i) && in_any(c, i, &configured) && cheaper(i))
            .take(r.limit + r.products.len())
            .map(|i| (i, 1e-6))
            .collect();
        cands.extend(fill);
    }
    let mut cat_w: HashMap<CategoryId, f32> = HashMap::new();
    for &(i, s) in &cands {
        for &cat in c.categories(i) {
            *cat_w.entry(cat).or_default() += s;
        }
    }
    let mut scored: Vec<(ItemId, f32)> = cands
        .into_iter()
        .map(|(i, s)| {
            let w = c
                .categories(i)
                .iter()
                .filter_map(|k| cat_w.get(k))
                .fold(0.0f32, |a, &b| a.max(b));
            (i, s * w.max(1e-3))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut p = Picker::new(c, r);
    p.extend(scored.into_iter().map(|x| x.0));
    p.finish()
}

fn input_categories(c: &dyn Catalog, inputs: &[ItemId]) -> Vec<CategoryId> {
    let mut v: Vec<CategoryId> = inputs
        .iter()
        .flat_map(|&i| c.categories(i).iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn shares_category(c: &dyn Catalog, item: ItemId, cats: &[CategoryId]) -> bool {
    c.categories(item).iter().any(|k| cats.contains(k))
}
