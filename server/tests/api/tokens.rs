//! Every way a token can be wrong gets `401` with `error="invalid_token"`.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use protocol::error::ErrorCode;
use protocol::jwt::Audience;

use crate::helpers::{TestIssuer, b64, challenge, now, spawn_server};

async fn assert_invalid_token(issuer: &TestIssuer, token: &str, what: &str) {
    let server = spawn_server(&issuer.issuer).await;
    let response = server.echo_with(token).await;
    assert_eq!(response.status(), 401, "{what}");
    let challenge = challenge(&response);
    assert_eq!(challenge.error, Some(ErrorCode::InvalidToken), "{what}");
    assert!(challenge.resource_metadata.is_some(), "{what}");
}

/// The resource identifier a server spawned by `spawn_server` will have is only known after it
/// binds, so forged tokens are minted against a server started first.
async fn server_and_claims(
    issuer: &TestIssuer,
) -> (crate::helpers::TestServer, protocol::jwt::AccessTokenClaims) {
    let server = spawn_server(&issuer.issuer).await;
    let claims = issuer.claims(&server.resource, "echo");
    (server, claims)
}

async fn refused(server: &crate::helpers::TestServer, token: &str, what: &str) {
    let response = server.echo_with(token).await;
    assert_eq!(response.status(), 401, "{what}");
    assert_eq!(challenge(&response).error, Some(ErrorCode::InvalidToken), "{what}");
}

#[tokio::test]
async fn garbage_is_an_invalid_token() {
    let issuer = TestIssuer::start().await;
    assert_invalid_token(&issuer, "not-a-jwt", "garbage").await;
    assert_invalid_token(&issuer, "a.b.c", "three dots of nothing").await;
}

#[tokio::test]
async fn a_jwt_that_is_not_an_access_token_is_refused() {
    let issuer = TestIssuer::start().await;
    let (server, claims) = server_and_claims(&issuer).await;
    for typ in [Some("JWT"), None, Some("id_token+jwt")] {
        let mut header = issuer.header();
        header.typ = typ.map(Into::into);
        refused(&server, &issuer.sign(&header, &claims), &format!("typ {typ:?}")).await;
    }
}

#[tokio::test]
async fn alg_none_is_refused() {
    let issuer = TestIssuer::start().await;
    let (server, claims) = server_and_claims(&issuer).await;
    let header = format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#, issuer.kid);
    let token = format!("{}.{}.", b64(header.as_bytes()), b64(&serde_json::to_vec(&claims).unwrap()));
    refused(&server, &token, "alg none").await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let issuer = TestIssuer::start().await;
    let (server, claims) = server_and_claims(&issuer).await;
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(issuer.kid.clone());
    let token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&issuer.public_key_sec1)).unwrap();
    refused(&server, &token, "HS256 with the public key as secret").await;
}

#[tokio::test]
async fn an_unknown_kid_is_refused() {
    let issuer = TestIssuer::start().await;
    let (server, claims) = server_and_claims(&issuer).await;
    let mut header = issuer.header();
    header.kid = Some("someone-elses-key".into());
    refused(&server, &issuer.sign(&header, &claims), "unknown kid").await;
    header.kid = None;
    refused(&server, &issuer.sign(&header, &claims), "no kid").await;
}

#[tokio::test]
async fn a_signature_by_another_key_or_over_other_claims_is_refused() {
    let issuer = TestIssuer::start().await;
    let impostor = TestIssuer::start().await; // same kid, different key
    let (server, claims) = server_and_claims(&issuer).await;
    let forged = impostor.sign(&issuer.header(), &claims);
    refused(&server, &forged, "signed by another key").await;

    let genuine = issuer.sign(&issuer.header(), &claims);
    let mut widened = claims.clone();
    widened.scope = Some("echo profile admin".into());
    let parts: Vec<&str> = genuine.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&serde_json::to_vec(&widened).unwrap()), parts[2]);
    refused(&server, &tampered, "payload changed after signing").await;
}

#[tokio::test]
async fn a_token_from_another_issuer_or_for_another_audience_is_refused() {
    let issuer = TestIssuer::start().await;
    let (server, claims) = server_and_claims(&issuer).await;
    let mut other_iss = claims.clone();
    other_iss.iss = "http://other-issuer.example".into();
    refused(&server, &issuer.sign(&issuer.header(), &other_iss), "wrong iss").await;

    for aud in ["http://some-other-mcp-server.example", &format!("{}/", server.resource)] {
        let mut other_aud = claims.clone();
        other_aud.aud = Audience::One(aud.to_owned());
        refused(&server, &issuer.sign(&issuer.header(), &other_aud), &format!("aud {aud}")).await;
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let issuer = TestIssuer::start().await;
    let (server, claims) = server_and_claims(&issuer).await;
    let mut expired = claims.clone();
    expired.iat = now() - 3600;
    expired.exp = now() - 120;
    refused(&server, &issuer.sign(&issuer.header(), &expired), "expired").await;
    let mut future = claims.clone();
    future.nbf = Some(now() + 3600);
    refused(&server, &issuer.sign(&issuer.header(), &future), "nbf in the future").await;
}

/// `--require-actor`: behind a gateway, a token the user obtained for this server directly (no
/// `act`), or presented by another client, is refused; one the gateway presents is taken.
#[tokio::test]
async fn a_server_behind_a_gateway_takes_only_tokens_the_gateway_presents() {
    use protocol::jwt::Actor;
    let issuer = TestIssuer::start().await;
    let settings = mcp_server::config::Settings {
        required_actor: Some("mcp-gateway".into()),
        ..mcp_server::config::Settings::for_tests(&issuer.issuer, crate::helpers::SPA_ORIGIN)
    };
    let server = crate::helpers::spawn_server_with(settings).await;
    let actor = |client: &str, before: Option<Actor>| Actor {
        sub: client.into(),
        client_id: Some(client.into()),
        iss: None,
        act: before.map(Box::new),
    };
    let with_act = |act: Option<Actor>| {
        let claims = protocol::jwt::AccessTokenClaims { act, ..issuer.claims(&server.resource, "echo") };
        issuer.sign(&issuer.header(), &claims)
    };

    for (act, accepted) in [
        (None, false),
        (Some(actor("mcp-gateway", None)), true),
        (Some(actor("someone-else", None)), false),
        // The current actor is the outermost: the gateway relaying another's exchange is fine,
        // another client relaying the gateway's is not.
        (Some(actor("mcp-gateway", Some(actor("relay", None)))), true),
        (Some(actor("relay", Some(actor("mcp-gateway", None)))), false),
    ] {
        let response = server.echo_with(&with_act(act.clone())).await;
        if accepted {
            assert_eq!(response.status(), 200, "{act:?}");
        } else {
            assert_eq!(response.status(), 401, "{act:?}");
            let challenge = challenge(&response);
            assert_eq!(challenge.error, Some(ErrorCode::InvalidToken), "{act:?}");
            let why = challenge.error_description.unwrap_or_default();
            assert!(why.contains("gateway"), "{why}");
        }
    }
}
