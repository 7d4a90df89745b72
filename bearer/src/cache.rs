//! A cache of verified tokens, so a client that reuses its token (they all do, until it expires)
//! pays for one signature check, not one per request.
//!
//! A hit needs the whole token to be equal, never only its `jti` or `kid`: a different token is a
//! different entry, whatever it claims. The table is indexed by the token's signature segment (the
//! part after the last `.`), so a lookup hashes about 90 bytes instead of the whole 700-byte token;
//! the full comparison follows. Only verified tokens are ever inserted, so a stranger cannot fill
//! the table or crowd a bucket. Bounded (oldest entries leave first), and a hit is re-checked
//! against the clock, so an entry never outlives the token's `exp`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use protocol::jwt::validation::{self, Expectations};

use crate::VerifiedToken;

pub struct TokenCache {
    inner: RwLock<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    /// Signature segment → (the whole token, its verification).
    tokens: HashMap<Box<str>, (Box<str>, Arc<VerifiedToken>)>,
    /// Insertion order (signature segments), for eviction.
    order: VecDeque<Box<str>>,
}

/// The index of `token`: its signature segment, or the whole string when it has no `.`.
fn index(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(_, signature)| signature)
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        Self { inner: RwLock::default(), capacity }
    }

    /// The cached verification of `token`, if any and if it is still within its validity window.
    pub fn get(&self, token: &str, expected: &Expectations<'_>, now: u64) -> Option<Arc<VerifiedToken>> {
        let inner = self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (cached, hit) = inner.tokens.get(index(token))?;
        if **cached != *token {
            return None;
        }
        validation::check_claims(&hit.claims, expected, now).ok()?;
        Some(hit.clone())
    }

    pub fn insert(&self, token: &str, verified: Arc<VerifiedToken>) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = index(token);
        if inner.tokens.contains_key(key) {
            // The same token (verified twice by concurrent requests), or another with the same
            // signature segment, which cannot verify unless it is the same token: keep the first.
            return;
        }
        while inner.tokens.len() >= self.capacity {
            match inner.order.pop_front() {
                Some(oldest) => {
                    inner.tokens.remove(&oldest);
                }
                None => break,
            }
        }
        let key: Box<str> = key.into();
        inner.order.push_back(key.clone());
        inner.tokens.insert(key, (token.into(), verified));
    }

    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner()).tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::jwt::{AccessTokenClaims, Audience};
    use protocol::scope::Scopes;

    fn verified(exp: u64) -> Arc<VerifiedToken> {
        Arc::new(VerifiedToken {
            claims: AccessTokenClaims {
                iss: "i".into(),
                aud: Audience::One("a".into()),
                sub: "s".into(),
                client_id: "c".into(),
                iat: 0,
                exp,
                nbf: None,
                jti: "j".into(),
                scope: None,
                auth_time: None,
                act: None,
                groups: None,
                authorization_details: None,
                client_registration: None,
            },
            scopes: Scopes::default(),
        })
    }

    const EXPECTED: Expectations<'static> = Expectations { issuer: "i", audience: "a" };

    #[test]
    fn a_hit_never_outlives_the_tokens_expiry() {
        let cache = TokenCache::new(10);
        cache.insert("t", verified(1000));
        assert!(cache.get("t", &EXPECTED, 900).is_some());
        assert!(cache.get("t", &EXPECTED, 1000 + validation::LEEWAY).is_none());
        assert!(cache.get("other", &EXPECTED, 900).is_none(), "keyed by the whole token");
    }

    #[test]
    fn a_token_sharing_only_the_signature_segment_is_a_miss() {
        let cache = TokenCache::new(10);
        cache.insert("header.payload.signature", verified(1000));
        assert!(cache.get("header.payload.signature", &EXPECTED, 900).is_some());
        assert!(cache.get("header.forged-payload.signature", &EXPECTED, 900).is_none());
        assert!(cache.get("signature", &EXPECTED, 900).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = TokenCache::new(2);
        for token in ["a", "b", "c"] {
            cache.insert(token, verified(1000));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a", &EXPECTED, 0).is_none(), "the oldest left first");
        assert!(cache.get("c", &EXPECTED, 0).is_some());
    }
}
