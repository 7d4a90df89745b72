//! The audit trail: who did what, never with a secret. Also the memory of the login throttle.

/// Something worth a line in the audit trail. Identifiers only, never a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    ConsentGranted,
    ConsentDenied,
    ConsentRevoked,
    TokenIssued,
    RefreshRotated,
    RefreshReuseDetected,
    CodeReplayed,
    TokenRevoked,
    ClientRegistered,
    ClientAuthenticationFailed,
    TokenExchanged,
    TokenExchangeRefused,
    ApprovalRequested,
    ApprovalRequestRefused,
    ApprovalApproved,
    ApprovalDenied,
    ApprovalRefused,
    ApprovalTokenIssued,
    /// The client withdrew its request (`auth_req_id` given to `/revoke`).
    ApprovalWithdrawn,
    /// An operator changed what a client may obtain tokens for (`clients exchange-to`).
    ClientExchangeTargetsSet,
    StandingApprovalWithdrawn,
}

impl AuditKind {
    /// The name stored in the trail and written to the log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::LoginSucceeded => "login_succeeded",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::LoginThrottled => "login_throttled",
            AuditKind::ConsentGranted => "consent_granted",
            AuditKind::ConsentDenied => "consent_denied",
            AuditKind::ConsentRevoked => "consent_revoked",
            AuditKind::TokenIssued => "token_issued",
            AuditKind::RefreshRotated => "refresh_rotated",
            AuditKind::RefreshReuseDetected => "refresh_reuse_detected",
            AuditKind::CodeReplayed => "code_replayed",
            AuditKind::TokenRevoked => "token_revoked",
            AuditKind::ClientRegistered => "client_registered",
            AuditKind::ClientAuthenticationFailed => "client_authentication_failed",
            AuditKind::TokenExchanged => "token_exchanged",
            AuditKind::TokenExchangeRefused => "token_exchange_refused",
            AuditKind::ApprovalRequested => "approval_requested",
            AuditKind::ApprovalRequestRefused => "approval_request_refused",
            AuditKind::ApprovalApproved => "approval_approved",
            AuditKind::ApprovalDenied => "approval_denied",
            AuditKind::ApprovalRefused => "approval_refused",
            AuditKind::ApprovalTokenIssued => "approval_token_issued",
            AuditKind::ApprovalWithdrawn => "approval_withdrawn",
            AuditKind::ClientExchangeTargetsSet => "client_exchange_targets_set",
            AuditKind::StandingApprovalWithdrawn => "standing_approval_withdrawn",
        }
    }
}

/// One audit event.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub request_id: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub grant_id: Option<String>,
    pub username_key: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` with nothing else known yet; the builders below add what is.
    pub fn new(kind: AuditKind) -> Self {
        Self {
            kind,
            request_id: None,
            client_id: None,
            user_id: None,
            grant_id: None,
            username_key: None,
            ip: None,
            detail: None,
        }
    }

    pub fn client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }

    pub fn user(mut self, user_id: &str) -> Self {
        self.user_id = Some(user_id.to_owned());
        self
    }

    pub fn grant(mut self, grant_id: &str) -> Self {
        self.grant_id = Some(grant_id.to_owned());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// A stored event, as `audit list` and tests read it.
#[derive(Debug, Clone)]
pub struct StoredAuditEvent {
    pub at: i64,
    pub kind: String,
    pub request_id: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub grant_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}
