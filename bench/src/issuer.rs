//! A stand-in authorization server for the benchmark: metadata and a JWKS on loopback, and a key
//! to mint as many tokens as the rows need, before timing starts.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use protocol::jwt::{AccessTokenClaims, Audience, Jwk, JwkSet};
use serde_json::json;

const KID: &str = "bench-key";

pub struct Issuer {
    pub url: String,
    key: EncodingKey,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Issuer {
    pub async fn start() -> anyhow::Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let secret = p256::SecretKey::from_slice(&bytes)?;
        let point = secret.public_key().to_encoded_point(false);
        let jwk = Jwk {
            kty: "EC".into(),
            kid: Some(KID.into()),
            use_: Some("sig".into()),
            alg: Some("ES256".into()),
            crv: Some("P-256".into()),
            x: point.x().map(|x| b64(x)),
            y: point.y().map(|y| b64(y)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let metadata = json!({
            "issuer": url,
            "authorization_endpoint": format!("{url}/authorize"),
            "token_endpoint": format!("{url}/token"),
            "jwks_uri": format!("{url}/jwks.json"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        });
        let jwks = JwkSet { keys: vec![jwk] };
        let app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || async move { axum::Json(metadata) }),
            )
            .route("/jwks.json", get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let key = EncodingKey::from_ec_der(secret.to_pkcs8_der()?.as_bytes());
        Ok(Self { url, key })
    }

    /// `count` distinct valid tokens for `resource` (distinct `jti`), signed on all cores.
    pub fn mint(&self, resource: &str, count: usize) -> Vec<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(KID.into());
        let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        let per_thread = count.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let header = &header;
                    scope.spawn(move || {
                        (t * per_thread..((t + 1) * per_thread).min(count))
                            .map(|i| {
                                let claims = AccessTokenClaims {
                                    iss: self.url.clone(),
                                    aud: Audience::One(resource.to_owned()),
                                    sub: "bench-user".into(),
                                    client_id: "bench-client".into(),
                                    iat: now,
                                    exp: now + 3600,
                                    nbf: None,
                                    jti: format!("bench-{t}-{i}"),
                                    scope: Some("echo".into()),
                                    auth_time: None,
                                };
                                jsonwebtoken::encode(header, &claims, &self.key).expect("signing works")
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
