//! A partner's product base in memory, for serving: products by id, first-seen times,
//! the category tree, and each product's category ids (feed ids, or the synthetic ids of
//! its Product API paths).
//!
//! Immutable once built; changes make a new base ([`ProductBase::with_upserts`],
//! [`ProductBase::without`]). Products are behind `Arc`, so such a copy costs one
//! pointer per product (about 10 ms per million products), not a deep clone.

use crate::model::{Category, EffectiveProduct, Product};
use crate::tree::CategoryTree;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct ProductBase {
    products: HashMap<i64, Arc<Product>>,
    first_seen_ms: HashMap<i64, i64>,
    tree: CategoryTree,
    /// Category ids of products with category paths (Product API).
    path_category_ids: HashMap<i64, Vec<i64>>,
}

impl ProductBase {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds a base from products with their first-seen times and the feed categories
    /// (empty for Product API partners: their categories come from the products' paths).
    pub fn new(
        products: impl IntoIterator<Item = (Product, i64)>,
        categories: Vec<Category>,
    ) -> Self {
        let mut base = ProductBase {
            tree: CategoryTree::from_categories(categories),
            ..Default::default()
        };
        for (p, seen) in products {
            base.first_seen_ms.insert(p.id, seen);
            base.products.insert(p.id, Arc::new(p));
        }
        base.index_paths();
        base
    }

    fn index_paths(&mut self) {
        self.path_category_ids.clear();
        let mut with_paths: Vec<&Arc<Product>> = self
            .products
            .values()
            .filter(|p| !p.category_paths.is_empty())
            .collect();
        // Insertion order decides ids only on a hash clash; keep it deterministic.
        with_paths.sort_by_key(|p| p.id);
        for p in with_paths {
            let ids: Vec<i64> = p
                .category_paths
                .iter()
                .filter_map(|path| self.tree.insert_path(path))
                .collect();
            self.path_category_ids.insert(p.id, ids);
        }
    }

    pub fn len(&self) -> usize {
        self.products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    pub fn get(&self, id: i64) -> Option<&Product> {
        self.products.get(&id).map(|p| p.as_ref())
    }

    /// The product's values for `stock` (see [`Product::effective`]).
    pub fn effective(&self, id: i64, stock: Option<&str>) -> Option<EffectiveProduct<'_>> {
        self.get(id).map(|p| p.effective(stock))
    }

    /// The categories the product is directly in: feed ids, or its paths' ids.
    pub fn category_ids(&self, id: i64) -> &[i64] {
        if let Some(ids) = self.path_category_ids.get(&id) {
            return ids;
        }
        self.get(id).map_or(&[], |p| p.category_ids.as_slice())
    }

    /// Whether the product is in `category` or one of its descendants.
    pub fn in_subtree(&self, id: i64, category: i64) -> bool {
        self.category_ids(id)
            .iter()
            .any(|&c| c == category || self.tree.ancestors(c).contains(&category))
    }

    pub fn first_seen_ms(&self, id: i64) -> Option<i64> {
        self.first_seen_ms.get(&id).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Product> {
        self.products.values().map(|p| p.as_ref())
    }

    pub fn tree(&self) -> &CategoryTree {
        &self.tree
    }

    /// `/`-joined names of the product's categories, from the root.
    pub fn category_paths(&self, id: i64) -> Vec<String> {
        self.category_ids(id)
            .iter()
            .filter_map(|c| self.tree.path(*c))
            .collect()
    }

    /// A new base with `products` inserted or replaced (each with its first-seen time).
    /// New paths are added to the tree; a category no product uses any more stays until
    /// the base is next built whole (harmless: it has no products).
    pub fn with_upserts(&self, products: impl IntoIterator<Item = (Product, i64)>) -> ProductBase {
        let mut next = self.clone();
        for (p, seen) in products {
            if p.category_paths.is_empty() {
                next.path_category_ids.remove(&p.id);
            } else {
                let ids = p
                    .category_paths
                    .iter()
                    .filter_map(|path| next.tree.insert_path(path))
                    .collect();
                next.path_category_ids.insert(p.id, ids);
            }
            next.first_seen_ms.entry(p.id).or_insert(seen);
            next.products.insert(p.id, Arc::new(p));
        }
        next
    }

    /// A new base without product `id`.
    pub fn without(&self, id: i64) -> ProductBase {
        let mut next = self.clone();
        next.products.remove(&id);
        next.first_seen_ms.remove(&id);
        next.path_category_ids.remove(&id);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StockOverride;

    fn product(id: i64, paths: &[&str]) -> Product {
        Product {
            id,
            name: format!("P{id}"),
            price: 10.0,
            available: true,
            category_paths: paths.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn feed_categories_and_subtrees() {
        let cats = vec![
            Category {
                id: 1,
                parent_id: None,
                name: "Home".into(),
            },
            Category {
                id: 10,
                parent_id: Some(1),
                name: "Kitchen".into(),
            },
        ];
        let mut p = product(5, &[]);
        p.category_ids = vec![10];
        p.stocks = vec![StockOverride {
            id: "msk".into(),
            available: Some(false),
            ..Default::default()
        }];
        let base = ProductBase::new([(p, 42)], cats);
        assert!(base.in_subtree(5, 1) && base.in_subtree(5, 10) && !base.in_subtree(5, 2));
        assert_eq!(base.category_paths(5), ["Home/Kitchen"]);
        assert_eq!(base.first_seen_ms(5), Some(42));
        assert!(!base.effective(5, Some("msk")).unwrap().available);
        assert!(base.effective(6, None).is_none());
    }

    #[test]
    fn paths_upserts_and_deletes() {
        let base = ProductBase::new([(product(1, &["Home/Kitchen"]), 1)], vec![]);
        let home = CategoryTree::path_id("Home").unwrap();
        assert!(base.in_subtree(1, home));
        assert_eq!(base.category_paths(1), ["Home/Kitchen"]);
        let next = base.with_upserts([(product(2, &["Garden"]), 5), (product(1, &[]), 9)]);
        assert_eq!(next.first_seen_ms(1), Some(1));
        assert!(!next.in_subtree(1, home));
        assert_eq!(next.len(), 2);
        let last = next.without(2);
        assert_eq!(last.len(), 1);
        assert!(last.get(2).is_none() && last.category_ids(2).is_empty());
        // The original is untouched.
        assert!(base.in_subtree(1, home));
    }
}
