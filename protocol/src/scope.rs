//! Scope sets (RFC 6749 §3.3).
//!
//! A scope is a space-delimited list of case-sensitive tokens whose order does not matter, so it
//! is held as a sorted set: comparisons, unions (step-up) and "does this token grant what the tool
//! needs" are set operations, and rendering is deterministic.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope token {0:?} contains a character outside %x21 / %x23-5B / %x5D-7E")]
pub struct InvalidScope(pub String);

/// A set of scope tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scopes(BTreeSet<String>);

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: printable ASCII except space, `"` and `\`.
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl Scopes {
    /// Parses a space-delimited scope string. Repeated spaces are tolerated, anything else that is
    /// not a valid scope token is an error.
    pub fn parse(value: &str) -> Result<Self, InvalidScope> {
        value
            .split(' ')
            .filter(|token| !token.is_empty())
            .map(|token| {
                if is_scope_token(token) { Ok(token.to_owned()) } else { Err(InvalidScope(token.to_owned())) }
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Builds a set from tokens already known to be valid (configuration, constants).
    pub fn from_tokens<I, S>(tokens: I) -> Result<Self, InvalidScope>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = tokens.into_iter().map(|s| s.as_ref().to_owned()).collect();
        if let Some(bad) = joined.iter().find(|t| !is_scope_token(t)) {
            return Err(InvalidScope(bad.clone()));
        }
        Ok(Self(joined.into_iter().collect()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Is every token of `other` in `self`?
    pub fn is_superset(&self, other: &Scopes) -> bool {
        self.0.is_superset(&other.0)
    }

    /// The tokens of both sets: what a client asks for when it steps up (MCP spec: re-authorize
    /// with the union of the scopes it has and the scopes the challenge names).
    pub fn union(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.union(&other.0).cloned().collect())
    }

    /// The tokens in both sets: what a token exchange may carry from one resource to another.
    pub fn intersection(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
            first = false;
        }
        Ok(())
    }
}

impl TryFrom<String> for Scopes {
    type Error = InvalidScope;
    fn try_from(value: String) -> Result<Self, InvalidScope> {
        Scopes::parse(&value)
    }
}

impl From<Scopes> for String {
    fn from(value: Scopes) -> Self {
        value.to_string()
    }
}

impl std::str::FromStr for Scopes {
    type Err = InvalidScope;
    fn from_str(s: &str) -> Result<Self, InvalidScope> {
        Scopes::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_space_delimited_tokens_into_a_sorted_set() {
        let scopes = Scopes::parse("profile echo  echo").unwrap();
        assert_eq!(scopes.to_string(), "echo profile");
        assert!(scopes.contains("echo"));
        assert!(!scopes.contains("Echo"), "scope tokens are case-sensitive");
    }

    #[test]
    fn rejects_quotes_backslashes_and_control_characters() {
        for bad in ["a\"b", "a\\b", "tab\there", "é"] {
            assert!(Scopes::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn empty_string_is_the_empty_set() {
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn union_and_superset_behave_as_sets() {
        let have = Scopes::parse("echo").unwrap();
        let need = Scopes::parse("profile").unwrap();
        let both = have.union(&need);
        assert_eq!(both.to_string(), "echo profile");
        assert!(both.is_superset(&have) && both.is_superset(&need));
        assert!(!have.is_superset(&need));
    }
}
