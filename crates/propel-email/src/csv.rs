//! The original service's subscriber file: CSV, UTF-8 (a BOM is allowed), a header line
//! with the columns `Email` and `IsSubscribed` (any letter case, any order); every other
//! column is a custom attribute. Separator `,` (or `;` when the header has no comma);
//! fields may be quoted with `"` (RFC 4180, `""` inside quotes is a quote). Empty lines are
//! skipped. A later row for the same address replaces an earlier one.

use propel_model::fields::{is_email, normalize_email};
use serde_json::{Map, Value};

pub const MAX_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_LINES: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriberRow {
    /// Normalized (trimmed, lower case).
    pub email: String,
    pub subscribed: bool,
    /// The non-empty values of the other columns, as strings.
    pub attributes: Map<String, Value>,
}

/// The first bad line (1-based, the header is line 1), the column when one is to blame.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvError {
    pub line: usize,
    pub field: Option<String>,
    pub rule: String,
}

fn fail(line: usize, field: Option<&str>, rule: impl Into<String>) -> CsvError {
    CsvError {
        line,
        field: field.map(str::to_string),
        rule: rule.into(),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" => Some(true),
        "false" | "0" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// Parses a whole file; nothing is returned unless every row is good.
pub fn parse(bytes: &[u8]) -> Result<Vec<SubscriberRow>, CsvError> {
    if bytes.len() > MAX_BYTES {
        return Err(fail(
            1,
            None,
            format!("the file is larger than {MAX_BYTES} bytes"),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            return Err(fail(line, None, "the file must be UTF-8 text"));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = text.lines().count();
    if lines > MAX_LINES {
        return Err(fail(
            MAX_LINES + 1,
            None,
            format!("the file has more than {MAX_LINES} lines"),
        ));
    }
    let header_line = text.lines().next().unwrap_or("");
    let sep = if !header_line.contains(',') && header_line.contains(';') {
        ';'
    } else {
        ','
    };
    let mut records = Records {
        text,
        pos: 0,
        line: 1,
        sep,
    };
    let (_, header) = records.next_record()?.ok_or_else(|| {
        fail(
            1,
            None,
            "the file is empty: a header line with Email and IsSubscribed is required",
        )
    })?;
    let columns: Vec<String> = header.iter().map(|c| c.trim().to_string()).collect();
    let find = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(fail(
                1,
                None,
                format!("column {} of the header has no name", i + 1),
            ));
        }
        if columns[..i].iter().any(|o| o.eq_ignore_ascii_case(c)) {
            return Err(fail(1, Some(c), "the header names this column twice"));
        }
    }
    let email_col = find("Email")
        .ok_or_else(|| fail(1, Some("Email"), "the header must have an Email column"))?;
    let sub_col = find("IsSubscribed").ok_or_else(|| {
        fail(
            1,
            Some("IsSubscribed"),
            "the header must have an IsSubscribed column",
        )
    })?;
    let mut rows: Vec<SubscriberRow> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    while let Some((line, record)) = records.next_record()? {
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        if record.len() != columns.len() {
            return Err(fail(
                line,
                None,
                format!(
                    "the row has {} fields, the header {}",
                    record.len(),
                    columns.len()
                ),
            ));
        }
        let email = record[email_col].trim();
        if !is_email(email) {
            return Err(fail(
                line,
                Some(&columns[email_col]),
                "must be an email address",
            ));
        }
        let subscribed = parse_bool(&record[sub_col]).ok_or_else(|| {
            fail(
                line,
                Some(&columns[sub_col]),
                "must be true or false (also 1/0, yes/no)",
            )
        })?;
        let mut attributes = Map::new();
        for (i, value) in record.iter().enumerate() {
            if i != email_col && i != sub_col && !value.trim().is_empty() {
                attributes.insert(columns[i].clone(), Value::String(value.trim().to_string()));
            }
        }
        let row = SubscriberRow {
            email: normalize_email(email),
            subscribed,
            attributes,
        };
        match seen.get(&row.email) {
            Some(&i) => rows[i] = row,
            None => {
                seen.insert(row.email.clone(), rows.len());
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

struct Records<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    sep: char,
}

impl Records<'_> {
    /// The next record and the line it starts on; `None` at the end.
    fn next_record(&mut self) -> Result<Option<(usize, Vec<String>)>, CsvError> {
        if self.pos >= self.text.len() {
            return Ok(None);
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = self.text[self.pos..].char_indices().peekable();
        let mut in_quotes = false;
        let mut quoted = false;
        let mut consumed = self.text.len() - self.pos;
        while let Some((i, c)) = chars.next() {
            if in_quotes {
                match c {
                    '"' if chars.peek().map(|(_, n)| *n) == Some('"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => in_quotes = false,
                    '\n' => {
                        self.line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.trim().is_empty() && !quoted => {
                    field.clear();
                    in_quotes = true;
                    quoted = true;
                }
                '"' => return Err(fail(
                    self.line,
                    None,
                    "a quote inside an unquoted field (quote the whole field and double the quote)",
                )),
                c if c == self.sep => {
                    fields.push(std::mem::take(&mut field));
                    quoted = false;
                }
                '\r' => {}
                '\n' => {
                    self.line += 1;
                    consumed = i + 1;
                    break;
                }
                _ if quoted && !c.is_whitespace() => {
                    return Err(fail(self.line, None, "text after a closing quote"))
                }
                _ => field.push(c),
            }
        }
        if in_quotes {
            return Err(fail(start_line, None, "a quoted field is not closed"));
        }
        fields.push(field);
        self.pos += consumed;
        Ok(Some((start_line, fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_files() {
        let rows = parse(
            "\u{feff}Email,IsSubscribed,FirstName,City\r\nA@B.io,true,Ann,\"Paris, FR\"\n\nc@d.io,0,\"Bo \"\"B\"\"\",\n\"multi@x.io\",TRUE,\"two\nlines\",X".as_bytes(),
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].email, "a@b.io");
        assert!(rows[0].subscribed);
        assert_eq!(rows[0].attributes["City"], "Paris, FR");
        assert!(!rows[1].subscribed);
        assert_eq!(rows[1].attributes["FirstName"], "Bo \"B\"");
        assert!(!rows[1].attributes.contains_key("City"));
        assert_eq!(rows[2].attributes["FirstName"], "two\nlines");
        let semi = parse(b"isSubscribed;email\nyes;x@y.io\n").unwrap();
        assert_eq!(semi[0].email, "x@y.io");
        let dup = parse(b"Email,IsSubscribed\nx@y.io,1\nX@y.io,0\n").unwrap();
        assert_eq!(dup.len(), 1);
        assert!(!dup[0].subscribed);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let line = |text: &[u8]| parse(text).unwrap_err().line;
        assert_eq!(line(b""), 1);
        assert_eq!(line(b"Email\nx@y.io\n"), 1);
        assert_eq!(line(b"Email,IsSubscribed,Email\n"), 1);
        assert_eq!(line(b"Email,IsSubscribed\nx@y.io,1\nnot-an-email,1\n"), 3);
        assert_eq!(line(b"Email,IsSubscribed\nx@y.io,maybe\n"), 2);
        assert_eq!(line(b"Email,IsSubscribed\nx@y.io,1,extra\n"), 2);
        assert_eq!(line(b"Email,IsSubscribed\nx@y.io,1\n\"x@y.io,1\n"), 3);
        assert_eq!(line(b"Email,IsSubscribed\nx@y.io,1\nx\"@y.io,1\n"), 3);
        assert_eq!(line(b"Email,IsSubscribed\nx@y.io,1\nx@y.io,\xff\n"), 3);
        let e = parse(b"Email,IsSubscribed\nbad,1\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("Email"));
        let mut big = b"Email,IsSubscribed\n".to_vec();
        for i in 0..MAX_LINES {
            big.extend_from_slice(format!("u{i}@x.io,1\n").as_bytes());
        }
        assert_eq!(line(&big), MAX_LINES + 1);
        assert_eq!(parse(&vec![b' '; MAX_BYTES + 1]).unwrap_err().line, 1);
    }
}
