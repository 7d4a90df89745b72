//! A stand-in authorization server: metadata and a JWKS for a key the test holds, on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use protocol::jwt::{AccessTokenClaims, Actor, Audience, Jwk, JwkSet};
use serde_json::json;
use tokio::sync::oneshot;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An authorization server as a resource server sees it: `/.well-known/oauth-authorization-server`
/// and `/jwks.json`, and a private key to sign tokens with.
pub struct TestIssuer {
    /// The issuer identifier (`http://127.0.0.1:<port>`).
    pub issuer: String,
    pub kid: String,
    /// The public key, uncompressed SEC1.
    pub public_key_sec1: Vec<u8>,
    key: EncodingKey,
    /// How many times the JWKS was fetched.
    pub jwks_fetches: Arc<AtomicUsize>,
    /// How many times the RFC 8414 metadata was fetched.
    pub metadata_fetches: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
}

impl TestIssuer {
    /// Starts serving on a free loopback port. Must run inside a Tokio runtime.
    pub async fn start() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("randomness");
        let secret = p256::SecretKey::from_slice(&bytes).expect("32 random bytes are a P-256 key");
        let point = secret.public_key().to_encoded_point(false);
        let kid = "test-key-1".to_owned();
        let jwk = Jwk {
            kty: "EC".into(),
            kid: Some(kid.clone()),
            use_: Some("sig".into()),
            alg: Some("ES256".into()),
            crv: Some("P-256".into()),
            x: point.x().map(|x| b64(x)),
            y: point.y().map(|y| b64(y)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let issuer = format!("http://{}", listener.local_addr().expect("bound"));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let metadata = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks.json"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        });
        let jwks = JwkSet { keys: vec![jwk] };
        let counter = jwks_fetches.clone();
        let metadata_fetches = Arc::new(AtomicUsize::new(0));
        let metadata_counter = metadata_fetches.clone();
        let app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || {
                    metadata_counter.fetch_add(1, Ordering::SeqCst);
                    let metadata = metadata.clone();
                    async move { axum::Json(metadata) }
                }),
            )
            .route(
                "/jwks.json",
                get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let jwks = jwks.clone();
                    async move { axum::Json(jwks) }
                }),
            );
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        let der = secret.to_pkcs8_der().expect("a P-256 key encodes");
        Self {
            issuer,
            kid,
            public_key_sec1: point.as_bytes().to_vec(),
            key: EncodingKey::from_ec_der(der.as_bytes()),
            jwks_fetches,
            metadata_fetches,
            stop: Some(stop),
        }
    }

    /// Takes the issuer offline (its listener closes).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Claims a valid token for `resource` would carry: user `user-1`, client `client-1`, five
    /// minutes of life.
    pub fn claims(&self, resource: &str, scope: &str) -> AccessTokenClaims {
        let now = now();
        AccessTokenClaims {
            iss: self.issuer.clone(),
            aud: Audience::One(resource.to_owned()),
            sub: "user-1".into(),
            client_id: "client-1".into(),
            iat: now,
            exp: now + 300,
            nbf: None,
            jti: "jti-1".into(),
            scope: Some(scope.to_owned()),
            auth_time: None,
            act: None,
            groups: None,
            authorization_details: None,
            client_registration: None,
        }
    }

    /// The standard header: ES256, typ at+jwt, this issuer's kid.
    pub fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        header
    }

    pub fn sign(&self, header: &Header, claims: &AccessTokenClaims) -> String {
        jsonwebtoken::encode(header, claims, &self.key).expect("signing works")
    }

    /// A valid token for `resource` with `scope`.
    pub fn token(&self, resource: &str, scope: &str) -> String {
        self.sign(&self.header(), &self.claims(resource, scope))
    }

    /// A valid token for `resource` used by `actors` for the user, current actor first (what a
    /// token exchange, RFC 8693, issues to a gateway).
    pub fn exchanged_token(&self, resource: &str, scope: &str, actors: &[&str]) -> String {
        let act = actors.iter().rev().fold(None, |prior: Option<Actor>, sub| {
            Some(Actor {
                sub: (*sub).to_owned(),
                client_id: Some((*sub).to_owned()),
                iss: None,
                act: prior.map(Box::new),
            })
        });
        self.sign(&self.header(), &AccessTokenClaims { act, ..self.claims(resource, scope) })
    }

    /// `count` distinct valid tokens for `resource` (distinct `jti`), valid for an hour, signed
    /// on every core: for a benchmark that needs one per request.
    pub fn mint_many(&self, resource: &str, scope: &str, count: usize) -> Vec<String> {
        let header = self.header();
        let template = AccessTokenClaims { exp: now() + 3600, ..self.claims(resource, scope) };
        let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        let per_thread = count.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (header, template) = (&header, &template);
                    scope.spawn(move || {
                        (t * per_thread..((t + 1) * per_thread).min(count))
                            .map(|i| {
                                let claims =
                                    AccessTokenClaims { jti: format!("mint-{i}"), ..template.clone() };
                                self.sign(header, &claims)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("minting thread")).collect()
        })
    }
}

/// The same tokens with one signature character changed: well formed, known key, bad signature.
pub fn corrupt(tokens: &[String]) -> Vec<String> {
    tokens
        .iter()
        .map(|token| {
            let mut bytes = token.clone().into_bytes();
            // Change a character in the middle of the signature (the last one can be padding bits).
            let index = bytes.len() - 20;
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).expect("still ASCII")
        })
        .collect()
}
