//! Reading behaviour files in the RetailRocket dataset's CSV layout:
//! `timestamp,visitorid,event,itemid,transactionid`.

use std::path::Path;

use crate::types::{ItemId, Kind};

/// Why a behaviour file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {what}")]
    Malformed {
        path: String,
        line: usize,
        what: String,
    },
}

/// One row of a behaviour file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    pub ts_ms: i64,
    /// The file's visitor (or session) id.
    pub visitor: u64,
    pub kind: Kind,
    pub item: ItemId,
}

/// Reads a whole file. Unknown event names are skipped; malformed numbers are errors.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, DataError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: name.clone(),
        source,
    })?;
    parse_rows(&text, &name)
}

/// Parses file contents; `name` is used in errors.
pub fn parse_rows(text: &str, name: &str) -> Result<Vec<Row>, DataError> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (n == 0 && line.starts_with("timestamp")) {
            continue;
        }
        let bad = |what: &str| DataError::Malformed {
            path: name.to_owned(),
            line: n + 1,
            what: what.to_owned(),
        };
        let mut f = line.split(',');
        let ts = f
            .next()
            .and_then(|x| x.trim().parse::<i64>().ok())
            .ok_or_else(|| bad("timestamp"))?;
        let visitor = f
            .next()
            .and_then(|x| x.trim().parse::<u64>().ok())
            .ok_or_else(|| bad("visitorid"))?;
        let event = f.next().map(str::trim).ok_or_else(|| bad("event"))?;
        let item = f
            .next()
            .and_then(|x| x.trim().parse::<i64>().ok())
            .ok_or_else(|| bad("itemid"))?;
        let kind = match event {
            "view" => Kind::View,
            "addtocart" => Kind::AddToBasket,
            "transaction" => Kind::Order,
            _ => continue,
        };
        rows.push(Row {
            ts_ms: ts,
            visitor,
            kind,
            item,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_layout() {
        let t = "timestamp,visitorid,event,itemid,transactionid\n1,2,view,3,\n4,5,transaction,6,77\n7,8,odd,9,\n";
        let r = parse_rows(t, "x").unwrap_or_default();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].kind, Kind::Order);
        assert!(parse_rows("1,x,view,3,\n", "x").is_err());
    }
}
