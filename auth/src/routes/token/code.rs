//! The authorization code grant with PKCE (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707 §2.2).

use protocol::error::ErrorCode;
use protocol::pkce::CodeChallenge;
use protocol::scope::Scopes;
use protocol::token::{AuthorizationCodeRequest, GRANT_AUTHORIZATION_CODE, TokenResponse};

use super::wants_refresh_tokens;
use crate::audit::{self, RequestContext};
use crate::error::ApiError;
use crate::issuance::{groups_for, issue};
use crate::state::{AppState, secs};
use crate::store::{AuditEvent, AuditKind, Client, Grant, Redemption};
use crate::{digest, random};

pub async fn exchange(
    state: &AppState,
    context: &RequestContext,
    client: &Client,
    request: AuthorizationCodeRequest,
) -> Result<TokenResponse, ApiError> {
    if client.is_confidential() && !client.has_grant_type(GRANT_AUTHORIZATION_CODE) {
        return Err(ApiError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for authorization_code",
        ));
    }

    let now = state.now();
    let code_hash = digest::sha256(request.code.secret());
    let code = match state.store.redeem_code(&code_hash, now).await? {
        Redemption::Redeemed(code) => code,
        Redemption::AlreadyRedeemed { code, grant_id } => {
            // RFC 9700 §4.5.3.1 / OAuth 2.1 §4.1.3: someone holds a copy of the code. Whatever
            // the first redemption obtained is revoked, so neither party keeps it.
            let mut event =
                AuditEvent::new(AuditKind::CodeReplayed).client(&code.client_id).user(&code.user_id);
            if let Some(grant_id) = grant_id {
                state.store.revoke_grant(&grant_id, "authorization code replay", now).await?;
                event = event.grant(&grant_id).detail("grant revoked");
            }
            audit::record(state, context, event).await;
            return Err(ApiError::invalid_grant("the authorization code was already used"));
        }
        Redemption::Unknown => return Err(ApiError::invalid_grant("the authorization code is not valid")),
    };

    // The code is spent from here on, whatever the outcome: a stolen code tried with a wrong
    // verifier is burnt, not left for another attempt.
    if code.expires_at <= now {
        return Err(ApiError::invalid_grant("the authorization code has expired"));
    }
    if code.client_id != client.client_id {
        return Err(ApiError::invalid_grant("the authorization code was issued to another client"));
    }
    if code.redirect_uri != request.redirect_uri {
        return Err(ApiError::invalid_grant("redirect_uri differs from the authorization request"));
    }
    let challenge = CodeChallenge::parse(&code.code_challenge)
        .map_err(|_| ApiError::invalid_grant("the authorization code is not valid"))?;
    if !challenge.is_satisfied_by(&request.code_verifier) {
        return Err(ApiError::invalid_grant("code_verifier does not match the code_challenge"));
    }
    if let Some(resource) = &request.resource
        && *resource != code.resource
    {
        return Err(ApiError::new(
            ErrorCode::InvalidTarget,
            "resource differs from the one in the authorization request",
        ));
    }

    let grant = Grant {
        id: random::token(),
        client_id: code.client_id,
        user_id: code.user_id,
        scope: code.scope,
        resource: code.resource,
        auth_time: code.auth_time,
        expires_at: now + secs(state.config.settings.grant_ttl),
        revoked_at: None,
    };
    let scope = Scopes::parse(&grant.scope)
        .map_err(|_| ApiError::invalid_grant("the authorization code is not valid"))?;
    let groups = groups_for(state, &grant.resource, &grant.user_id).await?;
    let issued = issue(state, &grant, &scope, wants_refresh_tokens(client), groups, now)?;
    let mut event = AuditEvent::new(AuditKind::TokenIssued)
        .client(&grant.client_id)
        .user(&grant.user_id)
        .grant(&grant.id)
        .detail(format!(
            "authorization_code; jti {}; refresh token: {}",
            issued.access.jti,
            issued.refresh.is_some()
        ));
    audit::stamp(context, &mut event);
    // The event is written with the grant, in its commit.
    state
        .store
        .create_grant(&grant, &code_hash, &issued.access, issued.refresh.as_ref(), &event, now)
        .await?;
    audit::log(&event);
    Ok(issued.response)
}
