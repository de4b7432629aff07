//! Query-string parameters, decoded once.

use std::borrow::Cow;

/// Borrows from the query string; only percent-encoded parts are copied.
pub struct Query<'a>(Pairs<'a>);

enum Pairs<'a> {
    /// Nothing to decode (no '%', no '+'): looked up in the string itself, as
    /// `form_urlencoded` would split it (empty pairs skipped, a name alone has value "").
    /// Splitting into a vector of pairs was a twentieth of a tracked event's handler.
    Plain(&'a str),
    Decoded(Vec<(Cow<'a, str>, Cow<'a, str>)>),
}

impl<'a> Query<'a> {
    pub fn parse(raw: Option<&'a str>) -> Query<'a> {
        let raw = raw.unwrap_or("");
        if !raw.bytes().any(|b| b == b'%' || b == b'+') {
            return Query(Pairs::Plain(raw));
        }
        Query(Pairs::Decoded(
            form_urlencoded::parse(raw.as_bytes()).collect(),
        ))
    }

    /// Every (name, value) pair, in order.
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let (plain, decoded) = match &self.0 {
            Pairs::Plain(raw) => (Some(*raw), None),
            Pairs::Decoded(pairs) => (None, Some(pairs)),
        };
        let plain = plain.into_iter().flat_map(|raw| {
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        });
        let decoded = decoded
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_ref(), v.as_ref()));
        plain.chain(decoded)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// Every value of a repeated parameter (`categoryPaths=a&categoryPaths=b%2Fc`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// The first value whose name matches ignoring ASCII case (`apiKey` / `apikey`).
    pub fn get_ignore_case(&self, name: &str) -> Option<&str> {
        self.pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decoded(raw: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn parsed(raw: &str) -> Vec<(String, String)> {
        Query::parse(Some(raw))
            .pairs()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    proptest! {
        /// The in-place split gives exactly the pairs `form_urlencoded` decodes,
        /// whatever the query (empty pairs, names alone, repeated '=', '%', '+').
        #[test]
        fn parse_matches_form_urlencoded(raw in "[a-zA-Z0-9=&%+._~-]{0,40}") {
            prop_assert_eq!(parsed(&raw), decoded(&raw));
        }
    }

    #[test]
    fn plain_and_encoded_queries() {
        let q = Query::parse(Some("apiKey=k&&flag&a=b=c&sessionExternalId=v1"));
        assert_eq!(q.get("apiKey"), Some("k"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("a"), Some("b=c"));
        assert_eq!(q.get("sessionExternalId"), Some("v1"));
        let q = Query::parse(Some("phrase=red+shoes&path=a%2Fb"));
        assert_eq!(q.get("phrase"), Some("red shoes"));
        assert_eq!(q.get("path"), Some("a/b"));
    }
}
