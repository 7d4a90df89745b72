//! Unguessable identifiers from the operating system's CSPRNG.
//!
//! Not injectable on purpose: a test RNG that leaked into production would make every code and
//! session predictable. Tests that need to know a value read it from the response instead.

use protocol::base64url;

/// 256 random bits, base64url: session ids, CSRF tokens, refresh tokens, client ids.
pub fn token() -> String {
    base64url(&bytes::<32>())
}

/// `N` random bytes: keys, secrets, salts.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS RNG failing means the machine cannot do cryptography at all; there is no safe
    // fallback, so this is a true invariant.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}

/// 96 random bits, base64url (16 characters): request ids, where uniqueness matters, not secrecy.
pub fn short_id() -> String {
    base64url(&bytes::<12>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_characters_and_distinct() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
