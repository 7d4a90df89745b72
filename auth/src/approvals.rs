//! Out-of-band approval of one tool call: OpenID CIBA Core 1.0 in poll mode, adapted to MCP.
//!
//! A headless agent cannot show a consent page, and must not be able to approve its own calls. So:
//! 1. A confidential client acting for the user's token (the gateway) asks at `POST /bc-authorize`
//!    ([`start`]), describing the call in `authorization_details` (RFC 9396, type
//!    `mcp_tool_call`), and gets an `auth_req_id`.
//! 2. The person, signed in to this server in their own browser, sees the request at
//!    `/approvals` and answers *Approve once*, *Approve and remember for …* or *Deny*
//!    ([`decide`]). A bearer token cannot answer: the page needs the browser session and its CSRF
//!    token, and only the user the request is for may answer it.
//! 3. The client polls `/token` with `grant_type=urn:openid:params:grant-type:ciba`
//!    ([`collect`]): `authorization_pending`, `slow_down` (polling faster than the interval),
//!    `access_denied`, `expired_token`, or once, the token: for the upstream, with `act` naming
//!    the client, a short life, and the approved `authorization_details`.
//!
//! *Remember* leaves a standing approval (user, client, upstream, tool; any arguments, or only
//! the arguments of the call approved) that
//! answers later requests at once, for that client only. `prompt=none` asks whether one exists
//! without prompting anyone: the answer is an approved request, or `consent_required`;
//! `prompt=consent` asks the person whatever stands (a policy's `@consent("once")`), and
//! `approval_max_age=<seconds>` lets only a standing approval given that recently answer (a
//! policy's `@consent("PT1H")`). Every step
//! is an audit event; expired requests are swept.
//!
//! A client asking again for a call that waits (pending, or approved and not collected) is given
//! that request and its `auth_req_id` again, not a second request for the person: a gateway that
//! restarted, or another replica of it, asks for the call it has in hand. The `auth_req_id` is
//! derived from the request's id under the server's secret
//! ([`crate::sealed_code::CodeSeal::approval_handle`]), so it can be given again though the store
//! keeps only its hash.

use std::time::Duration;

use protocol::authorization_details::{AuthorizationDetail, ToolCall};
use protocol::error::ErrorCode;
use protocol::scope::Scopes;
use protocol::secret::{AccessToken, AuthReqId};
use protocol::token::{BackchannelAuthenticationResponse, TokenResponse};

use crate::audit::{self, RequestContext};
use crate::error::ApiError;
use crate::exchange::{Ancestry, ancestry, check_actor, may_target, subject_token, target_scope};
use crate::issuance::{Delegation, groups_for, issue_delegated};
use crate::routes::{FromParams, Params};
use crate::state::{AppState, secs};
use crate::store::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, AuditEvent, AuditKind, Client, Decided, Opening, Poll,
    StandingApproval, StandingKey, StoreError,
};
use crate::{digest, random};

/// Longest binding message shown to the person, in characters.
pub const MAX_BINDING_MESSAGE: usize = 100;
/// Most requests of one client that may wait for one person at a time: a client (or whoever holds
/// its credentials) cannot bury a person's approval page under requests. Counted before each new
/// request, so concurrent requests may pass it by a few; it bounds a flood, not a quota.
pub const MAX_PENDING_PER_CLIENT: i64 = 10;

/// A backchannel authentication request (OpenID CIBA Core §7.1, adapted): for whom, on which
/// token, for which call.
#[derive(Debug)]
pub struct BackchannelRequest {
    /// The `sub` of the user who must approve; the subject token's.
    pub login_hint: String,
    pub subject_token: AccessToken,
    pub call: ToolCall,
    pub binding_message: Option<String>,
    /// Seconds the client is willing to wait; capped by the server.
    pub requested_expiry: Option<u64>,
    /// The scope of the token to issue; all the subject's scopes the upstream knows by default.
    pub scope: Option<String>,
    /// `prompt=none`: answer only from a standing approval, never ask the person.
    pub no_prompt: bool,
    /// `prompt=consent`: ask the person even if a standing approval covers the call (a policy
    /// that wants every such call approved by hand).
    pub always_ask: bool,
    /// `approval_max_age`: a standing approval answers only if the person gave it at most this
    /// many seconds ago (a policy that lets an approval be remembered for an hour, say).
    pub approval_max_age: Option<u64>,
}

impl FromParams for BackchannelRequest {
    fn from_params(params: Params) -> Result<Self, ApiError> {
        let invalid_details = |why: String| ApiError::new(ErrorCode::InvalidAuthorizationDetails, why);
        let login_hint = params.required("login_hint")?.to_owned();
        let subject_token = AccessToken::new(params.required("subject_token")?);
        let details: Vec<AuthorizationDetail> =
            serde_json::from_str(params.required("authorization_details")?).map_err(|e| {
                invalid_details(format!("authorization_details is not a JSON array of objects: {e}"))
            })?;
        let [detail] = details.as_slice() else {
            return Err(invalid_details("authorization_details describes exactly one tool call".into()));
        };
        let call = ToolCall::check(detail).map_err(invalid_details)?;
        let binding_message = params.get("binding_message").map(str::to_owned);
        if let Some(message) = &binding_message
            && (message.chars().count() > MAX_BINDING_MESSAGE || message.chars().any(char::is_control))
        {
            return Err(ApiError::new(
                ErrorCode::InvalidBindingMessage,
                format!(
                    "binding_message is at most {MAX_BINDING_MESSAGE} characters without control characters"
                ),
            ));
        }
        let requested_expiry = match params.get("requested_expiry") {
            None => None,
            Some(value) => Some(value.parse::<u64>().ok().filter(|&v| v > 0).ok_or_else(|| {
                ApiError::invalid_request("requested_expiry is a positive number of seconds")
            })?),
        };
        let approval_max_age = match params.get("approval_max_age") {
            None => None,
            Some(value) => Some(
                value
                    .parse::<u64>()
                    .ok()
                    .ok_or_else(|| ApiError::invalid_request("approval_max_age is a number of seconds"))?,
            ),
        };
        let (no_prompt, always_ask) = match params.get("prompt") {
            None => (false, false),
            Some("none") => (true, false),
            Some("consent") => (false, true),
            Some(_) => return Err(ApiError::invalid_request("prompt is \"none\", \"consent\" or absent")),
        };
        Ok(Self {
            login_hint,
            subject_token,
            call,
            binding_message,
            requested_expiry,
            scope: params.get("scope").map(str::to_owned),
            no_prompt,
            always_ask,
            approval_max_age,
        })
    }
}

/// `POST /bc-authorize` for an authenticated confidential client: checks the request, answers at
/// once from a standing approval, or leaves it for the person. Audited either way.
pub async fn start(
    state: &AppState,
    context: &RequestContext,
    client: &Client,
    request: BackchannelRequest,
) -> Result<BackchannelAuthenticationResponse, ApiError> {
    let mut event = AuditEvent::new(AuditKind::ApprovalRequested).client(&client.client_id);
    let summary = format!("tool {} on {}", request.call.tool, request.call.location);
    let outcome = open(state, client, &request, &mut event).await;
    let event = match &outcome {
        Ok((_, Opened::Standing)) => event.detail(format!("{summary}; approved by a standing approval")),
        Ok((_, Opened::Waiting)) => event.detail(format!("{summary}; waiting for the person")),
        Ok((_, Opened::Joined(id))) => {
            event.detail(format!("{summary}; the same call waits for the person already (request {id})"))
        }
        Err(error) => {
            event.kind = AuditKind::ApprovalRequestRefused;
            event.detail(format!("{summary}; refused: {}", error.body))
        }
    };
    audit::record(state, context, event).await;
    outcome.map(|(response, _)| response)
}

/// The request as stored (or the same one already waiting), and how it was answered.
async fn open(
    state: &AppState,
    client: &Client,
    request: &BackchannelRequest,
    event: &mut AuditEvent,
) -> Result<(BackchannelAuthenticationResponse, Opened), ApiError> {
    let now = state.now();
    let subject = subject_token(state, request.subject_token.secret(), now).await?;
    event.user_id = Some(subject.claims.sub.clone());
    event.grant_id = Some(subject.grant.id.clone());
    check_actor(client, &subject)?;
    // A token bound to one approved call is good for that call only (as for an exchange): asked
    // on, it would also hang a new request outside the chain its own subject token heads, where
    // revoking that token cannot reach it.
    if subject.claims.authorization_details.as_ref().is_some_and(|details| !details.is_empty()) {
        return Err(ApiError::invalid_request(
            "a token bound to an approved call cannot be the subject of another",
        ));
    }
    if request.login_hint != subject.claims.sub {
        return Err(ApiError::new(ErrorCode::UnknownUserId, "login_hint is not the subject token's user"));
    }
    if !may_target(client, &request.call.location) {
        return Err(ApiError::new(
            ErrorCode::InvalidAuthorizationDetails,
            "this client is not registered to obtain tokens for that location",
        ));
    }
    let target = state.config.resource(&request.call.location).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidAuthorizationDetails, "the location is not a resource of this server")
    })?;
    let subject_scope = Scopes::parse(subject.claims.scope.as_deref().unwrap_or_default())
        .map_err(|_| ApiError::invalid_grant("the subject token's scope is malformed"))?;
    let scope = target_scope(request.scope.as_deref(), &subject_scope, &target.scopes)?;

    let settings = &state.config.settings.approvals;
    let max_expiry = secs(settings.max_expiry);
    let expires_in = request
        .requested_expiry
        .map_or(secs(settings.default_expiry), |asked| i64::try_from(asked).unwrap_or(i64::MAX))
        .min(max_expiry);
    let standing = if request.always_ask {
        None
    } else {
        state
            .store
            .find_standing_approval(
                StandingKey {
                    user_id: &subject.claims.sub,
                    client_id: &client.client_id,
                    subject_client_id: &subject.claims.client_id,
                    resource: &target.resource,
                    tool: &request.call.tool,
                    arguments_sha256: &request.call.arguments_sha256,
                    approved_since: request
                        .approval_max_age
                        .map_or(i64::MIN, |age| now.saturating_sub(i64::try_from(age).unwrap_or(i64::MAX))),
                },
                now,
            )
            .await?
    };
    if standing.is_none() && request.no_prompt {
        return Err(ApiError::new(
            ErrorCode::ConsentRequired,
            "no standing approval covers this call; ask again without prompt=none",
        ));
    }
    let id = random::token();
    let auth_req_id = state.code_seal.approval_handle(&id);
    let record = ApprovalRequest {
        id,
        auth_req_hash: digest::sha256(&auth_req_id),
        client_id: client.client_id.clone(),
        user_id: subject.claims.sub.clone(),
        grant_id: subject.grant.id.clone(),
        subject: subject.claims.clone(),
        resource: target.resource.clone(),
        scope: scope.to_string(),
        tool: request.call.tool.clone(),
        arguments_sha256: request.call.arguments_sha256.clone(),
        arguments_summary: request.call.arguments_summary.clone(),
        binding_message: request.binding_message.clone(),
        always_ask: request.always_ask,
        approval_max_age: request.approval_max_age.map(|age| i64::try_from(age).unwrap_or(i64::MAX)),
        status: if standing.is_some() { ApprovalStatus::Approved } else { ApprovalStatus::Pending },
        poll_interval: secs(settings.poll_interval),
        last_polled_at: None,
        created_at: now,
        expires_at: now.saturating_add(expires_in),
        decided_at: standing.as_ref().map(|_| now),
    };
    if standing.is_some() {
        state.store.insert_approval(&record).await?;
        return Ok((answer(auth_req_id, &record, now), Opened::Standing));
    }
    // The same call may wait for the person already: asked by this client before it restarted,
    // or by another replica of it that the call was first sent to. The person is not asked
    // twice; the client is given that request's handle (derived again, never stored).
    match state.store.open_approval(&record, MAX_PENDING_PER_CLIENT, now).await? {
        Opening::Inserted => return Ok((answer(auth_req_id, &record, now), Opened::Waiting)),
        Opening::Full => return Err(too_many()),
        Opening::Waiting(waiting) => {
            let handle = state.code_seal.approval_handle(&waiting.id);
            if digest::sha256(&handle) == waiting.auth_req_hash {
                let response = answer(handle, &waiting, now);
                return Ok((response, Opened::Joined(waiting.id)));
            }
        }
    }
    // A request from before handles were derived has a random one, which cannot be given again:
    // this one is stored beside it, within the limit (such requests expire within the longest
    // approval expiry; until then two replicas asking at once may store two).
    if state.store.count_pending_approvals(&record.user_id, &record.client_id, now).await?
        >= MAX_PENDING_PER_CLIENT
    {
        return Err(too_many());
    }
    state.store.insert_approval(&record).await?;
    Ok((answer(auth_req_id, &record, now), Opened::Waiting))
}

/// The refusal of a request beyond [`MAX_PENDING_PER_CLIENT`].
fn too_many() -> ApiError {
    ApiError::new(
        ErrorCode::AccessDenied,
        format!("{MAX_PENDING_PER_CLIENT} requests of this client already wait for this person's answer"),
    )
}

/// How `/bc-authorize` was answered.
#[derive(Debug, PartialEq, Eq)]
enum Opened {
    /// A standing approval answered at once.
    Standing,
    /// A new request waits for the person.
    Waiting,
    /// The same call waited already: this request (its id).
    Joined(String),
}

/// The backchannel answer for `request`, whose handle is `auth_req_id`.
fn answer(auth_req_id: String, request: &ApprovalRequest, now: i64) -> BackchannelAuthenticationResponse {
    BackchannelAuthenticationResponse {
        auth_req_id: AuthReqId::new(auth_req_id),
        expires_in: u64::try_from(request.expires_at.saturating_sub(now)).unwrap_or_default(),
        interval: u64::try_from(request.poll_interval).ok(),
    }
}

/// Polling `/token` with `grant_type=urn:openid:params:grant-type:ciba`: where the request stands,
/// or, once, the token bound to the approved call.
pub async fn collect(
    state: &AppState,
    context: &RequestContext,
    client: &Client,
    auth_req_id: &AuthReqId,
) -> Result<TokenResponse, ApiError> {
    let now = state.now();
    let hash = digest::sha256(auth_req_id.secret());
    let spacing = secs(state.config.settings.approvals.poll_interval);
    let request = match state.store.poll_approval(&hash, &client.client_id, spacing, now).await? {
        Poll::Unknown => return Err(ApiError::invalid_grant("unknown auth_req_id")),
        Poll::TooSoon { interval } => {
            return Err(ApiError::new(
                ErrorCode::SlowDown,
                format!("polling faster than the interval; wait {interval} s between polls"),
            ));
        }
        Poll::Polled(request) => request,
    };
    match request.status {
        ApprovalStatus::Issued => {
            return Err(ApiError::invalid_grant("the token of this request was already issued"));
        }
        ApprovalStatus::Withdrawn => {
            return Err(ApiError::new(ErrorCode::ExpiredToken, "the client withdrew the request"));
        }
        _ if request.expires_at <= now => {
            return Err(ApiError::new(ErrorCode::ExpiredToken, "the request expired before it was answered"));
        }
        ApprovalStatus::Pending => {
            return Err(ApiError::new(ErrorCode::AuthorizationPending, "the person has not answered yet"));
        }
        ApprovalStatus::Denied => {
            return Err(ApiError::new(ErrorCode::AccessDenied, "the person denied the call"));
        }
        ApprovalStatus::Approved => {}
    }

    // Approved: the token is issued only while what it derives from still stands.
    let grant = state.store.find_grant(&request.grant_id).await?.filter(|grant| grant.is_live(now));
    let subject_revoked = match state.store.find_access_token(&request.subject.jti).await? {
        // Swept after its expiry: the approval is bound to the grant. Revoking the token, or one
        // it descends from, ended the request already: the sweep keeps an exchanged token's
        // record while its parent's stands, so the chain is there to walk down while the token
        // revoked is. Once that one is swept too, revoking the grant ends the request.
        None => false,
        Some((record, _)) => {
            record.revoked_at.is_some()
                || ancestry(&state.store, record.parent_jti.as_deref()).await? == Ancestry::Revoked
        }
    };
    let Some(grant) = grant.filter(|_| !subject_revoked) else {
        return Err(ApiError::invalid_grant("the user's grant has been revoked"));
    };
    // The client's registration may have changed since it asked (`clients exchange-to`).
    if !may_target(client, &request.resource) {
        return Err(ApiError::invalid_grant("this client is no longer registered to obtain tokens there"));
    }
    if !state.store.collect_approval(&request.id).await? {
        return Err(ApiError::invalid_grant("the token of this request was already issued"));
    }
    let scope =
        Scopes::parse(&request.scope).map_err(|_| ApiError::invalid_grant("the request is corrupt"))?;
    let call = ToolCall {
        location: request.resource.clone(),
        tool: request.tool.clone(),
        arguments_sha256: request.arguments_sha256.clone(),
        arguments_summary: request.arguments_summary.clone(),
    };
    let groups = groups_for(state, &request.resource, &request.user_id).await?;
    let mut issued = issue_delegated(
        state,
        Delegation {
            subject: &request.subject,
            grant_id: &grant.id,
            actor: &client.client_id,
            resource: &request.resource,
            scope: &scope,
            groups,
            authorization_details: Some(vec![call.to_detail()]),
            // The subject token may have expired while the person read the page; the approval
            // is bound to the grant, which must still live.
            not_after: grant.expires_at,
        },
        now,
    )?;
    // Bound to the grant, not to the subject token (which may be gone by now): revoking the grant
    // ends it.
    issued.access.parent_jti = None;
    state.store.record_access_token(&issued.access).await?;
    let event = AuditEvent::new(AuditKind::ApprovalTokenIssued)
        .client(&client.client_id)
        .user(&request.user_id)
        .grant(&grant.id)
        .detail(format!("tool {} on {}; request {}", request.tool, request.resource, request.id));
    audit::record(state, context, event).await;
    Ok(issued.response)
}

/// The person's answer on the approval page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    ApproveOnce,
    /// Approve, and remember for this long (one of the request's
    /// [`ApprovalRequest::remember_choices`]): for any arguments of the tool, or only for the
    /// arguments of this call (`same_arguments`).
    Remember {
        duration: Duration,
        same_arguments: bool,
    },
    Deny,
}

impl Choice {
    /// Reads the page's `decision` field (`once`, `deny`, `remember-<seconds>` or
    /// `remember-same-<seconds>`); `None` for anything else. Whether the request offered that
    /// many seconds, [`decide`] checks.
    pub fn parse(decision: &str) -> Option<Self> {
        match decision {
            "once" => Some(Choice::ApproveOnce),
            "deny" => Some(Choice::Deny),
            other => {
                let remember = other.strip_prefix("remember-")?;
                let (same_arguments, seconds) = match remember.strip_prefix("same-") {
                    Some(seconds) => (true, seconds),
                    None => (false, remember),
                };
                let seconds: u64 = seconds.parse().ok()?;
                Some(Choice::Remember { duration: Duration::from_secs(seconds), same_arguments })
            }
        }
    }
}

/// What became of an answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Answered {
    Recorded,
    /// The request is another user's.
    NotYours,
    /// Answered before, expired, or never existed.
    Gone,
    /// To remember for a time the request does not offer (a form not from its page): nothing
    /// changed.
    NotOffered,
}

/// Records the signed-in user's answer to approval request `id`. Audited, including an attempt
/// to answer someone else's request, or with a choice the request does not offer.
pub async fn decide(
    state: &AppState,
    context: &RequestContext,
    user_id: &str,
    id: &str,
    choice: Choice,
) -> Result<Answered, StoreError> {
    let now = state.now();
    let request = state.store.find_approval(id).await?;
    // Only what the request's page offers (nothing for a request asking for this very call, no
    // longer than the client lets a standing approval answer); someone else's request is refused
    // and audited below whatever was chosen.
    if let (Choice::Remember { duration, .. }, Some(request)) = (choice, &request)
        && request.user_id == user_id
        && !request.remember_choices(&state.config.settings.approvals.remember_choices).contains(&duration)
    {
        let event = AuditEvent::new(AuditKind::ApprovalRefused)
            .user(user_id)
            .client(&request.client_id)
            .grant(&request.grant_id)
            .detail(format!(
                "request {id}: to remember for {} s, which it does not offer",
                duration.as_secs()
            ));
        audit::record(state, context, event).await;
        return Ok(Answered::NotOffered);
    }
    let decision = match (choice, &request) {
        (Choice::Deny, _) => ApprovalDecision::Deny,
        (Choice::ApproveOnce, _) | (Choice::Remember { .. }, None) => {
            ApprovalDecision::Approve { remember: None }
        }
        (Choice::Remember { duration, same_arguments }, Some(request)) => ApprovalDecision::Approve {
            remember: Some(StandingApproval {
                id: random::token(),
                user_id: user_id.to_owned(),
                client_id: request.client_id.clone(),
                subject_client_id: request.subject.client_id.clone(),
                resource: request.resource.clone(),
                tool: request.tool.clone(),
                arguments_sha256: same_arguments.then(|| request.arguments_sha256.clone()),
                created_at: now,
                expires_at: now + secs(duration),
            }),
        },
    };
    let outcome = state.store.decide_approval(id, user_id, &decision, now).await?;
    let (kind, detail, answered) = match (&outcome, choice) {
        (Decided::Recorded(_), Choice::Deny) => {
            (AuditKind::ApprovalDenied, "denied".to_owned(), Answered::Recorded)
        }
        (Decided::Recorded(_), Choice::ApproveOnce) => {
            (AuditKind::ApprovalApproved, "approved once".to_owned(), Answered::Recorded)
        }
        (Decided::Recorded(_), Choice::Remember { duration, same_arguments }) => (
            AuditKind::ApprovalApproved,
            format!(
                "approved and remembered for {} s, {}",
                duration.as_secs(),
                if same_arguments { "these arguments only" } else { "any arguments" }
            ),
            Answered::Recorded,
        ),
        (Decided::NotYours, _) => {
            (AuditKind::ApprovalRefused, "another user's request".to_owned(), Answered::NotYours)
        }
        (Decided::Gone, _) => return Ok(Answered::Gone),
    };
    let mut event = AuditEvent::new(kind).user(user_id).detail(format!("request {id}: {detail}"));
    if let Some(request) = &request
        && answered == Answered::Recorded
    {
        event = event.client(&request.client_id).grant(&request.grant_id);
    }
    audit::record(state, context, event).await;
    Ok(answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_is_read_from_the_pages_field() {
        assert_eq!(Choice::parse("once"), Some(Choice::ApproveOnce));
        assert_eq!(Choice::parse("deny"), Some(Choice::Deny));
        let remember = |seconds, same_arguments| {
            Some(Choice::Remember { duration: Duration::from_secs(seconds), same_arguments })
        };
        assert_eq!(Choice::parse("remember-3600"), remember(3600, false));
        assert_eq!(Choice::parse("remember-same-86400"), remember(86_400, true));
        assert_eq!(Choice::parse("remember-same-600"), remember(600, true), "decide checks it is offered");
        for bad in ["remember-forever", "remember--1", "remember-", "remember-same-", "approve", "ONCE", ""] {
            assert_eq!(Choice::parse(bad), None, "{bad}");
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<std::collections::HashMap<_, _>>()
            .into()
    }

    const DETAILS: &str = r#"[{"type":"mcp_tool_call","locations":["http://localhost:9090"],"actions":["tools/call"],"identifier":"delete_note","arguments_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]"#;

    fn code(pairs: &[(&str, &str)]) -> String {
        BackchannelRequest::from_params(params(pairs)).unwrap_err().body.error.as_str().to_owned()
    }

    #[test]
    fn a_backchannel_request_reads_and_refuses_what_it_cannot_show() {
        let base = [("login_hint", "u"), ("subject_token", "t"), ("authorization_details", DETAILS)];
        let request = BackchannelRequest::from_params(params(&base)).unwrap();
        assert_eq!(request.call.tool, "delete_note");
        assert!(!request.no_prompt);

        let with = |extra: (&'static str, &'static str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            pairs
        };
        assert_eq!(code(&with(("binding_message", &*"x".repeat(101).leak()))), "invalid_binding_message");
        assert_eq!(code(&with(("binding_message", "a\nb"))), "invalid_binding_message");
        assert_eq!(code(&with(("requested_expiry", "0"))), "invalid_request");
        assert_eq!(code(&with(("requested_expiry", "soon"))), "invalid_request");
        assert_eq!(code(&with(("prompt", "login"))), "invalid_request");
        assert!(BackchannelRequest::from_params(params(&with(("prompt", "none")))).unwrap().no_prompt);
        assert!(BackchannelRequest::from_params(params(&with(("prompt", "consent")))).unwrap().always_ask);
        assert_eq!(code(&base[..2]), "invalid_request");
        let mut bad = base.to_vec();
        bad[2] = ("authorization_details", "{}");
        assert_eq!(code(&bad), "invalid_authorization_details");
        bad[2] = ("authorization_details", "[]");
        assert_eq!(code(&bad), "invalid_authorization_details");
        bad[2] = ("authorization_details", r#"[{"type":"payment"}]"#);
        assert_eq!(code(&bad), "invalid_authorization_details");
    }
}
