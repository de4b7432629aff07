//! Input types: what the caller (tracking layer, storage replay) feeds the engine.

use serde::{Deserialize, Serialize};

/// A product id of the shop's product base.
pub type ItemId = i64;
/// A category id of the shop's product base.
pub type CategoryId = i64;
/// Dense visitor index: the caller maps `sessionExternalId`s to these.
pub type VisitorId = u32;

/// What the visitor did with a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// Product card viewed (also each product of a `groupView`).
    View,
    /// Product put into the basket.
    AddToBasket,
    /// One line of a placed order.
    Order,
    /// Product opened from a recommendation block.
    RecomTap,
    /// Product put into the basket straight from a recommendation block.
    RecomAddToBasket,
}

impl Kind {
    /// Basketed or bought: the signal of intent that makes two products complements.
    pub fn is_purchase_intent(self) -> bool {
        matches!(
            self,
            Kind::AddToBasket | Kind::RecomAddToBasket | Kind::Order
        )
    }
}

/// One behaviour event about one product.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub visitor: VisitorId,
    pub item: ItemId,
    pub kind: Kind,
    /// Event time (not arrival time), milliseconds since 1970.
    pub ts_ms: i64,
}

/// A search phrase entered by a visitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchEvent {
    pub visitor: VisitorId,
    /// Raw phrase; normalised with [`normalize_phrase`] on use.
    pub phrase: String,
    pub ts_ms: i64,
}

/// Lowercase, punctuation to spaces, whitespace collapsed, trimmed: so that
/// "iPhone  15!" and "iphone 15" are the same phrase.
pub fn normalize_phrase(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_are_normalised() {
        assert_eq!(normalize_phrase("  iPhone   15!! Pro, "), "iphone 15 pro");
        assert_eq!(
            normalize_phrase("Чайник-ЭЛЕКТРИЧЕСКИЙ"),
            "чайник электрический"
        );
        assert_eq!(normalize_phrase("?!"), "");
    }
}
