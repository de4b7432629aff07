//! A partner's campaigns indexed by what a page can name, so that a request looks at
//! the campaigns that may match it, not at all of them. Each campaign sits in one
//! bucket kind, keyed by its most selective page key (under every value of that key);
//! the full targeting check still runs on every campaign a request considers.
//!
//! Inside a bucket, campaigns are split by pricing model. A CPM campaign's expected value
//! per view is its bid / 1000, fixed at creation, so the CPM list is kept sorted by it
//! (then by serial): the auction walks the CPM lists from the top and stops at the first
//! value that serves. A CPC campaign's value is its bid times its click-through rate,
//! which moves; the CPC list is sorted by bid, and the auction values CPC campaigns in
//! that order only while bid x (the highest click-through rate of any CPC campaign)
//! could still reach the best value found.

use crate::engine::Live;
use crate::placement::PlacementKind;
use crate::targeting::Page;
use crate::Nanos;
use std::collections::HashMap;
use std::sync::Arc;

/// What the auction reads of a campaign on every request, inline in the bucket so that
/// campaigns that cannot run (schedule, content types) are skipped without touching the
/// campaign itself.
pub(crate) struct Entry {
    pub live: Arc<Live>,
    /// CPM: the expected value of one view (bid / 1000, in nanos). CPC: the bid.
    pub value: f64,
    pub serial: u32,
    /// Content types the campaign has (`ContentType::bit`).
    pub types: u8,
    /// Whether the campaign has no targeting key at all (matches every page).
    pub untargeted: bool,
    pub starts_ms: i64,
    /// `i64::MAX` when the campaign has no end.
    pub ends_ms: i64,
    /// The total budget and the day's.
    pub total: Nanos,
    pub daily: Option<Nanos>,
}

impl Entry {
    fn new(live: &Arc<Live>) -> Entry {
        let c = &live.campaign;
        Entry {
            live: live.clone(),
            value: match c.model {
                crate::PricingModel::Cpm => c.value_per_view(0, 0),
                crate::PricingModel::Cpc => c.bid as f64,
            },
            serial: live.serial(),
            types: c.contents.iter().fold(0, |m, x| m | x.content_type().bit()),
            untargeted: c.targeting.is_empty(),
            starts_ms: c.starts_ms,
            ends_ms: c.ends_ms.unwrap_or(i64::MAX),
            total: c.budget.total,
            daily: c.daily_budget(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Bucket {
    /// By value per view, highest first, then by serial.
    pub cpm: Vec<Entry>,
    /// By bid, highest first, then by serial.
    pub cpc: Vec<Entry>,
}

impl Bucket {
    fn add(&mut self, live: &Arc<Live>) {
        match live.campaign.model {
            crate::PricingModel::Cpm => self.cpm.push(Entry::new(live)),
            crate::PricingModel::Cpc => self.cpc.push(Entry::new(live)),
        }
    }

    fn finish(&mut self) {
        for list in [&mut self.cpm, &mut self.cpc] {
            list.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.serial.cmp(&b.serial)));
        }
    }

    fn is_empty(&self) -> bool {
        self.cpm.is_empty() && self.cpc.is_empty()
    }
}

#[derive(Default)]
pub struct PartnerIndex {
    pub needs_interests: bool,
    by_category: HashMap<i64, Bucket>,
    by_vendor: HashMap<String, Bucket>,
    by_product: HashMap<i64, Bucket>,
    by_stock: HashMap<String, Bucket>,
    keywords: Bucket,
    /// Campaigns no key narrows down (category paths, price ranges, interests, none).
    scan: Bucket,
}

impl PartnerIndex {
    pub fn add(&mut self, live: &Arc<Live>) {
        let t = &live.campaign.targeting;
        self.needs_interests |= t.needs_interests();
        if let (Some(ids), None) = (&t.category_ids, &t.category_paths) {
            ids.iter()
                .for_each(|c| self.by_category.entry(*c).or_default().add(live));
        } else if t.category_paths.is_some() {
            self.scan.add(live);
        } else if let Some(vendors) = &t.vendors {
            vendors
                .iter()
                .for_each(|v| self.by_vendor.entry(v.clone()).or_default().add(live));
        } else if let Some(ids) = &t.product_ids {
            ids.iter()
                .for_each(|p| self.by_product.entry(*p).or_default().add(live));
        } else if t.keywords.is_some() {
            self.keywords.add(live);
        } else if let Some(stocks) = &t.stock_ids {
            stocks
                .iter()
                .for_each(|s| self.by_stock.entry(s.clone()).or_default().add(live));
        } else {
            self.scan.add(live);
        }
    }

    /// Sorts every bucket; call once after the last `add`.
    pub fn finish(&mut self) {
        let keyed = self
            .by_category
            .values_mut()
            .chain(self.by_product.values_mut())
            .chain(self.by_vendor.values_mut())
            .chain(self.by_stock.values_mut());
        for b in keyed {
            b.finish();
        }
        self.keywords.finish();
        self.scan.finish();
    }

    /// The buckets whose campaigns may match the page. A campaign listed under several
    /// values of its key may come from more than one bucket: the auction deduplicates.
    pub(crate) fn gather<'a>(&'a self, page: &Page, out: &mut Vec<&'a Bucket>) {
        let mut from = |b: Option<&'a Bucket>| {
            if let Some(b) = b.filter(|b| !b.is_empty()) {
                out.push(b)
            }
        };
        from(Some(&self.scan));
        if let Some(s) = &page.stock {
            from(self.by_stock.get(s.as_str()));
        }
        match page.kind {
            PlacementKind::Product | PlacementKind::ProductGroup => {
                for p in &page.products {
                    p.categories
                        .iter()
                        .for_each(|c| from(self.by_category.get(c)));
                    if let Some(v) = &p.vendor {
                        from(self.by_vendor.get(v.as_str()));
                    }
                    from(self.by_product.get(&p.id));
                }
            }
            PlacementKind::Category => page
                .categories
                .iter()
                .for_each(|c| from(self.by_category.get(c))),
            PlacementKind::Search => from(Some(&self.keywords)),
            PlacementKind::Any => {}
        }
        // A product group (or a product in two categories) can name a bucket twice.
        out.sort_unstable_by_key(|b| *b as *const Bucket as usize);
        out.dedup_by_key(|b| *b as *const Bucket as usize);
    }
}
