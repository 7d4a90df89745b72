//! `POST /introspect` (RFC 7662): resource servers ask whether an access token is active.
//!
//! Authentication: HTTP Basic with the resource identifier (form-urlencoded, as RFC 6749 §2.3.1
//! does for client ids) as user name and the secret configured with
//! `--introspection-credential "<resource> <secret>"`. A resource server learns about tokens for
//! its own resource only; every other token is `{"active": false}`.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use protocol::error::ErrorCode;
use protocol::introspection::IntrospectionResponse;
use protocol::jwt::AccessTokenClaims;
use subtle::ConstantTimeEq;

use super::extract::{OAuthForm, Params};
use crate::digest;
use crate::error::{ApiError, no_store};
use crate::state::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    ResourceServerCaller(resource): ResourceServerCaller,
    OAuthForm(params): OAuthForm<Params>,
) -> Result<Response, ApiError> {
    let token = params.required("token")?;
    let answer = match state.keys.verify(token) {
        Some(claims) if claims.aud.contains(&resource) => describe(&state, claims).await?,
        _ => IntrospectionResponse::inactive(),
    };
    let mut response = Json(answer).into_response();
    no_store(&mut response);
    Ok(response)
}

/// The resource server whose introspection credential the request carries (its resource
/// identifier). Checked before the body is read: nothing about a token is looked at for a caller
/// who did not authenticate.
pub struct ResourceServerCaller(pub String);

impl FromRequestParts<AppState> for ResourceServerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(state, &parts.headers).map(Self)
    }
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
    let presented = digest::sha256(&secret);
    let matched = state.config.settings.introspection_credentials.iter().any(|c| {
        c.resource == resource
            && bool::from(digest::sha256(c.secret.secret()).as_bytes().ct_eq(presented.as_bytes()))
    });
    if matched { Ok(resource) } else { Err(refused()) }
}
