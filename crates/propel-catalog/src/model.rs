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

impl Product {
    /// The product as stored: the JSON `serde_json` writes for it (same fields, same
    /// order, empty values left out), written by hand into `out` for the import's speed.
    /// Non-finite numbers, which no validated product has, are written as `null` as
    /// `serde_json` does.
    pub fn write_json(&self, out: &mut String) {
        let mut w = JsonObject::new(out);
        w.int("id", self.id);
        w.str("name", &self.name);
        w.opt_str("url", self.url.as_deref());
        w.opt_str("picture_url", self.picture_url.as_deref());
        if !self.pictures.is_empty() {
            w.key("pictures");
            w.list(&self.pictures, |out, s| json_str(out, s));
        }
        w.float("price", self.price);
        if let Some(v) = self.old_price {
            w.float("old_price", v);
        }
        w.bool("available", self.available);
        if !self.category_ids.is_empty() {
            w.key("category_ids");
            w.list(&self.category_ids, |out, &v| json_int(out, v));
        }
        if !self.category_paths.is_empty() {
            w.key("category_paths");
            w.list(&self.category_paths, |out, s| json_str(out, s));
        }
        w.opt_str("vendor", self.vendor.as_deref());
        w.opt_str("model", self.model.as_deref());
        w.opt_str("type_prefix", self.type_prefix.as_deref());
        if let Some(v) = self.group_id {
            w.int("group_id", v);
        }
        if !self.params.is_empty() {
            w.key("params");
            w.list(&self.params, |out, p| {
                let mut o = JsonObject::new(out);
                o.str("name", &p.name);
                o.str("value", &p.value);
                o.opt_str("unit", p.unit.as_deref());
                o.end();
            });
        }
        w.opt_str("description", self.description.as_deref());
        if !self.stocks.is_empty() {
            w.key("stocks");
            w.list(&self.stocks, |out, s| {
                let mut o = JsonObject::new(out);
                o.str("id", &s.id);
                if let Some(v) = s.available {
                    o.bool("available", v);
                }
                if let Some(v) = s.price {
                    o.float("price", v);
                }
                if let Some(v) = s.old_price {
                    o.float("old_price", v);
                }
                o.opt_str("name", s.name.as_deref());
                o.opt_str("description", s.description.as_deref());
                o.opt_str("url", s.url.as_deref());
                o.opt_str("picture_url", s.picture_url.as_deref());
                o.end();
            });
        }
        w.end();
    }
}

/// Writes one JSON object's members.
struct JsonObject<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> JsonObject<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('{');
        JsonObject { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key); // keys are plain ASCII names
        self.out.push_str("\":");
    }

    fn str(&mut self, key: &str, v: &str) {
        self.key(key);
        json_str(self.out, v);
    }

    fn opt_str(&mut self, key: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(key, v);
        }
    }

    fn int(&mut self, key: &str, v: i64) {
        self.key(key);
        json_int(self.out, v);
    }

    fn float(&mut self, key: &str, v: f64) {
        self.key(key);
        json_float(self.out, v);
    }

    fn bool(&mut self, key: &str, v: bool) {
        self.key(key);
        self.out.push_str(if v { "true" } else { "false" });
    }

    fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut String, &T)) {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            each(self.out, item);
        }
        self.out.push(']');
    }

    fn end(self) {
        self.out.push('}');
    }
}

fn json_int(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

fn json_float(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
        return;
    }
    // What serde_json writes for an f64: zmij's shortest text that reads back as `v`
    // (serde_json formats with the same crate).
    out.push_str(zmij::Buffer::new().format_finite(v));
}

/// Whether any of the 8 bytes of `w` must be escaped in a JSON string: a control
/// character, `"` or `\`.
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
    below_space || has_zero(w ^ (ONES * u64::from(b'"'))) || has_zero(w ^ (ONES * u64::from(b'\\')))
}

/// A JSON string, escaped as `serde_json` escapes it.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        while let Some(chunk) = bytes.get(i..i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            if needs_escape(w) {
                break;
            }
            i += 8;
        }
        let Some(&b) = bytes.get(i) else { break };
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[start..i]);
        if escaped.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escaped);
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
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
    fn hand_written_json_is_serde_json_s() {
        let mut p = product();
        p.pictures = vec![
            "a\"b\\c".into(),
            "\u{1}\u{1f}\u{7f}\n\r\t\u{8}\u{c}Жx".into(),
        ];
        p.category_ids = vec![0, -5, i64::MAX, 9_007_199_254_740_991];
        p.params = vec![Param {
            name: "Вес".into(),
            value: "0.5 \"kg\"".into(),
            unit: Some("кг".into()),
        }];
        p.price = 101.01;
        p.old_price = Some(0.1 + 0.2);
        p.stocks[0].old_price = Some(2.7119293989009303e178);
        p.stocks[0].price = Some(1.5e-7);
        p.group_id = Some(77);
        p.description = Some("<p>long enough to use the eight-byte scan: \"quoted\"</p>".into());
        let edges = Product {
            category_ids: vec![i64::MIN],
            stocks: [
                1e15,
                9.99e15,
                1e16,
                1.5e16,
                1e-5,
                9.9e-6,
                1e-4,
                5e-324,
                f64::MAX,
                0.0,
                -0.0,
            ]
            .into_iter()
            .map(|v| StockOverride {
                price: Some(v),
                ..Default::default()
            })
            .collect(),
            ..Default::default()
        };
        for product in [p, edges, Product::default()] {
            let mut mine = String::new();
            product.write_json(&mut mine);
            assert_eq!(mine, serde_json::to_string(&product).unwrap());
        }
    }

    proptest::proptest! {
        #[test]
        fn hand_written_json_reads_back(
            name in ".*",
            url in proptest::option::of(".*"),
            price in proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL,
            ids in proptest::collection::vec(proptest::num::i64::ANY, 0..4),
            params in proptest::collection::vec((".*", ".*", proptest::option::of(".*")), 0..3),
        ) {
            let p = Product {
                id: ids.first().copied().unwrap_or(1),
                name,
                url,
                price,
                category_ids: ids,
                params: params.into_iter().map(|(name, value, unit)| Param { name, value, unit }).collect(),
                stocks: vec![StockOverride { id: "s".into(), price: Some(price), ..Default::default() }],
                ..Default::default()
            };
            let mut json = String::new();
            p.write_json(&mut json);
            let theirs = serde_json::to_string(&p).unwrap();
            // What serde_json's own text reads back as (its float parsing may round).
            let expected = serde_json::from_str::<Product>(&theirs).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<Product>(&json).unwrap(), expected);
        }
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
