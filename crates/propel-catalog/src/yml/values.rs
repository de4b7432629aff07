//! Parsing of the feed's scalar values, lenient where real feeds are sloppy.

/// The largest id a product, group or category may have: 2^53 - 1, so that JavaScript
/// clients keep it exact.
pub const MAX_ID: i64 = 9_007_199_254_740_991;

/// A non-negative integer id no larger than [`MAX_ID`]; surrounding whitespace allowed.
pub fn parse_id(raw: &str) -> Option<i64> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>()
        .ok()
        .and_then(|v| i64::try_from(v).ok())
        .filter(|&v| v <= MAX_ID)
}

/// A non-negative decimal number. Accepts a decimal comma ("12,50") and spaces as
/// thousands separators ("1 200"); with both `,` and `.` present the comma is the
/// thousands separator. Rejects exponents, signs, `inf` and `NaN`.
pub fn parse_price(raw: &str) -> Option<f64> {
    // The common case, plain digits with at most one dot: what the general rules below
    // would make of it, without building a copy.
    let t = raw.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let dots = t.bytes().filter(|&b| b == b'.').count();
        if dots > 1 || dots == t.len() {
            return None;
        }
        return t.parse::<f64>().ok().filter(|v| v.is_finite());
    }
    let mut s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{202F}')
        .collect();
    if s.contains(',') {
        if s.contains('.') {
            s.retain(|c| c != ',');
        } else if s.matches(',').count() == 1 {
            s = s.replace(',', ".");
        } else {
            return None;
        }
    }
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let dots = s.bytes().filter(|&b| b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != s.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// YML booleans: "false", "0" and "no" are false, anything else true.
pub fn parse_bool(raw: &str) -> bool {
    let s = raw.trim();
    !(s.eq_ignore_ascii_case("false") || s == "0" || s.eq_ignore_ascii_case("no"))
}

/// The XML predefined entities, plus the HTML ones shops paste into names and
/// descriptions most (undeclared, but common enough to be worth resolving).
pub fn resolve_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{A0}",
        "laquo" => "«",
        "raquo" => "»",
        "mdash" => "—",
        "ndash" => "–",
        "hellip" => "…",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "deg" => "°",
        "times" => "×",
        "bull" => "•",
        "euro" => "€",
        _ => return None,
    })
}

/// `Some(trimmed)` unless blank.
pub fn non_blank(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Whitespace runs (newlines of pretty-printed feeds) made one space, ends trimmed;
/// `None` if blank. For one-line values: names, vendors, models.
pub fn one_line(s: &str) -> Option<String> {
    if is_one_line(s.as_bytes()) {
        return (!s.is_empty()).then(|| s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    (!out.is_empty()).then_some(out)
}

/// Whether `one_line` would leave `s` as it is: no whitespace at the ends, no runs, no
/// whitespace but single ASCII spaces. Bytes that may start a non-ASCII whitespace
/// character (U+0085, U+00A0, U+1680, U+2000..U+205F, U+3000) send it the slow way.
fn is_one_line(s: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (s.first(), s.last()) else {
        return true;
    };
    if first == b' ' || last == b' ' {
        return false;
    }
    let mut prev_space = false;
    for &b in s {
        match b {
            b' ' if prev_space => return false,
            b' ' => prev_space = true,
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | 0xc2 | 0xe1 | 0xe2 | 0xe3 => {
                return false
            }
            _ => prev_space = false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(parse_id(" 42 "), Some(42));
        assert_eq!(parse_id("0"), Some(0));
        assert_eq!(parse_id("9007199254740991"), Some(MAX_ID));
        assert_eq!(parse_id("9007199254740992"), None);
        assert_eq!(parse_id("999999999999999999"), None);
        assert_eq!(parse_id("-1"), None);
        assert_eq!(parse_id("+1"), None);
        assert_eq!(parse_id("413376464C229995501"), None);
        assert_eq!(parse_id(""), None);
        assert_eq!(parse_id("99999999999999999999999999"), None);
    }

    #[test]
    fn prices() {
        assert_eq!(parse_price("8990"), Some(8990.0));
        assert_eq!(parse_price("12,50"), Some(12.5));
        assert_eq!(parse_price(" 699.54\n"), Some(699.54));
        assert_eq!(parse_price("1 200"), Some(1200.0));
        assert_eq!(parse_price("1,200.50"), Some(1200.5));
        assert_eq!(parse_price("0"), Some(0.0));
        assert_eq!(parse_price("-5"), None);
        assert_eq!(parse_price("1e3"), None);
        assert_eq!(parse_price("NaN"), None);
        assert_eq!(parse_price("inf"), None);
        assert_eq!(parse_price("1,2,3"), None);
        assert_eq!(parse_price("."), None);
        assert_eq!(parse_price(""), None);
        assert_eq!(parse_price("12 руб"), None);
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(
            one_line("\n  Ice  cream\n maker "),
            Some("Ice cream maker".into())
        );
        assert_eq!(one_line(" \n "), None);
        assert_eq!(one_line(""), None);
        assert_eq!(
            one_line("Товар 1 \"Бренд\""),
            Some("Товар 1 \"Бренд\"".into())
        );
        for s in [
            "a\u{A0}b",
            "a\u{2003}b",
            "a\u{3000}b",
            "a\u{85}b",
            "a  b",
            " a",
            "a ",
            "a\u{1f}b",
        ] {
            let slow: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(one_line(s), Some(slow.join(" ")), "{s:?}");
        }
    }

    #[test]
    fn bools() {
        assert!(parse_bool("true"));
        assert!(parse_bool(""));
        assert!(!parse_bool("false"));
        assert!(!parse_bool(" FALSE "));
        assert!(!parse_bool("0"));
    }
}
