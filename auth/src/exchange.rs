//! Token exchange (RFC 8693): a confidential client that acts for a resource (a gateway) trades a
//! user's access token for that resource for a short-lived, narrower token for another resource
//! (an upstream), naming itself in `act`. MCP forbids passing a client's token through; this is
//! what a gateway uses instead.
//!
//! The rules, each checked here and nowhere else:
//! * the subject token is an access token this server issued, unexpired, not revoked, its grant
//!   live ([`subject_token`]), and not bound to an approved call; anything else is
//!   `invalid_request` (RFC 8693 §2.2.2);
//! * only a client registered as acting for the subject token's audience may exchange it
//!   ([`check_actor`]), so a token the user gave the gateway cannot be exchanged by anyone else
//!   (`invalid_request` too);
//! * only for a resource the client was registered to obtain tokens for (`clients add
//!   --exchange-to`, [`may_target`]): `invalid_target` otherwise, as for a resource this server
//!   does not know;
//! * the new token's scope is within both the subject token's and the target resource's
//!   ([`target_scope`]): `invalid_scope` otherwise; `invalid_target` for a resource this server
//!   does not know;
//! * the new token hangs under the subject token's grant and names it as its parent, so revoking
//!   it or any token it descends from ends it ([`ancestry`]: the whole chain, a gateway's hop
//!   token exchanged again by a gateway behind it included), and lives at most a minute
//!   (configurable), never past the subject token.
//!
//! Every exchange, allowed or refused, is an audit event; the tokens never are.

use protocol::error::ErrorCode;
use protocol::jwt::AccessTokenClaims;
use protocol::jwt::validation::MAX_ACTOR_DEPTH;
use protocol::scope::Scopes;
use protocol::token::{TOKEN_TYPE_ACCESS_TOKEN, TokenExchangeRequest, TokenResponse};

use crate::audit::{self, RequestContext};
use crate::error::ApiError;
use crate::issuance::{Delegation, groups_for, issue_delegated};
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind, Client, ExchangeTargets, Grant, Store, StoreError};

/// A subject token that passed every check: its claims and the grant it was issued under.
#[derive(Debug)]
pub struct Subject {
    pub claims: AccessTokenClaims,
    /// The one resource the token was issued for.
    pub resource: String,
    pub grant: Grant,
}

/// Checks a token presented as `subject_token`: signed by this server as an access token, issued
/// by this issuer for one resource, unexpired, recorded, not revoked (nor any token it descends
/// from by exchange), and its grant live. Every failure is `invalid_grant`; the exchange grant
/// answers it as `invalid_request` (RFC 8693 §2.2.2, [`refused_subject`]).
pub async fn subject_token(state: &AppState, token: &str, now: i64) -> Result<Subject, ApiError> {
    let invalid = || ApiError::invalid_grant("the subject token is not an access token of this server");
    let claims = state.keys.verify(token).ok_or_else(invalid)?;
    if claims.iss != state.config.issuer {
        return Err(invalid());
    }
    let resource = match &claims.aud {
        protocol::jwt::Audience::One(one) => one.clone(),
        protocol::jwt::Audience::Many(many) if many.len() == 1 => many[0].clone(),
        protocol::jwt::Audience::Many(_) => return Err(invalid()),
    };
    if i64::try_from(claims.exp).unwrap_or(i64::MAX) <= now {
        return Err(ApiError::invalid_grant("the subject token has expired"));
    }
    let Some((record, grant)) = state.store.find_access_token(&claims.jti).await? else {
        return Err(invalid());
    };
    let revoked = || ApiError::invalid_grant("the subject token has been revoked");
    if record.revoked_at.is_some() || !grant.is_live(now) {
        return Err(revoked());
    }
    if ancestry(&state.store, record.parent_jti.as_deref()).await? != Ancestry::Standing {
        return Err(revoked());
    }
    Ok(Subject { claims, resource, grant })
}

/// Where the tokens a token was exchanged from stand: its parent, the parent's parent, up to the
/// user's own token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ancestry {
    /// Each is recorded and none is revoked (or the token was not exchanged from any).
    Standing,
    /// One is revoked, or the chain is longer than exchanges ever make it.
    Revoked,
    /// One is no longer recorded: it expired and was swept. A token never outlives the one it was
    /// exchanged from, so the token has expired too.
    Gone,
}

/// Walks up from `parent_jti` (a token's parent) and says where its ancestors stand. Revoking a
/// user's token must end what gateways obtained from it however many gateways deep, and each
/// exchange only names its own subject. Bounded: a token has one ancestor per actor in its chain,
/// and exchanges stop at [`MAX_ACTOR_DEPTH`] actors.
pub async fn ancestry(store: &Store, parent_jti: Option<&str>) -> Result<Ancestry, StoreError> {
    let mut next = parent_jti.map(str::to_owned);
    for _ in 0..MAX_ACTOR_DEPTH {
        let Some(jti) = next else {
            return Ok(Ancestry::Standing);
        };
        next = match store.find_access_token(&jti).await? {
            None => return Ok(Ancestry::Gone),
            Some((ancestor, _)) if ancestor.revoked_at.is_some() => return Ok(Ancestry::Revoked),
            Some((ancestor, _)) => ancestor.parent_jti,
        };
    }
    Ok(if next.is_none() { Ancestry::Standing } else { Ancestry::Revoked })
}

/// Only a client acting for the subject token's audience may use it (`invalid_grant` for anyone
/// else: the token was not given to them). The actor chain must also stay within what resource
/// servers accept.
pub fn check_actor(client: &Client, subject: &Subject) -> Result<(), ApiError> {
    if !client.acts_for(&subject.resource) {
        return Err(ApiError::invalid_grant(
            "the subject token was issued for a resource this client does not act for",
        ));
    }
    if subject.claims.actors().count() >= MAX_ACTOR_DEPTH {
        return Err(ApiError::invalid_grant("the subject token's actor chain is as long as allowed"));
    }
    Ok(())
}

/// May `client` obtain a token for `resource`, by exchange or an approved call? Only for the
/// resources it was registered with (`--exchange-to`). A client registered before that list
/// existed still may, for any, and each such use is a warning naming the client.
pub fn may_target(client: &Client, resource: &str) -> bool {
    if client.exchange_to == ExchangeTargets::Unrestricted {
        tracing::warn!(
            client_id = %client.client_id,
            %resource,
            "this client was registered before exchange targets existed and may obtain tokens for any \
             resource: name the ones it needs with `mcp-auth clients exchange-to <client id> <resource>…`"
        );
    }
    client.exchange_to.allow(resource)
}

/// The scope of the new token: `requested` if it is within both the subject token's scope and the
/// target resource's scopes, or all the scopes they share when nothing was requested (pure).
pub fn target_scope(requested: Option<&str>, subject: &Scopes, target: &Scopes) -> Result<Scopes, ApiError> {
    let available = subject.intersection(target);
    let scope = match requested {
        None => available,
        Some(requested) => {
            let requested = Scopes::parse(requested)
                .map_err(|e| ApiError::new(ErrorCode::InvalidScope, e.to_string()))?;
            if !available.is_superset(&requested) {
                return Err(ApiError::new(
                    ErrorCode::InvalidScope,
                    format!("the subject token allows at most \"{available}\" for this resource"),
                ));
            }
            requested
        }
    };
    if scope.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidScope,
            "the subject token has no scope this resource knows",
        ));
    }
    Ok(scope)
}

/// Handles a token exchange request of an authenticated confidential client, and audits it.
pub async fn exchange(
    state: &AppState,
    context: &RequestContext,
    client: &Client,
    request: TokenExchangeRequest,
) -> Result<TokenResponse, ApiError> {
    let mut event = AuditEvent::new(AuditKind::TokenExchanged).client(&client.client_id);
    let outcome = perform(state, client, &request, &mut event).await;
    let detail =
        format!("resource {}; scope \"{}\"", request.resource, request.scope.as_deref().unwrap_or("-"));
    let event = match &outcome {
        Ok(response) => event.detail(format!(
            "{detail}; issued scope \"{}\"; expires in {} s",
            response.scope.as_deref().unwrap_or_default(),
            response.expires_in.unwrap_or_default()
        )),
        Err(error) => {
            event.kind = AuditKind::TokenExchangeRefused;
            event.detail(format!("{detail}; refused: {}", error.body))
        }
    };
    audit::record(state, context, event).await;
    outcome
}

async fn perform(
    state: &AppState,
    client: &Client,
    request: &TokenExchangeRequest,
    event: &mut AuditEvent,
) -> Result<TokenResponse, ApiError> {
    if request.subject_token_type != TOKEN_TYPE_ACCESS_TOKEN {
        return Err(ApiError::invalid_request(format!(
            "subject_token_type must be {TOKEN_TYPE_ACCESS_TOKEN}"
        )));
    }
    if request.requested_token_type.as_deref().is_some_and(|t| t != TOKEN_TYPE_ACCESS_TOKEN) {
        return Err(ApiError::invalid_request(format!(
            "this server issues access tokens only (requested_token_type {TOKEN_TYPE_ACCESS_TOKEN})"
        )));
    }
    let now = state.now();
    let subject = subject_token(state, request.subject_token.secret(), now).await.map_err(refused_subject)?;
    event.user_id = Some(subject.claims.sub.clone());
    event.grant_id = Some(subject.grant.id.clone());
    check_actor(client, &subject).map_err(refused_subject)?;
    // A token bound to one approved call (RFC 9396 `mcp_tool_call`) is good for that call at its
    // server only; an exchange would turn it into a token for anything its scope allows.
    if subject.claims.authorization_details.as_ref().is_some_and(|details| !details.is_empty()) {
        return Err(ApiError::invalid_request("a token bound to an approved call cannot be exchanged"));
    }
    // Before looking the resource up, so a client learns nothing about resources it may not name.
    if !may_target(client, &request.resource) {
        return Err(ApiError::new(
            ErrorCode::InvalidTarget,
            "this client is not registered to obtain tokens for that resource",
        ));
    }
    let target = state.config.resource(&request.resource).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidTarget, "this server issues no tokens for that resource")
    })?;
    let subject_scope = Scopes::parse(subject.claims.scope.as_deref().unwrap_or_default())
        .map_err(|_| ApiError::invalid_grant("the subject token's scope is malformed"))?;
    let scope = target_scope(request.scope.as_deref(), &subject_scope, &target.scopes)?;
    let groups = groups_for(state, &target.resource, &subject.claims.sub).await?;
    let not_after = i64::try_from(subject.claims.exp).unwrap_or(i64::MAX);
    let issued = issue_delegated(
        state,
        Delegation {
            subject: &subject.claims,
            grant_id: &subject.grant.id,
            actor: &client.client_id,
            resource: &target.resource,
            scope: &scope,
            groups,
            authorization_details: None,
            not_after,
        },
        now,
    )?;
    state.store.record_access_token(&issued.access).await?;
    Ok(issued.response)
}

/// RFC 8693 §2.2.2: a subject token that is "invalid for any reason, or unacceptable based on
/// policy" is `invalid_request` at the token-exchange grant (the checks, shared with the approval
/// endpoint, say `invalid_grant`). Other errors (a store failure) stay as they are.
fn refused_subject(error: ApiError) -> ApiError {
    if error.body.error == ErrorCode::InvalidGrant {
        let description = error.body.error_description.unwrap_or_default();
        return ApiError::invalid_request(description);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(value: &str) -> Scopes {
        Scopes::parse(value).unwrap()
    }

    fn error(result: Result<Scopes, ApiError>) -> String {
        result.unwrap_err().body.error.as_str().to_owned()
    }

    #[test]
    fn the_scope_is_what_the_subject_and_the_target_share() {
        let subject = scopes("notes:read notes:write echo");
        let target = scopes("notes:read notes:write notes:delete");
        assert_eq!(target_scope(None, &subject, &target).unwrap(), scopes("notes:read notes:write"));
        assert_eq!(target_scope(Some("notes:read"), &subject, &target).unwrap(), scopes("notes:read"));
        assert_eq!(error(target_scope(Some("notes:delete"), &subject, &target)), "invalid_scope");
        assert_eq!(error(target_scope(Some("echo"), &subject, &target)), "invalid_scope");
        assert_eq!(error(target_scope(Some("bad\"scope"), &subject, &target)), "invalid_scope");
        assert_eq!(error(target_scope(None, &scopes("echo"), &target)), "invalid_scope");
    }

    #[test]
    fn a_client_targets_only_its_listed_resources_unless_it_predates_the_list() {
        let metadata = protocol::registration::ClientMetadata::default();
        let acting = vec!["http://localhost:9100".to_owned()];
        let listed = ExchangeTargets::Listed(vec!["http://localhost:9090".into()]);
        let gateway = Client::preregistered("gw".into(), metadata, None, acting, listed);
        assert!(may_target(&gateway, "http://localhost:9090"));
        assert!(may_target(&gateway, "http://localhost:9090/"), "the same resource");
        for other in ["http://localhost:9091", "http://localhost:9090/mcp", "http://localhost:9090?x", ""] {
            assert!(!may_target(&gateway, other), "{other}");
        }
        let nothing = Client { exchange_to: ExchangeTargets::none(), ..gateway.clone() };
        assert!(!may_target(&nothing, "http://localhost:9090"));
        let legacy = Client { exchange_to: ExchangeTargets::Unrestricted, ..gateway };
        assert!(may_target(&legacy, "http://localhost:9091"));
    }
}
