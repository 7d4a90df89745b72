//! Hop tokens: for every upstream call, a token the authorization server issued for that upstream
//! alone, obtained by token exchange (RFC 8693) of the token the client sent the gateway. MCP
//! forbids passing the client's token through; this is how the gateway never does.
//!
//! The gateway authenticates to the AS as the confidential client registered with `--acts-for`
//! its own resource and `--exchange-to` each upstream's (the only resources the AS issues it
//! tokens for): with `private_key_jwt` (an ES256 key whose public half the AS knows; a fresh,
//! single-use assertion per exchange) or with `client_secret_basic`. A hop token is cached per (subject token,
//! upstream, scope) and reused until [`REUSE_MARGIN`] seconds before it expires, so a burst of
//! calls costs one exchange; the cache is bounded. What the AS refuses comes back as the AS's own
//! OAuth error, for the caller to map (an expired or revoked subject is `invalid_request`, RFC 8693
//! §2.2.2; a scope the subject lacks is `invalid_scope`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use protocol::scope::Scopes;
use protocol::secret::AccessToken;
use protocol::token::{TokenExchangeRequest, TokenResponse};

pub use crate::as_client::{AsClient, AsError, ClientCredentials, SigningKey};

/// A hop token is not reused in its last seconds: an upstream must not receive one that expires
/// on the way.
pub const REUSE_MARGIN: i64 = 10;
/// At most this many hop tokens are kept; past it, expired ones go first, then all.
pub const MAX_CACHED: usize = 10_000;

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
    inflight: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
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
            inflight: Mutex::default(),
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
        let gate = self.inflight().entry(key.clone()).or_default().clone();
        let _turn = gate.lock().await;
        if let Some(token) = self.cached(&key, now) {
            return Ok(token);
        }
        let exchanged = self.exchange(subject, resource, scope, now).await;
        self.inflight().remove(&key);
        let response = exchanged?;
        let lifetime = response.expires_in.and_then(|s| i64::try_from(s).ok()).unwrap_or(0);
        let token = response.access_token;
        if lifetime > REUSE_MARGIN {
            let mut cache = self.lock();
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, c| c.expires_at - REUSE_MARGIN > now);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(key, Cached { token: token.clone(), expires_at: now + lifetime });
        }
        Ok(token)
    }

    fn cached(&self, key: &Key, now: i64) -> Option<AccessToken> {
        self.lock().get(key).filter(|cached| cached.expires_at - REUSE_MARGIN > now).map(|c| c.token.clone())
    }

    fn inflight(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<tokio::sync::Mutex<()>>>> {
        self.inflight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
