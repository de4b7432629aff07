//! Targeting: which pages and visitors a campaign wants. Every key is optional (absent:
//! any); a present key must be satisfied by the page, the visitor or the stock. A key the
//! page cannot answer (vendors on a search page, keywords on a product page) is not
//! satisfied, so a campaign aimed at one context never leaks into another.

use crate::placement::PlacementKind;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// What the decision needs of the shop's product base.
pub trait Products {
    /// The product's categories with all their ancestors (no repeats); `None` when it is
    /// not in the base.
    fn category_closure(&self, product: i64) -> Option<Vec<i64>>;
    /// The category with all its ancestors (empty when unknown).
    fn category_and_ancestors(&self, category: i64) -> HashSet<i64>;
    fn resolve_path(&self, path: &str) -> Option<i64>;
    fn vendor(&self, product: i64) -> Option<&str>;
    /// The price in `stock` (its override, else the base price).
    fn price(&self, product: i64, stock: Option<&str>) -> Option<f64>;
    /// In the base and available (in `stock` when given).
    fn available(&self, product: i64, stock: Option<&str>) -> bool;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceRange {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Targeting {
    pub category_ids: Option<Vec<i64>>,
    pub category_paths: Option<Vec<String>>,
    /// Lower-cased.
    pub vendors: Option<Vec<String>>,
    pub product_ids: Option<Vec<i64>>,
    pub price_range: Option<PriceRange>,
    /// Normalized: lower-case words joined by one space.
    pub keywords: Option<Vec<String>>,
    pub interest_category_ids: Option<Vec<i64>>,
    pub stock_ids: Option<Vec<String>>,
}

/// One product of the page, resolved once per request.
#[derive(Debug, Clone, Default)]
pub struct PageProduct {
    pub id: i64,
    /// Its categories with their ancestors (a handful: a list beats a set).
    pub categories: Vec<i64>,
    pub vendor: Option<String>,
    pub price: Option<f64>,
}

/// The page asking: its kind and its context, resolved once per request.
#[derive(Debug, Clone)]
pub struct Page {
    pub kind: PlacementKind,
    pub products: Vec<PageProduct>,
    /// Category pages: the category and its ancestors.
    pub categories: HashSet<i64>,
    /// Search pages: the query's words, lower-case.
    pub words: Vec<String>,
    pub stock: Option<String>,
}

/// Lower-case words, white space collapsed.
pub fn normalize(s: &str) -> String {
    s.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Page {
    pub fn new(kind: PlacementKind, stock: Option<&str>) -> Page {
        Page {
            kind,
            products: Vec::new(),
            categories: HashSet::new(),
            words: Vec::new(),
            stock: stock.map(str::to_string),
        }
    }

    pub fn with_products(mut self, ids: &[i64], base: &dyn Products) -> Page {
        let stock = self.stock.clone();
        self.products = ids
            .iter()
            .map(|&id| PageProduct {
                id,
                categories: base.category_closure(id).unwrap_or_default(),
                vendor: base.vendor(id).map(str::to_lowercase),
                price: base.price(id, stock.as_deref()),
            })
            .collect();
        self
    }

    /// A category page: by id, or by path (resolved in the base; unknown: no categories).
    pub fn with_category(mut self, category: Option<i64>, base: &dyn Products) -> Page {
        self.categories = category.map_or_else(HashSet::new, |c| base.category_and_ancestors(c));
        self
    }

    pub fn with_query(mut self, query: &str) -> Page {
        self.words = normalize(query).split(' ').map(str::to_string).collect();
        self
    }
}

/// The visitor: categories of interest with their ancestors.
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    pub session: String,
    pub interests: HashSet<i64>,
}

impl Targeting {
    /// No key at all: every page and visitor.
    pub fn is_empty(&self) -> bool {
        self == &Targeting::default()
    }

    pub fn needs_interests(&self) -> bool {
        self.interest_category_ids.is_some()
    }

    /// Whether a targeted category (by id, or by path resolved in the base) satisfies
    /// `hit`; `None` when neither key is set.
    fn category_hit(&self, base: &dyn Products, hit: impl Fn(i64) -> bool) -> Option<bool> {
        if self.category_ids.is_none() && self.category_paths.is_none() {
            return None;
        }
        let by_id = self.category_ids.iter().flatten().any(|c| hit(*c));
        Some(
            by_id
                || self
                    .category_paths
                    .iter()
                    .flatten()
                    .any(|p| base.resolve_path(p).is_some_and(&hit)),
        )
    }

    fn product_matches(&self, p: &PageProduct, base: &dyn Products) -> bool {
        if self.category_hit(base, |c| p.categories.contains(&c)) == Some(false) {
            return false;
        }
        if let Some(vendors) = &self.vendors {
            if !p.vendor.as_ref().is_some_and(|v| vendors.contains(v)) {
                return false;
            }
        }
        if let Some(ids) = &self.product_ids {
            if !ids.contains(&p.id) {
                return false;
            }
        }
        if let Some(range) = &self.price_range {
            let Some(price) = p.price else { return false };
            if range.min.is_some_and(|m| price < m) || range.max.is_some_and(|m| price > m) {
                return false;
            }
        }
        true
    }

    fn has_product_keys(&self) -> bool {
        self.vendors.is_some() || self.product_ids.is_some() || self.price_range.is_some()
    }

    fn page_matches(&self, page: &Page, base: &dyn Products) -> bool {
        let has_categories = self.category_ids.is_some() || self.category_paths.is_some();
        match page.kind {
            PlacementKind::Product | PlacementKind::ProductGroup => {
                if self.keywords.is_some() {
                    return false;
                }
                page.products.iter().any(|p| self.product_matches(p, base))
            }
            PlacementKind::Category => {
                if self.keywords.is_some() || self.has_product_keys() {
                    return false;
                }
                self.category_hit(base, |c| page.categories.contains(&c)) != Some(false)
            }
            PlacementKind::Search => {
                if has_categories || self.has_product_keys() {
                    return false;
                }
                self.keywords.as_ref().is_none_or(|list| {
                    list.iter()
                        .any(|k| k.split(' ').all(|w| page.words.iter().any(|q| q == w)))
                })
            }
            PlacementKind::Any => {
                !has_categories && !self.has_product_keys() && self.keywords.is_none()
            }
        }
    }

    /// Whether the page, the visitor and the stock satisfy every present key.
    pub fn matches(&self, page: &Page, visitor: &Visitor, base: &dyn Products) -> bool {
        if let Some(stocks) = &self.stock_ids {
            if !page.stock.as_ref().is_some_and(|s| stocks.contains(s)) {
                return false;
            }
        }
        if let Some(interests) = &self.interest_category_ids {
            if !interests.iter().any(|c| visitor.interests.contains(c)) {
                return false;
            }
        }
        self.page_matches(page, base)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Categories 1 > 10 > 100, 2. Products: 5 in 100 (vendor Acme, 50.0; 80.0 in "msk"),
    /// 6 in 2 (vendor Other, 20.0, unavailable in "msk").
    pub struct Fake;

    fn parents() -> HashMap<i64, i64> {
        HashMap::from([(10, 1), (100, 10)])
    }

    impl Products for Fake {
        fn category_closure(&self, product: i64) -> Option<Vec<i64>> {
            match product {
                5 => Some(self.category_and_ancestors(100).into_iter().collect()),
                6 => Some(self.category_and_ancestors(2).into_iter().collect()),
                7..=99 => Some(Vec::new()),
                _ => None,
            }
        }
        fn category_and_ancestors(&self, category: i64) -> HashSet<i64> {
            let mut out = HashSet::from([category]);
            let mut c = category;
            while let Some(p) = parents().get(&c) {
                out.insert(*p);
                c = *p;
            }
            out
        }
        fn resolve_path(&self, path: &str) -> Option<i64> {
            match path {
                "Home" => Some(1),
                "Home/Kitchen" => Some(10),
                _ => None,
            }
        }
        fn vendor(&self, product: i64) -> Option<&str> {
            match product {
                5 => Some("Acme"),
                6 => Some("Other"),
                _ => None,
            }
        }
        fn price(&self, product: i64, stock: Option<&str>) -> Option<f64> {
            match (product, stock) {
                (5, Some("msk")) => Some(80.0),
                (5, _) => Some(50.0),
                (6, _) => Some(20.0),
                (7..=99, _) => Some(1.0),
                _ => None,
            }
        }
        fn available(&self, product: i64, stock: Option<&str>) -> bool {
            matches!((product, stock), (5, _) | (6, None) | (7..=99, _))
        }
    }

    fn product_page(id: i64, stock: Option<&str>) -> Page {
        Page::new(PlacementKind::Product, stock).with_products(&[id], &Fake)
    }

    fn visitor(interests: &[i64]) -> Visitor {
        let mut v = Visitor::default();
        for c in interests {
            v.interests.extend(Fake.category_and_ancestors(*c));
        }
        v
    }

    fn check(t: &Targeting, page: &Page) -> bool {
        t.matches(page, &Visitor::default(), &Fake)
    }

    #[test]
    fn empty_targeting_matches_every_page() {
        let t = Targeting::default();
        assert!(check(&t, &product_page(5, None)));
        assert!(check(&t, &Page::new(PlacementKind::Any, None)));
        assert!(check(
            &t,
            &Page::new(PlacementKind::Search, None).with_query("x")
        ));
    }

    #[test]
    fn categories_by_subtree_on_product_and_category_pages() {
        let t = Targeting {
            category_ids: Some(vec![10]),
            ..Default::default()
        };
        assert!(check(&t, &product_page(5, None)));
        assert!(!check(&t, &product_page(6, None)));
        let cat = |c| Page::new(PlacementKind::Category, None).with_category(Some(c), &Fake);
        assert!(check(&t, &cat(100)));
        assert!(check(&t, &cat(10)));
        assert!(!check(&t, &cat(1)));
        assert!(!check(&t, &Page::new(PlacementKind::Any, None)));
        let paths = Targeting {
            category_paths: Some(vec!["Home/Kitchen".into()]),
            ..Default::default()
        };
        assert!(check(&paths, &product_page(5, None)));
        assert!(!check(&paths, &product_page(6, None)));
    }

    #[test]
    fn vendor_product_price_and_group() {
        let vendor = Targeting {
            vendors: Some(vec!["acme".into()]),
            ..Default::default()
        };
        assert!(check(&vendor, &product_page(5, None)));
        assert!(!check(&vendor, &product_page(6, None)));
        let group = Page::new(PlacementKind::ProductGroup, None).with_products(&[6, 5], &Fake);
        assert!(check(&vendor, &group));
        let ids = Targeting {
            product_ids: Some(vec![6]),
            ..Default::default()
        };
        assert!(check(&ids, &product_page(6, None)));
        assert!(!check(&ids, &product_page(5, None)));
        let price = Targeting {
            price_range: Some(PriceRange {
                min: Some(60.0),
                max: Some(100.0),
            }),
            ..Default::default()
        };
        assert!(!check(&price, &product_page(5, None)));
        assert!(check(&price, &product_page(5, Some("msk"))));
        // Product keys never match a category page.
        assert!(!check(
            &vendor,
            &Page::new(PlacementKind::Category, None).with_category(Some(100), &Fake)
        ));
    }

    #[test]
    fn keywords_interests_and_stocks() {
        let kw = Targeting {
            keywords: Some(vec![normalize("Red  Shoes")]),
            ..Default::default()
        };
        let search = |q: &str| Page::new(PlacementKind::Search, None).with_query(q);
        assert!(check(&kw, &search("cheap SHOES red")));
        assert!(!check(&kw, &search("red hat")));
        assert!(!check(&kw, &product_page(5, None)));
        let interest = Targeting {
            interest_category_ids: Some(vec![10]),
            ..Default::default()
        };
        let page = Page::new(PlacementKind::Any, None);
        assert!(interest.matches(&page, &visitor(&[100]), &Fake));
        assert!(!interest.matches(&page, &visitor(&[2]), &Fake));
        let stock = Targeting {
            stock_ids: Some(vec!["msk".into()]),
            ..Default::default()
        };
        assert!(check(&stock, &product_page(5, Some("msk"))));
        assert!(!check(&stock, &product_page(5, None)));
    }
}
