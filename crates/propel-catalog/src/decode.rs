//! A `BufRead` that transcodes any feed to UTF-8 as it streams (fixed-size buffers), and
//! tracks line and column of what its consumer has read, for problems and errors.

use encoding_rs::{CoderResult, Decoder, Encoding, UTF_16BE, UTF_16LE, UTF_8};
use std::cell::Cell;
use std::io::{self, BufRead, Read};

/// How much of the feed's start is searched for the XML declaration.
const SNIFF_LEN: usize = 1024;
const OUT_LEN: usize = 64 * 1024;

/// A position in the decoded text: 1-based line, 0-based character column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub offset: u64,
    pub line: u64,
    pub col: u64,
}

pub(crate) struct DecodingReader<R> {
    inner: R,
    /// The sniffed start of the feed, decoded before the rest of `inner`.
    head: Vec<u8>,
    head_pos: usize,
    decoder: Decoder,
    encoding: &'static Encoding,
    /// Decoded text: `out` is being read, `prev` is the buffer before it, kept so that
    /// positions up to a buffer back can still be counted; lines are counted only when
    /// asked for, in bulk (counting per event was the parser's largest cost).
    /// `str`s, so that the parser slices its tokens out of them without validating the
    /// text again (`decode_to_str` writes only whole characters).
    out: String,
    prev: String,
    /// Offsets in the decoded stream of `out[0]` and `prev[0]`.
    out_start: u64,
    prev_start: u64,
    prev_len: usize,
    out_pos: usize,
    out_len: usize,
    finished: bool,
    /// Position of everything counted so far; never behind `prev_start`. A `Cell`, so
    /// that positions can be asked while the caller borrows the decoded text.
    pos: Cell<Pos>,
}

impl<R: BufRead> DecodingReader<R> {
    pub fn new(mut inner: R) -> io::Result<Self> {
        let head = sniff_head(&mut inner)?;
        let (encoding, skip) = detect(&head);
        Ok(DecodingReader {
            inner,
            head,
            head_pos: skip,
            decoder: encoding.new_decoder_without_bom_handling(),
            encoding,
            out: "\0".repeat(OUT_LEN),
            prev: "\0".repeat(OUT_LEN),
            out_start: 0,
            prev_start: 0,
            prev_len: 0,
            out_pos: 0,
            out_len: 0,
            finished: false,
            pos: Cell::new(Pos {
                offset: 0,
                line: 1,
                col: 0,
            }),
        })
    }

    pub fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// The position of a consumed offset; no offset before it will be asked again.
    pub fn checkpoint(&self, offset: u64) -> Pos {
        let mut pos = self.pos.get();
        self.fold(&mut pos, offset);
        self.pos.set(pos);
        pos
    }

    /// The position of a consumed offset; exact unless it lies before the last
    /// checkpoint or more than one buffer back (then the nearest known one).
    pub fn position_at(&self, offset: u64) -> Pos {
        let mut pos = self.pos.get();
        self.fold(&mut pos, offset);
        pos
    }

    /// The decoded text not consumed yet in the current buffer (empty: call [`Self::fill`]).
    pub fn available(&self) -> &[u8] {
        &self.out.as_bytes()[self.out_pos..self.out_len]
    }

    /// [`Self::available`] as text; `None` when the consumer stopped inside a character
    /// (the parser never does: it consumes whole tokens).
    pub fn available_str(&self) -> Option<&str> {
        self.out.get(self.out_pos..self.out_len)
    }

    /// Decodes the next buffer when the current one is consumed; afterwards
    /// [`Self::available`] is empty only at the end of the feed.
    pub fn fill(&mut self) -> io::Result<()> {
        if self.out_pos >= self.out_len {
            self.refill()?;
        }
        Ok(())
    }

    /// The offset in the decoded stream of the first byte not consumed.
    pub fn consumed(&self) -> u64 {
        self.out_start + self.out_pos as u64
    }

    /// Moves `pos` forward to `offset` (at most to what was consumed).
    fn fold(&self, pos: &mut Pos, offset: u64) {
        let to = offset.min(self.out_start + self.out_pos as u64);
        for (start, buf) in [
            (self.prev_start, &self.prev.as_bytes()[..self.prev_len]),
            (self.out_start, &self.out.as_bytes()[..self.out_len]),
        ] {
            let end = start + buf.len() as u64;
            if pos.offset >= start && pos.offset < end && to > pos.offset {
                let a = (pos.offset - start) as usize;
                let b = (to.min(end) - start) as usize;
                advance(pos, &buf[a..b]);
            }
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        // `prev` is about to be overwritten: count what of it is not counted yet.
        let mut pos = self.pos.get();
        self.fold(&mut pos, self.out_start);
        self.pos.set(pos);
        std::mem::swap(&mut self.out, &mut self.prev);
        self.prev_start = self.out_start;
        self.prev_len = self.out_len;
        self.out_start += self.out_len as u64;
        self.out_pos = 0;
        self.out_len = 0;
        if self.pos.get().offset < self.prev_start {
            // Nothing of the old `prev` may stay uncounted (cannot happen: folded above).
            let mut pos = self.pos.get();
            pos.offset = self.prev_start;
            self.pos.set(pos);
        }
        while self.out_len == 0 && !self.finished {
            let from_head = self.head_pos < self.head.len();
            let src: &[u8] = if from_head {
                &self.head[self.head_pos..]
            } else {
                self.inner.fill_buf()?
            };
            let last = src.is_empty();
            let (result, read, written, _) =
                self.decoder.decode_to_str(src, self.out.as_mut_str(), last);
            if from_head {
                self.head_pos += read;
            } else {
                self.inner.consume(read);
            }
            self.out_len = written;
            if last && result == CoderResult::InputEmpty {
                self.finished = true;
            }
        }
        Ok(())
    }
}

impl<R: BufRead> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for DecodingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill()?;
        Ok(self.available())
    }

    fn consume(&mut self, amt: usize) {
        self.out_pos = (self.out_pos + amt).min(self.out_len);
    }
}

/// Reads up to `SNIFF_LEN` bytes, stopping early once the declaration has closed.
fn sniff_head<R: BufRead>(inner: &mut R) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    while head.len() < SNIFF_LEN {
        let buf = match inner.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(SNIFF_LEN - head.len());
        head.extend_from_slice(&buf[..n]);
        inner.consume(n);
        if head.contains(&b'>') {
            break;
        }
    }
    Ok(head)
}

/// The feed's encoding and the length of its byte-order mark: a BOM wins, then the
/// declaration's `encoding`, then UTF-8 (unknown labels too, the most common case).
pub(crate) fn detect(head: &[u8]) -> (&'static Encoding, usize) {
    if let Some((enc, bom)) = Encoding::for_bom(head) {
        return (enc, bom);
    }
    if head.starts_with(b"<\0?\0") {
        return (UTF_16LE, 0);
    }
    if head.starts_with(b"\0<\0?") {
        return (UTF_16BE, 0);
    }
    let enc = declared_label(head)
        .and_then(Encoding::for_label)
        .unwrap_or(UTF_8);
    // A declaration readable as ASCII cannot be UTF-16: the label is wrong.
    if enc == UTF_16LE || enc == UTF_16BE {
        return (UTF_8, 0);
    }
    (enc, 0)
}

/// The `encoding="..."` value of a leading `<?xml ...?>` declaration.
fn declared_label(head: &[u8]) -> Option<&[u8]> {
    let decl = head.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = &decl[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = &decl[at + 8..];
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let close = value.iter().position(|&b| b == quote)?;
    Some(value[..close].trim_ascii())
}

/// Moves `pos` over `bytes` (valid UTF-8): counts newlines and characters.
fn advance(pos: &mut Pos, bytes: &[u8]) {
    pos.offset += bytes.len() as u64;
    match bytes.iter().rposition(|&b| b == b'\n') {
        Some(last) => {
            pos.line += count_where(bytes, |b| b == b'\n');
            pos.col = count_chars(&bytes[last + 1..]);
        }
        None => pos.col += count_chars(bytes),
    }
}

fn count_chars(bytes: &[u8]) -> u64 {
    count_where(bytes, |b| (b & 0xC0) != 0x80)
}

/// Counts matching bytes with u8 counters over 255-byte chunks, which vectorizes far
/// better than `filter().count()`.
#[inline]
fn count_where(bytes: &[u8], pred: impl Fn(u8) -> bool + Copy) -> u64 {
    bytes
        .chunks(255)
        .map(|c| u64::from(c.iter().fold(0u8, |n, &b| n + u8::from(pred(b)))))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> (String, &'static str) {
        let mut r = DecodingReader::new(bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap_or_else(|e| panic!("{e}"));
        (s, r.encoding().name())
    }

    #[test]
    fn utf8_bom_is_removed() {
        let (s, enc) = decode_all(b"\xEF\xBB\xBF<?xml version=\"1.0\"?><a/>");
        assert_eq!(enc, "UTF-8");
        assert!(s.starts_with("<?xml"));
    }

    #[test]
    fn windows_1251_declaration_is_honoured() {
        let (s, enc) = decode_all(
            b"<?xml version='1.0' encoding = 'windows-1251'?><a>\xcf\xf0\xe8\xe2\xe5\xf2</a>",
        );
        assert_eq!(enc, "windows-1251");
        assert!(s.ends_with("<a>Привет</a>"), "{s}");
    }

    #[test]
    fn utf16_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "<a>Ж</a>".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode_all(&bytes).0, "<a>Ж</a>");
    }

    #[test]
    fn unknown_label_and_lying_utf16_label_fall_back_to_utf8() {
        assert_eq!(detect(b"<?xml encoding=\"klingon\"?>").0, UTF_8);
        assert_eq!(detect(b"<?xml encoding=\"UTF-16\"?>").0, UTF_8);
        assert_eq!(detect(b"<a/>").0, UTF_8);
    }

    #[test]
    fn long_input_crosses_buffers() {
        let text = "Ж\n".repeat(100_000);
        assert_eq!(decode_all(text.as_bytes()).0, text);
    }

    #[test]
    fn positions_count_lines_and_chars() {
        let mut r = DecodingReader::new("ab\nЖЖx".as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let n = r.fill_buf().map(|b| b.len()).unwrap_or(0);
        r.consume(n);
        let end = r.position_at(9);
        assert_eq!((end.line, end.col), (2, 3));
        assert_eq!(r.position_at(3).line, 2);
        assert_eq!(
            r.checkpoint(2),
            Pos {
                offset: 2,
                line: 1,
                col: 2
            }
        );
        assert_eq!(r.position_at(9), end);
    }
}
