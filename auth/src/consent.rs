//! Consent: whether a user must be asked, what they allowed, and the authorization code that
//! answers an allowed request. The `/consent` handlers load, call and render; the policy is here.
//!
//! A consent is remembered per user, client and resource. When the user already allowed at least
//! the requested scopes, the request is answered at once, as authorization servers usually do;
//! allowing more later widens the remembered consent (the union of both). Users see and withdraw
//! their consents on `/account`.
//!
//! # The hook for consent automation
//! [`decide`] is the one place that says whether a request needs the person: the consent page
//! calls it, and so will the gateway's consent automation (issue 13), which asks the AS, without
//! prompting anyone, whether a standing consent covers a call. Today's policy is [`policy`]: a
//! remembered consent covering every requested scope answers at once, anything else asks.

use protocol::scope::Scopes;
use protocol::secret::AuthorizationCode;

use crate::audit::{self, RequestContext};
use crate::state::{AppState, secs};
use crate::store::{AuditEvent, AuditKind, CodeBinding, Consent, PendingAuthorization, Store, StoreError};

/// What a request asks a user to allow: the key a consent is remembered under, and the scopes
/// (space-separated, as in the request).
#[derive(Debug, Clone, Copy)]
pub struct ConsentRequest<'a> {
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub resource: &'a str,
    pub scope: &'a str,
}

impl<'a> ConsentRequest<'a> {
    /// What `request`, a pending authorization, asks of the user `user_id`.
    pub fn of(request: &'a PendingAuthorization, user_id: &'a str) -> Self {
        Self { user_id, client_id: &request.client_id, resource: &request.resource, scope: &request.scope }
    }
}

/// Whether a request needs the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentDecision {
    /// A standing consent covers it: answer without asking.
    Remembered,
    /// Ask the person (the consent page, or an out-of-band approval).
    Ask,
}

/// Today's policy: [`ConsentDecision::Remembered`] when the remembered consent allows every
/// requested scope, otherwise (no consent, fewer scopes, or scopes that do not parse)
/// [`ConsentDecision::Ask`].
pub fn policy(remembered: Option<&Consent>, requested_scope: &str) -> ConsentDecision {
    let Some(remembered) = remembered else {
        return ConsentDecision::Ask;
    };
    match (Scopes::parse(&remembered.scope), Scopes::parse(requested_scope)) {
        (Ok(allowed), Ok(requested)) if allowed.is_superset(&requested) => ConsentDecision::Remembered,
        _ => ConsentDecision::Ask,
    }
}

/// Does `request` need the person? Reads the remembered consent and applies [`policy`]. Asks
/// nobody and changes nothing, so any caller may use it to learn whether a standing consent
/// covers a request.
pub async fn decide(store: &Store, request: ConsentRequest<'_>) -> Result<ConsentDecision, StoreError> {
    let remembered = store.find_consent(request.user_id, request.client_id, request.resource).await?;
    Ok(policy(remembered.as_ref(), request.scope))
}

/// Remembers that the user allowed `request`, with the event of their decision in the same commit
/// (no consent without its `consent_granted`). The store widens any consent given before (the union
/// of both) in one transaction, so two concurrent consents both count.
pub async fn remember(
    store: &Store,
    context: &RequestContext,
    request: ConsentRequest<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let consent = Consent {
        user_id: request.user_id.to_owned(),
        client_id: request.client_id.to_owned(),
        resource: request.resource.to_owned(),
        scope: request.scope.to_owned(),
        granted_at: now,
    };
    let mut event = AuditEvent::new(AuditKind::ConsentGranted)
        .client(request.client_id)
        .user(request.user_id)
        .detail(format!("scope \"{}\" via {}", request.scope, AllowedBy::ConsentPage.as_str()));
    audit::stamp(context, &mut event);
    store.save_consent(&consent, &event).await?;
    audit::log(&event);
    Ok(())
}

/// How an allowed request came to be allowed, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowedBy {
    RememberedConsent,
    ConsentPage,
}

impl AllowedBy {
    fn as_str(self) -> &'static str {
        match self {
            AllowedBy::RememberedConsent => "remembered consent",
            AllowedBy::ConsentPage => "consent page",
        }
    }
}

/// The successful answer to an authorization request (RFC 6749 §4.1.2, RFC 9207): where the
/// browser goes back to, and with which parameters.
#[derive(Debug)]
pub struct CodeResponse {
    /// The request's redirect URI, verified against the client's when the request arrived.
    pub redirect_uri: String,
    pub code: AuthorizationCode,
    /// The client's `state`, returned unchanged.
    pub state: Option<String>,
    /// RFC 9207: the issuer, so the client can tell which AS answered.
    pub iss: String,
}

/// Seals a fresh, short-lived code for the (consumed) request. Writes nothing: the code carries
/// what it is bound to (`sealed_code`), and the store records it once it is spent. A person's
/// decision on the consent page was recorded by [`remember`]; an answer from a remembered consent
/// is recorded here as a log line (`consent_granted`, "via remembered consent"), and in the
/// database by the `token_issued` event of the code's redemption.
pub fn issue_code(
    state: &AppState,
    context: &RequestContext,
    request: PendingAuthorization,
    user_id: &str,
    auth_time: i64,
    allowed_by: AllowedBy,
) -> CodeResponse {
    let now = state.now();
    let code = state.code_seal.seal(&CodeBinding {
        client_id: request.client_id.clone(),
        user_id: user_id.to_owned(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        code_challenge: request.code_challenge,
        resource: request.resource,
        auth_time,
        expires_at: now + secs(state.config.settings.authorization_code_ttl),
    });
    if allowed_by == AllowedBy::RememberedConsent {
        let mut event = AuditEvent::new(AuditKind::ConsentGranted)
            .client(&request.client_id)
            .user(user_id)
            .detail(format!("scope \"{}\" via {}", request.scope, allowed_by.as_str()));
        audit::stamp(context, &mut event);
        audit::log(&event);
    }
    CodeResponse {
        redirect_uri: request.redirect_uri,
        code: AuthorizationCode::new(code),
        state: request.state,
        iss: state.config.issuer.clone(),
    }
}

/// Records that the user denied the request.
pub async fn deny(state: &AppState, context: &RequestContext, request: &PendingAuthorization, user_id: &str) {
    let event = AuditEvent::new(AuditKind::ConsentDenied).client(&request.client_id).user(user_id);
    audit::record(state, context, event).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(scope: &str) -> Consent {
        Consent {
            user_id: "u".into(),
            client_id: "c".into(),
            resource: "http://localhost:9090".into(),
            scope: scope.into(),
            granted_at: 1,
        }
    }

    #[test]
    fn a_remembered_consent_answers_only_for_scopes_it_covers() {
        assert_eq!(policy(None, "echo"), ConsentDecision::Ask);
        assert_eq!(policy(Some(&consent("echo profile")), "echo"), ConsentDecision::Remembered);
        assert_eq!(policy(Some(&consent("echo profile")), "profile echo"), ConsentDecision::Remembered);
        assert_eq!(policy(Some(&consent("echo")), "echo profile"), ConsentDecision::Ask);
        assert_eq!(policy(Some(&consent("echo")), "bad\"scope"), ConsentDecision::Ask);
        assert_eq!(policy(Some(&consent("bad\"scope")), "echo"), ConsentDecision::Ask);
    }

    #[tokio::test]
    async fn decide_reads_the_consent_remembered_for_this_user_client_and_resource() {
        let database = crate::store::testing::TestDatabase::create().await.unwrap();
        let store = database.store();
        // Consents belong to a user and a client (foreign keys).
        let user =
            crate::admin::add_user(&store, "u", &protocol::secret::Password::new("a long password"), &[], 1)
                .await
                .unwrap();
        let client =
            crate::admin::add_client(&store, Some("c"), "C", vec!["https://c.example/cb".into()], false, 1)
                .await
                .unwrap();
        let ask = |scope| ConsentRequest {
            user_id: &user.id,
            client_id: &client.client_id,
            resource: "http://localhost:9090",
            scope,
        };

        assert_eq!(decide(&store, ask("echo")).await.unwrap(), ConsentDecision::Ask);
        remember(&store, &RequestContext::default(), ask("echo"), 2).await.unwrap();
        assert_eq!(decide(&store, ask("echo")).await.unwrap(), ConsentDecision::Remembered);
        assert_eq!(decide(&store, ask("echo profile")).await.unwrap(), ConsentDecision::Ask);
        let other_resource = ConsentRequest { resource: "http://localhost:9091", ..ask("echo") };
        assert_eq!(decide(&store, other_resource).await.unwrap(), ConsentDecision::Ask);

        remember(&store, &RequestContext::default(), ask("profile"), 3).await.unwrap();
        assert_eq!(decide(&store, ask("echo profile")).await.unwrap(), ConsentDecision::Remembered);
    }
}
