//! Identifiers and their rules (spec/principles.md).

use crate::error::ApiError;
use std::fmt;

/// A shop (tenant): 24 lowercase hexadecimal characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartnerId(String);

impl PartnerId {
    pub const LEN: usize = 24;

    pub fn parse(s: &str) -> Result<Self, ApiError> {
        if s.len() == Self::LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(PartnerId(s.to_string()))
        } else {
            Err(ApiError::invalid(
                "partnerId",
                "must be 24 lowercase hexadecimal characters",
            ))
        }
    }

    /// A new random identifier from 12 random bytes.
    pub fn from_bytes(bytes: [u8; 12]) -> Self {
        PartnerId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The visitor's device/browser id: letters, digits and hyphen, ASCII, 1-50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub const MAX_LEN: usize = 50;
    pub const RULE: &'static str = "must be 1-50 ASCII characters: letters, digits and hyphen";

    pub fn parse(s: &str) -> Result<Self, ApiError> {
        if is_session_id(s) {
            Ok(SessionId(s.to_string()))
        } else {
            Err(ApiError::invalid("sessionExternalId", Self::RULE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn is_session_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= SessionId::MAX_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_id_rules() {
        assert!(PartnerId::parse("608423a9b126ac6ab3f8f0a5").is_ok());
        assert!(PartnerId::parse("608423A9B126AC6AB3F8F0A5").is_err());
        assert!(PartnerId::parse("608423a9b126ac6ab3f8f0a").is_err());
        assert!(PartnerId::parse("608423a9b126ac6ab3f8f0ag").is_err());
        assert_eq!(PartnerId::from_bytes([0xab; 12]).as_str().len(), 24);
    }

    #[test]
    fn session_id_rules() {
        assert!(SessionId::parse("3beb9714-82e9-4c08-938d-1391f5d86f2b").is_ok());
        assert!(SessionId::parse(&"a".repeat(50)).is_ok());
        assert!(SessionId::parse(&"a".repeat(51)).is_err());
        assert!(SessionId::parse("").is_err());
        assert!(SessionId::parse("a_b").is_err());
        assert!(SessionId::parse("ёж").is_err());
        assert!(SessionId::parse("a@b.c").is_err());
    }
}
