//! The YML (Yandex Market Language) feed: a streaming parser with bounded memory.
//!
//! Offers go to the caller's sink one at a time and are never held; only categories (few,
//! and first in the feed) and, unless turned off, the set of seen offer ids (8 bytes an
//! offer, to report repeated ids) are kept. A sink that can tell repeated ids itself (a
//! database with a unique key) implements [`FeedSink`] and keeps memory flat.

mod offer;
mod parser;
mod values;
mod xml;

pub use values::{parse_id, parse_price, MAX_ID};

use crate::model::{Category, Product};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::BufRead;

/// Something in the feed that was skipped, dropped or repaired; the import goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The line of the offer (or element) concerned, 1-based.
    pub line: u64,
    pub reason: String,
}

/// The feed is not well-formed XML (or cannot be read): nothing of it may be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("line {line}, column {column}: {message}")]
pub struct FeedError {
    /// 1-based.
    pub line: u64,
    /// 1-based, in characters.
    pub column: u64,
    pub message: String,
}

/// What the parser hands to its sink, in feed order.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    /// Every category, once its block has been read (parents already repaired).
    Category(Category),
    /// A valid offer. A repeated id comes again: the later one wins.
    Offer(Box<Product>),
    /// Every problem, as it is found (the summary keeps only the first ones).
    Problem(Problem),
}

#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Report repeated offer ids (costs a set of ids; turn off to keep memory flat and
    /// detect them downstream with [`DuplicateTracker`]).
    pub detect_duplicates: bool,
    /// How many problems [`FeedSummary::problems`] keeps.
    pub max_problems_kept: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            detect_duplicates: true,
            max_problems_kept: 100,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedSummary {
    /// The encoding the feed was decoded from.
    pub encoding: String,
    pub categories: u64,
    /// Offers handed to the sink (repeated ids included).
    pub offers: u64,
    /// Offers skipped for a bad id, price or name.
    pub skipped: u64,
    /// Offers whose id had been seen before (by the parser, or by a [`FeedSink`]).
    pub duplicates: u64,
    /// All problems found; only the first `max_problems_kept` are in `problems`.
    pub problem_count: u64,
    pub problems: Vec<Problem>,
}

/// Where [`parse_yml_into`] hands what it reads, in feed order.
pub trait FeedSink {
    /// Every category, once its block has been read (parents already repaired).
    fn category(&mut self, category: Category);
    /// A valid offer whose start tag is on `line`. Returns `true` when the sink had
    /// already received an offer with this id in this feed (it keeps the later one); the
    /// parser counts and reports it. Asked only when [`ParseOptions::detect_duplicates`]
    /// is off (otherwise the parser's own id set answers and the return value is ignored).
    fn offer(&mut self, product: Product, line: u64) -> bool;
    /// Every problem, as it is found.
    fn problem(&mut self, problem: &Problem);
    /// `true` stops the parse early (the sink failed, say): the parser returns what it
    /// has read so far, and the caller, who knows why, must not apply it.
    fn stopped(&self) -> bool {
        false
    }
}

/// The closure-based sink of [`parse_yml_with`].
struct FnSink<'a, F>(&'a mut F);

impl<F: FnMut(FeedItem)> FeedSink for FnSink<'_, F> {
    fn category(&mut self, category: Category) {
        (self.0)(FeedItem::Category(category));
    }
    fn offer(&mut self, product: Product, _line: u64) -> bool {
        (self.0)(FeedItem::Offer(Box::new(product)));
        false
    }
    fn problem(&mut self, problem: &Problem) {
        (self.0)(FeedItem::Problem(problem.clone()));
    }
}

/// Remembers offer ids to spot the repeated ones.
#[derive(Debug, Clone, Default)]
pub struct DuplicateTracker {
    seen: HashSet<i64>,
}

impl DuplicateTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// `true` if `id` was seen before.
    pub fn check(&mut self, id: i64) -> bool {
        !self.seen.insert(id)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Parses a YML feed with default options. See [`parse_yml_with`].
pub fn parse_yml<R: BufRead>(
    reader: R,
    sink: &mut impl FnMut(FeedItem),
) -> Result<FeedSummary, FeedError> {
    parse_yml_with(reader, &ParseOptions::default(), sink)
}

/// Parses a YML feed, handing categories, offers and problems to `sink` as they come.
/// Any encoding encoding_rs knows is decoded (BOM, then the XML declaration, then UTF-8).
/// Fails only when the feed is not well-formed XML or cannot be read; the sink may
/// have received items by then, so a caller applying them atomically must stage them.
pub fn parse_yml_with<R: BufRead>(
    reader: R,
    options: &ParseOptions,
    sink: &mut impl FnMut(FeedItem),
) -> Result<FeedSummary, FeedError> {
    parser::run(reader, options, &mut FnSink(sink))
}

/// Parses a YML feed into a [`FeedSink`]. With [`ParseOptions::detect_duplicates`] off,
/// the sink tells repeated ids (see [`FeedSink::offer`]) and the parser keeps no per-offer
/// state at all: memory stays the same whatever the feed's size.
pub fn parse_yml_into<R: BufRead, S: FeedSink>(
    reader: R,
    options: &ParseOptions,
    sink: &mut S,
) -> Result<FeedSummary, FeedError> {
    parser::run(reader, options, sink)
}

#[cfg(test)]
mod tests;
