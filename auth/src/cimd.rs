//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP authorization
//! 2025-11-25): a client whose `client_id` is an https URL publishes its metadata there, and the
//! authorization server fetches it instead of requiring registration.
//!
//! Fetching a URL a stranger chose is a server-side request forgery risk, so the fetch is fenced:
//! https only; the host is resolved once and every address checked (no private, loopback,
//! link-local, unique-local, multicast or otherwise special ranges), and the connection goes to
//! that checked address, so DNS cannot change the answer between check and use; never through a
//! proxy (which would resolve the name itself); no redirects; one short deadline for resolving,
//! connecting and reading; a small size limit. Loopback `http` client ids exist only behind an
//! explicit development switch.
//!
//! Fetched clients are stored like others (codes and grants refer to them) and refreshed when the
//! document's freshness (`Cache-Control: max-age`, bounded) runs out. The checks of the URL and of
//! the document itself are pure and live in `protocol::cimd`; this module fetches and caches.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use protocol::cimd::{DocumentError, check_client_id_url, validate_document};
use protocol::registration::ClientIdMetadataDocument;
use protocol::resource::is_loopback;
use url::Url;

use crate::state::AppState;
use crate::store::{Client, ExchangeTargets, Registration, StoreError};

/// How the AS treats metadata document URLs.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Development only: accept `http://localhost…` client ids and fetch from loopback.
    pub allow_loopback: bool,
    /// For the whole fetch: resolving the host, connecting, and reading the document.
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self { allow_loopback: false, timeout: Duration::from_secs(5), max_bytes: 16 * 1024 }
    }
}

/// Freshness bounds for a fetched document.
const MIN_FRESH_SECS: i64 = 60;
const MAX_FRESH_SECS: i64 = 24 * 3600;
const DEFAULT_FRESH_SECS: i64 = 300;

/// Why a metadata document client id cannot be used. Shown on the error page: it is the client
/// developer who needs to read it.
#[derive(Debug, thiserror::Error)]
pub enum CimdError {
    #[error("the client id is not an acceptable metadata document URL: {0}")]
    BadUrl(String),
    #[error("the client id's host is not allowed (it resolves to {0}, a private or special address)")]
    ForbiddenAddress(IpAddr),
    #[error("the client metadata document could not be fetched: {0}")]
    Fetch(String),
    #[error("the client metadata document is not valid: {0}")]
    Invalid(String),
    /// A failure of a moment ago ([`FAILURE_MEMORY`]), by its message: not tried again yet.
    #[error("{0} (a moment ago; not retried yet)")]
    Remembered(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pure checks (`protocol::cimd`) report the same two kinds of failure.
impl From<DocumentError> for CimdError {
    fn from(error: DocumentError) -> Self {
        match error {
            DocumentError::BadUrl(why) => CimdError::BadUrl(why),
            DocumentError::Invalid(why) => CimdError::Invalid(why),
        }
    }
}

/// Addresses a metadata fetch must never reach.
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_address(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (v6.segments()[0] == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6.segments()[0] == 0x0064 && v6.segments()[1] == 0xff9b // NAT64, maps to IPv4
        }
    }
}

/// Resolves the host and returns one address every check passed for.
async fn resolve(url: &Url, policy: &FetchPolicy) -> Result<SocketAddr, CimdError> {
    let host = url.host_str().ok_or_else(|| CimdError::BadUrl("no host".into()))?;
    let port = url.port_or_known_default().ok_or_else(|| CimdError::BadUrl("no port".into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| CimdError::Fetch(format!("cannot resolve the host: {e}")))?
        .collect();
    let loopback_ok = policy.allow_loopback && is_loopback(url);
    for address in &addresses {
        let ip = address.ip();
        if is_forbidden_address(ip) && !(loopback_ok && ip.is_loopback()) {
            return Err(CimdError::ForbiddenAddress(ip));
        }
    }
    addresses.first().copied().ok_or_else(|| CimdError::Fetch("the host has no address".into()))
}

/// Fetches the document at `url`, returning it and its freshness in seconds, within
/// `policy.timeout` in all: resolving the host, connecting and reading share one deadline.
async fn fetch(url: &Url, policy: &FetchPolicy) -> Result<(ClientIdMetadataDocument, i64), CimdError> {
    tokio::time::timeout(policy.timeout, fetch_unbounded(url, policy)).await.map_err(|_| {
        CimdError::Fetch(format!("the fetch timed out ({} s in all)", policy.timeout.as_secs()))
    })?
}

/// [`fetch`] without its deadline.
async fn fetch_unbounded(
    url: &Url,
    policy: &FetchPolicy,
) -> Result<(ClientIdMetadataDocument, i64), CimdError> {
    let address = resolve(url, policy).await?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Connect to the address that was checked, whatever DNS says next.
        .resolve(&host, address)
        // Never through a proxy from the environment (`HTTP_PROXY`, …): a proxy would resolve the
        // host itself, and the checked address would not be the one connected to.
        .no_proxy()
        .build()
        .map_err(|e| CimdError::Fetch(e.to_string()))?;
    let mut response = http
        .get(url.as_str())
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| CimdError::Fetch(e.to_string()))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(CimdError::Fetch(format!("the URL answered {}", response.status())));
    }
    let freshness = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age)
        .unwrap_or(DEFAULT_FRESH_SECS)
        .clamp(MIN_FRESH_SECS, MAX_FRESH_SECS);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| CimdError::Fetch(e.to_string()))? {
        if body.len() + chunk.len() > policy.max_bytes {
            return Err(CimdError::Invalid(format!(
                "the document is larger than {} bytes",
                policy.max_bytes
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let document: ClientIdMetadataDocument = serde_json::from_slice(&body)
        .map_err(|e| CimdError::Invalid(format!("not client metadata JSON: {e}")))?;
    Ok((document, freshness))
}

/// `max-age` of a `Cache-Control` value (`no-store`/`no-cache` count as zero).
fn max_age(value: &str) -> Option<i64> {
    value.split(',').map(str::trim).find_map(|directive| {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache") {
            return Some(0);
        }
        directive.strip_prefix("max-age=").and_then(|v| v.trim_matches('"').parse().ok())
    })
}

/// The client for a metadata document client id: the stored copy while fresh, else fetched,
/// validated and stored.
pub async fn resolve_client(state: &AppState, client_id: &str) -> Result<Client, CimdError> {
    let policy = &state.config.settings.client_metadata;
    let url = check_client_id_url(client_id, policy.allow_loopback)?;
    if let Some(client) = fresh_client(state, client_id).await? {
        return Ok(client);
    }
    // One fetch per URL at a time: requests naming the same client id wait for the first one's
    // outcome instead of each opening a connection to a host that may be slow or hanging.
    let key = client_id.to_owned();
    let turn = state.metadata_fetches.turns.join(&key);
    let _turn = turn.wait().await;
    if let Some(client) = fresh_client(state, client_id).await? {
        return Ok(client);
    }
    if let Some(why) = state.metadata_fetches.recent_failure(client_id) {
        return Err(CimdError::Remembered(why));
    }
    let now = state.now();
    let fetched = async {
        let (document, freshness) = fetch(&url, policy).await?;
        Ok::<_, CimdError>((validate_document(client_id, document)?, freshness))
    };
    let (metadata, freshness) = match fetched.await {
        Ok(fetched) => fetched,
        // Every failure of the URL's host or document is remembered, not only failed fetches: the
        // requests waiting for this turn, and those of the next moment, get it without fetching
        // again (a document that is too large, not JSON or for another client id fails the same
        // way each time). Only a failure of our own store is not the document's doing.
        Err(e @ CimdError::Store(_)) => return Err(e),
        Err(e) => {
            state.metadata_fetches.failed(client_id, &e.to_string());
            return Err(e);
        }
    };
    let client = Client {
        client_id: client_id.to_owned(),
        client_name: metadata.client_name.clone(),
        redirect_uris: metadata.redirect_uris.clone(),
        registration: Registration::MetadataDocument,
        metadata,
        secret_hash: None,
        acts_for: Vec::new(),
        exchange_to: ExchangeTargets::none(),
    };
    state.store.upsert_fetched_client(&client, now + freshness, now).await?;
    tracing::info!(%client_id, freshness, "fetched a client metadata document");
    Ok(client)
}

/// The stored client for a metadata document that is still fresh.
async fn fresh_client(state: &AppState, client_id: &str) -> Result<Option<Client>, CimdError> {
    match state.store.client_metadata_expiry(client_id).await? {
        Some(expires_at) if expires_at > state.now() => Ok(state.store.find_client(client_id).await?),
        _ => Ok(None),
    }
}

/// How long a failure (of the fetch or of the document) is remembered: requests in that window
/// fail at once with the same error rather than trying again.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(10);
/// Most failures remembered at once; beyond that a new one is not, until older ones expire.
const MAX_REMEMBERED: usize = 10_000;

/// Metadata document fetches in progress, one turn per URL, and recent failures. In memory: a
/// restart forgets them, which costs one fetch.
#[derive(Default)]
pub struct Fetches {
    turns: serve::turns::Turns<String>,
    failures: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, String)>>,
}

impl Fetches {
    fn recent_failure(&self, client_id: &str) -> Option<String> {
        let failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.get(client_id).filter(|(at, _)| at.elapsed() < FAILURE_MEMORY).map(|(_, why)| why.clone())
    }

    fn failed(&self, client_id: &str, why: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.retain(|_, (at, _)| at.elapsed() < FAILURE_MEMORY);
        if failures.len() < MAX_REMEMBERED {
            failures.insert(client_id.to_owned(), (std::time::Instant::now(), why.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_special_addresses_are_forbidden() {
        for ip in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.0.8",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_forbidden_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_forbidden_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn freshness_comes_from_cache_control() {
        assert_eq!(max_age("public, max-age=600"), Some(600));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
    }
}
