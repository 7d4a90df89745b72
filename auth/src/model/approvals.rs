//! Out-of-band approvals of one tool call (CIBA-shaped), and standing approvals.
//!
//! A confidential client (the gateway) asks for an approval on behalf of a user; the request waits
//! as `pending` until that user, signed in to this server in a browser, approves or denies it; the
//! client polls with its `auth_req_id` and collects the token once (`approved` → `issued`). A
//! person who chose *Approve and remember* leaves a [`StandingApproval`] behind, which answers
//! later requests for the same client, upstream and tool without asking.

use std::time::Duration;

/// Where an approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    /// Approved, and its token was collected: nothing more to get.
    Issued,
    /// The client withdrew it (its `auth_req_id` revoked) while pending or approved: final, so
    /// that neither the person's answer nor a poll racing the withdrawal can revive it.
    Withdrawn,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Issued => "issued",
            ApprovalStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(ApprovalStatus::Pending),
            "approved" => Some(ApprovalStatus::Approved),
            "denied" => Some(ApprovalStatus::Denied),
            "issued" => Some(ApprovalStatus::Issued),
            "withdrawn" => Some(ApprovalStatus::Withdrawn),
            _ => None,
        }
    }
}

/// A request for a person's approval of one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// Public id, in the approval page's URL.
    pub id: String,
    /// SHA-256 of the `auth_req_id` the client polls with (a secret: stored hashed).
    pub auth_req_hash: String,
    /// The client that asked (the gateway).
    pub client_id: String,
    /// The person who must answer.
    pub user_id: String,
    /// The grant of the subject token the client acts on: the token issued on approval hangs
    /// under it, and dies with it.
    pub grant_id: String,
    /// The claims of the token the client acts on (its `sub`, `client_id`, `auth_time` and actor
    /// chain carry over into the token issued on approval). Never the token itself.
    pub subject: protocol::jwt::AccessTokenClaims,
    /// The upstream the call goes to.
    pub resource: String,
    /// The scope of the token issued on approval.
    pub scope: String,
    pub tool: String,
    pub arguments_sha256: String,
    pub arguments_summary: Option<String>,
    pub binding_message: Option<String>,
    /// The client asked for this very call to be approved (`prompt=consent`): no standing
    /// approval answers it, so none is offered or stored from it.
    pub always_ask: bool,
    /// The client lets a standing approval answer its requests only if given at most this many
    /// seconds before (`approval_max_age`, a gateway's `@consent("PT1H")`): remembering this
    /// call for longer would promise what it does not keep, so no longer choice is offered.
    pub approval_max_age: Option<i64>,
    pub status: ApprovalStatus,
    /// Seconds the client must wait between two polls.
    pub poll_interval: i64,
    pub last_polled_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
}

impl ApprovalRequest {
    /// Approved when it was made: a standing approval answered it, not the person (or, rarely, the
    /// person within the second it was made; either way the safe reading for
    /// [`Self::asks_the_same_as`]'s caller, which then checks the standing approvals anew).
    pub fn approved_by_standing_approval(&self) -> bool {
        self.status == ApprovalStatus::Approved && self.decided_at == Some(self.created_at)
    }

    /// Whether `other` asks the person about the same thing as this request: the same client,
    /// for the same person, on the same grant (and so the same application), the same call (tool,
    /// upstream, arguments), for the same token scope, under the same conditions (`always_ask`,
    /// `approval_max_age`). A client asking again for a call that waits (a gateway restarted, or
    /// another replica of it) is then given that request, not a second one for the person.
    pub fn asks_the_same_as(&self, other: &ApprovalRequest) -> bool {
        self.client_id == other.client_id
            && self.user_id == other.user_id
            && self.grant_id == other.grant_id
            && self.subject.client_id == other.subject.client_id
            && self.resource == other.resource
            && self.scope == other.scope
            && self.tool == other.tool
            && self.arguments_sha256 == other.arguments_sha256
            && self.always_ask == other.always_ask
            && self.approval_max_age == other.approval_max_age
    }

    /// What opening this request finds among `live` (the client's unexpired pending or approved
    /// requests for the person): one that asks the same ([`Self::asks_the_same_as`]) and was not
    /// answered by a standing approval (whether one still stands is checked anew instead), to
    /// give instead; else [`Opening::Full`] if `max_pending` of them are pending; else `None`:
    /// store it. The one rule both backends apply inside their one step.
    pub fn opening_among(&self, live: Vec<ApprovalRequest>, max_pending: i64) -> Option<Opening> {
        let pending = live.iter().filter(|r| r.status == ApprovalStatus::Pending).count();
        if let Some(waiting) = live
            .into_iter()
            .find(|waiting| waiting.asks_the_same_as(self) && !waiting.approved_by_standing_approval())
        {
            return Some(Opening::Waiting(Box::new(waiting)));
        }
        (i64::try_from(pending).unwrap_or(i64::MAX) >= max_pending).then_some(Opening::Full)
    }

    /// For how long the person may choose to remember their approval, of the server's
    /// `configured` choices: not at all for a request that asks each time; otherwise each choice
    /// that a standing approval would keep for its whole life, and, if the client's
    /// `approval_max_age` cut a longer choice, that age itself (ascending, no duplicates).
    pub fn remember_choices(&self, configured: &[Duration]) -> Vec<Duration> {
        if self.always_ask {
            return Vec::new();
        }
        let max_age = self
            .approval_max_age
            .map_or(Duration::MAX, |age| Duration::from_secs(u64::try_from(age).unwrap_or_default()));
        let mut choices: Vec<Duration> = configured.iter().map(|choice| (*choice).min(max_age)).collect();
        choices.retain(|choice| !choice.is_zero());
        choices.sort_unstable();
        choices.dedup();
        choices
    }
}

/// "Approve and remember": a user's approval of `tool` on `resource` for calls `client_id` (the
/// gateway) makes on behalf of `subject_client_id` (the application the person uses), until
/// `expires_at`. `arguments_sha256` `None` covers any arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingApproval {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    /// The client of the token the approved calls act on: the application the person approved
    /// them for. Another application of theirs is asked again.
    pub subject_client_id: String,
    pub resource: String,
    pub tool: String,
    pub arguments_sha256: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A person's answer to an approval request.
#[derive(Debug, Clone)]
pub enum ApprovalDecision {
    Approve {
        /// Remember the approval as well (a standing approval to store with the decision).
        remember: Option<StandingApproval>,
    },
    Deny,
}

/// The outcome of [`crate::store::Store::decide_approval`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// This decision was recorded; the request as it now stands.
    Recorded(Box<ApprovalRequest>),
    /// The request is another user's: nothing changed.
    NotYours,
    /// No such request, or it expired, or it was answered already: nothing changed.
    Gone,
}

/// The outcome of [`crate::store::Store::open_approval`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// The request was stored.
    Inserted,
    /// A request that asks the same waits already (pending, or approved by the person and not
    /// collected): this one. Nothing was stored.
    Waiting(Box<ApprovalRequest>),
    /// The client has this many requests waiting for the person already. Nothing was stored.
    Full,
}

/// The outcome of [`crate::store::Store::poll_approval`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// No request with this handle for this client.
    Unknown,
    /// Polled before `interval` seconds had passed since the last poll; the interval has grown
    /// (OpenID CIBA §11: by 5 s) and is now this.
    TooSoon { interval: i64 },
    /// The request as it stands; this poll is recorded.
    Polled(Box<ApprovalRequest>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(always_ask: bool, approval_max_age: Option<i64>) -> ApprovalRequest {
        ApprovalRequest {
            id: "r".into(),
            auth_req_hash: "h".into(),
            client_id: "gateway".into(),
            user_id: "u".into(),
            grant_id: "g".into(),
            subject: serde_json::from_value(serde_json::json!({
                "iss": "i", "aud": "a", "sub": "u", "client_id": "app", "iat": 0, "exp": 60, "jti": "j"
            }))
            .unwrap(),
            resource: "http://localhost:9090".into(),
            scope: "notes:write".into(),
            tool: "delete_note".into(),
            arguments_sha256: "0".repeat(64),
            arguments_summary: None,
            binding_message: None,
            always_ask,
            approval_max_age,
            status: ApprovalStatus::Pending,
            poll_interval: 5,
            last_polled_at: None,
            created_at: 0,
            expires_at: 300,
            decided_at: None,
        }
    }

    #[test]
    fn a_request_asks_the_same_as_another_only_for_the_same_call_under_the_same_conditions() {
        let first = request(false, Some(3600));
        let later = ApprovalRequest {
            id: "another".into(),
            auth_req_hash: "another".into(),
            arguments_summary: Some("id = 7".into()),
            binding_message: Some("again".into()),
            created_at: 10,
            expires_at: 400,
            ..first.clone()
        };
        assert!(first.asks_the_same_as(&later) && later.asks_the_same_as(&first));
        let mut app = first.clone();
        app.subject.client_id = "another app".into();
        let differing = [
            ApprovalRequest { client_id: "another gateway".into(), ..first.clone() },
            ApprovalRequest { user_id: "someone else".into(), ..first.clone() },
            ApprovalRequest { grant_id: "another grant".into(), ..first.clone() },
            app,
            ApprovalRequest { resource: "http://localhost:9091".into(), ..first.clone() },
            ApprovalRequest { scope: "notes:read".into(), ..first.clone() },
            ApprovalRequest { tool: "add_note".into(), ..first.clone() },
            ApprovalRequest { arguments_sha256: "1".repeat(64), ..first.clone() },
            ApprovalRequest { always_ask: true, ..first.clone() },
            ApprovalRequest { approval_max_age: None, ..first.clone() },
        ];
        for other in differing {
            assert!(!first.asks_the_same_as(&other), "{other:?}");
        }
    }

    #[test]
    fn only_what_a_standing_approval_would_keep_is_offered_to_remember() {
        let hours = |hours: &[u64]| hours.iter().map(|h| Duration::from_secs(h * 3600)).collect::<Vec<_>>();
        let configured = hours(&[1, 24]);
        let offered = |always_ask, max_age| request(always_ask, max_age).remember_choices(&configured);
        let none: Vec<Duration> = Vec::new();
        assert_eq!(offered(false, None), configured);
        assert_eq!(offered(true, None), none);
        assert_eq!(offered(true, Some(86_400)), none);
        assert_eq!(offered(false, Some(86_400)), configured);
        assert_eq!(offered(false, Some(7 * 86_400)), configured);
        assert_eq!(offered(false, Some(7200)), hours(&[1, 2]));
        assert_eq!(offered(false, Some(3600)), hours(&[1]));
        assert_eq!(offered(false, Some(600)), [Duration::from_secs(600)]);
        assert_eq!(offered(false, Some(0)), none, "a standing approval would answer nothing");
        assert_eq!(offered(false, Some(-5)), none);
        let unsorted = [
            Duration::from_secs(86_400),
            Duration::ZERO,
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        ];
        assert_eq!(request(false, None).remember_choices(&unsorted), configured);
    }
}
