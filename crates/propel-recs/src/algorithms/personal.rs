//! Personal algorithms: they read the visitor's (or contact's) profile,
//! which is updated per event, so the next request sees the last event.

use crate::catalog::Catalog;
use crate::models::Models;
use crate::types::{CategoryId, ItemId};

use crate::knn::{with_scratch, Scratch};

use super::{extend_ranked, key_dense, popular, rank_key, Picker, Request};

/// Items of the previous visits used as context when the current one is empty.
const FALLBACK_CONTEXT: usize = 5;
/// "Viewed next" products read per session product, best first: on yoochoose (with
/// 100 kNN neighbours), 20 of the 100 kept gave the same HR@10 and NDCG@10 (0.6197 /
/// 0.4320 against 0.6199 / 0.4320) at a tenth less request time; at a rules weight of
/// 0.1 only the best count.
const RULES_PER_ITEM: usize = 20;
/// Categories of long-term interest used by `popularInInterestedCategories`.
const TOP_CATEGORIES: usize = 3;
/// Bestsellers scanned for interested categories (bounds the request cost).
const SCAN: usize = 20_000;

/// Scores for the next product of a session (dense ids, oldest first) into
/// `s.scores`: a STAN-like session kNN plus sequential rules ("viewed next
/// after") from the last products, each normalised to a best score of 1, then
/// all multiplied by the best kNN score (when positive). Only the order of the
/// scores is used, and that common factor leaves it as it is while saving a
/// pass over the kNN scores.
pub(crate) fn session_scores(m: &Models, session: &[u32], now_ms: i64, s: &mut Scratch) {
    m.knn.score(session, now_ms, s);
    add_rules(m, session, s);
}

/// The sequential-rules half of [`session_scores`], added to the kNN scores in `s.scores`.
fn add_rules(m: &Models, session: &[u32], s: &mut Scratch) {
    let cfg = &m.config;
    if cfg.rules_weight > 0.0 {
        s.other.reset(m.item_count());
        // The last product counts most; earlier ones decay by position.
        for (back, &it) in session.iter().rev().take(3).enumerate() {
            let w = 1.0 / (1 + back) as f32;
            if let Some(list) = m.rel.next.get(it as usize) {
                for &(j, sc) in list.iter().take(RULES_PER_ITEM) {
                    s.other.add(j, w * sc);
                }
            }
        }
        let knn_max = s.scores.max();
        let rules_max = s.other.max();
        // Rules never predict a repeat, yet the last product is the likeliest
        // next view: give it the best rules score so the blend keeps it up.
        let top = if rules_max > 0.0 { rules_max } else { 1.0 };
        if let Some(&last) = session.last() {
            s.other.set(last, top);
        }
        let scale = cfg.rules_weight as f32 * if knn_max > 0.0 { knn_max } else { 1.0 } / top;
        for (j, sc) in s.other.entries() {
            s.scores.add(j, scale * sc);
        }
    }
}

/// `partnerRecommendations/personalComposite`: the visitor's current visit
/// (or, when it is empty, their last products) scored by session kNN and
/// sequential rules, then bestsellers; an unknown visitor gets bestsellers.
/// Products the visitor already saw may come back: they are the most likely
/// next views (a third of next clicks in the yoochoose data).
/// At or after [`Models::newest_visit_ms`] the answer does not depend on the
/// request time (see [`crate::knn`]), only on the profile, the models and the
/// catalog, so callers may cache it.
pub fn personal_composite(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    composite(m, c, r, true)
}

/// [`personal_composite`], reading the kept ranking of a one-product visit when
/// `kept` (tests compare the two ways).
fn composite(m: &Models, c: &dyn Catalog, r: &Request, kept: bool) -> Vec<ItemId> {
    let Some(profile) = r.profile.filter(|p| !p.events().is_empty()) else {
        return popular(m, c, r);
    };
    // Read as the models read past visits: a product repeated back to back (a reload)
    // counts once.
    let mut session: Vec<u32> = profile
        .current_session(m.config.session_gap_ms)
        .into_iter()
        .filter_map(|i| m.dense(i))
        .collect();
    session.dedup();
    if session.is_empty() {
        let mut recent: Vec<u32> = profile
            .recent_items()
            .into_iter()
            .filter_map(|i| m.dense(i))
            .take(FALLBACK_CONTEXT)
            .collect();
        recent.reverse();
        session = recent;
    }
    let now = if r.now_ms != 0 {
        r.now_ms
    } else {
        m.built_at_ms()
    };
    if let ([only], true) = (session.as_slice(), kept && now >= m.newest_visit_ms()) {
        if let Some((ranked, complete)) = m.single.get(*only) {
            let mut p = Picker::new(c, r);
            if p.extend(ranked.iter().map(|&d| m.id(d))) {
                return p.finish();
            }
            if complete {
                p.extend(m.popular_ids().iter().copied());
                return p.finish();
            }
            // Products were skipped beyond the kept ranking: compute the whole of it.
        }
    }
    with_scratch(|s| {
        session_scores(m, &session, now, s);
        let mut p = Picker::new(c, r);
        if !extend_ranked(m, &mut p, &mut s.keys, s.scores.entries()) {
            p.extend(m.popular_ids().iter().copied());
        }
        p.finish()
    })
}

/// Products of `personalComposite` kept per one-product visit, best first: enough
/// for the usual answer (ten or twenty products, a few skipped); longer ones are
/// computed.
const SINGLE_TOP: usize = 32;

/// `personalComposite`'s ranking for a visit made of one product, per product,
/// computed with the models: the commonest visit (a visitor who landed on a
/// product) is answered by reading a list. Kept only when answers do not depend
/// on the request time (see [`personal_composite`]).
#[derive(Default)]
pub(crate) struct SingleRankings {
    /// Dense ids best first, flattened: product `d`'s are `ranked[starts[d]..starts[d + 1]]`.
    ranked: Vec<u32>,
    starts: Vec<u32>,
    /// Per product, whether its list holds every product its visit scores.
    complete: Vec<bool>,
}

/// What a visit of one product gives, for every product, from one kNN pass each: its
/// kNN neighbours, best first and itself left out (the `similar` relation, so that
/// product-to-product requests only read lists), and `personalComposite`'s kept ranking.
/// `m.rel.similar` is not read.
pub(crate) fn one_product_visits(m: &Models, top: usize) -> (Vec<Vec<(u32, f32)>>, SingleRankings) {
    let now = m.built_at_ms();
    // Kept rankings only when answers do not depend on the request time.
    let keep = now >= m.newest_visit_ms();
    let mut similar = Vec::with_capacity(m.item_count());
    let mut kept = SingleRankings::default();
    if keep {
        kept.starts.push(0);
    }
    with_scratch(|s| {
        let mut keys = std::mem::take(&mut s.keys);
        for d in 0..m.item_count() as u32 {
            m.knn.score(&[d], now, s);
            let mut v: Vec<(u32, f32)> = s.scores.entries().filter(|x| x.0 != d).collect();
            v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            v.truncate(top);
            v.shrink_to_fit();
            similar.push(v);
            if !keep {
                continue;
            }
            add_rules(m, &[d], s);
            keys.clear();
            keys.extend(s.scores.entries().map(rank_key));
            let complete = keys.len() <= SINGLE_TOP;
            if !complete {
                keys.select_nth_unstable_by(SINGLE_TOP - 1, |a, b| b.cmp(a));
                keys.truncate(SINGLE_TOP);
            }
            keys.sort_unstable_by(|a, b| b.cmp(a));
            kept.ranked.extend(keys.iter().map(|&k| key_dense(k)));
            kept.starts.push(kept.ranked.len() as u32);
            kept.complete.push(complete);
        }
        s.keys = keys;
    });
    (similar, kept)
}

impl SingleRankings {
    /// The product's ranking and whether it is complete.
    fn get(&self, d: u32) -> Option<(&[u32], bool)> {
        let i = d as usize;
        let (&from, &to) = (self.starts.get(i)?, self.starts.get(i + 1)?);
        Some((&self.ranked[from as usize..to as usize], self.complete[i]))
    }
}

/// `partnerRecommendations/personalViewed`: the visitor's products, most recent first.
pub fn personal_viewed(c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let mut p = Picker::new(c, r);
    if let Some(profile) = r.profile {
        p.extend(profile.recent_items());
    }
    p.finish()
}

/// `partnerRecommendations/personalOrdered`: products ordered before, most recent first.
pub fn personal_ordered(c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let mut p = Picker::new(c, r);
    if let Some(profile) = r.profile {
        p.extend(profile.ordered_items());
    }
    p.finish()
}

/// `partnerRecommendations/popularInInterestedCategories`: bestsellers of the
/// visitor's top long-term categories, each weighted by the interest.
pub fn popular_in_interested_categories(m: &Models, c: &dyn Catalog, r: &Request) -> Vec<ItemId> {
    let Some(profile) = r.profile else {
        return Vec::new();
    };
    let now = if r.now_ms != 0 {
        r.now_ms
    } else {
        m.built_at_ms()
    };
    let top: Vec<(CategoryId, f64)> = profile
        .category_interests(c, &m.config, now)
        .into_iter()
        .take(TOP_CATEGORIES)
        .collect();
    if top.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(ItemId, f64)> = m
        .popular_ids()
        .iter()
        .take(SCAN)
        .filter_map(|&i| {
            let interest = top
                .iter()
                .filter(|(cat, _)| c.in_subtree(i, *cat))
                .fold(0.0f64, |a, x| a.max(x.1));
            (interest > 0.0).then(|| (i, interest * m.popularity(i).max(1e-9)))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut p = Picker::new(c, r);
    p.extend(scored.into_iter().map(|x| x.0));
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MemCatalog;
    use crate::config::Config;
    use crate::engine::Engine;
    use crate::profile::Profile;
    use crate::types::{Interaction, Kind};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// A one-product visit (the product repeated or not) gets from the kept
        /// ranking exactly what computing it gives, whatever the limit, the
        /// exclusions and the unavailable products.
        #[test]
        fn kept_one_product_rankings_answer_as_computing_does(
            visits in proptest::collection::vec(proptest::collection::vec(0i64..80, 1..12), 1..60),
            unavailable in proptest::collection::vec(0i64..80, 0..40),
            exclude in proptest::collection::vec(0i64..80, 0..4),
            limit in 1usize..60,
            repeats in 1usize..3,
        ) {
            let mut e = Engine::new(Config::default());
            let mut ts = 0;
            for (v, visit) in visits.iter().enumerate() {
                for &item in visit {
                    ts += 60_000;
                    e.apply(&Interaction { visitor: v as u32, item, kind: Kind::View, ts_ms: ts });
                }
            }
            let now = ts + 60_000;
            let m = e.snapshot(now);
            let mut c = MemCatalog::new();
            for i in 0..80i64 {
                c.add(i, 1, 1.0).available = !unavailable.contains(&i);
            }
            for item in 0..80i64 {
                let mut p = Profile::new(10);
                for _ in 0..repeats {
                    p.record(now, item, Kind::View);
                }
                let r = Request { limit, products: &exclude, profile: Some(&p), now_ms: now, ..Request::default() };
                prop_assert_eq!(composite(&m, &c, &r, true), composite(&m, &c, &r, false), "item {}", item);
            }
        }
    }
}
