//! SHA-256 of secrets, the form in which the store keeps them.
//!
//! Codes, session ids and refresh tokens are stored only as this digest, so that a copy of the
//! database alone does not let anyone use them: the server hashes what a client presents and looks
//! the digest up. The digest is also how two secrets of any length are compared in constant time.
//! A plain hash, not a password hash: these secrets are 256 random bits, beyond any guessing.

use protocol::base64url;
use sha2::{Digest, Sha256};

/// SHA-256 of `secret`, base64url (43 characters).
pub fn sha256(secret: &str) -> String {
    base64url(&Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_deterministic_and_hides_the_input() {
        assert_eq!(sha256("code"), sha256("code"));
        assert_ne!(sha256("code"), "code");
        assert_ne!(sha256("code"), sha256("Code"));
    }

    #[test]
    fn is_sha256_in_base64url() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1, in base64url without padding.
        assert_eq!(sha256("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }
}
