//! Out-of-band approvals of one tool call (CIBA-shaped), and standing approvals.
//!
//! A confidential client (the gateway) asks for an approval on behalf of a user; the request waits
//! as `pending` until that user, signed in to this server in a browser, approves or denies it; the
//! client polls with its `auth_req_id` and collects the token once (`approved` → `issued`). A
//! person who chose *Approve and remember* leaves a [`StandingApproval`] behind, which answers
//! later requests for the same client, upstream and tool without asking.

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
    pub status: ApprovalStatus,
    /// Seconds the client must wait between two polls.
    pub poll_interval: i64,
    pub last_polled_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
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
