//! The recommendation engine's view of a partner's product base.

use propel_catalog::ProductBase;
use propel_recs::{Catalog, CategoryId, ItemId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A product base plus what the engine asks for that the base does not keep in its
/// shape (parameters as name/value pairs). Built once per base version.
pub struct CatalogView {
    pub base: Arc<ProductBase>,
    params: HashMap<ItemId, Vec<(String, String)>>,
    /// Products available when no stock is asked for: every answer checks each product
    /// it takes, and one probe of this compact set beats finding the product.
    available: HashSet<ItemId, foldhash::fast::RandomState>,
}

impl CatalogView {
    pub fn new(base: Arc<ProductBase>) -> CatalogView {
        let params = base
            .iter()
            .filter(|p| !p.params.is_empty())
            .map(|p| {
                (
                    p.id,
                    p.params
                        .iter()
                        .map(|x| (x.name.clone(), x.value.clone()))
                        .collect(),
                )
            })
            .collect();
        let available = base.iter().filter(|p| p.available).map(|p| p.id).collect();
        CatalogView {
            base,
            params,
            available,
        }
    }
}

impl Catalog for CatalogView {
    fn is_available(&self, item: ItemId, stock: Option<&str>) -> bool {
        let Some(stock) = stock else {
            return self.available.contains(&item);
        };
        // `effective(item, stock).available` without building the whole effective product:
        // the stock's own availability when it lists one, else the product's.
        self.base.get(item).is_some_and(|p| {
            p.stocks
                .iter()
                .find(|s| s.id == stock)
                .and_then(|s| s.available)
                .unwrap_or(p.available)
        })
    }

    fn categories(&self, item: ItemId) -> &[CategoryId] {
        self.base.category_ids(item)
    }

    fn parent(&self, category: CategoryId) -> Option<CategoryId> {
        self.base.tree().parent(category)
    }

    fn price(&self, item: ItemId, stock: Option<&str>) -> Option<f64> {
        self.base.effective(item, stock).map(|e| e.price)
    }

    fn old_price(&self, item: ItemId, stock: Option<&str>) -> Option<f64> {
        self.base.effective(item, stock).and_then(|e| e.old_price)
    }

    fn first_seen_ms(&self, item: ItemId) -> Option<i64> {
        self.base.first_seen_ms(item)
    }

    fn params(&self, item: ItemId) -> &[(String, String)] {
        self.params.get(&item).map_or(&[], Vec::as_slice)
    }

    fn items(&self) -> Box<dyn Iterator<Item = ItemId> + '_> {
        Box::new(self.base.iter().map(|p| p.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use propel_catalog::{Product, StockOverride};

    #[test]
    fn availability_is_that_of_the_effective_product() {
        let stock = |id: &str, available: Option<bool>| StockOverride {
            id: id.to_string(),
            available,
            ..Default::default()
        };
        let product = |id: i64, available: bool, stocks: Vec<StockOverride>| {
            (
                Product {
                    id,
                    available,
                    stocks,
                    ..Default::default()
                },
                0,
            )
        };
        let base = Arc::new(ProductBase::new(
            [
                product(1, true, vec![]),
                product(2, false, vec![stock("a", Some(true))]),
                product(3, true, vec![stock("a", Some(false)), stock("b", None)]),
            ],
            Vec::new(),
        ));
        let view = CatalogView::new(base.clone());
        for item in [1, 2, 3, 4] {
            for s in [None, Some("a"), Some("b"), Some("c")] {
                let want = base.effective(item, s).is_some_and(|e| e.available);
                assert_eq!(view.is_available(item, s), want, "item {item} stock {s:?}");
            }
        }
    }
}
