//! The product base's plain data types, shared by the YML parser and the Product API.

use serde::{Deserialize, Serialize};

/// A product of the shop's base (a YML `offer` or a Product API product). Stored as JSON:
/// empty values are left out (a missing field reads back as empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Product {
    pub id: i64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The main picture: the first of `pictures`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pictures: Vec<String>,
    pub price: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_price: Option<f64>,
    pub available: bool,
    /// Feed categories (YML); empty for Product API products.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category_ids: Vec<i64>,
    /// `/`-joined category paths (Product API); empty for YML offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stocks: Vec<StockOverride>,
}

/// A `param` of an offer, e.g. `<param name="Volume" unit="l">1.5</param>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// What one stock (warehouse, shop, region) changes of a product; `None` keeps the base value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StockOverride {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture_url: Option<String>,
}

/// A feed category. Path categories (Product API) get synthetic ids, see [`crate::CategoryTree`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Category {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
}

/// A product as seen for one stock: the stock's overrides applied over the base values.
/// Borrows from the product, so building one costs nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectiveProduct<'a> {
    pub id: i64,
    /// The stock whose overrides were applied; `None` when none was asked or it is unknown.
    pub stock_id: Option<&'a str>,
    pub name: &'a str,
    pub url: Option<&'a str>,
    pub picture_url: Option<&'a str>,
    pub description: Option<&'a str>,
    pub price: f64,
    pub old_price: Option<f64>,
    pub available: bool,
    /// The base product, for the fields stocks cannot change (groups, categories, params).
    #[serde(skip)]
    pub product: &'a Product,
}

impl Product {
    /// The product's values for `stock` (base values when `stock` is `None` or not listed).
    pub fn effective(&self, stock: Option<&str>) -> EffectiveProduct<'_> {
        let mut eff = EffectiveProduct {
            id: self.id,
            stock_id: None,
            name: &self.name,
            url: self.url.as_deref(),
            picture_url: self.picture_url.as_deref(),
            description: self.description.as_deref(),
            price: self.price,
            old_price: self.old_price,
            available: self.available,
            product: self,
        };
        let Some(s) = stock.and_then(|id| self.stocks.iter().find(|s| s.id == id)) else {
            return eff;
        };
        eff.stock_id = Some(&s.id);
        if let Some(v) = &s.name {
            eff.name = v;
        }
        if let Some(v) = &s.url {
            eff.url = Some(v);
        }
        if let Some(v) = &s.picture_url {
            eff.picture_url = Some(v);
        }
        if let Some(v) = &s.description {
            eff.description = Some(v);
        }
        if let Some(v) = s.price {
            eff.price = v;
        }
        if let Some(v) = s.old_price {
            eff.old_price = Some(v);
        }
        if let Some(v) = s.available {
            eff.available = v;
        }
        eff
    }

    /// On sale: the old price is above the price (base values; see [`EffectiveProduct::is_on_sale`]).
    pub fn is_on_sale(&self) -> bool {
        on_sale(self.price, self.old_price)
    }
}

impl EffectiveProduct<'_> {
    /// On sale for this stock: its old price is above its price.
    pub fn is_on_sale(&self) -> bool {
        on_sale(self.price, self.old_price)
    }
}

fn on_sale(price: f64, old_price: Option<f64>) -> bool {
    old_price.is_some_and(|old| old > price)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> Product {
        Product {
            id: 9012,
            name: "Ice-cream maker".into(),
            url: Some("https://shop.example/p/9012".into()),
            picture_url: Some("https://shop.example/img/9012.jpg".into()),
            price: 8990.0,
            old_price: Some(9990.0),
            available: true,
            stocks: vec![StockOverride {
                id: "moscow".into(),
                available: Some(false),
                price: Some(9990.0),
                name: Some("Ice-cream maker (Moscow)".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn base_values_without_stock() {
        let p = product();
        let e = p.effective(None);
        assert_eq!(e.stock_id, None);
        assert_eq!(e.price, 8990.0);
        assert!(e.available);
        assert!(e.is_on_sale());
        assert!(p.is_on_sale());
    }

    #[test]
    fn stock_overrides_apply() {
        let p = product();
        let e = p.effective(Some("moscow"));
        assert_eq!(e.stock_id, Some("moscow"));
        assert_eq!(e.name, "Ice-cream maker (Moscow)");
        assert_eq!(e.price, 9990.0);
        assert_eq!(e.old_price, Some(9990.0));
        assert!(!e.available);
        // Same price as the old price: not on sale in this stock.
        assert!(!e.is_on_sale());
        assert_eq!(e.url, p.url.as_deref());
    }

    #[test]
    fn unknown_stock_gives_base_values() {
        let p = product();
        let e = p.effective(Some("berlin"));
        assert_eq!(e.stock_id, None);
        assert_eq!(e, p.effective(None));
    }

    #[test]
    fn stored_json_leaves_empty_values_out_and_reads_back() {
        let sparse = Product {
            id: 3,
            name: "Fork".into(),
            price: 1.5,
            ..Default::default()
        };
        let json = serde_json::to_string(&sparse).unwrap();
        assert_eq!(
            json,
            r#"{"id":3,"name":"Fork","price":1.5,"available":false}"#
        );
        assert_eq!(serde_json::from_str::<Product>(&json).unwrap(), sparse);
        let full = product();
        let json = serde_json::to_string(&full).unwrap();
        assert!(!json.contains("null") && !json.contains("[]"));
        assert_eq!(serde_json::from_str::<Product>(&json).unwrap(), full);
        // Bodies stored before empty values were left out still read.
        let old = r#"{"id":3,"name":"Fork","url":null,"picture_url":null,"pictures":[],"price":1.5,
            "old_price":null,"available":false,"category_ids":[],"category_paths":[],"vendor":null,
            "model":null,"type_prefix":null,"group_id":null,"params":[{"name":"a","value":"b","unit":null}],
            "description":null,"stocks":[]}"#;
        let read = serde_json::from_str::<Product>(old).unwrap();
        assert_eq!(read.params[0].unit, None);
        assert_eq!(
            Product {
                params: vec![],
                ..read
            },
            sparse
        );
    }

    #[test]
    fn no_old_price_is_not_on_sale() {
        let p = Product {
            price: 5.0,
            ..Default::default()
        };
        assert!(!p.is_on_sale());
    }
}
