//! A partner's campaigns indexed by what a page can name, so that a request looks at
//! the campaigns that may match it, not at all of them. Each campaign sits in exactly one
//! bucket, keyed by its most selective page key; the full targeting check still runs on
//! every campaign a request gathers.

use crate::engine::Live;
use crate::placement::PlacementKind;
use crate::targeting::Page;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct PartnerIndex {
    pub needs_interests: bool,
    by_category: HashMap<i64, Vec<Arc<Live>>>,
    by_vendor: HashMap<String, Vec<Arc<Live>>>,
    by_product: HashMap<i64, Vec<Arc<Live>>>,
    by_stock: HashMap<String, Vec<Arc<Live>>>,
    keywords: Vec<Arc<Live>>,
    /// Campaigns no key narrows down (category paths, price ranges, interests, none).
    scan: Vec<Arc<Live>>,
}

impl PartnerIndex {
    pub fn add(&mut self, live: &Arc<Live>) {
        let t = &live.campaign.targeting;
        self.needs_interests |= t.needs_interests();
        let push = |list: &mut Vec<Arc<Live>>| list.push(live.clone());
        if let (Some(ids), None) = (&t.category_ids, &t.category_paths) {
            ids.iter()
                .for_each(|c| push(self.by_category.entry(*c).or_default()));
        } else if t.category_paths.is_some() {
            push(&mut self.scan);
        } else if let Some(vendors) = &t.vendors {
            vendors
                .iter()
                .for_each(|v| push(self.by_vendor.entry(v.clone()).or_default()));
        } else if let Some(ids) = &t.product_ids {
            ids.iter()
                .for_each(|p| push(self.by_product.entry(*p).or_default()));
        } else if t.keywords.is_some() {
            push(&mut self.keywords);
        } else if let Some(stocks) = &t.stock_ids {
            stocks
                .iter()
                .for_each(|s| push(self.by_stock.entry(s.clone()).or_default()));
        } else {
            push(&mut self.scan);
        }
    }

    /// Every campaign that may match the page, once each, in a stable order.
    pub fn gather<'a>(&'a self, page: &Page) -> Vec<&'a Arc<Live>> {
        // The scan bucket is in serial order and shares no campaign with the others, so
        // only what the keys add needs sorting and deduplicating.
        let mut out: Vec<&Arc<Live>> = Vec::new();
        let mut from = |list: Option<&'a Vec<Arc<Live>>>| out.extend(list.into_iter().flatten());
        if let Some(s) = &page.stock {
            from(self.by_stock.get(s));
        }
        match page.kind {
            PlacementKind::Product | PlacementKind::ProductGroup => {
                for p in &page.products {
                    p.categories
                        .iter()
                        .for_each(|c| from(self.by_category.get(c)));
                    if let Some(v) = &p.vendor {
                        from(self.by_vendor.get(v));
                    }
                    from(self.by_product.get(&p.id));
                }
            }
            PlacementKind::Category => page
                .categories
                .iter()
                .for_each(|c| from(self.by_category.get(c))),
            PlacementKind::Search => out.extend(self.keywords.iter()),
            PlacementKind::Any => {}
        }
        out.sort_unstable_by_key(|l| l.serial());
        out.dedup_by_key(|l| l.serial());
        let mut all: Vec<&Arc<Live>> = Vec::with_capacity(self.scan.len() + out.len());
        all.extend(self.scan.iter());
        all.extend(out);
        all
    }
}
