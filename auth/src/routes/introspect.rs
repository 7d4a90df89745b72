//! `POST /introspect` (RFC 7662): resource servers ask whether an access token is active.
//!
//! Authentication: HTTP Basic with the resource identifier (form-urlencoded, as RFC 6749 §2.3.1
//! does for client ids) as user name and the secret configured with
//! `--introspection-credential "<resource> <secret>"`; or a confidential client that acts for
//! resources (`clients add --confidential --acts-for …`), authenticated as at the token endpoint.
//! A caller learns about tokens for its own resources only; every other token is
//! `{"active": false}`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use protocol::introspection::IntrospectionResponse;
use protocol::jwt::AccessTokenClaims;
use subtle::ConstantTimeEq;

use super::extract::{OAuthForm, Params};
use crate::audit::RequestContext;
use crate::client_auth::{self, Caller, Credentials};
use crate::digest;
use crate::error::{ApiError, no_store};
use crate::state::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    OAuthForm(params): OAuthForm<Params>,
) -> Result<Response, ApiError> {
    let resources = caller_resources(&state, &context, &headers, &params).await?;
    let token = params.required("token")?;
    let answer = match state.keys.verify(token) {
        Some(claims) => match resources.iter().find(|r| claims.aud.contains(r)) {
            Some(resource) => describe(&state, claims, resource).await?,
            None => IntrospectionResponse::inactive(),
        },
        None => IntrospectionResponse::inactive(),
    };
    let mut response = Json(answer).into_response();
    no_store(&mut response);
    Ok(response)
}

/// The resources whose tokens the caller may ask about: the one of its introspection credential,
/// or those a confidential client acts for (a gateway introspecting the tokens clients send it).
/// Anyone else is `401 invalid_client`.
async fn caller_resources(
    state: &AppState,
    context: &RequestContext,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Vec<String>, ApiError> {
    if let Some(resource) = resource_server_credential(state, headers) {
        return Ok(vec![resource]);
    }
    let credentials = Credentials::read(headers, params)?;
    let caller =
        client_auth::authenticate(state, context, credentials, &state.config.endpoint("/introspect")).await?;
    match caller {
        Caller::Confidential(client) if !client.acts_for.is_empty() => Ok(client.acts_for),
        _ => Err(client_auth::refused(true, "introspection needs a resource server's credentials")),
    }
}

/// Active if unexpired, not revoked (nor the token it was exchanged from), and its grant not
/// revoked. `resource` is the caller's resource the token is for.
async fn describe(
    state: &AppState,
    claims: AccessTokenClaims,
    resource: &str,
) -> Result<IntrospectionResponse, ApiError> {
    let now = u64::try_from(state.now()).unwrap_or_default();
    let Some((record, grant)) = state.store.find_access_token(&claims.jti).await? else {
        return Ok(IntrospectionResponse::inactive());
    };
    if claims.exp <= now || record.revoked_at.is_some() || grant.revoked_at.is_some() {
        return Ok(IntrospectionResponse::inactive());
    }
    if let Some(parent) = &record.parent_jti
        && state.store.find_access_token(parent).await?.is_none_or(|(parent, _)| parent.revoked_at.is_some())
    {
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
        aud: Some(resource.to_owned()),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
        auth_time: claims.auth_time,
        act: claims.act,
        groups: claims.groups,
        authorization_details: claims.authorization_details,
    })
}

/// The resource whose introspection credential (`--introspection-credential`) the request's HTTP
/// Basic header carries, if it carries one. Compared as hashes, in constant time whatever the
/// lengths.
fn resource_server_credential(state: &AppState, headers: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let encoded = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, secret) = decoded.split_once(':')?;
    let decode = |value: &str| {
        url::form_urlencoded::parse(format!("v={value}").as_bytes()).next().map(|(_, v)| v.into_owned())
    };
    let (resource, secret) = (decode(user)?, decode(secret)?);
    let presented = digest::sha256(&secret);
    let matched = state.config.settings.introspection_credentials.iter().any(|c| {
        c.resource == resource
            && bool::from(digest::sha256(c.secret.secret()).as_bytes().ct_eq(presented.as_bytes()))
    });
    matched.then_some(resource)
}
