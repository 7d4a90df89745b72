//! Unguessable identifiers from the operating system's CSPRNG.
//!
//! Not injectable on purpose: a test RNG that leaked into production would make every code and
//! session predictable. Tests that need to know a value read it from the response instead.

use protocol::base64url;

/// 256 random bits, base64url: authorization codes, session ids, CSRF tokens, client ids.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    // The OS RNG failing means the machine cannot do cryptography at all; there is no safe
    // fallback, so this is a true invariant.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    base64url(&bytes)
}

/// 96 random bits, base64url (16 characters): request ids, where uniqueness matters, not secrecy.
pub fn short_id() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    base64url(&bytes)
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
