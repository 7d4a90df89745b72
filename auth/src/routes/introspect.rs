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
use axum::response::{IntoResponse, Response};
use protocol::introspection::IntrospectionResponse;
use protocol::jwt::{AccessTokenClaims, Audience};

use super::extract::{ClientForm, Params};
use crate::client_auth::{self, Caller};
use crate::error::{ApiError, no_store};
use crate::exchange::{Ancestry, ancestry};
use crate::state::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    ClientForm { caller, request: params, .. }: ClientForm<Params>,
) -> Result<Response, ApiError> {
    // The resources whose tokens the caller may ask about: its introspection credential's, or
    // those a confidential client acts for (a gateway introspecting what clients send it).
    let resources = match caller {
        Caller::ResourceServer(resource) => vec![resource],
        Caller::Confidential(client) if !client.acts_for.is_empty() => client.acts_for,
        _ => return Err(client_auth::refused(true, "introspection needs a resource server's credentials")),
    };
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

/// Active if unexpired, not revoked (nor any token it descends from by exchange), and its grant
/// not revoked. `resource` is the caller's resource the token is for.
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
    if ancestry(&state.store, record.parent_jti.as_deref()).await? != Ancestry::Standing {
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
        aud: Some(Audience::One(resource.to_owned())),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
        auth_time: claims.auth_time,
        act: claims.act,
        groups: claims.groups,
        authorization_details: claims.authorization_details,
        client_registration: claims.client_registration,
    })
}
