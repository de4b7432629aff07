//! The event loop: quick-xml events over the transcoded stream, read into offers.

use super::offer::{Field, Note, OfferDraft, StockDraft};
use super::values::{one_line, parse_id, MAX_ID};
use super::xml::{self, Scan, Token};
use super::{DuplicateTracker, FeedError, FeedSink, FeedSummary, ParseOptions, Problem};
use crate::decode::{DecodingReader, Pos};
use crate::model::Category;
use crate::tree::CategoryTree;
use std::borrow::Cow;
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
/// Values borrow the tag's text unless a reference or whitespace had to be replaced.
#[derive(Debug, Default)]
struct Attrs<'a> {
    id: Option<Cow<'a, str>>,
    parent: Option<Cow<'a, str>>,
    group: Option<Cow<'a, str>>,
    available: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    unit: Option<Cow<'a, str>>,
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
    /// The last text ended with `\r` (the next may begin with the `\n` of its line end).
    cr_before: bool,
}

pub(crate) fn run<R: BufRead, F: FeedSink>(
    reader: R,
    options: &ParseOptions,
    sink: &mut F,
) -> Result<FeedSummary, FeedError> {
    let mut src = DecodingReader::new(reader).map_err(|e| FeedError {
        line: 1,
        column: 1,
        message: format!("cannot read the feed: {e}"),
    })?;
    let mut p = Parser {
        options,
        sink,
        summary: FeedSummary {
            encoding: src.encoding().name().to_owned(),
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
        cr_before: false,
    };
    // Open elements' names, back to back; `name_ends[i]` ends the i-th.
    let mut names: Vec<u8> = Vec::with_capacity(256);
    let mut name_ends: Vec<usize> = Vec::with_capacity(16);
    // A token that straddles two decoded buffers, copied whole.
    let mut scratch = String::new();
    let mut seen_root = false;
    // The token just read was a start tag with content.
    let mut simple_content_next = false;
    let read_error = |src: &DecodingReader<R>, e: std::io::Error| {
        let pos = src.position_at(src.consumed());
        error_at(pos, format!("cannot read the feed: {e}"))
    };
    loop {
        src.fill().map_err(|e| read_error(&src, e))?;
        let at = src.consumed();
        let Some(avail) = src.available_str() else {
            return Err(error_at(src.position_at(at), SPLIT.into()));
        };
        if avail.is_empty() {
            let end = src.position_at(at);
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
        let (token, len, straddles) = match xml::scan(avail.as_bytes(), false) {
            Scan::Token(t, n) => (t, n, false),
            Scan::Bad(why) => return Err(error_at(src.position_at(at), why.into())),
            Scan::More => {
                // Gather the token across buffers; only what belongs to it is consumed.
                scratch.clear();
                scratch.push_str(avail);
                let n = avail.len();
                src.consume(n);
                loop {
                    src.fill().map_err(|e| read_error(&src, e))?;
                    let Some(more) = src.available_str() else {
                        return Err(error_at(src.position_at(at), SPLIT.into()));
                    };
                    let old = scratch.len();
                    scratch.push_str(more);
                    match xml::scan(scratch.as_bytes(), more.is_empty()) {
                        // A token never ends before what was gathered (see `xml::scan`),
                        // and ends after an ASCII character or at the end of the text.
                        Scan::Token(t, n) if n >= old && scratch.is_char_boundary(n) => {
                            scratch.truncate(n);
                            src.consume(n - old);
                            break (t, n, true);
                        }
                        Scan::Token(..) => {
                            return Err(error_at(src.position_at(at), SPLIT.into()));
                        }
                        Scan::Bad(why) => {
                            return Err(error_at(src.position_at(at), why.into()));
                        }
                        Scan::More => {
                            let n = more.len();
                            src.consume(n);
                        }
                    }
                }
            }
        };
        let token_text: Option<&str> = if straddles {
            Some(&scratch)
        } else {
            src.available_str().and_then(|a| a.get(..len))
        };
        let Some(text) = token_text else {
            return Err(error_at(src.position_at(at), SPLIT.into()));
        };
        let bytes = text.as_bytes();
        let fail = |why: &str| error_at(src.position_at(at), why.to_owned());
        match token {
            Token::Text => {
                if p.capture.is_some() {
                    p.push_raw_text(text);
                } else {
                    p.cr_before = false;
                }
            }
            Token::Start { empty } => {
                seen_root = true;
                p.cr_before = false;
                let (name, attrs) = xml::split_start(text, empty).map_err(fail)?;
                names.extend_from_slice(name);
                name_ends.push(names.len());
                p.start(name, attrs, at, &src).map_err(fail)?;
                if empty {
                    p.end(&src);
                    name_ends.pop();
                    names.truncate(name_ends.last().copied().unwrap_or(0));
                } else {
                    simple_content_next = true;
                }
            }
            Token::End => {
                p.cr_before = false;
                let name = xml::end_name(bytes);
                let open_from = match name_ends.len() {
                    0 => return Err(fail("end tag without a start tag")),
                    n if n >= 2 => name_ends[n - 2],
                    _ => 0,
                };
                if &names[open_from..] != name {
                    let open = String::from_utf8_lossy(&names[open_from..]);
                    let why = format!(
                        "end tag '{}' does not match the open element '{open}'",
                        String::from_utf8_lossy(name)
                    );
                    return Err(fail(&why));
                }
                names.truncate(open_from);
                name_ends.pop();
                p.end(&src);
                if p.sink.stopped() {
                    return Ok(p.summary);
                }
            }
            Token::CData => {
                p.cr_before = false;
                if p.capture.is_some() {
                    p.push_raw_text(&text[9..text.len() - 3]);
                }
            }
            Token::Ref => {
                p.cr_before = false;
                if p.capture.is_some() {
                    let raw = &text[1..text.len() - 1];
                    match xml::resolve_reference(raw) {
                        Some(r) => p.push_text(r.as_str()),
                        None => p.push_text(&format!("&{raw};")),
                    }
                }
            }
            Token::Skip => p.cr_before = false,
        }
        if !straddles {
            src.consume(len);
        }
        if std::mem::take(&mut simple_content_next) {
            // Most elements hold plain text right up to their end tag
            // (`<price>8990</price>`): read the text and the end tag at once, as the
            // text and end-tag tokens below would. Anything else (a reference, CDATA,
            // a child, the buffer's end, `</price >`) takes the general way.
            let open_from = name_ends.len().checked_sub(2).map_or(0, |i| name_ends[i]);
            let open = &names[open_from..];
            let simple = src.available_str().and_then(|rest| {
                let b = rest.as_bytes();
                let i = memchr::memchr2(b'<', b'&', b)?;
                let end = i + 2 + open.len();
                let closes = b[i] == b'<'
                    && b.get(i + 1) == Some(&b'/')
                    && b.get(i + 2..end) == Some(open)
                    && b.get(end) == Some(&b'>');
                closes.then(|| (rest.get(..i), end + 1))
            });
            if let Some((text, consumed)) = simple {
                if p.capture.is_some() {
                    p.push_raw_text(text.unwrap_or_default());
                }
                p.cr_before = false;
                names.truncate(open_from);
                name_ends.pop();
                p.end(&src);
                src.consume(consumed);
                if p.sink.stopped() {
                    return Ok(p.summary);
                }
            }
        }
        if p.capture.is_none() {
            // The indentation between elements is skipped here rather than read as a
            // text token that nobody keeps (about a third of a pretty-printed feed's tokens).
            let ws = src
                .available()
                .iter()
                .take_while(|&&b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
                .count();
            if ws > 0 {
                p.cr_before = false;
                src.consume(ws);
            }
        }
    }
    Ok(p.summary)
}

/// A token that does not end on a character boundary: cannot happen (tokens end after
/// an ASCII character or at the end of the decoded text), reported rather than a panic.
const SPLIT: &str = "internal error: token split inside a character";

fn error_at(pos: Pos, message: String) -> FeedError {
    FeedError {
        line: pos.line,
        column: pos.col + 1,
        message,
    }
}

fn attrs(raw: &str) -> Result<Attrs<'_>, &'static str> {
    let mut out = Attrs::default();
    if raw.bytes().all(|b| b.is_ascii_whitespace()) {
        return Ok(out); // most elements: skip the iterator
    }
    for a in xml::Attributes::new(raw) {
        let (key, value) = a?;
        let slot = match key {
            b"id" => &mut out.id,
            b"group_id" | b"groupId" => &mut out.group,
            b"available" => &mut out.available,
            b"type" => &mut out.kind,
            b"name" => &mut out.name,
            b"unit" => &mut out.unit,
            k if k.eq_ignore_ascii_case(b"parentid") || k.eq_ignore_ascii_case(b"parent_id") => {
                &mut out.parent
            }
            _ => continue,
        };
        *slot = Some(xml::attribute_value(value));
    }
    Ok(out)
}

impl<F: FeedSink> Parser<'_, F> {
    /// `at` is the byte offset of the start tag; lines are looked up only where needed.
    fn start<R: BufRead>(
        &mut self,
        name: &[u8],
        raw_attrs: &str,
        at: u64,
        src: &DecodingReader<R>,
    ) -> Result<(), &'static str> {
        let a = attrs(raw_attrs)?;
        let parent = self.stack.last().copied();
        let mut target = None;
        let ctx = if self.capture.is_some() {
            Ctx::Field
        } else {
            match (parent, name) {
                (Some(Ctx::Categories), b"category") => {
                    let name = String::new();
                    let line = src.checkpoint(at).line;
                    self.category = Some(CategoryDraft {
                        id: a.id.map(Cow::into_owned),
                        parent: a.parent.map(Cow::into_owned),
                        name,
                        line,
                    });
                    target = Some(Target::CategoryName);
                    Ctx::Category
                }
                (Some(Ctx::Offers), b"offer") => {
                    // Nothing before an offer is placed any more: fold it away.
                    let line = src.checkpoint(at).line;
                    self.offer = Some(OfferDraft::new(
                        (line, at),
                        a.id.as_deref(),
                        a.kind.map(Cow::into_owned),
                        a.available.as_deref(),
                        a.group.as_deref(),
                    ));
                    Ctx::Offer
                }
                (Some(Ctx::Offer), b"stock") => {
                    self.stock = Some(StockDraft::new(at, a.id.map(Cow::into_owned)));
                    Ctx::Stock
                }
                (Some(Ctx::Offer), n) => match Field::of_offer(n) {
                    Some(field) => {
                        if field == Field::Param {
                            self.param = (a.name.map(Cow::into_owned), a.unit.map(Cow::into_owned));
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
                (_, b"categories") => Ctx::Categories,
                (_, b"offers") => Ctx::Offers,
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

    /// Text as it stands in the feed (UTF-8 from the decoder): line ends made `\n`.
    fn push_raw_text(&mut self, s: &str) {
        if memchr::memchr(b'\r', s.as_bytes()).is_none() && !(self.cr_before && s.starts_with('\n'))
        {
            self.cr_before = false;
            return self.push_text(s);
        }
        // A "\r\n" split by a buffer's end is one line end too.
        let s = match self.cr_before {
            true => s.strip_prefix('\n').unwrap_or(s),
            false => s,
        };
        self.cr_before = s.ends_with('\r');
        let normalized = s.replace("\r\n", "\n").replace('\r', "\n");
        self.push_text(&normalized);
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
