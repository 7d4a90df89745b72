//! What every handler may need, built once at startup.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::Settings;
use crate::keyring::KeyRing;
use crate::store::Store;

/// Shared state of the authorization server. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<RuntimeConfig>,
    pub store: Store,
    pub keys: Arc<KeyRing>,
    /// Seals authorization codes and opens them again; its secret is in the store, the same for
    /// every replica.
    pub code_seal: Arc<crate::sealed_code::CodeSeal>,
    pub clock: Arc<dyn Clock>,
    /// Client metadata document fetches in progress and recently failed (one fetch per URL at a
    /// time).
    pub metadata_fetches: Arc<crate::cimd::Fetches>,
    /// The public keys of `private_key_jwt` clients fetched from their `jwks_uri`.
    pub client_keys: Arc<crate::client_auth::ClientKeys>,
    /// Sign-in attempts whose password is being checked, counted by the login throttle.
    pub sign_ins: Arc<crate::throttle::InFlight>,
    /// Slots for password verifications ([`crate::login::verification_slots`]).
    pub password_checks: Arc<tokio::sync::Semaphore>,
}

/// The settings, plus what is resolved at startup.
#[derive(Debug)]
pub struct RuntimeConfig {
    /// Exactly the string in `iss` and in the metadata's `issuer` (`settings.issuer`, or derived
    /// from the bound address).
    pub issuer: String,
    /// Set the `Secure` cookie attribute (and the `__Host-` prefix): true when the issuer is https.
    pub secure_cookies: bool,
    /// An argon2id hash of a random password, verified against when a username does not exist, so
    /// that "no such user" takes as long as "wrong password".
    pub dummy_password_hash: String,
    pub settings: Settings,
}

impl RuntimeConfig {
    /// An endpoint URL under the issuer.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }

    /// The configured resource with this identifier.
    pub fn resource(&self, resource: &str) -> Option<&crate::config::ResourceServer> {
        self.settings.resources.iter().find(|r| r.resource == resource)
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
