//! Hop tokens: for every upstream call, a token the authorization server issued for that upstream
//! alone, obtained by token exchange (RFC 8693) of the token the client sent the gateway. MCP
//! forbids passing the client's token through; this is how the gateway never does.
//!
//! The gateway authenticates to the AS as the confidential client registered with `--acts-for`
//! its own resource and `--exchange-to` each upstream's (the only resources the AS issues it
//! tokens for): with `private_key_jwt` (an ES256 key whose public half the AS knows; a fresh,
//! single-use assertion per exchange) or with `client_secret_basic`. A hop token is cached per (subject token,
//! upstream, scope) and reused until [`REUSE_MARGIN`] seconds before it expires (and for at most
//! [`MAX_LIFETIME`], whatever the AS says), so a burst of calls costs one exchange; the cache is
//! bounded. What the AS refuses comes back as the AS's own
//! OAuth error, for the caller to map (an expired or revoked subject is `invalid_request`, RFC 8693
//! §2.2.2; a scope the subject lacks is `invalid_scope`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use protocol::scope::Scopes;
use protocol::secret::AccessToken;
use protocol::token::{TokenExchangeRequest, TokenResponse};

pub use crate::as_client::{AsClient, AsError, ClientCredentials, SigningKey};
use serve::turns::Turns;

/// A hop token is not reused in its last seconds: an upstream must not receive one that expires
/// on the way.
pub const REUSE_MARGIN: i64 = 10;
/// At most this many hop tokens are kept; past it, expired ones go first, then all.
pub const MAX_CACHED: usize = 10_000;
/// A hop token lives at most a minute (issue 13): one the AS says lives longer is reused for a
/// minute only, so that a wrong or hostile `expires_in` cannot keep it in use for ever.
pub const MAX_LIFETIME: i64 = 60;

/// Why no hop token was had: the authorization server's refusal, or its absence.
pub type HopError = AsError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    subject_jti: String,
    resource: String,
    scope: String,
}

struct Cached {
    token: AccessToken,
    expires_at: i64,
}

/// Exchanges and caches hop tokens.
pub struct HopTokens {
    client: Arc<AsClient>,
    token_endpoint: String,
    cache: Mutex<HashMap<Key, Cached>>,
    /// The exchanges under way, one gate per key.
    inflight: Turns<Key>,
}

impl HopTokens {
    pub fn new(token_endpoint: impl Into<String>, credentials: ClientCredentials) -> Self {
        Self::with_client(token_endpoint, Arc::new(AsClient::new(credentials)))
    }

    /// Hop tokens from `token_endpoint`, asked for by `client` (shared with the approvals).
    pub fn with_client(token_endpoint: impl Into<String>, client: Arc<AsClient>) -> Self {
        Self {
            client,
            token_endpoint: token_endpoint.into(),
            cache: Mutex::default(),
            inflight: Turns::default(),
        }
    }

    /// A token for `resource` with `scope` (all the subject's scopes the resource knows, when
    /// `None`), on behalf of the subject token `subject` (whose `jti` keys the cache), at `now`
    /// (Unix seconds).
    pub async fn token_for(
        &self,
        subject: &AccessToken,
        subject_jti: &str,
        resource: &str,
        scope: Option<&Scopes>,
        now: i64,
    ) -> Result<AccessToken, HopError> {
        let key = Key {
            subject_jti: subject_jti.to_owned(),
            resource: resource.to_owned(),
            scope: scope.map(ToString::to_string).unwrap_or_default(),
        };
        if let Some(token) = self.cached(&key, now) {
            return Ok(token);
        }
        // One exchange per key at a time: when a cached token runs out under load, the calls
        // waiting for it share the next one instead of each asking the AS.
        let turn = self.inflight.join(&key);
        let _mine = turn.wait().await;
        if let Some(token) = self.cached(&key, now) {
            return Ok(token);
        }
        let response = self.exchange(subject, resource, scope, now).await?;
        let lifetime = response.expires_in.and_then(|s| i64::try_from(s).ok()).unwrap_or(0).min(MAX_LIFETIME);
        let token = response.access_token;
        if lifetime > REUSE_MARGIN {
            let mut cache = self.lock();
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, c| reusable(c, now));
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(
                key.clone(),
                Cached { token: token.clone(), expires_at: now.saturating_add(lifetime) },
            );
        }
        Ok(token)
    }

    fn cached(&self, key: &Key, now: i64) -> Option<AccessToken> {
        self.lock().get(key).filter(|cached| reusable(cached, now)).map(|c| c.token.clone())
    }

    /// How many keys have exchanges under way or waited for (tests: none linger).
    #[cfg(test)]
    fn exchanges_in_flight(&self) -> usize {
        self.inflight.in_use()
    }

    /// Forgets every hop token of a subject token (its holder was refused upstream, say).
    pub fn forget(&self, subject_jti: &str) {
        self.lock().retain(|key, _| key.subject_jti != subject_jti);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Cached>> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn exchange(
        &self,
        subject: &AccessToken,
        resource: &str,
        scope: Option<&Scopes>,
        now: i64,
    ) -> Result<TokenResponse, HopError> {
        let request = TokenExchangeRequest::new(subject.clone(), resource, scope.map(ToString::to_string));
        let answer: TokenResponse = self.client.post(&self.token_endpoint, &request, now).await?;
        if !answer.is_bearer() {
            return Err(AsError::Unavailable(format!("token_type {:?} is not Bearer", answer.token_type)));
        }
        Ok(answer)
    }
}

/// Whether a cached token may still be handed out at `now`.
fn reusable(cached: &Cached, now: i64) -> bool {
    cached.expires_at.saturating_sub(REUSE_MARGIN) > now
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::extract::State;
    use axum::routing::post;
    use protocol::secret::ClientSecret;
    use serde_json::json;

    use super::*;

    fn hops_at(base: &str) -> HopTokens {
        let credentials =
            ClientCredentials::Secret { client_id: "gateway".into(), secret: ClientSecret::new("s") };
        HopTokens::new(format!("{base}/token"), credentials)
    }

    /// An AS whose token endpoint issues a new token each time, said to live `expires_in`
    /// seconds; and how many it issued.
    async fn issuing_as(expires_in: u64) -> (String, Arc<AtomicUsize>) {
        let issued = Arc::new(AtomicUsize::new(0));
        let token = move |State(issued): State<Arc<AtomicUsize>>| async move {
            let n = issued.fetch_add(1, Ordering::SeqCst);
            axum::Json(
                json!({"access_token": format!("hop-{n}"), "token_type": "Bearer", "expires_in": expires_in}),
            )
        };
        let app = axum::Router::new().route("/token", post(token)).with_state(issued.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, issued)
    }

    /// An AS answering `expires_in: i64::MAX` once overflowed `now + lifetime` (a panic in a debug
    /// build; in release a wrapped expiry, and then a token served from the cache for ever).
    #[tokio::test]
    async fn a_hop_token_is_reused_for_a_minute_at_most_whatever_the_as_says() {
        let (base, issued) = issuing_as(9_223_372_036_854_775_807).await;
        let hops = hops_at(&base);
        let subject = AccessToken::new("t");
        let now = 1_700_000_000;
        let first = hops.token_for(&subject, "jti", "http://upstream", None, now).await.unwrap();
        let again = hops.token_for(&subject, "jti", "http://upstream", None, now + 30).await.unwrap();
        assert_eq!(first.secret(), again.secret(), "reused within the minute");
        let later =
            hops.token_for(&subject, "jti", "http://upstream", None, now + MAX_LIFETIME).await.unwrap();
        assert_ne!(first.secret(), later.secret(), "a new one after the minute");
        assert_eq!(issued.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_exchange_dropped_while_the_as_is_silent_leaves_nothing_in_flight() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hops = hops_at(&format!("http://{}", listener.local_addr().unwrap()));
        let subject = AccessToken::new("t");
        // Two calls for the same token: one waits at the AS, the other for its turn.
        let waiting = async {
            tokio::join!(
                hops.token_for(&subject, "jti", "http://upstream", None, 0),
                hops.token_for(&subject, "jti", "http://upstream", None, 0)
            )
        };
        let timed_out = tokio::time::timeout(Duration::from_millis(200), waiting).await;
        assert!(timed_out.is_err(), "the silent AS answered");
        assert_eq!(hops.exchanges_in_flight(), 0, "nothing lingers after the calls went away");
    }
}
