//! Secrets: random identifiers and keys, their hashes, constant-time comparison.

use propel_model::PartnerId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS generator failing is not recoverable: no safe key can be made.
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    buf
}

pub fn new_partner_id() -> PartnerId {
    PartnerId::from_bytes(random_bytes::<12>())
}

/// A new apiKey: 128 random bits as 32 lowercase hex characters.
pub fn new_api_key() -> String {
    random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Keys are random with 128 bits of entropy, so a plain SHA-256 is enough to make
/// the stored value useless to someone who reads the database.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_hex_and_hash_stably() {
        let a = new_api_key();
        let b = new_api_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(hashes_equal(&hash_key(&a), &hash_key(&a)));
        assert!(!hashes_equal(&hash_key(&a), &hash_key(&b)));
        assert!(PartnerId::parse(new_partner_id().as_str()).is_ok());
    }
}
