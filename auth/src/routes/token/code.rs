//! The authorization code grant with PKCE (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707 §2.2).

use protocol::error::ErrorCode;
use protocol::pkce::CodeChallenge;
use protocol::scope::Scopes;
use protocol::token::{AuthorizationCodeRequest, GRANT_AUTHORIZATION_CODE, TokenResponse};

use super::wants_refresh_tokens;
use crate::audit::{self, RequestContext};
use crate::error::ApiError;
use crate::issuance::{Issued, groups_for, issue};
use crate::state::{AppState, secs};
use crate::store::{AuditEvent, AuditKind, Client, CodeBinding, Grant, Redemption};
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
    // A code this server sealed opens to what it is bound to; anything else is refused before
    // the store is asked anything (`sealed_code`).
    let Some(code) = state.code_seal.open(request.code.secret()) else {
        return Err(ApiError::invalid_grant("the authorization code is not valid"));
    };
    let code_hash = digest::sha256(request.code.secret());

    // The common case in one commit: a request that matches the code, which is spent in the same
    // commit that writes the grant and its tokens; nothing is written if it was spent before.
    let checked = check(&code, client, &request, now);
    if let Ok(scope) = &checked {
        let minted = mint(state, context, client, &code, scope, now).await?;
        let redeemed = state
            .store
            .redeem_code_into_grant(
                &code_hash,
                &code,
                &minted.grant,
                &minted.issued.access,
                minted.issued.refresh.as_ref(),
                &minted.event,
                now,
            )
            .await?;
        if redeemed {
            audit::log(&minted.event);
            return Ok(minted.issued.response);
        }
        // Spent before, or its user or client is gone: handled below.
    }

    // Every other case spends the code before it answers: a stolen code tried with a wrong
    // verifier is burnt, not left for another attempt, and a code spent before is a replay.
    match state.store.spend_code(&code_hash, &code, now).await? {
        Redemption::Redeemed => match checked {
            Err(refused) => Err(refused),
            // Matching, not redeemed above, yet unspent until now: only if its user or client was
            // removed and added again between the two writes. The code is worth nothing then.
            Ok(_) => Err(ApiError::invalid_grant("the authorization code is not valid")),
        },
        Redemption::AlreadyRedeemed { grant_id } => {
            // RFC 9700 §4.5.3.1 / OAuth 2.1 §4.1.3: someone holds a copy of the code. Whatever
            // the first redemption obtained is revoked, so neither party keeps it.
            let mut event =
                AuditEvent::new(AuditKind::CodeReplayed).client(&code.client_id).user(&code.user_id);
            if let Some(grant_id) = grant_id {
                state.store.revoke_grant(&grant_id, "authorization code replay", now).await?;
                event = event.grant(&grant_id).detail("grant revoked");
            }
            audit::record(state, context, event).await;
            Err(ApiError::invalid_grant("the authorization code was already used"))
        }
        // Its client or user no longer exists.
        Redemption::Unknown => Err(ApiError::invalid_grant("the authorization code is not valid")),
    }
}

/// Does the request match what the code was issued for? Pure, so the same code and request get
/// the same answer before and after the code is spent. Returns the code's scope.
fn check(
    code: &CodeBinding,
    client: &Client,
    request: &AuthorizationCodeRequest,
    now: i64,
) -> Result<Scopes, ApiError> {
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
    Scopes::parse(&code.scope).map_err(|_| ApiError::invalid_grant("the authorization code is not valid"))
}

/// The grant a code becomes, its first tokens, and the audit event of their issue.
struct Minted {
    grant: Grant,
    issued: Issued,
    event: AuditEvent,
}

async fn mint(
    state: &AppState,
    context: &RequestContext,
    client: &Client,
    code: &CodeBinding,
    scope: &Scopes,
    now: i64,
) -> Result<Minted, ApiError> {
    let grant = Grant {
        id: random::token(),
        client_id: code.client_id.clone(),
        user_id: code.user_id.clone(),
        scope: code.scope.clone(),
        resource: code.resource.clone(),
        auth_time: code.auth_time,
        expires_at: now + secs(state.config.settings.grant_ttl),
        revoked_at: None,
    };
    let groups = groups_for(state, &grant.resource, &grant.user_id).await?;
    let issued = issue(state, &grant, scope, wants_refresh_tokens(client), groups, client.registration, now)?;
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
    Ok(Minted { grant, issued, event })
}
