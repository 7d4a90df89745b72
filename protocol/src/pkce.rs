//! Proof Key for Code Exchange (RFC 7636), S256 only.
//!
//! OAuth 2.1 makes PKCE mandatory for every client that uses the authorization code grant, and the
//! MCP authorization spec requires `S256`: the `plain` method would put the verifier itself in the
//! browser's address bar, which is exactly what PKCE exists to avoid.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only transformation this project accepts (RFC 7636 §4.2).
pub const S256: &str = "S256";

/// Why a verifier or challenge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("must be between 43 and 128 characters long, got {0}")]
    Length(usize),
    #[error("may only contain A-Z, a-z, 0-9, '-', '.', '_' and '~'")]
    Charset,
}

/// RFC 7636 §4.1: `43*128unreserved`, the same grammar for the verifier and the challenge.
fn check_syntax(value: &str) -> Result<(), PkceError> {
    if !(43..=128).contains(&value.len()) {
        return Err(PkceError::Length(value.len()));
    }
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if value.bytes().all(unreserved) { Ok(()) } else { Err(PkceError::Charset) }
}

/// The client's secret half of PKCE. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// Builds a verifier from 32 random bytes: base64url gives 43 characters, 256 bits of entropy,
    /// the construction RFC 7636 §4.1 recommends.
    pub fn from_random_bytes(bytes: [u8; 32]) -> Self {
        Self(crate::base64url(&bytes))
    }

    /// Parses a verifier received on the wire (the token request's `code_verifier`).
    pub fn parse(value: &str) -> Result<Self, PkceError> {
        check_syntax(value)?;
        Ok(Self(value.to_owned()))
    }

    /// The verifier itself, for the token request.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier(***)")
    }
}

impl TryFrom<String> for CodeVerifier {
    type Error = PkceError;
    fn try_from(value: String) -> Result<Self, PkceError> {
        check_syntax(&value)?;
        Ok(Self(value))
    }
}

impl From<CodeVerifier> for String {
    fn from(value: CodeVerifier) -> Self {
        value.0
    }
}

/// The public half of PKCE, sent in the authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
    pub fn s256(verifier: &CodeVerifier) -> Self {
        Self(crate::base64url(&Sha256::digest(verifier.0.as_bytes())))
    }

    /// Parses a challenge received in an authorization request.
    pub fn parse(value: &str) -> Result<Self, PkceError> {
        check_syntax(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Does `verifier` hash to this challenge? Compared in constant time so the comparison leaks
    /// nothing about how close a guess came.
    pub fn is_satisfied_by(&self, verifier: &CodeVerifier) -> bool {
        let expected = Self::s256(verifier);
        expected.0.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

impl TryFrom<String> for CodeChallenge {
    type Error = PkceError;
    fn try_from(value: String) -> Result<Self, PkceError> {
        check_syntax(&value)?;
        Ok(Self(value))
    }
}

impl From<CodeChallenge> for String {
    fn from(value: CodeChallenge) -> Self {
        value.0
    }
}

impl std::fmt::Display for CodeChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_the_rfc_7636_appendix_b_example() {
        let verifier = CodeVerifier::parse(RFC_VERIFIER).unwrap();
        assert_eq!(CodeChallenge::s256(&verifier).as_str(), RFC_CHALLENGE);
    }

    #[test]
    fn challenge_is_satisfied_only_by_its_own_verifier() {
        let challenge = CodeChallenge::parse(RFC_CHALLENGE).unwrap();
        assert!(challenge.is_satisfied_by(&CodeVerifier::parse(RFC_VERIFIER).unwrap()));
        let other = CodeVerifier::from_random_bytes([7; 32]);
        assert!(!challenge.is_satisfied_by(&other));
    }

    #[test]
    fn random_verifier_is_43_unreserved_characters() {
        let verifier = CodeVerifier::from_random_bytes([0xff; 32]);
        assert_eq!(verifier.secret().len(), 43);
        assert!(CodeVerifier::parse(verifier.secret()).is_ok());
    }

    #[test]
    fn rejects_verifiers_that_are_too_short_too_long_or_use_other_characters() {
        assert_eq!(CodeVerifier::parse("short"), Err(PkceError::Length(5)));
        assert_eq!(CodeVerifier::parse(&"a".repeat(129)), Err(PkceError::Length(129)));
        assert_eq!(CodeVerifier::parse(&format!("{}+", "a".repeat(42))), Err(PkceError::Charset));
        assert_eq!(CodeChallenge::parse(&"a".repeat(42)), Err(PkceError::Length(42)));
        assert!(CodeVerifier::parse(&"a~._-".repeat(9)).is_ok());
    }

    #[test]
    fn verifier_debug_is_redacted() {
        let verifier = CodeVerifier::parse(RFC_VERIFIER).unwrap();
        assert_eq!(format!("{verifier:?}"), "CodeVerifier(***)");
    }

    #[test]
    fn deserializing_checks_the_syntax() {
        assert!(serde_json::from_str::<CodeVerifier>("\"too-short\"").is_err());
        assert!(serde_json::from_str::<CodeChallenge>(&format!("\"{RFC_CHALLENGE}\"")).is_ok());
    }
}
