//! The refresh token grant (RFC 6749 §6) with rotation (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
//!
//! Each refresh token works once. Presenting a spent one means two parties hold copies (the
//! legitimate client and a thief, in some order), so the whole grant is revoked and both must
//! authorize again.

use protocol::error::ErrorCode;
use protocol::scope::Scopes;
use protocol::token::{RefreshTokenRequest, TokenResponse};

use crate::audit::{self, RequestContext};
use crate::digest;
use crate::error::ApiError;
use crate::issuance::{groups_for, issue};
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind, Client};

pub async fn refresh(
    state: &AppState,
    context: &RequestContext,
    client: &Client,
    request: RefreshTokenRequest,
) -> Result<TokenResponse, ApiError> {
    let now = state.now();
    let token_hash = digest::sha256(request.refresh_token.secret());

    let Some((token, grant)) = state.store.find_refresh_token(&token_hash).await? else {
        return Err(ApiError::invalid_grant("the refresh token is not valid"));
    };
    if grant.client_id != client.client_id {
        return Err(ApiError::invalid_grant("the refresh token was issued to another client"));
    }
    if token.used_at.is_some() {
        reuse_detected(state, context, &grant.id, &grant.client_id, now).await?;
        return Err(ApiError::invalid_grant("the refresh token was already used"));
    }
    if !grant.is_live(now) {
        return Err(ApiError::invalid_grant("the grant has been revoked or has expired; authorize again"));
    }
    if token.expires_at <= now {
        return Err(ApiError::invalid_grant("the refresh token has expired; authorize again"));
    }

    let granted = Scopes::parse(&grant.scope).map_err(|_| ApiError::invalid_grant("the grant is corrupt"))?;
    // RFC 6749 §6: a refresh may narrow the scope, never widen it.
    let scope = match &request.scope {
        None => granted,
        Some(requested) => {
            let requested = Scopes::parse(requested)
                .map_err(|e| ApiError::new(ErrorCode::InvalidScope, e.to_string()))?;
            if !granted.is_superset(&requested) {
                return Err(ApiError::new(
                    ErrorCode::InvalidScope,
                    format!("the grant covers only: {granted}"),
                ));
            }
            requested
        }
    };
    // RFC 8707 §2.2: the resource cannot change under a grant.
    if let Some(resource) = &request.resource
        && *resource != grant.resource
    {
        return Err(ApiError::new(ErrorCode::InvalidTarget, "the grant is for another resource"));
    }

    let groups = groups_for(state, &grant.resource, &grant.user_id).await?;
    let issued = issue(state, &grant, &scope, true, groups, client.registration, now)?;
    let next = issued.refresh.as_ref().expect("issue() with refresh returns a refresh token");
    let mut event = AuditEvent::new(AuditKind::RefreshRotated)
        .client(&grant.client_id)
        .user(&grant.user_id)
        .grant(&grant.id)
        .detail(format!("jti {}", issued.access.jti));
    audit::stamp(context, &mut event);
    // The event is written with the rotation, in its commit.
    if !state.store.rotate_refresh_token(&token_hash, &grant.id, next, &issued.access, &event, now).await? {
        // Spent between our read and our write: a concurrent use of the same token.
        reuse_detected(state, context, &grant.id, &grant.client_id, now).await?;
        return Err(ApiError::invalid_grant("the refresh token was already used"));
    }
    audit::log(&event);
    Ok(issued.response)
}

async fn reuse_detected(
    state: &AppState,
    context: &RequestContext,
    grant_id: &str,
    client_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    state.store.revoke_grant(grant_id, "refresh token reuse", now).await?;
    let event = AuditEvent::new(AuditKind::RefreshReuseDetected)
        .client(client_id)
        .grant(grant_id)
        .detail("grant revoked");
    audit::record(state, context, event).await;
    Ok(())
}
