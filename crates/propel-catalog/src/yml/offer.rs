//! Collects one `offer` element's fields, then validates them into a [`Product`].

use super::values::{non_blank, one_line, parse_bool, parse_id, parse_price, MAX_ID};
use super::Problem;

/// A problem of a kept offer, placed by byte offset: the parser turns it into a line.
#[derive(Debug)]
pub(crate) struct Note {
    pub at: u64,
    pub reason: String,
}
use crate::model::{Param, Product, StockOverride};
use std::collections::HashSet;

/// The child elements of an offer or a stock that carry data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Url,
    Price,
    OldPrice,
    Name,
    Vendor,
    Model,
    TypePrefix,
    Description,
    CategoryId,
    Picture,
    Param,
    Author,
    Artist,
    Title,
    Available,
}

impl Field {
    pub fn of_offer(name: &[u8]) -> Option<Field> {
        Some(match name {
            b"url" => Field::Url,
            b"price" => Field::Price,
            b"oldprice" => Field::OldPrice,
            b"name" => Field::Name,
            b"vendor" => Field::Vendor,
            b"model" => Field::Model,
            b"typePrefix" => Field::TypePrefix,
            b"description" => Field::Description,
            b"categoryId" => Field::CategoryId,
            b"picture" => Field::Picture,
            b"param" => Field::Param,
            b"author" => Field::Author,
            b"artist" => Field::Artist,
            b"title" => Field::Title,
            _ => return None,
        })
    }

    pub fn of_stock(name: &[u8]) -> Option<Field> {
        Some(match name {
            b"available" => Field::Available,
            b"price" => Field::Price,
            b"oldprice" => Field::OldPrice,
            b"name" => Field::Name,
            b"description" => Field::Description,
            b"url" => Field::Url,
            b"picture" => Field::Picture,
            _ => return None,
        })
    }
}

fn set(slot: &mut Option<String>, text: &str) {
    // Repeated single-valued elements: the first non-blank one counts.
    if slot.is_none() {
        *slot = non_blank(text);
    }
}

fn set_line(slot: &mut Option<String>, text: &str) {
    if slot.is_none() {
        *slot = one_line(text);
    }
}

/// An offer being read: raw values until [`OfferDraft::finish`] validates them.
#[derive(Debug, Default)]
pub(crate) struct OfferDraft {
    /// Line and byte offset of the offer's start tag.
    pub line: u64,
    at: u64,
    /// The id, or as written when it is not one.
    id: Option<Result<i64, String>>,
    kind: Option<String>,
    available: Option<bool>,
    group_id: Option<Result<i64, String>>,
    url: Option<String>,
    price: Option<String>,
    old_price: Option<String>,
    name: Option<String>,
    vendor: Option<String>,
    model: Option<String>,
    type_prefix: Option<String>,
    description: Option<String>,
    author: Option<String>,
    artist: Option<String>,
    title: Option<String>,
    /// Raw ids with the offset of their element.
    categories: Vec<(String, u64)>,
    pictures: Vec<String>,
    params: Vec<Param>,
    stocks: Vec<StockOverride>,
    notes: Vec<Note>,
}

/// A `stock` being read inside an offer.
#[derive(Debug, Default)]
pub(crate) struct StockDraft {
    at: u64,
    pub id: Option<String>,
    available: Option<String>,
    price: Option<String>,
    old_price: Option<String>,
    name: Option<String>,
    description: Option<String>,
    url: Option<String>,
    picture: Option<String>,
}

impl StockDraft {
    pub fn new(at: u64, id: Option<String>) -> Self {
        StockDraft {
            at,
            id,
            ..Default::default()
        }
    }

    pub fn set(&mut self, field: Field, text: &str) {
        match field {
            Field::Available => set(&mut self.available, text),
            Field::Price => set(&mut self.price, text),
            Field::OldPrice => set(&mut self.old_price, text),
            Field::Name => set_line(&mut self.name, text),
            Field::Description => set(&mut self.description, text),
            Field::Url => set(&mut self.url, text),
            Field::Picture => set(&mut self.picture, text),
            _ => {}
        }
    }
}

impl OfferDraft {
    /// An offer from its start tag's line and attributes.
    pub fn new(
        (line, at): (u64, u64),
        id: Option<&str>,
        kind: Option<String>,
        available: Option<&str>,
        group_id: Option<&str>,
    ) -> Self {
        let id_of = |raw: &str| parse_id(raw).ok_or_else(|| raw.to_owned());
        OfferDraft {
            line,
            at,
            id: id.map(id_of),
            kind,
            available: available.map(parse_bool),
            group_id: group_id.map(id_of),
            ..Default::default()
        }
    }

    pub fn set(&mut self, field: Field, text: &str, at: u64) {
        match field {
            Field::Url => set(&mut self.url, text),
            Field::Price => set(&mut self.price, text),
            Field::OldPrice => set(&mut self.old_price, text),
            Field::Name => set_line(&mut self.name, text),
            Field::Vendor => set_line(&mut self.vendor, text),
            Field::Model => set_line(&mut self.model, text),
            Field::TypePrefix => set_line(&mut self.type_prefix, text),
            Field::Description => set(&mut self.description, text),
            Field::Author => set_line(&mut self.author, text),
            Field::Artist => set_line(&mut self.artist, text),
            Field::Title => set_line(&mut self.title, text),
            Field::CategoryId => self.categories.push((text.trim().to_owned(), at)),
            Field::Picture => self.pictures.extend(non_blank(text)),
            Field::Param | Field::Available => {}
        }
    }

    pub fn add_param(&mut self, name: Option<String>, unit: Option<String>, text: &str, at: u64) {
        match name.as_deref().and_then(non_blank) {
            Some(name) => self.params.push(Param {
                name,
                value: text.trim().to_owned(),
                unit: unit.as_deref().and_then(non_blank),
            }),
            None => self.note(at, "param without a name ignored".into()),
        }
    }

    pub fn add_stock(&mut self, s: StockDraft) {
        let Some(id) = s.id.as_deref().and_then(non_blank) else {
            self.note(s.at, "stock without an id ignored".into());
            return;
        };
        let price = self.price_of(s.price.as_deref(), s.at, "stock price");
        let old_price = self.price_of(s.old_price.as_deref(), s.at, "stock oldprice");
        self.stocks.push(StockOverride {
            id,
            available: s.available.as_deref().map(parse_bool),
            price,
            old_price,
            name: s.name,
            description: s.description,
            url: s.url,
            picture_url: s.picture,
        });
    }

    fn note(&mut self, at: u64, reason: String) {
        self.notes.push(Note { at, reason });
    }

    /// An optional price: a bad one is reported and dropped.
    fn price_of(&mut self, raw: Option<&str>, at: u64, what: &str) -> Option<f64> {
        let raw = raw?;
        let v = parse_price(raw);
        if v.is_none() {
            self.note(
                at,
                format!("{what} '{raw}' is not a non-negative number; ignored"),
            );
        }
        v
    }

    /// The product name: `name`, or what the offer's type names it by.
    fn display_name(&mut self) -> Option<String> {
        let base = self.name.as_ref().or(self.title.as_ref());
        let join = |parts: &[Option<&String>]| {
            let s: Vec<&str> = parts.iter().flatten().map(|s| s.as_str()).collect();
            (!s.is_empty()).then(|| s.join(" — "))
        };
        match self.kind.as_deref() {
            Some("vendor.model") if base.is_none() => {
                let parts = [&self.type_prefix, &self.vendor, &self.model];
                let s: Vec<&str> = parts.iter().filter_map(|p| p.as_deref()).collect();
                (!s.is_empty()).then(|| s.join(" "))
            }
            Some("book" | "audiobook") if base.is_some() => join(&[self.author.as_ref(), base]),
            Some("artist.title") if base.is_some() => join(&[self.artist.as_ref(), base]),
            _ if self.name.is_some() => self.name.take(),
            _ => self.title.take(),
        }
    }

    /// Validates the offer. `Err` is the reason it is skipped; notes about what was
    /// dropped from a kept offer go to `notes`.
    pub fn finish(
        mut self,
        categories: &HashSet<i64>,
        notes: &mut Vec<Note>,
    ) -> Result<Product, Problem> {
        let line = self.line;
        let skip = |reason: String| Problem { line, reason };
        let id = match self.id.take() {
            None => return Err(skip("offer without an id skipped".into())),
            Some(Err(raw)) => {
                return Err(skip(format!(
                    "offer id '{raw}' is not an integer in 0..={MAX_ID}; offer skipped"
                )))
            }
            Some(Ok(id)) => id,
        };
        let price = match self.price.as_deref() {
            None => return Err(skip(format!("offer {id} has no price; skipped"))),
            Some(raw) => parse_price(raw).ok_or_else(|| {
                skip(format!(
                    "offer {id}: price '{raw}' is not a non-negative number; skipped"
                ))
            })?,
        };
        let name = self
            .display_name()
            .ok_or_else(|| skip(format!("offer {id} has no name; skipped")))?;
        let raw_old = self.old_price.take();
        let old_price = self.price_of(raw_old.as_deref(), self.at, "oldprice");
        let group_id = match self.group_id.take() {
            Some(Err(raw)) => {
                let why = format!("offer {id}: group_id '{raw}' is not a valid id; ignored");
                self.note(self.at, why);
                None
            }
            Some(Ok(g)) => Some(g),
            None => None,
        };
        let mut category_ids = Vec::with_capacity(self.categories.len());
        for (raw, at) in std::mem::take(&mut self.categories) {
            match parse_id(&raw).filter(|c| categories.contains(c)) {
                Some(c) if !category_ids.contains(&c) => category_ids.push(c),
                Some(_) => {}
                None => self.note(
                    at,
                    format!("offer {id}: categoryId '{raw}' points to no category; ignored"),
                ),
            }
        }
        notes.append(&mut self.notes);
        Ok(Product {
            id,
            name,
            url: self.url,
            picture_url: self.pictures.first().cloned(),
            pictures: self.pictures,
            price,
            old_price,
            available: self.available.unwrap_or(true),
            category_ids,
            category_paths: Vec::new(),
            vendor: self.vendor,
            model: self.model,
            type_prefix: self.type_prefix,
            group_id,
            params: self.params,
            description: self.description,
            stocks: self.stocks,
        })
    }
}
