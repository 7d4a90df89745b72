//! Minting RFC 9068 JWT access tokens with an ES256 key that lives in the store.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use protocol::base64url;
use protocol::jwt::{ACCESS_TOKEN_TYP, AccessTokenClaims, ES256, Jwk, JwkSet};
use protocol::secret::AccessToken;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, StoredKey};

/// Signs access tokens with the newest stored key and publishes every stored public key.
pub struct TokenSigner {
    kid: String,
    key: EncodingKey,
    jwks: JwkSet,
    /// Every published key, by `kid`: introspection and revocation check our own signatures.
    verifiers: HashMap<String, DecodingKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored signing key {kid} is unusable: {reason}")]
    BadKey { kid: String, reason: String },
    #[error("could not sign a token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

impl TokenSigner {
    /// Loads the signing keys, generating and storing the first one on a fresh database.
    pub async fn load_or_create(store: &Store, now: i64) -> Result<Self, SignerError> {
        let mut keys = store.signing_keys().await?;
        if keys.is_empty() {
            let key = generate_es256_key()?;
            store.insert_signing_key(&key, now).await?;
            tracing::info!(kid = %key.kid, "generated a new ES256 signing key");
            keys = store.signing_keys().await?;
        }
        Self::from_keys(&keys)
    }

    fn from_keys(keys: &[StoredKey]) -> Result<Self, SignerError> {
        let newest = keys.first().ok_or_else(|| SignerError::BadKey {
            kid: "-".into(),
            reason: "no signing key in the store".into(),
        })?;
        let jwks = keys
            .iter()
            .map(|k| {
                serde_json::from_str::<Jwk>(&k.public_jwk)
                    .map_err(|e| SignerError::BadKey { kid: k.kid.clone(), reason: e.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if newest.algorithm != ES256 {
            return Err(SignerError::BadKey {
                kid: newest.kid.clone(),
                reason: format!("unsupported algorithm {}", newest.algorithm),
            });
        }
        let verifiers = jwks
            .iter()
            .filter_map(|jwk| {
                let key = DecodingKey::from_ec_components(jwk.x.as_deref()?, jwk.y.as_deref()?).ok()?;
                Some((jwk.kid.clone()?, key))
            })
            .collect();
        Ok(Self {
            kid: newest.kid.clone(),
            key: EncodingKey::from_ec_der(&newest.private_key_der),
            jwks: JwkSet { keys: jwks },
            verifiers,
        })
    }

    /// The public keys, for `jwks_uri`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Signs `claims` as an `at+jwt` with the current key.
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<AccessToken, SignerError> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(self.kid.clone());
        Ok(AccessToken::new(jsonwebtoken::encode(&header, claims, &self.key)?))
    }
}

impl TokenSigner {
    /// The claims of an access token this server signed, whatever its expiry (callers decide what
    /// expiry means for them); `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<AccessTokenClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return None;
        }
        let key = self.verifiers.get(header.kid.as_deref()?)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<AccessTokenClaims>(token, key, &validation).ok().map(|data| data.claims)
    }
}

/// A fresh P-256 key: PKCS#8 for signing, a public JWK whose `kid` is its RFC 7638 thumbprint.
fn generate_es256_key() -> Result<StoredKey, SignerError> {
    let secret = loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
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
    use jsonwebtoken::{DecodingKey, Validation};
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
        }
    }

    #[test]
    fn signed_token_verifies_with_the_published_jwk_and_carries_typ_and_kid() {
        let key = generate_es256_key().unwrap();
        let signer = TokenSigner::from_keys(std::slice::from_ref(&key)).unwrap();
        let token = signer.sign(&claims()).unwrap();

        let header = jsonwebtoken::decode_header(token.secret()).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));

        let jwk = &signer.jwks().keys[0];
        let decoding =
            DecodingKey::from_ec_components(jwk.x.as_deref().unwrap(), jwk.y.as_deref().unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["http://localhost:9090"]);
        let decoded =
            jsonwebtoken::decode::<AccessTokenClaims>(token.secret(), &decoding, &validation).unwrap();
        assert_eq!(decoded.claims, claims());
    }

    #[test]
    fn verify_accepts_only_its_own_access_tokens() {
        let signer = TokenSigner::from_keys(&[generate_es256_key().unwrap()]).unwrap();
        let other = TokenSigner::from_keys(&[generate_es256_key().unwrap()]).unwrap();
        let token = signer.sign(&claims()).unwrap();
        assert_eq!(signer.verify(token.secret()), Some(claims()));
        assert_eq!(other.verify(token.secret()), None);
        assert_eq!(signer.verify("not.a.jwt"), None);
    }

    #[test]
    fn published_keys_have_no_private_part() {
        let key = generate_es256_key().unwrap();
        let signer = TokenSigner::from_keys(&[key]).unwrap();
        let json = serde_json::to_value(signer.jwks()).unwrap();
        assert!(json["keys"][0].get("d").is_none());
        assert_eq!(json["keys"][0]["kty"], "EC");
        assert!(json["keys"][0]["kid"].is_string());
    }

    #[test]
    fn thumbprint_matches_rfc_7638_construction() {
        // Same input, same kid; a different key, a different kid.
        assert_eq!(jwk_thumbprint("a", "b"), jwk_thumbprint("a", "b"));
        assert_ne!(jwk_thumbprint("a", "b"), jwk_thumbprint("a", "c"));
        assert_eq!(jwk_thumbprint("a", "b").len(), 43);
    }
}
