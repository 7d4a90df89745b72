//! Recording audit events: one call writes the event to the database and to the log (target
//! `audit`), tagged with the request id and the client address from [`RequestContext`].

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serve::client_addr::ClientAddr;
use tower_http::request_id::RequestId;

use crate::state::AppState;
use crate::store::AuditEvent;

/// Who is asking: the request id (also in the `x-request-id` response header) and the client's
/// IP: the peer's, or behind a `--trusted-proxy` the one its forwarding header names
/// ([`ClientAddr`]). The login throttle counts failures per this address.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub ip: Option<IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .map(str::to_owned);
        let ip = ClientAddr::of(parts).map(|ClientAddr(ip)| ip);
        Ok(Self { request_id, ip })
    }
}

/// Records `event` for the request in `context`. A failure to write the trail is logged, not
/// turned into a failed request: the event is in the log either way.
pub async fn record(state: &AppState, context: &RequestContext, mut event: AuditEvent) {
    stamp(context, &mut event);
    log(&event);
    if let Err(error) = state.store.record_audit(&event, state.now()).await {
        tracing::error!(%error, kind = event.kind.as_str(), "could not write the audit trail");
    }
}

/// Tags `event` with the request id and the client address of `context`: for an event the store
/// writes inside another write's transaction (a refresh token's rotation), then [`log`]ged.
pub fn stamp(context: &RequestContext, event: &mut AuditEvent) {
    event.request_id = context.request_id.clone();
    if event.ip.is_none() {
        event.ip = context.ip.map(|ip| ip.to_string());
    }
}

/// The log line of `event` (target `audit`).
pub fn log(event: &AuditEvent) {
    tracing::info!(
        target: "audit",
        kind = event.kind.as_str(),
        request_id = event.request_id.as_deref().unwrap_or("-"),
        client_id = event.client_id.as_deref().unwrap_or("-"),
        user_id = event.user_id.as_deref().unwrap_or("-"),
        grant_id = event.grant_id.as_deref().unwrap_or("-"),
        ip = event.ip.as_deref().unwrap_or("-"),
        detail = event.detail.as_deref().unwrap_or(""),
    );
}
