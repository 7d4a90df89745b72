//! The audit trail, and the counts the login throttle reads from it.

use super::{Store, StoreError};

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
}

impl AuditKind {
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
#[derive(Debug, Clone, sqlx::FromRow)]
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

impl Store {
    pub async fn record_audit(&self, event: &AuditEvent, now: i64) -> Result<(), StoreError> {
        let kind = event.kind.as_str();
        sqlx::query(
            "INSERT INTO audit_events (at, kind, request_id, client_id, user_id, grant_id, username_key, ip, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(now)
        .bind(kind)
        .bind(&event.request_id)
        .bind(&event.client_id)
        .bind(&event.user_id)
        .bind(&event.grant_id)
        .bind(&event.username_key)
        .bind(&event.ip)
        .bind(&event.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Failed logins since `since` for a username key, and the oldest of them.
    pub async fn failed_logins_for_username(
        &self,
        username_key: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM audit_events WHERE kind = 'login_failed' AND username_key = ? AND at > ?",
        )
        .bind(username_key)
        .bind(since)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Failed logins since `since` from an address, and the oldest of them.
    pub async fn failed_logins_from_ip(
        &self,
        ip: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM audit_events WHERE kind = 'login_failed' AND ip = ? AND at > ?",
        )
        .bind(ip)
        .bind(since)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The newest events first.
    pub async fn audit_events(&self, limit: i64) -> Result<Vec<StoredAuditEvent>, StoreError> {
        Ok(sqlx::query_as::<_, StoredAuditEvent>(
            "SELECT at, kind, request_id, client_id, user_id, grant_id, ip, detail FROM audit_events
             ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
