//! Placements: a place on a page of one kind, showing some content types.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlacementKind {
    Product,
    ProductGroup,
    Category,
    Search,
    Any,
}

impl PlacementKind {
    pub const ALL: [PlacementKind; 5] = [
        PlacementKind::Product,
        PlacementKind::ProductGroup,
        PlacementKind::Category,
        PlacementKind::Search,
        PlacementKind::Any,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlacementKind::Product => "product",
            PlacementKind::ProductGroup => "productGroup",
            PlacementKind::Category => "category",
            PlacementKind::Search => "search",
            PlacementKind::Any => "any",
        }
    }

    pub fn from_name(s: &str) -> Option<PlacementKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The path segment of the shop side (`productPlacements`, ...).
    pub fn path_segment(self) -> &'static str {
        match self {
            PlacementKind::Product => "productPlacements",
            PlacementKind::ProductGroup => "productGroupPlacements",
            PlacementKind::Category => "categoryPlacements",
            PlacementKind::Search => "searchPlacements",
            PlacementKind::Any => "anyPlacements",
        }
    }

    pub fn from_path_segment(s: &str) -> Option<PlacementKind> {
        Self::ALL.into_iter().find(|k| k.path_segment() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentType {
    String,
    ProductIds,
}

impl ContentType {
    pub fn name(self) -> &'static str {
        match self {
            ContentType::String => "string",
            ContentType::ProductIds => "productIds",
        }
    }

    pub fn from_name(s: &str) -> Option<ContentType> {
        match s {
            "string" => Some(ContentType::String),
            "productIds" => Some(ContentType::ProductIds),
            _ => None,
        }
    }

    /// This type's bit in a set of content types.
    pub fn bit(self) -> u8 {
        match self {
            ContentType::String => 1,
            ContentType::ProductIds => 2,
        }
    }

    /// The set of `types`, as bits.
    pub fn mask(types: &[ContentType]) -> u8 {
        types.iter().fold(0, |m, t| m | t.bit())
    }

    /// A comma-separated list (`acceptContent`); `None` when a value is unknown or none is given.
    pub fn parse_list(s: &str) -> Option<Vec<ContentType>> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim) {
            let t = ContentType::from_name(part)?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub id: String,
    pub partner: i64,
    pub kind: PlacementKind,
    pub name: String,
    pub content_types: Vec<ContentType>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists() {
        assert_eq!(
            ContentType::parse_list("productIds, string,string"),
            Some(vec![ContentType::ProductIds, ContentType::String])
        );
        assert_eq!(ContentType::parse_list("html"), None);
        assert_eq!(ContentType::parse_list(""), None);
        for k in PlacementKind::ALL {
            assert_eq!(PlacementKind::from_path_segment(k.path_segment()), Some(k));
            assert_eq!(PlacementKind::from_name(k.name()), Some(k));
        }
    }
}
