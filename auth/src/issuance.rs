//! Minting the tokens of a grant: an RFC 9068 access token, and (for clients registered for the
//! `refresh_token` grant) an opaque refresh token. Callers store the records in the same
//! transaction that creates or rotates the grant's tokens.
//!
//! [`issue_delegated`] mints the other kind: a short-lived token for an actor (a gateway) acting
//! for the user, by token exchange or after an approval.

use protocol::authorization_details::AuthorizationDetail;
use protocol::jwt::{AccessTokenClaims, Actor, Audience};
use protocol::scope::Scopes;
use protocol::secret::RefreshToken;
use protocol::token::{TOKEN_TYPE_ACCESS_TOKEN, TokenResponse};

use crate::keyring::SignerError;
use crate::state::{AppState, secs};
use crate::store::{Grant, IssuedAccessToken, NewRefreshToken, Registration, StoreError};
use crate::{digest, random};

/// A token response and what must be recorded for it.
pub struct Issued {
    pub response: TokenResponse,
    pub access: IssuedAccessToken,
    pub refresh: Option<NewRefreshToken>,
}

/// Mints tokens for `grant` with `scope` (the grant's, or a subset on refresh). `groups` goes into
/// the token when the grant's resource asks for it; `registration` is how the grant's client was
/// registered (the `client_registration` claim).
pub fn issue(
    state: &AppState,
    grant: &Grant,
    scope: &Scopes,
    with_refresh: bool,
    groups: Option<Vec<String>>,
    registration: Registration,
    now: i64,
) -> Result<Issued, SignerError> {
    let ttl = secs(state.config.settings.access_token_ttl);
    let issued_at = u64::try_from(now).unwrap_or_default();
    let claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        aud: Audience::One(grant.resource.clone()),
        sub: grant.user_id.clone(),
        client_id: grant.client_id.clone(),
        iat: issued_at,
        exp: issued_at + u64::try_from(ttl).unwrap_or_default(),
        nbf: None,
        jti: random::token(),
        scope: Some(scope.to_string()),
        auth_time: u64::try_from(grant.auth_time).ok(),
        act: None,
        groups,
        authorization_details: None,
        client_registration: Some(registration.as_str().to_owned()),
    };
    let access_token = state.keys.sign(&claims, now)?;
    let access = IssuedAccessToken {
        jti: claims.jti,
        grant_id: grant.id.clone(),
        scope: scope.to_string(),
        issued_at: now,
        expires_at: now + ttl,
        revoked_at: None,
        parent_jti: None,
    };

    let (refresh_token, refresh) = if with_refresh {
        let token = random::token();
        // Idle lifetime, but never beyond the grant's absolute end.
        let expires_at = (now + secs(state.config.settings.refresh_token_idle_ttl)).min(grant.expires_at);
        let record = NewRefreshToken { token_hash: digest::sha256(&token), expires_at };
        (Some(RefreshToken::new(token)), Some(record))
    } else {
        (None, None)
    };

    let response = TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: u64::try_from(ttl).ok(),
        refresh_token,
        scope: Some(scope.to_string()),
        issued_token_type: None,
        authorization_details: None,
    };
    Ok(Issued { response, access, refresh })
}

/// The user's groups if tokens for `resource` carry them (`--groups-claim`), else `None`. Read at
/// every issue, so a refresh or an exchange picks up a change of membership.
pub async fn groups_for(
    state: &AppState,
    resource: &str,
    user_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    match state.config.resource(resource) {
        Some(server) if server.groups_claim => Ok(Some(state.store.groups_of_user(user_id).await?)),
        _ => Ok(None),
    }
}

/// What a delegated token is for: the user's token it derives from, who acts, and what for.
pub struct Delegation<'a> {
    /// The claims of the token acted on (its `sub`, `client_id`, `client_registration`,
    /// `auth_time` and actor chain carry over).
    pub subject: &'a AccessTokenClaims,
    /// The grant the new token hangs under: the subject token's.
    pub grant_id: &'a str,
    /// The client acting (named in `act`).
    pub actor: &'a str,
    pub resource: &'a str,
    pub scope: &'a Scopes,
    pub groups: Option<Vec<String>>,
    pub authorization_details: Option<Vec<AuthorizationDetail>>,
    /// The token ends by then at the latest (the subject token's or the grant's end).
    pub not_after: i64,
}

/// Mints a token for `delegation.resource` with `act` naming the actor (nested over the subject
/// token's own actor, RFC 8693 §4.1), living [`Settings::exchanged_token_ttl`] at most, and never
/// past `not_after`. No refresh token: the actor exchanges again.
///
/// [`Settings::exchanged_token_ttl`]: crate::config::Settings::exchanged_token_ttl
pub fn issue_delegated(
    state: &AppState,
    delegation: Delegation<'_>,
    now: i64,
) -> Result<Issued, SignerError> {
    let ttl = secs(state.config.settings.exchanged_token_ttl);
    let expires_at = (now + ttl).min(delegation.not_after);
    let subject = delegation.subject;
    let issued_at = u64::try_from(now).unwrap_or_default();
    let claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        aud: Audience::One(delegation.resource.to_owned()),
        sub: subject.sub.clone(),
        client_id: subject.client_id.clone(),
        iat: issued_at,
        exp: u64::try_from(expires_at).unwrap_or_default(),
        nbf: None,
        jti: random::token(),
        scope: Some(delegation.scope.to_string()),
        auth_time: subject.auth_time,
        act: Some(Actor {
            sub: delegation.actor.to_owned(),
            client_id: Some(delegation.actor.to_owned()),
            iss: None,
            act: subject.act.clone().map(Box::new),
        }),
        groups: delegation.groups,
        authorization_details: delegation.authorization_details.clone(),
        // `client_id` is the subject's, and so is how that client was registered.
        client_registration: subject.client_registration.clone(),
    };
    let access_token = state.keys.sign(&claims, now)?;
    let access = IssuedAccessToken {
        jti: claims.jti,
        grant_id: delegation.grant_id.to_owned(),
        scope: delegation.scope.to_string(),
        issued_at: now,
        expires_at,
        revoked_at: None,
        parent_jti: Some(subject.jti.clone()),
    };
    let response = TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: u64::try_from(expires_at - now).ok(),
        refresh_token: None,
        scope: Some(delegation.scope.to_string()),
        issued_token_type: Some(TOKEN_TYPE_ACCESS_TOKEN.to_owned()),
        authorization_details: delegation.authorization_details,
    };
    Ok(Issued { response, access, refresh: None })
}
