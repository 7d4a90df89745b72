//! The authorization server's public keys: discovered through its metadata, cached, refreshed when
//! a token names a key we have not seen, and never fetched more often than [`MIN_REFRESH_INTERVAL`].
//!
//! The rate limit matters: the `kid` comes from the token, so without it anyone could make this
//! server hammer the authorization server by sending tokens with random `kid`s. When the AS is
//! down, the cached keys keep working.
//!
//! A `kid` not in the cache is "unknown" (401) only when the last fetch of the set succeeded: the
//! key is then not published. When that fetch failed (just now, or before the rate limit skipped
//! this one), the key may well be a newly published one that could not be seen, and refusing the
//! token would make its client throw a good token away; that is 503, like having no keys at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use protocol::jwt::{ES256, JwkSet};
use protocol::metadata::{AuthorizationServerMetadata, authorization_server_metadata_urls};
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, RwLock};

/// At most one fetch of the JWKS per interval, whatever the tokens say.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// The longest a key refresh (discovery included) may take, however slowly the server answers.
pub const REFRESH_DEADLINE: Duration = Duration::from_secs(5);
/// Metadata and key sets are small; a larger answer is refused rather than buffered.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Why no key could be found for a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the token's key {0:?} is not published by the authorization server")]
    UnknownKid(String),
    #[error("the authorization server's keys could not be fetched: {0}")]
    Unavailable(String),
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<DecodingKey>>,
    /// Found once through the metadata, then reused.
    jwks_uri: Option<String>,
    /// From the same metadata, for introspection mode.
    introspection_endpoint: Option<String>,
    loaded: bool,
}

/// Fetches and caches the verification keys of one authorization server.
pub struct KeySource {
    http: reqwest::Client,
    issuer: String,
    cache: RwLock<Cache>,
    /// Serialises refreshes and remembers when the last one started.
    last_refresh: Mutex<Option<Instant>>,
    /// Whether the last fetch of the JWKS (token-driven or scheduled) failed.
    last_fetch_failed: AtomicBool,
    /// The same for discovering the introspection endpoint: one attempt at a time, and after a
    /// failure none for [`MIN_REFRESH_INTERVAL`], so an AS that is down or advertises no endpoint
    /// does not cost a fetch (and a log line) per request.
    last_introspection_discovery: Mutex<Option<Instant>>,
}

impl KeySource {
    pub fn new(issuer: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            // Keys must come from where the metadata says, not from wherever a redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client with static settings builds");
        Self {
            http,
            issuer,
            cache: RwLock::default(),
            last_refresh: Mutex::new(None),
            last_fetch_failed: AtomicBool::new(false),
            last_introspection_discovery: Mutex::new(None),
        }
    }

    /// The key for `kid`, refreshing the cache (rate-limited) if it is unknown.
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, KeyError> {
        if let Some(key) = self.cache.read().await.keys.get(kid) {
            return Ok(key.clone());
        }
        let refresh_error = self.refresh().await.err();
        let cache = self.cache.read().await;
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        // The key could not be looked for (nothing ever loaded, or the set as it is now could not
        // be fetched): the token cannot be judged, which is our problem, not the client's.
        if let Some(error) = refresh_error {
            return Err(error);
        }
        if !cache.loaded {
            return Err(KeyError::Unavailable("the authorization server's keys are not loaded yet".into()));
        }
        Err(KeyError::UnknownKid(kid.to_owned()))
    }

    /// Refetches the JWKS unless another refresh ran within [`MIN_REFRESH_INTERVAL`]. `Err` when
    /// the set could not be fetched: now, or, when the rate limit skips this refresh, the last
    /// time (so a flood of unknown `kid`s during an outage costs no more fetches, and is not told
    /// that keys it may be signed with do not exist).
    async fn refresh(&self) -> Result<(), KeyError> {
        let mut last = self.last_refresh.lock().await;
        if let Some(at) = *last
            && at.elapsed() < MIN_REFRESH_INTERVAL
        {
            if self.last_fetch_failed.load(Ordering::Acquire) {
                let wait = MIN_REFRESH_INTERVAL.saturating_sub(at.elapsed());
                return Err(KeyError::Unavailable(format!(
                    "the last fetch of the keys failed; next attempt in {} s",
                    wait.as_secs().saturating_add(1)
                )));
            }
            return Ok(());
        }
        *last = Some(Instant::now());
        self.refetch().await.map(|_| ())
    }

    /// Refetches the JWKS now, outside the rate limit (for the background refresh, whose schedule
    /// is ours, not a token's). It takes the same lock, so fetches never overlap, but leaves the
    /// rate limit's clock alone: a scheduled refresh that failed while the authorization server
    /// was down must not stop a token with a new `kid` from triggering a fetch once it is back.
    /// Returns how many usable keys it found.
    pub async fn refresh_now(&self) -> Result<usize, KeyError> {
        let _one_at_a_time = self.last_refresh.lock().await;
        self.refetch().await
    }

    /// How many keys are cached.
    pub async fn cached_keys(&self) -> usize {
        self.cache.read().await.keys.len()
    }

    /// Discovery (once) and the JWKS fetch, within [`REFRESH_DEADLINE`] in all: a slow or hanging
    /// authorization server costs the requests waiting for it that long at most. The caller holds
    /// `last_refresh`, so there is one fetch at a time.
    async fn refetch(&self) -> Result<usize, KeyError> {
        let fetched = tokio::time::timeout(REFRESH_DEADLINE, async {
            let jwks_uri = match self.cache.read().await.jwks_uri.clone() {
                Some(uri) => uri,
                None => self
                    .discover()
                    .await?
                    .jwks_uri
                    .ok_or_else(|| KeyError::Unavailable("the metadata has no jwks_uri".into()))?,
            };
            match self.fetch::<JwkSet>(&jwks_uri).await {
                Ok(jwks) => Ok((jwks_uri, jwks)),
                Err(e) => Err(KeyError::Unavailable(e)),
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(KeyError::Unavailable(format!(
                "no answer from the authorization server within {} s",
                REFRESH_DEADLINE.as_secs()
            )))
        });
        self.last_fetch_failed.store(fetched.is_err(), Ordering::Release);
        let (jwks_uri, jwks) = match fetched {
            Ok(fetched) => fetched,
            Err(e) => {
                let cached = self.cached_keys().await;
                tracing::warn!(issuer = %self.issuer, error = %e, cached_keys = cached,
                    "JWKS fetch failed; keeping the cached keys");
                return Err(e);
            }
        };
        let keys = usable_keys(&jwks);
        let found = keys.len();
        tracing::info!(%jwks_uri, keys = found, "fetched the authorization server's signing keys");
        let mut cache = self.cache.write().await;
        cache.keys = keys;
        cache.jwks_uri = Some(jwks_uri);
        cache.loaded = true;
        Ok(found)
    }

    /// The authorization server's introspection endpoint (RFC 8414 `introspection_endpoint`),
    /// discovered once; after a failed attempt, not tried again for [`MIN_REFRESH_INTERVAL`].
    pub async fn introspection_endpoint(&self) -> Result<String, KeyError> {
        if let Some(endpoint) = self.cache.read().await.introspection_endpoint.clone() {
            return Ok(endpoint);
        }
        let mut last = self.last_introspection_discovery.lock().await;
        // Another request may have found it while this one waited for the lock.
        if let Some(endpoint) = self.cache.read().await.introspection_endpoint.clone() {
            return Ok(endpoint);
        }
        if last.is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL) {
            return Err(KeyError::Unavailable(format!(
                "the introspection endpoint could not be discovered; next attempt within {} s",
                MIN_REFRESH_INTERVAL.as_secs()
            )));
        }
        *last = Some(Instant::now());
        let endpoint = self.discover().await?.introspection_endpoint.ok_or_else(|| {
            KeyError::Unavailable("the authorization server advertises no introspection_endpoint".into())
        })?;
        self.cache.write().await.introspection_endpoint = Some(endpoint.clone());
        Ok(endpoint)
    }

    /// The HTTP client for calls to the authorization server (timeouts, no redirects).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// RFC 8414: the metadata document, tried at each well-known URL in turn, whose `issuer`
    /// must be exactly the configured one.
    async fn discover(&self) -> Result<AuthorizationServerMetadata, KeyError> {
        let issuer_url =
            url::Url::parse(&self.issuer).map_err(|e| KeyError::Unavailable(format!("bad issuer: {e}")))?;
        let mut last_error = String::from("no metadata URL");
        for url in authorization_server_metadata_urls(&issuer_url) {
            match self.fetch::<AuthorizationServerMetadata>(&url).await {
                Ok(metadata) if metadata.issuer != self.issuer => {
                    last_error = format!("{url} names issuer {:?}", metadata.issuer);
                }
                Ok(metadata) => return Ok(metadata),
                Err(e) => last_error = e,
            }
        }
        tracing::warn!(issuer = %self.issuer, error = %last_error, "authorization server metadata unavailable");
        Err(KeyError::Unavailable(last_error))
    }

    /// GETs a JSON document, refusing non-200 answers and bodies over the size limit.
    async fn fetch<T: DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        read_json(self.http.get(url).send().await.map_err(|e| format!("{url}: {e}"))?, url).await
    }
}

/// Reads a JSON answer, refusing non-200 answers and bodies over the size limit.
pub async fn read_json<T: DeserializeOwned>(mut response: reqwest::Response, url: &str) -> Result<T, String> {
    {
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("{url} answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("{url} sent more than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not the expected JSON: {e}"))
    }
}

/// The keys of the set this server can use: EC P-256 for ES256, with a `kid`. Others are skipped,
/// not errors, so one exotic key does not take the whole set down.
fn usable_keys(jwks: &JwkSet) -> HashMap<String, Arc<DecodingKey>> {
    jwks.keys
        .iter()
        .filter(|k| k.kty == "EC" && k.crv.as_deref() == Some("P-256"))
        .filter(|k| k.alg.as_deref().is_none_or(|alg| alg == ES256))
        .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let key = DecodingKey::from_ec_components(k.x.as_deref()?, k.y.as_deref()?).ok()?;
            Some((k.kid.clone()?, Arc::new(key)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::jwt::Jwk;

    fn jwk(kid: Option<&str>, kty: &str, alg: Option<&str>) -> Jwk {
        Jwk {
            kty: kty.into(),
            kid: kid.map(Into::into),
            use_: Some("sig".into()),
            alg: alg.map(Into::into),
            crv: Some("P-256".into()),
            x: Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into()),
            y: Some("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0".into()),
        }
    }

    #[test]
    fn keeps_only_p256_signing_keys_with_a_kid() {
        let set = JwkSet {
            keys: vec![
                jwk(Some("good"), "EC", Some("ES256")),
                jwk(Some("no-alg"), "EC", None),
                jwk(None, "EC", Some("ES256")),
                jwk(Some("rsa"), "RSA", Some("RS256")),
                jwk(Some("wrong-alg"), "EC", Some("ES384")),
            ],
        };
        let keys = usable_keys(&set);
        let mut kids: Vec<_> = keys.keys().map(String::as_str).collect();
        kids.sort();
        assert_eq!(kids, ["good", "no-alg"]);
    }
}
