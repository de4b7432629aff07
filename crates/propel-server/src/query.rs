//! Query-string parameters, decoded once.

use std::borrow::Cow;

/// Borrows from the query string; only percent-encoded parts are copied.
pub struct Query<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Query<'a> {
    pub fn parse(raw: Option<&'a str>) -> Query<'a> {
        Query(form_urlencoded::parse(raw.unwrap_or("").as_bytes()).collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    /// Every value of a repeated parameter (`categoryPaths=a&categoryPaths=b%2Fc`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
            .collect()
    }

    /// The first value whose name matches ignoring ASCII case (`apiKey` / `apikey`).
    pub fn get_ignore_case(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}
