//! Introspection mode (RFC 7662): ask the authorization server whether a token is active.
//!
//! Used for tokens that are not JWTs (opaque tokens from another AS), and, when configured, for
//! every token: then a revocation at the AS takes effect at once instead of at the token's `exp`,
//! at the price of one call to the AS per request. The resource server authenticates with HTTP
//! Basic: the form-urlencoded resource identifier and the introspection secret the AS was given
//! for it (`mcp-auth --introspection-credential "<resource> <secret>"`). What the answer must say
//! is decided by `IntrospectionResponse::into_claims` in `protocol`.
//!
//! Any string that is not a JWT is introspected, so a stranger chooses how often this server calls
//! the AS. Two bounds keep that from hammering it (the goal `keys` has for random `kid`s): at most
//! [`MAX_CONCURRENT_INTROSPECTIONS`] calls at once for each kind of token (signed JWTs checked
//! here first, everything else), a request waiting [`TURN_WAIT`] at most for its turn before a
//! 503; and an `active: false` answer remembered for [`INACTIVE_MEMORY_SECS`] (by the token's
//! SHA-256, at most [`INACTIVE_MEMORY_CAPACITY`] of them, looked up again once a request has its
//! turn), so the same garbage token sent again and again, or by many at once, costs one call per
//! few seconds (one wave of turns at most). Only refusals are remembered: an
//! active answer is asked for every time, so that a revocation takes effect at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use protocol::introspection::IntrospectionResponse;
use protocol::jwt::validation::{Expectations, Refusal};
use protocol::scope::Scopes;
use protocol::secret::ClientSecret;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::error::BearerError;
use crate::keys::{KeySource, read_json};
use crate::verified::VerifiedToken;

/// At most this many calls to the introspection endpoint at once, per validator, for each of two
/// kinds of token: JWTs whose signature was checked here first (`--introspect-every-token`), and
/// everything else (opaque tokens, and strings anyone can send). Separate turns, so that a flood of
/// made-up strings cannot make the holders of signed tokens wait.
pub const MAX_CONCURRENT_INTROSPECTIONS: usize = 32;
/// How long a request waits for its turn to introspect before it is answered 503.
pub const TURN_WAIT: Duration = Duration::from_secs(1);
/// How long an `active: false` answer is remembered, in seconds.
pub const INACTIVE_MEMORY_SECS: u64 = 5;
/// How many `active: false` answers are remembered (32 bytes and a time each).
pub const INACTIVE_MEMORY_CAPACITY: usize = 10_000;

/// How the resource server introspects.
#[derive(Debug, Clone)]
pub struct IntrospectionSettings {
    /// The resource server's credential at the introspection endpoint (it authenticates there as a
    /// client, RFC 7662 §2.1). Prints as `***`.
    pub secret: ClientSecret,
    /// Introspect JWTs too (after checking them locally), so that revocation is immediate.
    pub every_token: bool,
}

pub struct Introspector {
    every_token: bool,
    /// The whole `Authorization: Basic …` value, built once. Never printed: `Introspector` has no
    /// `Debug`.
    authorization: String,
    /// When (epoch seconds) an unreadable answer may next be logged at WARN.
    next_bad_answer_warning: AtomicU64,
    /// Turns to call the AS: [`MAX_CONCURRENT_INTROSPECTIONS`] permits for tokens checked
    /// locally first, as many for the others.
    signed_turns: Semaphore,
    turns: Semaphore,
    /// Tokens the AS recently said are not active.
    inactive: InactiveTokens,
}

impl Introspector {
    pub fn new(settings: IntrospectionSettings, resource: &str) -> Self {
        let user: String = url::form_urlencoded::byte_serialize(resource.as_bytes()).collect();
        let secret: String =
            url::form_urlencoded::byte_serialize(settings.secret.secret().as_bytes()).collect();
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        Self {
            every_token: settings.every_token,
            authorization: format!("Basic {credentials}"),
            next_bad_answer_warning: AtomicU64::new(0),
            signed_turns: Semaphore::new(MAX_CONCURRENT_INTROSPECTIONS),
            turns: Semaphore::new(MAX_CONCURRENT_INTROSPECTIONS),
            inactive: InactiveTokens::new(INACTIVE_MEMORY_CAPACITY),
        }
    }

    pub fn every_token(&self) -> bool {
        self.every_token
    }

    /// The AS's answer for `token`, checked for this resource. `signed`: its signature was
    /// checked here first.
    pub async fn introspect(
        &self,
        keys: &KeySource,
        token: &str,
        signed: bool,
        expected: &Expectations<'_>,
        now: u64,
    ) -> Result<VerifiedToken, BearerError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.inactive.contains(&digest, now) {
            return Err(Refusal::Inactive.into());
        }
        let endpoint =
            keys.introspection_endpoint().await.map_err(|e| BearerError::Unavailable(e.to_string()))?;
        // Held until the answer is read. The semaphore is never closed, so an error is only a
        // timeout; either way the AS is not asked.
        let turns = if signed { &self.signed_turns } else { &self.turns };
        let _turn = match tokio::time::timeout(TURN_WAIT, turns.acquire()).await {
            Ok(Ok(turn)) => turn,
            _ => {
                return Err(BearerError::Unavailable(format!(
                    "{MAX_CONCURRENT_INTROSPECTIONS} introspections already running"
                )));
            }
        };
        // Requests for one token that arrived together all missed the memory above and queued
        // here: the first answer is remembered by the time the others get their turn.
        if self.inactive.contains(&digest, now) {
            return Err(Refusal::Inactive.into());
        }
        let response = keys
            .http()
            .post(&endpoint)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| BearerError::Unavailable(format!("introspection failed: {e}")))?;
        let answer: serde_json::Value =
            read_json(response, &endpoint).await.map_err(BearerError::Unavailable)?;
        // JSON, but not an RFC 7662 answer (a member of the wrong type): the AS is reachable and
        // broken. An active token whose claims cannot be read is never accepted; it is not refused
        // either (401 would make its client throw away what is probably a good token, and nothing
        // the client does can fix the AS): 503, as when the AS cannot be reached, with the cause
        // at WARN, at most once per interval, so the operator is not left guessing "unreachable?".
        let answer: IntrospectionResponse = serde_json::from_value(answer).map_err(|e| {
            let reason = format!("{endpoint} answered with JSON that is not an introspection response: {e}");
            self.warn_of_bad_answer(&reason, now);
            BearerError::Unavailable(reason)
        })?;
        if !answer.active {
            self.inactive.insert(digest, now);
        }
        verified(answer, expected, now)
    }

    fn warn_of_bad_answer(&self, reason: &str, now: u64) {
        let next = self.next_bad_answer_warning.load(Ordering::Relaxed);
        let after = now.saturating_add(crate::refusals::INTERVAL_SECS);
        if now >= next
            && self
                .next_bad_answer_warning
                .compare_exchange(next, after, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%reason, "the authorization server's introspection answer is unusable; requests get 503");
        }
    }
}

/// Tokens the AS said are not active, by SHA-256 (a fixed 32 bytes whatever the token's length,
/// and no token kept in memory), each until [`INACTIVE_MEMORY_SECS`] after the answer. Bounded:
/// the oldest leave first.
struct InactiveTokens {
    inner: Mutex<Inactive>,
    capacity: usize,
}

#[derive(Default)]
struct Inactive {
    /// Digest → until when (epoch seconds, exclusive).
    until: HashMap<[u8; 32], u64>,
    /// Insertion order, with the time each entry was inserted for, for eviction. A live digest is
    /// not inserted again: one token refused over and over must not fill the memory and push the
    /// others out. (An expired one is, and its older entry then removes nothing.)
    order: VecDeque<([u8; 32], u64)>,
}

impl InactiveTokens {
    fn new(capacity: usize) -> Self {
        Self { inner: Mutex::default(), capacity }
    }

    fn contains(&self, digest: &[u8; 32], now: u64) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.until.get(digest).is_some_and(|until| now < *until)
    }

    fn insert(&self, digest: [u8; 32], now: u64) {
        if self.capacity == 0 {
            return;
        }
        let until = now.saturating_add(INACTIVE_MEMORY_SECS);
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Still remembered (answered again by requests that queued together): kept once, with
        // its first time; it leaves a little early at worst, to be asked about once more.
        if inner.until.get(&digest).is_some_and(|remembered| now < *remembered) {
            return;
        }
        // The expired first (every entry lives as long, so they are at the front), then the oldest
        // while full.
        while let Some(&(oldest, oldest_until)) = inner.order.front() {
            if oldest_until > now && inner.order.len() < self.capacity {
                break;
            }
            inner.order.pop_front();
            if inner.until.get(&oldest) == Some(&oldest_until) {
                inner.until.remove(&oldest);
            }
        }
        inner.until.insert(digest, until);
        inner.order.push_back((digest, until));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).until.len()
    }
}

/// An introspection answer as a verified token, or why not (pure).
pub fn verified(
    answer: IntrospectionResponse,
    expected: &Expectations<'_>,
    now: u64,
) -> Result<VerifiedToken, BearerError> {
    let claims = answer.into_claims(expected, now)?;
    let scopes =
        Scopes::parse(claims.scope.as_deref().unwrap_or_default()).map_err(|_| Refusal::MalformedScope)?;
    Ok(VerifiedToken { claims, scopes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_active_answer_becomes_a_verified_token_with_its_scopes() {
        let answer = IntrospectionResponse {
            active: true,
            scope: Some("echo profile".into()),
            exp: Some(2000),
            aud: Some(protocol::jwt::Audience::One("http://rs".into())),
            sub: Some("u".into()),
            client_id: Some("c".into()),
            jti: Some("j".into()),
            ..Default::default()
        };
        let expected = Expectations { issuer: "http://as", audience: "http://rs" };
        let token = verified(answer.clone(), &expected, 1000).unwrap();
        assert!(token.has_all(&["echo", "profile"]));
        let bad_scope = IntrospectionResponse { scope: Some("a\"b".into()), ..answer };
        assert_eq!(
            verified(bad_scope, &expected, 1000).unwrap_err(),
            BearerError::InvalidToken(Refusal::MalformedScope)
        );
    }

    #[test]
    fn an_inactive_answer_is_remembered_for_a_few_seconds_and_within_capacity() {
        let memory = InactiveTokens::new(3);
        let digest = |n: u8| [n; 32];
        memory.insert(digest(1), 1000);
        assert!(memory.contains(&digest(1), 1000));
        assert!(memory.contains(&digest(1), 1000 + INACTIVE_MEMORY_SECS - 1));
        assert!(!memory.contains(&digest(1), 1000 + INACTIVE_MEMORY_SECS), "forgotten");
        assert!(!memory.contains(&digest(2), 1000));

        // Answered again while remembered (requests for one token that queued together): kept
        // once, with its first time, so that one token cannot fill the memory and push the
        // others out (each repeat took a place, and the third pushed digest 2 out).
        memory.insert(digest(2), 1001);
        for _ in 0..10 {
            memory.insert(digest(1), 1002);
        }
        memory.insert(digest(3), 1002);
        assert!(memory.contains(&digest(2), 1002), "not pushed out by one token's repeats");
        assert!(memory.contains(&digest(3), 1002));

        // Answered again after it was forgotten: remembered anew, and its old entry's leaving
        // takes nothing with it.
        memory.insert(digest(1), 1000 + INACTIVE_MEMORY_SECS);
        memory.insert(digest(4), 1000 + INACTIVE_MEMORY_SECS);
        assert!(memory.contains(&digest(1), 1000 + 2 * INACTIVE_MEMORY_SECS - 1));

        for n in 3..10 {
            memory.insert(digest(n), 1000 + INACTIVE_MEMORY_SECS);
        }
        assert!(memory.len() <= 3, "{}", memory.len());
        assert!(memory.contains(&digest(9), 1000 + INACTIVE_MEMORY_SECS), "the newest stays");
        assert!(!memory.contains(&digest(1), 1000 + INACTIVE_MEMORY_SECS), "the oldest left");
    }

    #[test]
    fn the_secret_never_prints() {
        let settings = IntrospectionSettings { secret: ClientSecret::new("hunter2"), every_token: true };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
