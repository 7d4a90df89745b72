//! The signing keys, as a ring: ES256 keys that live in the store, are published as a JWKS, sign
//! RFC 9068 access tokens, and rotate.
//!
//! Rotation (`mcp-auth keys rotate`, or [`rotate`]) adds a key that is published at once but signs
//! only from its `activates_at`, so that resource servers can fetch it before they see a token
//! signed with it; the keys it replaces stay published until `retires_at`, when every token they
//! signed has expired. A running server rereads the keys every [`RELOAD_INTERVAL`], so a rotation
//! done from the command line takes effect without a restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use protocol::base64url;
use protocol::jwt::{ACCESS_TOKEN_TYP, AccessTokenClaims, ES256, Jwk, JwkSet};
use protocol::secret::AccessToken;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, StoredKey};

/// How often a running server rereads its keys from the store.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid} is unusable: {reason}")]
    BadKey { kid: String, reason: String },
    #[error("no signing key is active")]
    NoActiveKey,
    #[error("could not sign a token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

struct Entry {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
    activates_at: i64,
    retires_at: Option<i64>,
}

impl Entry {
    fn published(&self, now: i64) -> bool {
        published(self.retires_at, now)
    }

    fn signs(&self, now: i64) -> bool {
        may_sign(self.activates_at, self.retires_at, now)
    }
}

/// In the JWKS: from creation until `retires_at`.
fn published(retires_at: Option<i64>, now: i64) -> bool {
    retires_at.is_none_or(|at| at > now)
}

/// Activated and still published. Of several such keys only the newest signs (the ring is kept
/// newest activation first, and signing takes the first that may).
fn may_sign(activates_at: i64, retires_at: Option<i64>, now: i64) -> bool {
    activates_at <= now && published(retires_at, now)
}

/// Where a signing key stands at some moment: what `mcp-auth keys list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// The key new access tokens are signed with.
    Signing,
    /// Published, so resource servers can fetch it, but not signing before `activates_at`.
    SignsLater,
    /// Replaced by a newer key; published until `retires_at`, when its last tokens have expired.
    Retiring,
    /// Published and unscheduled, yet a newer key signs (not produced by rotation, which
    /// schedules every key it replaces).
    Published,
    /// Past `retires_at`: out of the JWKS, its tokens expired.
    Retired,
}

impl std::fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyStatus::Signing => "signing",
            KeyStatus::SignsLater => "published, signs later",
            KeyStatus::Retiring => "published until its tokens expire",
            KeyStatus::Published => "published",
            KeyStatus::Retired => "retired",
        })
    }
}

impl StoredKey {
    /// This key's status at `now`. Whether it is *the* signing key depends on the other keys, so
    /// `ring` is every key as [`Store::signing_keys`] lists them (newest activation first): the
    /// first that may sign is the one [`KeyRing::sign`] uses.
    pub fn status(&self, now: i64, ring: &[StoredKey]) -> KeyStatus {
        if !published(self.retires_at, now) {
            return KeyStatus::Retired;
        }
        let signer = ring.iter().find(|key| may_sign(key.activates_at, key.retires_at, now));
        if signer.is_some_and(|signer| signer.kid == self.kid) {
            KeyStatus::Signing
        } else if self.activates_at > now {
            KeyStatus::SignsLater
        } else if self.retires_at.is_some() {
            KeyStatus::Retiring
        } else {
            KeyStatus::Published
        }
    }
}

/// The keys, newest activation first.
struct Ring {
    entries: Vec<Entry>,
    by_kid: HashMap<String, usize>,
}

impl Ring {
    fn from_stored(keys: &[StoredKey]) -> Result<Self, SignerError> {
        let entries = keys.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
        let by_kid = entries.iter().enumerate().map(|(i, e)| (e.kid.clone(), i)).collect();
        Ok(Self { entries, by_kid })
    }
}

fn entry(key: &StoredKey) -> Result<Entry, SignerError> {
    let bad = |reason: String| SignerError::BadKey { kid: key.kid.clone(), reason };
    if key.algorithm != ES256 {
        return Err(bad(format!("unsupported algorithm {}", key.algorithm)));
    }
    let jwk: Jwk = serde_json::from_str(&key.public_jwk).map_err(|e| bad(e.to_string()))?;
    let (Some(x), Some(y)) = (jwk.x.as_deref(), jwk.y.as_deref()) else {
        return Err(bad("public JWK without coordinates".into()));
    };
    let decoding = DecodingKey::from_ec_components(x, y).map_err(|e| bad(e.to_string()))?;
    Ok(Entry {
        kid: key.kid.clone(),
        encoding: EncodingKey::from_ec_der(&key.private_key_der),
        decoding,
        jwk,
        activates_at: key.activates_at,
        retires_at: key.retires_at,
    })
}

/// The signing keys of a running server.
pub struct KeyRing {
    store: Store,
    ring: RwLock<Arc<Ring>>,
}

impl KeyRing {
    /// Loads the keys, generating and storing the first one on a fresh database.
    pub async fn load_or_create(store: &Store, now: i64) -> Result<Self, SignerError> {
        if store.signing_keys().await?.is_empty() {
            let key = generate_es256_key(now, now)?;
            // Another server starting on the same fresh database may have stored one first.
            if store.insert_first_signing_key(&key).await? {
                tracing::info!(kid = %key.kid, "generated a new ES256 signing key");
            }
        }
        let ring = Ring::from_stored(&store.signing_keys().await?)?;
        Ok(Self { store: store.clone(), ring: RwLock::new(Arc::new(ring)) })
    }

    /// Rereads the keys from the store (after a rotation by another process).
    pub async fn reload(&self) -> Result<(), SignerError> {
        let ring = Ring::from_stored(&self.store.signing_keys().await?)?;
        *self.ring.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(ring);
        Ok(())
    }

    fn current(&self) -> Arc<Ring> {
        self.ring.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The published public keys, for `jwks_uri`.
    pub fn jwks(&self, now: i64) -> JwkSet {
        JwkSet {
            keys: self.current().entries.iter().filter(|e| e.published(now)).map(|e| e.jwk.clone()).collect(),
        }
    }

    /// Signs `claims` as an `at+jwt` with the newest active key.
    pub fn sign(&self, claims: &AccessTokenClaims, now: i64) -> Result<AccessToken, SignerError> {
        let ring = self.current();
        let key = ring.entries.iter().find(|e| e.signs(now)).ok_or(SignerError::NoActiveKey)?;
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(key.kid.clone());
        Ok(AccessToken::new(jsonwebtoken::encode(&header, claims, &key.encoding)?))
    }

    /// The claims of an access token signed by one of our keys, whatever its expiry (callers
    /// decide what expiry means for them); `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<AccessTokenClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return None;
        }
        let ring = self.current();
        let key = &ring.entries[*ring.by_kid.get(header.kid.as_deref()?)?];
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<AccessTokenClaims>(token, &key.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// Rotates: a new key, published now and signing from `now + publish_delay`; the current keys
/// retire `keep_old_for` after that (at least the access token lifetime, so every token they
/// signed expires first).
pub async fn rotate(
    store: &Store,
    now: i64,
    publish_delay: Duration,
    keep_old_for: Duration,
) -> Result<StoredKey, SignerError> {
    let activates_at = now + i64::try_from(publish_delay.as_secs()).unwrap_or(0);
    let key = generate_es256_key(now, activates_at)?;
    let retire_at = activates_at + i64::try_from(keep_old_for.as_secs()).unwrap_or(0);
    store.rotate_signing_key(&key, retire_at).await?;
    Ok(key)
}

/// A fresh P-256 key: PKCS#8 for signing, a public JWK whose `kid` is its RFC 7638 thumbprint.
fn generate_es256_key(now: i64, activates_at: i64) -> Result<StoredKey, SignerError> {
    let secret = loop {
        let bytes: [u8; 32] = crate::random::bytes();
        // Fails only for the zero scalar or one above the group order: about 2^-128; draw again.
        if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
            break secret;
        }
    };
    let bad = |reason: String| SignerError::BadKey { kid: "new".into(), reason };
    let der = secret.to_pkcs8_der().map_err(|e| bad(e.to_string()))?;
    let point = secret.public_key().to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(bad("public key has no affine coordinates".into()));
    };
    let (x, y) = (base64url(x), base64url(y));
    let kid = jwk_thumbprint(&x, &y);
    let jwk = Jwk {
        kty: "EC".into(),
        kid: Some(kid.clone()),
        use_: Some("sig".into()),
        alg: Some(ES256.into()),
        crv: Some("P-256".into()),
        x: Some(x),
        y: Some(y),
    };
    Ok(StoredKey {
        kid,
        algorithm: ES256.into(),
        private_key_der: der.as_bytes().to_vec(),
        public_jwk: serde_json::to_string(&jwk).map_err(|e| bad(e.to_string()))?,
        created_at: now,
        activates_at,
        retires_at: None,
    })
}

/// RFC 7638 §3.2: SHA-256 over the required members in lexicographic order, no whitespace.
fn jwk_thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    base64url(&Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::TestDatabase;
    use protocol::jwt::Audience;

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "http://localhost:9000".into(),
            aud: Audience::One("http://localhost:9090".into()),
            sub: "user-1".into(),
            client_id: "client-1".into(),
            iat: 1_700_000_000,
            exp: 4_000_000_000,
            nbf: None,
            jti: "j".into(),
            scope: Some("echo".into()),
            auth_time: None,
            act: None,
            groups: None,
            authorization_details: None,
            client_registration: None,
        }
    }

    async fn ring(now: i64) -> (TestDatabase, KeyRing) {
        let database = TestDatabase::fresh().await;
        let ring = KeyRing::load_or_create(&database, now).await.unwrap();
        (database, ring)
    }

    #[tokio::test]
    async fn signed_token_verifies_with_the_published_jwk_and_carries_typ_and_kid() {
        let (_database, ring) = ring(100).await;
        let token = ring.sign(&claims(), 100).unwrap();
        let header = jsonwebtoken::decode_header(token.secret()).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwks = ring.jwks(100);
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("signing key is published");
        let decoding =
            DecodingKey::from_ec_components(jwk.x.as_deref().unwrap(), jwk.y.as_deref().unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["http://localhost:9090"]);
        let decoded =
            jsonwebtoken::decode::<AccessTokenClaims>(token.secret(), &decoding, &validation).unwrap();
        assert_eq!(decoded.claims, claims());
        assert!(serde_json::to_string(&jwks).unwrap().find("\"d\"").is_none(), "no private key member");
    }

    #[tokio::test]
    async fn verify_accepts_only_its_own_access_tokens() {
        let (_mine, mine) = ring(100).await;
        let (_other, other) = ring(100).await;
        let token = mine.sign(&claims(), 100).unwrap();
        assert_eq!(mine.verify(token.secret()), Some(claims()));
        assert_eq!(other.verify(token.secret()), None);
        assert_eq!(mine.verify("not.a.jwt"), None);
    }

    #[tokio::test]
    async fn rotation_publishes_first_signs_later_and_retires_the_old_key_after_its_tokens() {
        let (store, ring) = ring(1000).await;
        let old_kid = ring.jwks(1000).keys[0].kid.clone().unwrap();
        let new = rotate(&store, 1000, Duration::from_secs(60), Duration::from_secs(300)).await.unwrap();
        ring.reload().await.unwrap();

        let kid_at = |now| {
            let token = ring.sign(&claims(), now).unwrap();
            jsonwebtoken::decode_header(token.secret()).unwrap().kid.unwrap()
        };
        let published = |now| ring.jwks(now).keys.into_iter().filter_map(|k| k.kid).collect::<Vec<_>>();

        // Published at once, signing only after the delay.
        assert!(published(1000).contains(&new.kid) && published(1000).contains(&old_kid));
        assert_eq!(kid_at(1059), old_kid);
        assert_eq!(kid_at(1060), new.kid);
        // The old key stays until its last token has expired, then leaves the JWKS.
        assert!(published(1359).contains(&old_kid));
        assert_eq!(published(1360), vec![new.kid.clone()]);
    }

    #[tokio::test]
    async fn key_status_follows_a_rotation_from_publication_to_retirement() {
        let (store, _) = ring(1000).await;
        let new = rotate(&store, 1000, Duration::from_secs(60), Duration::from_secs(300)).await.unwrap();
        let keys = store.signing_keys().await.unwrap();
        let old = keys.iter().find(|k| k.kid != new.kid).unwrap();
        let new = keys.iter().find(|k| k.kid == new.kid).unwrap();
        let status = |key: &StoredKey, now| key.status(now, &keys);

        // Published at once; the old key keeps signing until the new one activates.
        assert_eq!((status(new, 1000), status(old, 1000)), (KeyStatus::SignsLater, KeyStatus::Signing));
        assert_eq!((status(new, 1060), status(old, 1060)), (KeyStatus::Signing, KeyStatus::Retiring));
        assert_eq!((status(new, 1360), status(old, 1360)), (KeyStatus::Signing, KeyStatus::Retired));
        // What the list prints.
        assert_eq!(KeyStatus::Retiring.to_string(), "published until its tokens expire");
        assert_eq!(KeyStatus::SignsLater.to_string(), "published, signs later");
    }

    #[test]
    fn an_unscheduled_key_that_a_newer_one_outranks_is_only_published() {
        let key = |kid: &str, activates_at| StoredKey {
            kid: kid.into(),
            algorithm: ES256.into(),
            private_key_der: Vec::new(),
            public_jwk: String::new(),
            created_at: 0,
            activates_at,
            retires_at: None,
        };
        let keys = [key("newer", 20), key("older", 10)];
        assert_eq!(keys[0].status(30, &keys), KeyStatus::Signing);
        assert_eq!(keys[1].status(30, &keys), KeyStatus::Published);
        assert_eq!(keys[1].status(15, &keys), KeyStatus::Signing, "until the newer one activates");
    }

    #[test]
    fn thumbprint_matches_rfc_7638_construction() {
        assert_eq!(jwk_thumbprint("a", "b"), jwk_thumbprint("a", "b"));
        assert_ne!(jwk_thumbprint("a", "b"), jwk_thumbprint("a", "c"));
        assert_eq!(jwk_thumbprint("a", "b").len(), 43);
    }
}
