//! The product-side view the algorithms need, implemented by the caller
//! over its product base. [`MemCatalog`] is a simple in-memory version for
//! tests and tools; [`OpenCatalog`] treats every product as available.

use std::collections::HashMap;

use crate::types::{CategoryId, ItemId};

/// Read access to the product base. Methods with defaults only need
/// overriding for speed.
pub trait Catalog {
    /// In the product base and available (in `stock` when given).
    fn is_available(&self, item: ItemId, stock: Option<&str>) -> bool;
    /// Direct categories of the product.
    fn categories(&self, item: ItemId) -> &[CategoryId];
    /// Parent of a category, `None` at a root or for an unknown category.
    fn parent(&self, category: CategoryId) -> Option<CategoryId>;
    /// Price (in the stock when given).
    fn price(&self, item: ItemId, stock: Option<&str>) -> Option<f64>;
    /// Price before discount (in the stock when given).
    fn old_price(&self, item: ItemId, stock: Option<&str>) -> Option<f64>;
    /// When the product first appeared in the product base, ms since 1970.
    fn first_seen_ms(&self, item: ItemId) -> Option<i64>;
    /// Product parameters as (name, value) pairs (size, colour, ...).
    fn params(&self, item: ItemId) -> &[(String, String)];
    /// Every product of the base (used by `latest`, which needs products
    /// nobody has interacted with yet).
    fn items(&self) -> Box<dyn Iterator<Item = ItemId> + '_>;

    /// Discounted: an old price above the price.
    fn is_on_sale(&self, item: ItemId, stock: Option<&str>) -> bool {
        match (self.price(item, stock), self.old_price(item, stock)) {
            (Some(p), Some(old)) => old > p,
            _ => false,
        }
    }

    /// The product is in `root` or one of its descendants.
    fn in_subtree(&self, item: ItemId, root: CategoryId) -> bool {
        self.categories(item)
            .iter()
            .any(|&c| self.category_in_subtree(c, root))
    }

    /// `category` is `root` or below it.
    fn category_in_subtree(&self, category: CategoryId, root: CategoryId) -> bool {
        let mut cur = Some(category);
        // Bounded walk: a broken feed may have a parent cycle.
        for _ in 0..64 {
            match cur {
                Some(c) if c == root => return true,
                Some(c) => cur = self.parent(c),
                None => return false,
            }
        }
        false
    }
}

/// One product of a [`MemCatalog`].
#[derive(Clone, Debug, Default)]
pub struct MemProduct {
    pub categories: Vec<CategoryId>,
    pub price: Option<f64>,
    pub old_price: Option<f64>,
    pub available: bool,
    /// Stocks the product is available in; empty = every stock.
    pub stocks: Vec<String>,
    pub first_seen_ms: i64,
    pub params: Vec<(String, String)>,
}

/// In-memory catalog: products and a category tree.
#[derive(Clone, Debug, Default)]
pub struct MemCatalog {
    pub products: HashMap<ItemId, MemProduct>,
    pub parents: HashMap<CategoryId, CategoryId>,
}

impl MemCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an available product in one category at a price.
    pub fn add(&mut self, item: ItemId, category: CategoryId, price: f64) -> &mut MemProduct {
        let p = self.products.entry(item).or_default();
        p.categories = vec![category];
        p.price = Some(price);
        p.available = true;
        p
    }

    /// Declares `parent` as the parent of `child`.
    pub fn set_parent(&mut self, child: CategoryId, parent: CategoryId) {
        self.parents.insert(child, parent);
    }
}

impl Catalog for MemCatalog {
    fn is_available(&self, item: ItemId, stock: Option<&str>) -> bool {
        match self.products.get(&item) {
            Some(p) if p.available => match stock {
                Some(s) if !p.stocks.is_empty() => p.stocks.iter().any(|x| x == s),
                _ => true,
            },
            _ => false,
        }
    }
    fn categories(&self, item: ItemId) -> &[CategoryId] {
        self.products
            .get(&item)
            .map_or(&[], |p| p.categories.as_slice())
    }
    fn parent(&self, category: CategoryId) -> Option<CategoryId> {
        self.parents.get(&category).copied()
    }
    fn price(&self, item: ItemId, _stock: Option<&str>) -> Option<f64> {
        self.products.get(&item).and_then(|p| p.price)
    }
    fn old_price(&self, item: ItemId, _stock: Option<&str>) -> Option<f64> {
        self.products.get(&item).and_then(|p| p.old_price)
    }
    fn first_seen_ms(&self, item: ItemId) -> Option<i64> {
        self.products.get(&item).map(|p| p.first_seen_ms)
    }
    fn params(&self, item: ItemId) -> &[(String, String)] {
        self.products
            .get(&item)
            .map_or(&[], |p| p.params.as_slice())
    }
    fn items(&self) -> Box<dyn Iterator<Item = ItemId> + '_> {
        Box::new(self.products.keys().copied())
    }
}

/// Every product is available, in no category: the offline evaluation's
/// catalog, where the behaviour data has no product base.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenCatalog;

impl Catalog for OpenCatalog {
    fn is_available(&self, _item: ItemId, _stock: Option<&str>) -> bool {
        true
    }
    fn categories(&self, _item: ItemId) -> &[CategoryId] {
        &[]
    }
    fn parent(&self, _category: CategoryId) -> Option<CategoryId> {
        None
    }
    fn price(&self, _item: ItemId, _stock: Option<&str>) -> Option<f64> {
        None
    }
    fn old_price(&self, _item: ItemId, _stock: Option<&str>) -> Option<f64> {
        None
    }
    fn first_seen_ms(&self, _item: ItemId) -> Option<i64> {
        None
    }
    fn params(&self, _item: ItemId) -> &[(String, String)] {
        &[]
    }
    fn items(&self) -> Box<dyn Iterator<Item = ItemId> + '_> {
        Box::new(std::iter::empty())
    }
}
