//! Property tests: generated feeds round-trip; mangled feeds never panic.

use propel_catalog::{parse_yml, Category, FeedItem, Param, Product, StockOverride, MAX_ID};
use proptest::option::of as o;
use proptest::prelude::*;
use std::fmt::Write;

/// Text as the parser normalizes one-line values: trimmed, single spaces, never empty.
/// Includes the XML specials and Cyrillic (all of it encodable in windows-1251).
fn text() -> impl Strategy<Value = String> {
    "[A-Za-zА-Яа-я0-9<>&\"'.,!?€ -]{1,16}"
        .prop_map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .prop_filter("blank", |s| !s.is_empty())
}

fn price() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u64..10_000_000).prop_map(|c| c as f64 / 100.0),
        0.0f64..1e9
    ]
}

fn stock() -> impl Strategy<Value = StockOverride> {
    (
        text(),
        o(any::<bool>()),
        o(price()),
        o(price()),
        o(text()),
        o(text()),
        o(text()),
        o(text()),
    )
        .prop_map(
            |(id, available, price, old_price, name, description, url, picture_url)| {
                StockOverride {
                    id,
                    available,
                    price,
                    old_price,
                    name,
                    description,
                    url,
                    picture_url,
                }
            },
        )
}

fn param() -> impl Strategy<Value = Param> {
    (text(), text(), proptest::option::of(text())).prop_map(|(name, value, unit)| Param {
        name,
        value,
        unit,
    })
}

/// An offer; `cats` is how many categories there are to refer to.
fn product(cats: usize) -> impl Strategy<Value = Product> {
    let refs = proptest::sample::subsequence((0..cats).collect::<Vec<_>>(), 0..=cats.min(3));
    (
        (
            0..=MAX_ID,
            text(),
            o(text()),
            prop::collection::vec(text(), 0..3),
            price(),
            o(price()),
        ),
        (
            any::<bool>(),
            refs,
            o(text()),
            o(text()),
            o(text()),
            o(0..=MAX_ID),
        ),
        (
            prop::collection::vec(param(), 0..3),
            o(text()),
            prop::collection::vec(stock(), 0..3),
        ),
    )
        .prop_map(
            |((id, name, url, pictures, price, old_price), rest, (params, description, stocks))| {
                let (available, refs, vendor, model, type_prefix, group_id) = rest;
                Product {
                    id,
                    name,
                    url,
                    picture_url: pictures.first().cloned(),
                    pictures,
                    price,
                    old_price,
                    available,
                    category_ids: refs.into_iter().map(cat_id).collect(),
                    category_paths: Vec::new(),
                    vendor,
                    model,
                    type_prefix,
                    group_id,
                    params,
                    description,
                    stocks,
                }
            },
        )
}

fn cat_id(index: usize) -> i64 {
    index as i64 * 13 + 5
}

fn feed() -> impl Strategy<Value = (Vec<Category>, Vec<Product>)> {
    prop::collection::vec((text(), any::<prop::sample::Index>(), any::<bool>()), 0..6)
        .prop_flat_map(|cats| {
            let categories: Vec<Category> = cats
                .iter()
                .enumerate()
                .map(|(i, (name, parent, root))| Category {
                    id: cat_id(i),
                    parent_id: (i > 0 && !root).then(|| cat_id(parent.index(i))),
                    name: name.clone(),
                })
                .collect();
            let n = categories.len();
            let offers = prop::collection::btree_map(0..=MAX_ID, product(n), 0..8).prop_map(|m| {
                m.into_iter()
                    .map(|(id, p)| Product { id, ..p })
                    .collect::<Vec<_>>()
            });
            (Just(categories), offers)
        })
}

fn esc(s: &str, numeric: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match (c, numeric) {
            ('&' | '<' | '>' | '"' | '\'', true) => {
                let _ = write!(out, "&#{};", c as u32);
            }
            ('&', _) => out.push_str("&amp;"),
            ('<', _) => out.push_str("&lt;"),
            ('>', _) => out.push_str("&gt;"),
            ('"', _) => out.push_str("&quot;"),
            ('\'', _) => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

fn element(out: &mut String, tag: &str, value: Option<&str>, numeric: bool) {
    if let Some(v) = value {
        let _ = write!(out, "<{tag}>{}</{tag}>", esc(v, numeric));
    }
}

fn write_feed(
    categories: &[Category],
    offers: &[Product],
    encoding: &str,
    numeric: bool,
) -> String {
    let e = |s: &str| esc(s, numeric);
    let mut x = format!("<?xml version=\"1.0\" encoding=\"{encoding}\"?>\n<yml_catalog date=\"2024-01-01\">\n<shop><name>Shop</name>\n<categories>\n");
    for c in categories {
        let parent = c
            .parent_id
            .map(|p| format!(" parentId=\"{p}\""))
            .unwrap_or_default();
        let _ = writeln!(
            x,
            "<category id=\"{}\"{parent}>{}</category>",
            c.id,
            e(&c.name)
        );
    }
    x.push_str("</categories>\n<offers>\n");
    for p in offers {
        let group = p
            .group_id
            .map(|g| format!(" group_id=\"{g}\""))
            .unwrap_or_default();
        let _ = writeln!(
            x,
            "<offer id=\"{}\" available=\"{}\"{group}>",
            p.id, p.available
        );
        element(&mut x, "url", p.url.as_deref(), numeric);
        let _ = write!(x, "<price>{}</price>", p.price);
        if let Some(old) = p.old_price {
            let _ = write!(x, "\n<oldprice>{old}</oldprice>");
        }
        for c in &p.category_ids {
            let _ = write!(x, "<categoryId>{c}</categoryId>");
        }
        for pic in &p.pictures {
            element(&mut x, "picture", Some(pic), numeric);
        }
        element(&mut x, "name", Some(&p.name), numeric);
        element(&mut x, "vendor", p.vendor.as_deref(), numeric);
        element(&mut x, "model", p.model.as_deref(), numeric);
        element(&mut x, "typePrefix", p.type_prefix.as_deref(), numeric);
        if let Some(d) = &p.description {
            // CDATA keeps the text verbatim; the generator never makes `]]>`.
            let _ = write!(x, "\n<description><![CDATA[{d}]]></description>\n");
        }
        for pm in &p.params {
            let unit = pm
                .unit
                .as_deref()
                .map(|u| format!(" unit=\"{}\"", e(u)))
                .unwrap_or_default();
            let _ = write!(
                x,
                "<param name=\"{}\"{unit}>{}</param>",
                e(&pm.name),
                e(&pm.value)
            );
        }
        for s in &p.stocks {
            let _ = write!(x, "<stock id=\"{}\">", e(&s.id));
            element(
                &mut x,
                "available",
                s.available.map(|a| if a { "true" } else { "false" }),
                numeric,
            );
            element(
                &mut x,
                "price",
                s.price.map(|v| v.to_string()).as_deref(),
                numeric,
            );
            element(
                &mut x,
                "oldprice",
                s.old_price.map(|v| v.to_string()).as_deref(),
                numeric,
            );
            element(&mut x, "name", s.name.as_deref(), numeric);
            element(&mut x, "description", s.description.as_deref(), numeric);
            element(&mut x, "url", s.url.as_deref(), numeric);
            element(&mut x, "picture", s.picture_url.as_deref(), numeric);
            x.push_str("</stock>\n");
        }
        x.push_str("</offer>\n");
    }
    x.push_str("</offers>\n</shop>\n</yml_catalog>\n");
    x
}

fn encode(xml: &str, encoding: usize) -> Vec<u8> {
    match encoding {
        0 => xml.as_bytes().to_vec(),
        1 => [&b"\xEF\xBB\xBF"[..], xml.as_bytes()].concat(),
        _ => encoding_rs::WINDOWS_1251.encode(xml).0.into_owned(),
    }
}

type Parsed = (Vec<Category>, Vec<Product>, u64);

fn parse(bytes: &[u8]) -> Result<Parsed, propel_catalog::FeedError> {
    let (mut cats, mut offers) = (Vec::new(), Vec::new());
    let s = parse_yml(bytes, &mut |item| match item {
        FeedItem::Category(c) => cats.push(c),
        FeedItem::Offer(p) => offers.push(*p),
        FeedItem::Problem(_) => {}
    })?;
    Ok((cats, offers, s.problem_count))
}

proptest! {
    #[test]
    fn generated_feeds_round_trip((cats, offers) in feed(), encoding in 0usize..3, numeric: bool) {
        let label = if encoding == 2 { "windows-1251" } else { "UTF-8" };
        let bytes = encode(&write_feed(&cats, &offers, label, numeric), encoding);
        let (got_cats, got, problems) = parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(problems, 0);
        prop_assert_eq!(got_cats, cats);
        prop_assert_eq!(got, offers);
    }

    #[test]
    fn mangled_feeds_never_panic(
        (cats, offers) in feed(),
        edits in prop::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = write_feed(&cats, &offers, "UTF-8", false).into_bytes();
        for (kind, at, byte) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                2 => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
        }
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        if let Err(e) = parse(&bytes) {
            prop_assert!(e.line >= 1 && e.column >= 1, "{:?}", e);
            prop_assert!(e.line <= lines, "{:?} past the last line {}", e, lines);
        }
    }
}
