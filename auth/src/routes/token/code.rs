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
    let code_hash = digest::sha256(request.code.secret());

    // The common case in one commit: a code nobody has spent, and a request that matches it. The
    // request is checked against a read of the code; the code is then spent in the same commit
    // that writes the grant and its tokens, and nothing is written if another redemption spent
    // it in between.
    if let Some(code) = state.store.find_unredeemed_code(&code_hash).await?
        && let Ok(scope) = check(&code, client, &request, now)
    {
        let minted = mint(state, context, client, code, &scope, now).await?;
        let redeemed = state
            .store
            .redeem_code_into_grant(
                &code_hash,
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
        // Spent since the read: this request is the replay, handled below.
    }

    // Every other case spends the code before it answers: a stolen code tried with a wrong
    // verifier is burnt, not left for another attempt, and a code spent before is a replay.
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
    let scope = check(&code, client, &request, now)?;
    // A code unspent at the read above and matching now: only if it was stored in between, which
    // cannot happen to a code the client already holds. Its grant is created all the same.
    let minted = mint(state, context, client, code, &scope, now).await?;
    state
        .store
        .create_grant(
            &minted.grant,
            &code_hash,
            &minted.issued.access,
            minted.issued.refresh.as_ref(),
            &minted.event,
            now,
        )
        .await?;
    audit::log(&minted.event);
    Ok(minted.issued.response)
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
    code: CodeBinding,
    scope: &Scopes,
    now: i64,
) -> Result<Minted, ApiError> {
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
    let groups = groups_for(state, &grant.resource, &grant.user_id).await?;
    let issued = issue(state, &grant, scope, wants_refresh_tokens(client), groups, now)?;
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
