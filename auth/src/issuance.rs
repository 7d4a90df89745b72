//! Minting the tokens of a grant: an RFC 9068 access token, and (for clients registered for the
//! `refresh_token` grant) an opaque refresh token. Callers store the records in the same
//! transaction that creates or rotates the grant's tokens.

use protocol::jwt::{AccessTokenClaims, Audience};
use protocol::scope::Scopes;
use protocol::secret::RefreshToken;
use protocol::token::TokenResponse;

use crate::keyring::SignerError;
use crate::state::{AppState, secs};
use crate::store::{Grant, IssuedAccessToken, NewRefreshToken};
use crate::{digest, random};

/// A token response and what must be recorded for it.
pub struct Issued {
    pub response: TokenResponse,
    pub access: IssuedAccessToken,
    pub refresh: Option<NewRefreshToken>,
}

/// Mints tokens for `grant` with `scope` (the grant's, or a subset on refresh).
pub fn issue(
    state: &AppState,
    grant: &Grant,
    scope: &Scopes,
    with_refresh: bool,
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
    };
    let access_token = state.keys.sign(&claims, now)?;
    let access = IssuedAccessToken {
        jti: claims.jti,
        grant_id: grant.id.clone(),
        scope: scope.to_string(),
        issued_at: now,
        expires_at: now + ttl,
        revoked_at: None,
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
    };
    Ok(Issued { response, access, refresh })
}
