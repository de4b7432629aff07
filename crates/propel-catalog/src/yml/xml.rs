//! A small XML tokenizer for feeds, working in place on the decoded text.
//!
//! The decoder hands out UTF-8 in 64 KiB buffers; markup and text are scanned where they
//! lie and only a token that straddles two buffers is copied (into a scratch buffer). Text
//! is not validated again (the decoder only writes UTF-8) and text outside the elements
//! the parser reads is skipped without being looked at. Well-formedness is checked as far
//! as a feed's structure needs: tags and their attributes, end tags matching their start,
//! comments, CDATA, processing instructions and the DOCTYPE; what does not parse is an
//! error at the start of its markup.

use super::values::resolve_entity;
use memchr::{memchr2, memchr3, memmem};
use std::borrow::Cow;

/// What a complete token at the start of a buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// `<name ...>`; `empty` for `<name .../>`.
    Start { empty: bool },
    /// `</name>`.
    End,
    /// Text up to the next markup or reference (or the end of the buffer).
    Text,
    /// `&name;`: the name is `token[1..len - 1]`.
    Ref,
    /// `<![CDATA[...]]>`.
    CData,
    /// Comments, processing instructions, the declaration, the DOCTYPE.
    Skip,
}

/// The result of scanning the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A complete token of this many bytes.
    Token(Token, usize),
    /// The token goes on past the end of the buffer.
    More,
    /// Not XML.
    Bad(&'static str),
}

/// Scans the token at the start of `buf` (not empty). `eof`: nothing follows `buf`.
pub(crate) fn scan(buf: &[u8], eof: bool) -> Scan {
    match buf[0] {
        b'<' => scan_markup(buf, eof),
        b'&' => scan_ref(buf, eof),
        _ => {
            let n = memchr2(b'<', b'&', buf).unwrap_or(buf.len());
            Scan::Token(Token::Text, n)
        }
    }
}

fn find(buf: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memmem::find(buf.get(from..)?, needle).map(|i| from + i)
}

/// `&name;` (a character or entity reference) or a lone `&`, kept as text: shops leave
/// raw `&` in URLs.
fn scan_ref(buf: &[u8], eof: bool) -> Scan {
    let name_len = buf[1..]
        .iter()
        .position(|&b| {
            !(b.is_ascii_alphanumeric()
                || matches!(b, b'#' | b'_' | b'-' | b'.' | b':')
                || b >= 0x80)
        })
        .unwrap_or(buf.len() - 1);
    if 1 + name_len == buf.len() && !eof {
        // The name reaches the end of the buffer: it may go on (or end with ';').
        return Scan::More;
    }
    if name_len > 0 && buf.get(1 + name_len) == Some(&b';') {
        Scan::Token(Token::Ref, name_len + 2)
    } else {
        // Not a reference: the `&` and the name-like run after it are plain text (all of
        // it, so that a token gathered across buffers never ends before what was gathered).
        Scan::Token(Token::Text, 1 + name_len)
    }
}

fn scan_markup(buf: &[u8], eof: bool) -> Scan {
    // Enough bytes to tell the kinds apart.
    if buf.len() < 9 && !eof && !buf.contains(&b'>') {
        return Scan::More;
    }
    let done = |end: Option<usize>, tail: usize, token: Token, what: &'static str| match end {
        Some(i) => Scan::Token(token, i + tail),
        None if eof => Scan::Bad(what),
        None => Scan::More,
    };
    if buf.starts_with(b"<!--") {
        return done(find(buf, 4, b"-->"), 3, Token::Skip, "comment not closed");
    }
    if buf.starts_with(b"<![CDATA[") {
        return done(
            find(buf, 9, b"]]>"),
            3,
            Token::CData,
            "CDATA section not closed",
        );
    }
    if buf.starts_with(b"<?") {
        return done(
            find(buf, 2, b"?>"),
            2,
            Token::Skip,
            "processing instruction not closed",
        );
    }
    if buf.starts_with(b"<!") {
        if !(buf.len() >= 9 && buf[2..9].eq_ignore_ascii_case(b"DOCTYPE")) {
            return if buf.len() < 9 && !eof {
                Scan::More
            } else {
                Scan::Bad("unknown markup after '<!'")
            };
        }
        return done(doctype_end(buf), 1, Token::Skip, "DOCTYPE not closed");
    }
    // A tag: the first '>' outside quoted attribute values.
    let mut i = 1;
    while let Some(j) = memchr3(b'>', b'"', b'\'', &buf[i..]) {
        let at = i + j;
        let b = buf[at];
        if b == b'>' {
            let token = if buf[1] == b'/' {
                Token::End
            } else {
                Token::Start {
                    empty: at > 1 && buf[at - 1] == b'/',
                }
            };
            return Scan::Token(token, at + 1);
        }
        match memchr::memchr(b, &buf[at + 1..]) {
            Some(k) => i = at + 1 + k + 1,
            None => break,
        }
    }
    if eof {
        Scan::Bad("tag not closed")
    } else {
        Scan::More
    }
}

/// The `>` closing `<!DOCTYPE ...>`, past an internal subset in brackets.
fn doctype_end(buf: &[u8]) -> Option<usize> {
    let (mut depth, mut quote) = (0usize, None);
    for (i, &b) in buf.iter().enumerate() {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[') => depth += 1,
            (None, b']') => depth = depth.saturating_sub(1),
            (None, b'>') if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Splits a start tag (`<name attrs>` or `<name attrs/>`) into its name and raw attributes.
pub(crate) fn split_start(tag: &str, empty: bool) -> Result<(&[u8], &str), &'static str> {
    // '<', '>' and '/' are ASCII: these are character boundaries.
    let inner = &tag[1..tag.len() - if empty { 2 } else { 1 }];
    let name_len = inner.bytes().position(is_space).unwrap_or(inner.len());
    let name = &inner.as_bytes()[..name_len];
    if !valid_name(name) {
        return Err("bad element name");
    }
    Ok((name, &inner[name_len..]))
}

/// The name of an end tag (`</name>`, whitespace allowed before `>`); the caller compares
/// it with the open element's (valid) name.
pub(crate) fn end_name(tag: &[u8]) -> &[u8] {
    let inner = &tag[2..tag.len() - 1];
    let len = inner
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(0, |i| i + 1);
    &inner[..len]
}

fn valid_name(name: &[u8]) -> bool {
    match name.first() {
        None => false,
        Some(&b) if !(b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80) => false,
        _ => !name
            .iter()
            .any(|&b| matches!(b, b'<' | b'>' | b'/' | b'"' | b'\'' | b'=' | b'&')),
    }
}

/// The attributes of a start tag: `name="value"` or `name='value'` pairs, separated by
/// whitespace; names must not repeat.
pub(crate) struct Attributes<'a> {
    rest: &'a str,
    all: &'a str,
    /// The names read so far (the first few; a tag with more is checked by reading again).
    names: [&'a [u8]; 8],
    count: usize,
}

impl<'a> Attributes<'a> {
    pub fn new(raw: &'a str) -> Self {
        Attributes {
            rest: raw,
            all: raw,
            names: [&[]; 8],
            count: 0,
        }
    }
}

/// An attribute's name and raw value, or why the attributes do not parse.
pub(crate) type Attribute<'a> = Result<(&'a [u8], &'a str), &'static str>;

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let before = self.all.len() - self.rest.len();
        let item = self.next_unchecked()?;
        if let Ok((name, _)) = item {
            // Repeated names: look for the same name earlier in the tag.
            let repeated = if self.count <= self.names.len() {
                self.names[..self.count].contains(&name)
            } else {
                let mut earlier = Attributes::new(&self.all[..before]);
                std::iter::from_fn(|| earlier.next_unchecked())
                    .any(|a| matches!(a, Ok((n, _)) if n == name))
            };
            if repeated {
                self.rest = "";
                return Some(Err("bad attribute: repeated name"));
            }
            if let Some(slot) = self.names.get_mut(self.count) {
                *slot = name;
            }
            self.count += 1;
        }
        Some(item)
    }
}

impl<'a> Attributes<'a> {
    fn next_unchecked(&mut self) -> Option<Attribute<'a>> {
        // Every index below is at an ASCII byte (space, '=', a quote) or an end: slicing
        // the text there keeps whole characters.
        let text = self.rest;
        let start = text.bytes().position(|b| !is_space(b))?;
        let text = &text[start..];
        let s = text.as_bytes();
        let name_len = s
            .iter()
            .position(|&b| b == b'=' || is_space(b))
            .unwrap_or(s.len());
        let name = &s[..name_len];
        let mut i = name_len;
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        if !valid_name(name) || i >= s.len() || s[i] != b'=' {
            self.rest = "";
            return Some(Err("bad attribute: expected name=\"value\""));
        }
        i += 1;
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        let quote = match s.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => {
                self.rest = "";
                return Some(Err("bad attribute: the value is not quoted"));
            }
        };
        let Some(len) = memchr::memchr(quote, &s[i + 1..]) else {
            self.rest = "";
            return Some(Err("bad attribute: the value is not closed"));
        };
        let value = &text[i + 1..i + 1 + len];
        let after = &text[i + 2 + len..];
        if after.as_bytes().first().is_some_and(|&b| !is_space(b)) {
            self.rest = "";
            return Some(Err("bad attribute: no space before the next one"));
        }
        self.rest = after;
        Some(Ok((name, value)))
    }
}

/// An attribute value as text: whitespace characters made spaces and references resolved;
/// with an undeclared reference, the value as written.
pub(crate) fn attribute_value(raw: &str) -> Cow<'_, str> {
    if !raw
        .bytes()
        .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'))
    {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest: &str = raw;
    while let Some(i) = rest.find(['&', '\t', '\n', '\r']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        if c == b'&' {
            let tail = &rest[i + 1..];
            let Some(end) = tail.find(';') else {
                return Cow::Borrowed(raw);
            };
            match resolve_reference(&tail[..end]) {
                Some(r) => out.push_str(r.as_str()),
                None => return Cow::Borrowed(raw),
            }
            rest = &tail[end + 1..];
        } else {
            out.push(' ');
            // "\r\n" is one line end: one space.
            let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
            rest = &rest[i + skip..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// What a reference stands for.
pub(crate) enum Resolved {
    Char(char, [u8; 4]),
    Static(&'static str),
}

impl Resolved {
    pub fn as_str(&self) -> &str {
        match self {
            Resolved::Char(c, buf) => std::str::from_utf8(&buf[..c.len_utf8()]).unwrap_or(""),
            Resolved::Static(s) => s,
        }
    }
}

/// `#123`, `#x7B` or a known entity name; `None` for anything else.
pub(crate) fn resolve_reference(name: &str) -> Option<Resolved> {
    if let Some(num) = name.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let code = u32::from_str_radix(digits, radix).ok()?;
        let c = char::from_u32(code).filter(|&c| c != '\0')?;
        let mut buf = [0; 4];
        c.encode_utf8(&mut buf);
        return Some(Resolved::Char(c, buf));
    }
    resolve_entity(name).map(Resolved::Static)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(
            scan(b"<a x=\"1>\">t", true),
            Scan::Token(Token::Start { empty: false }, 10)
        );
        assert_eq!(
            scan(b"<a/>", true),
            Scan::Token(Token::Start { empty: true }, 4)
        );
        assert_eq!(scan(b"</a >x", true), Scan::Token(Token::End, 5));
        assert_eq!(scan(b"ab&amp;", true), Scan::Token(Token::Text, 2));
        assert_eq!(scan(b"&amp;x", true), Scan::Token(Token::Ref, 5));
        assert_eq!(scan(b"&b=2<", true), Scan::Token(Token::Text, 2));
        assert_eq!(scan(b"& b", true), Scan::Token(Token::Text, 1));
        assert_eq!(scan(b"&am", false), Scan::More);
        assert_eq!(scan(b"&am", true), Scan::Token(Token::Text, 3));
        assert_eq!(scan(b"<!-- a > b -->x", true), Scan::Token(Token::Skip, 14));
        assert_eq!(scan(b"<![CDATA[a]]>x", true), Scan::Token(Token::CData, 13));
        assert_eq!(scan(b"<![CDA", false), Scan::More);
        assert_eq!(
            scan(b"<?xml version=\"1.0\"?>", true),
            Scan::Token(Token::Skip, 21)
        );
        assert_eq!(
            scan(b"<!DOCTYPE a [<!ENTITY b \"c>\">]>x", true),
            Scan::Token(Token::Skip, 31)
        );
        assert!(matches!(scan(b"<!x>", true), Scan::Bad(_)));
        assert!(matches!(scan(b"<a", true), Scan::Bad(_)));
        assert_eq!(scan(b"<a", false), Scan::More);
    }

    #[test]
    fn attributes() {
        let attrs: Vec<_> = Attributes::new(" id=\"1\"  name = 'x y'").collect();
        assert_eq!(attrs, [Ok((&b"id"[..], "1")), Ok((&b"name"[..], "x y"))]);
        assert!(Attributes::new(" x=1").next().unwrap().is_err());
        assert!(Attributes::new(" x").next().unwrap().is_err());
        assert!(Attributes::new(" x=\"1").next().unwrap().is_err());
        assert!(Attributes::new(" x=\"1\" x=\"2\"").nth(1).unwrap().is_err());
        assert_eq!(attribute_value("a&amp;b&#x41;\tc"), "a&bA c");
        assert_eq!(attribute_value("a&bogus;b"), "a&bogus;b");
        assert_eq!(split_start("<offer id=\"1\">", false).unwrap().0, b"offer");
        assert!(split_start("< a>", false).is_err());
        assert_eq!(end_name(b"</a >"), b"a");
        assert_eq!(end_name(b"</a b>"), b"a b");
    }
}
