//! What every handler may need, built once at startup.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::{IntrospectionCredential, ResourceServer};
use crate::store::Store;
use crate::tokens::KeyRing;

/// Shared state of the authorization server. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<RuntimeConfig>,
    pub store: Store,
    pub keys: Arc<KeyRing>,
    pub clock: Arc<dyn Clock>,
}

/// Settings resolved against the bound address.
#[derive(Debug)]
pub struct RuntimeConfig {
    /// Exactly the string in `iss` and in the metadata's `issuer`.
    pub issuer: String,
    pub resources: Vec<ResourceServer>,
    pub access_token_ttl: Duration,
    pub authorization_code_ttl: Duration,
    pub refresh_token_idle_ttl: Duration,
    pub grant_ttl: Duration,
    pub login_session_ttl: Duration,
    pub introspection_credentials: Vec<IntrospectionCredential>,
    pub client_metadata: crate::cimd::FetchPolicy,
    /// Set the `Secure` cookie attribute (and the `__Host-` prefix): true when the issuer is https.
    pub secure_cookies: bool,
    /// An argon2id hash of a random password, verified against when a username does not exist, so
    /// that "no such user" takes as long as "wrong password".
    pub dummy_password_hash: String,
}

impl RuntimeConfig {
    /// An endpoint URL under the issuer.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }

    pub fn resource(&self, resource: &str) -> Option<&ResourceServer> {
        self.resources.iter().find(|r| r.resource == resource)
    }
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// Seconds as the `i64` timestamps are kept in, saturating rather than wrapping.
pub fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}
