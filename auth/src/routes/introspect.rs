//! `POST /introspect` (RFC 7662): resource servers ask whether an access token is active.
//!
//! Authentication: HTTP Basic with the resource identifier (form-urlencoded, as RFC 6749 §2.3.1
//! does for client ids) as user name and the secret configured with
//! `--introspection-credential "<resource> <secret>"`. A resource server learns about tokens for
//! its own resource only; every other token is `{"active": false}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use protocol::error::ErrorCode;
use protocol::introspection::IntrospectionResponse;
use protocol::jwt::AccessTokenClaims;
use subtle::ConstantTimeEq;

use super::token::required;
use crate::error::{ApiError, no_store};
use crate::random;
use crate::state::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let resource = authenticate(&state, &headers)?;
    let params = super::read_oauth_form(&headers, &body)?;
    let token = required(&params, "token")?;

    let answer = match state.keys.verify(token) {
        Some(claims) if claims.aud.contains(&resource) => describe(&state, claims).await?,
        _ => IntrospectionResponse::inactive(),
    };
    let mut response = Json(answer).into_response();
    no_store(&mut response);
    Ok(response)
}

/// Active if unexpired, not revoked, and its grant not revoked.
async fn describe(state: &AppState, claims: AccessTokenClaims) -> Result<IntrospectionResponse, ApiError> {
    let now = u64::try_from(state.now()).unwrap_or_default();
    let Some((record, grant)) = state.store.find_access_token(&claims.jti).await? else {
        return Ok(IntrospectionResponse::inactive());
    };
    if claims.exp <= now || record.revoked_at.is_some() || grant.revoked_at.is_some() {
        return Ok(IntrospectionResponse::inactive());
    }
    Ok(IntrospectionResponse {
        active: true,
        scope: claims.scope,
        client_id: Some(claims.client_id),
        token_type: Some("Bearer".into()),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        sub: Some(claims.sub),
        aud: Some(grant.resource),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
    })
}

/// The resource whose credential the request carries.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let refused = || {
        let mut error =
            ApiError::new(ErrorCode::InvalidClient, "introspection needs a resource server's credentials");
        error.status = StatusCode::UNAUTHORIZED;
        error.www_authenticate = Some(HeaderValue::from_static("Basic realm=\"introspection\""));
        error
    };
    let encoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .ok_or_else(refused)?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| refused())?;
    let decoded = String::from_utf8(decoded).map_err(|_| refused())?;
    let (user, secret) = decoded.split_once(':').ok_or_else(refused)?;
    let resource: String = url::form_urlencoded::parse(format!("r={user}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .ok_or_else(refused)?;
    let secret = url::form_urlencoded::parse(format!("s={secret}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .ok_or_else(refused)?;
    // Compare hashes so the comparison is constant-time whatever the lengths.
    let presented = random::hash(&secret);
    let matched = state.config.settings.introspection_credentials.iter().any(|c| {
        c.resource == resource
            && bool::from(random::hash(c.secret.secret()).as_bytes().ct_eq(presented.as_bytes()))
    });
    if matched { Ok(resource) } else { Err(refused()) }
}
