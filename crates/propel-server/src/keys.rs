//! Secrets: random identifiers and keys, their hashes, constant-time comparison.

use propel_model::PartnerId;
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
/// ring's SHA-256 (vectorised assembly) rather than `sha2`'s portable code on CPUs without
/// SHA extensions, which was slower here: this runs on every authorized request.
pub fn hash_key(key: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
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

    /// Stored hashes are plain SHA-256: keys created before any change of library still match.
    #[test]
    fn hash_is_sha256() {
        let hex: String = hash_key("abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
