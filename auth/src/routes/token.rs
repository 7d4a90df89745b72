//! `POST /token`: the authorization code grant with PKCE (RFC 6749 §4.1.3, RFC 7636 §4.6,
//! RFC 8707 §2.2), answering with an RFC 9068 access token.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use protocol::error::ErrorCode;
use protocol::form::parse_unique;
use protocol::jwt::{AccessTokenClaims, Audience};
use protocol::pkce::{CodeChallenge, CodeVerifier};
use protocol::token::{GRANT_AUTHORIZATION_CODE, TokenResponse};

use crate::error::{ApiError, no_store};
use crate::random;
use crate::state::AppState;
use crate::store::Redemption;

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !super::has_content_type(&headers, "application/x-www-form-urlencoded") {
        return Err(ApiError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let body = std::str::from_utf8(&body).map_err(|_| ApiError::invalid_request("the body is not UTF-8"))?;
    let params = parse_unique(body).map_err(|e| ApiError::invalid_request(e.to_string()))?;

    match params.get("grant_type").map(String::as_str) {
        None => Err(ApiError::invalid_request("grant_type is required")),
        Some(GRANT_AUTHORIZATION_CODE) => exchange_code(&state, &params).await,
        Some(_) => Err(ApiError::new(
            ErrorCode::UnsupportedGrantType,
            "this server supports the authorization_code grant",
        )),
    }
}

async fn exchange_code(state: &AppState, params: &HashMap<String, String>) -> Result<Response, ApiError> {
    let required = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::invalid_request(format!("{name} is required")))
    };
    let code = required("code")?;
    let redirect_uri = required("redirect_uri")?;
    let client_id = required("client_id")?;
    let verifier = CodeVerifier::parse(required("code_verifier")?)
        .map_err(|e| ApiError::invalid_request(format!("code_verifier {e}")))?;

    // Public clients authenticate by client_id alone; PKCE proves they started the flow. A
    // client_secret sent anyway is ignored rather than treated as authentication.
    if state.store.find_client(client_id).await?.is_none() {
        return Err(ApiError::new(ErrorCode::InvalidClient, "unknown client_id"));
    }

    let now = state.now();
    let grant = match state.store.redeem_code(&random::hash(code), now).await? {
        Redemption::Redeemed(grant) => grant,
        Redemption::AlreadyRedeemed(grant) => {
            tracing::warn!(client_id = %grant.client_id, user_id = %grant.user_id, "authorization code replayed");
            return Err(ApiError::invalid_grant("the authorization code was already used"));
        }
        Redemption::Unknown => return Err(ApiError::invalid_grant("the authorization code is not valid")),
    };

    // The code is spent from here on, whatever the outcome: a stolen code tried with a wrong
    // verifier is burnt, not left for another attempt.
    if grant.expires_at <= now {
        return Err(ApiError::invalid_grant("the authorization code has expired"));
    }
    if grant.client_id != client_id {
        return Err(ApiError::invalid_grant("the authorization code was issued to another client"));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(ApiError::invalid_grant("redirect_uri differs from the authorization request"));
    }
    let challenge = CodeChallenge::parse(&grant.code_challenge)
        .map_err(|_| ApiError::invalid_grant("the authorization code is not valid"))?;
    if !challenge.is_satisfied_by(&verifier) {
        return Err(ApiError::invalid_grant("code_verifier does not match the code_challenge"));
    }
    if let Some(resource) = params.get("resource")
        && *resource != grant.resource
    {
        return Err(ApiError::new(
            ErrorCode::InvalidTarget,
            "resource differs from the one in the authorization request",
        ));
    }

    let ttl = state.config.access_token_ttl.as_secs();
    let issued_at = u64::try_from(now).unwrap_or_default();
    let claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        aud: Audience::One(grant.resource.clone()),
        sub: grant.user_id.clone(),
        client_id: grant.client_id.clone(),
        iat: issued_at,
        exp: issued_at + ttl,
        nbf: None,
        jti: random::token(),
        scope: Some(grant.scope.clone()),
        auth_time: u64::try_from(grant.auth_time).ok(),
    };
    let access_token = state.signer.sign(&claims)?;
    tracing::info!(client_id = %grant.client_id, user_id = %grant.user_id, jti = %claims.jti, "access token issued");

    let body = TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: Some(ttl),
        refresh_token: None,
        scope: Some(grant.scope),
    };
    let mut response = Json(body).into_response();
    no_store(&mut response);
    Ok(response)
}
