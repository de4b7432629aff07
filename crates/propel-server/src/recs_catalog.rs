//! The recommendation engine's view of a partner's product base.

use propel_catalog::ProductBase;
use propel_recs::{Catalog, CategoryId, ItemId};
use std::collections::HashMap;
use std::sync::Arc;

/// A product base plus what the engine asks for that the base does not keep in its
/// shape (parameters as name/value pairs). Built once per base version.
pub struct CatalogView {
    pub base: Arc<ProductBase>,
    params: HashMap<ItemId, Vec<(String, String)>>,
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
        CatalogView { base, params }
    }
}

impl Catalog for CatalogView {
    fn is_available(&self, item: ItemId, stock: Option<&str>) -> bool {
        self.base
            .effective(item, stock)
            .is_some_and(|e| e.available)
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
