//! The two baselines our algorithms are measured against: plain event-count
//! popularity and plain co-occurrence counts with the last product.

use std::collections::HashMap;

use crate::types::ItemId;

use super::data::Row;

/// Products by number of training events, most first.
pub(crate) fn count_popularity(train: &[Row]) -> Vec<ItemId> {
    let mut counts: HashMap<ItemId, u32> = HashMap::new();
    for r in train {
        *counts.entry(r.item).or_default() += 1;
    }
    let mut v: Vec<(ItemId, u32)> = counts.into_iter().collect();
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|x| x.0).collect()
}

/// Per product: the products found in the same training visitor (session) and
/// how many visitors had both, most first, top `top`.
pub(crate) fn count_cooccurrence(train: &[Row], top: usize) -> HashMap<ItemId, Vec<ItemId>> {
    let mut by_visitor: HashMap<u64, Vec<ItemId>> = HashMap::new();
    for r in train {
        by_visitor.entry(r.visitor).or_default().push(r.item);
    }
    let mut pairs: HashMap<ItemId, HashMap<ItemId, u32>> = HashMap::new();
    for items in by_visitor.values_mut() {
        items.sort_unstable();
        items.dedup();
        for &a in items.iter() {
            for &b in items.iter() {
                if a != b {
                    *pairs.entry(a).or_default().entry(b).or_default() += 1;
                }
            }
        }
    }
    pairs
        .into_iter()
        .map(|(a, m)| {
            let mut v: Vec<(ItemId, u32)> = m.into_iter().collect();
            v.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            v.truncate(top);
            (a, v.into_iter().map(|x| x.0).collect())
        })
        .collect()
}
