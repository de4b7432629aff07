//! The event loop: quick-xml events over the transcoded stream, read into offers.

use super::offer::{Field, Note, OfferDraft, StockDraft};
use super::values::{one_line, parse_id, resolve_entity, MAX_ID};
use super::{DuplicateTracker, FeedError, FeedSink, FeedSummary, ParseOptions, Problem};
use crate::decode::{DecodingReader, Pos};
use crate::model::Category;
use crate::tree::CategoryTree;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

/// Longest text kept of one field; the rest is dropped so memory stays bounded.
const MAX_FIELD_BYTES: usize = 1 << 20;

/// What an open element is, as far as the feed's structure goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Other,
    Categories,
    Category,
    Offers,
    Offer,
    Stock,
    Field,
}

/// Where the text of the element being captured goes.
#[derive(Debug, Clone, Copy)]
enum Target {
    CategoryName,
    Offer(Field),
    Stock(Field),
}

#[derive(Debug, Clone, Copy)]
struct Capture {
    target: Target,
    depth: usize,
    /// Byte offset of the element's start tag.
    at: u64,
}

/// The attributes the feed's elements carry that we use.
#[derive(Debug, Default)]
struct Attrs {
    id: Option<String>,
    parent: Option<String>,
    group: Option<String>,
    available: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    unit: Option<String>,
}

struct CategoryDraft {
    id: Option<String>,
    parent: Option<String>,
    name: String,
    line: u64,
}

struct Parser<'a, F> {
    options: &'a ParseOptions,
    sink: &'a mut F,
    summary: FeedSummary,
    stack: Vec<Ctx>,
    capture: Option<Capture>,
    text: String,
    category: Option<CategoryDraft>,
    /// The categories block being read, with each category's line.
    block: Vec<(Category, u64)>,
    known_categories: HashSet<i64>,
    offer: Option<OfferDraft>,
    stock: Option<StockDraft>,
    param: (Option<String>, Option<String>),
    duplicates: Option<DuplicateTracker>,
    notes: Vec<Note>,
}

pub(crate) fn run<R: BufRead, F: FeedSink>(
    reader: R,
    options: &ParseOptions,
    sink: &mut F,
) -> Result<FeedSummary, FeedError> {
    let decoder = DecodingReader::new(reader).map_err(|e| FeedError {
        line: 1,
        column: 1,
        message: format!("cannot read the feed: {e}"),
    })?;
    let mut p = Parser {
        options,
        sink,
        summary: FeedSummary {
            encoding: decoder.encoding().name().to_owned(),
            ..Default::default()
        },
        stack: Vec::new(),
        capture: None,
        text: String::new(),
        category: None,
        block: Vec::new(),
        known_categories: HashSet::new(),
        offer: None,
        stock: None,
        param: (None, None),
        duplicates: options.detect_duplicates.then(DuplicateTracker::new),
        notes: Vec::new(),
    };
    let mut xml = Reader::from_reader(decoder);
    xml.config_mut().allow_dangling_amp = true; // shops leave raw `&` in URLs
    let mut buf = Vec::with_capacity(4096);
    let mut seen_root = false;
    loop {
        buf.clear();
        let at = xml.buffer_position();
        let event = match xml.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                let pos = xml.get_ref().position_at(xml.error_position());
                return Err(error_at(pos, e.to_string()));
            }
        };
        match event {
            Event::Start(e) => {
                seen_root = true;
                p.start(&e, at, xml.get_mut())?;
            }
            Event::Empty(e) => {
                seen_root = true;
                p.start(&e, at, xml.get_mut())?;
                p.end(xml.get_ref());
            }
            Event::End(_) => {
                p.end(xml.get_ref());
                if p.sink.stopped() {
                    return Ok(p.summary);
                }
            }
            Event::Text(t) if p.capture.is_some() => p.push_text(&t.xml10_content()),
            Event::CData(t) if p.capture.is_some() => p.push_text(&t.into_inner()),
            Event::GeneralRef(r) if p.capture.is_some() => {
                let raw = r.into_inner();
                let r = quick_xml::events::BytesRef::new(raw.as_ref());
                match r.resolve_char_ref() {
                    Ok(Some(c)) => p.push_text(c.encode_utf8(&mut [0; 4])),
                    Ok(None) => match resolve_entity(&raw) {
                        Some(s) => p.push_text(s),
                        None => p.push_text(&format!("&{raw};")),
                    },
                    Err(_) => p.push_text(&format!("&{raw};")),
                }
            }
            Event::Eof => {
                let end = xml.get_ref().position_at(xml.buffer_position());
                if !p.stack.is_empty() {
                    let msg = format!(
                        "unexpected end of feed: {} element(s) not closed",
                        p.stack.len()
                    );
                    return Err(error_at(end, msg));
                }
                if !seen_root {
                    return Err(error_at(end, "no root element: the feed is empty".into()));
                }
                break;
            }
            _ => {}
        }
    }
    Ok(p.summary)
}

fn error_at(pos: Pos, message: String) -> FeedError {
    FeedError {
        line: pos.line,
        column: pos.col + 1,
        message,
    }
}

fn attrs(e: &BytesStart<'_>) -> Result<Attrs, String> {
    if e.attributes_raw().trim().is_empty() {
        return Ok(Attrs::default()); // most elements: skip the iterator
    }
    let mut out = Attrs::default();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute: {err}"))?;
        // An undeclared entity in a value is kept as written rather than failing the feed.
        let value = a
            .normalized_value_with(XmlVersion::Implicit1_0, 4, resolve_entity)
            .unwrap_or_else(|_| a.value.clone())
            .into_owned();
        let key = a.key.0;
        let slot = match key {
            "id" => &mut out.id,
            "group_id" | "groupId" => &mut out.group,
            "available" => &mut out.available,
            "type" => &mut out.kind,
            "name" => &mut out.name,
            "unit" => &mut out.unit,
            k if k.eq_ignore_ascii_case("parentid") || k.eq_ignore_ascii_case("parent_id") => {
                &mut out.parent
            }
            _ => continue,
        };
        *slot = Some(value);
    }
    Ok(out)
}

impl<F: FeedSink> Parser<'_, F> {
    /// `at` is the byte offset of the start tag; lines are looked up only where needed.
    fn start<R: BufRead>(
        &mut self,
        e: &BytesStart<'_>,
        at: u64,
        src: &mut DecodingReader<R>,
    ) -> Result<(), FeedError> {
        let a = match attrs(e) {
            Ok(a) => a,
            Err(why) => return Err(error_at(src.position_at(at), why)),
        };
        let name = e.name();
        let name = name.0;
        let parent = self.stack.last().copied();
        let mut target = None;
        let ctx = if self.capture.is_some() {
            Ctx::Field
        } else {
            match (parent, name) {
                (Some(Ctx::Categories), "category") => {
                    let name = String::new();
                    let line = src.checkpoint(at).line;
                    self.category = Some(CategoryDraft {
                        id: a.id,
                        parent: a.parent,
                        name,
                        line,
                    });
                    target = Some(Target::CategoryName);
                    Ctx::Category
                }
                (Some(Ctx::Offers), "offer") => {
                    // Nothing before an offer is placed any more: fold it away.
                    let line = src.checkpoint(at).line;
                    self.offer = Some(OfferDraft::new(
                        (line, at),
                        a.id,
                        a.kind,
                        a.available,
                        a.group,
                    ));
                    Ctx::Offer
                }
                (Some(Ctx::Offer), "stock") => {
                    self.stock = Some(StockDraft::new(at, a.id));
                    Ctx::Stock
                }
                (Some(Ctx::Offer), n) => match Field::of_offer(n) {
                    Some(field) => {
                        if field == Field::Param {
                            self.param = (a.name, a.unit);
                        }
                        target = Some(Target::Offer(field));
                        Ctx::Field
                    }
                    None => Ctx::Other,
                },
                (Some(Ctx::Stock), n) => {
                    target = Field::of_stock(n).map(Target::Stock);
                    if target.is_some() {
                        Ctx::Field
                    } else {
                        Ctx::Other
                    }
                }
                (Some(Ctx::Field), _) => Ctx::Other,
                (_, "categories") => Ctx::Categories,
                (_, "offers") => Ctx::Offers,
                _ => Ctx::Other,
            }
        };
        self.stack.push(ctx);
        if let Some(target) = target {
            self.text.clear();
            self.capture = Some(Capture {
                target,
                depth: self.stack.len(),
                at,
            });
        }
        Ok(())
    }

    fn end<R: BufRead>(&mut self, src: &DecodingReader<R>) {
        let depth = self.stack.len();
        let Some(ctx) = self.stack.pop() else { return };
        if let Some(c) = self.capture.filter(|c| c.depth == depth) {
            self.capture = None;
            self.deliver(c);
        }
        match ctx {
            Ctx::Category => self.end_category(),
            Ctx::Categories => self.end_categories(),
            Ctx::Stock => {
                if let (Some(s), Some(o)) = (self.stock.take(), self.offer.as_mut()) {
                    o.add_stock(s);
                }
            }
            Ctx::Offer => self.end_offer(src),
            _ => {}
        }
    }

    fn push_text(&mut self, s: &str) {
        let room = MAX_FIELD_BYTES.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&s[..cut]);
        }
    }

    fn deliver(&mut self, c: Capture) {
        let text = std::mem::take(&mut self.text);
        match c.target {
            Target::CategoryName => {
                if let Some(cat) = self.category.as_mut() {
                    cat.name = one_line(&text).unwrap_or_default();
                }
            }
            Target::Offer(Field::Param) => {
                let (name, unit) = std::mem::take(&mut self.param);
                if let Some(o) = self.offer.as_mut() {
                    o.add_param(name, unit, &text, c.at);
                }
            }
            Target::Offer(f) => {
                if let Some(o) = self.offer.as_mut() {
                    o.set(f, &text, c.at);
                }
            }
            Target::Stock(f) => {
                if let Some(s) = self.stock.as_mut() {
                    s.set(f, &text);
                }
            }
        }
        self.text = text; // keep the allocation
        self.text.clear();
    }

    fn problem(&mut self, line: u64, reason: String) {
        let p = Problem { line, reason };
        self.summary.problem_count += 1;
        self.sink.problem(&p);
        if self.summary.problems.len() < self.options.max_problems_kept {
            self.summary.problems.push(p);
        }
    }

    fn end_category(&mut self) {
        let Some(c) = self.category.take() else {
            return;
        };
        let Some(id) = c.id.as_deref().and_then(parse_id) else {
            let raw = c.id.unwrap_or_default();
            let why = format!("category id '{raw}' is not an integer in 0..={MAX_ID}; ignored");
            return self.problem(c.line, why);
        };
        let parent_id = match c.parent.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(raw) => {
                let p = parse_id(raw);
                if p.is_none() {
                    self.problem(
                        c.line,
                        format!("category {id}: parent '{raw}' is not a valid id; made a root"),
                    );
                }
                p
            }
        };
        self.block.push((
            Category {
                id,
                parent_id,
                name: c.name,
            },
            c.line,
        ));
    }

    /// Repairs the block's parent links (missing parents, cycles), then hands it out.
    fn end_categories(&mut self) {
        let block = std::mem::take(&mut self.block);
        let lines: HashMap<i64, u64> = block.iter().map(|(c, l)| (c.id, *l)).collect();
        let tree = CategoryTree::from_categories(block.iter().map(|(c, _)| c.clone()));
        for issue in tree.issues() {
            let line = lines.get(&issue.id).copied().unwrap_or(0);
            self.problem(line, issue.reason.clone());
        }
        let mut emitted = HashSet::new();
        // Feed order; a repeated id is handed out once, with the later category's values.
        for (c, _) in block {
            if !emitted.insert(c.id) {
                continue;
            }
            if let Some(kept) = tree.get(c.id) {
                self.known_categories.insert(c.id);
                self.summary.categories += 1;
                self.sink.category(kept.clone());
            }
        }
    }

    fn end_offer<R: BufRead>(&mut self, src: &DecodingReader<R>) {
        let Some(draft) = self.offer.take() else {
            return;
        };
        let line = draft.line;
        match draft.finish(&self.known_categories, &mut self.notes) {
            Ok(product) => {
                for n in std::mem::take(&mut self.notes) {
                    self.problem(src.position_at(n.at).line, n.reason);
                }
                let id = product.id;
                let repeated = |p: &mut Self| {
                    p.summary.duplicates += 1;
                    let why = format!("offer id {id} appears again; the later offer wins");
                    p.problem(line, why);
                };
                self.summary.offers += 1;
                if let Some(d) = self.duplicates.as_mut() {
                    if d.check(id) {
                        repeated(self);
                    }
                    self.sink.offer(product, line);
                } else if self.sink.offer(product, line) {
                    repeated(self);
                }
            }
            Err(p) => {
                self.notes.clear();
                self.summary.skipped += 1;
                self.problem(p.line, p.reason);
            }
        }
    }
}
