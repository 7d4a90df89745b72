//! What every handler may need, built once at startup.

use std::sync::Arc;

use axum::extract::FromRef;
use mcp_bearer::ResourceGuard;
use protocol::metadata::ProtectedResourceMetadata;

use crate::mcp::McpService;

/// The handlers' state, behind one `Arc`: axum clones the state for every request, and one
/// reference count is all that should cost.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    /// Token validation and where this resource's metadata is (for challenges).
    pub guard: ResourceGuard,
    /// This server's RFC 9728 document.
    pub metadata: ProtectedResourceMetadata,
    /// Tools and sessions of `/mcp`.
    pub mcp: McpService,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for ResourceGuard {
    fn from_ref(state: &AppState) -> Self {
        state.guard.clone()
    }
}
