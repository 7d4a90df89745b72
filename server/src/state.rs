//! What every handler may need, built once at startup.

use std::sync::Arc;

use axum::extract::FromRef;
use mcp_bearer::ResourceGuard;
use protocol::metadata::ProtectedResourceMetadata;

use crate::mcp::McpService;

#[derive(Clone)]
pub struct AppState {
    /// Token validation and where this resource's metadata is (for challenges).
    pub guard: ResourceGuard,
    /// This server's RFC 9728 document.
    pub metadata: Arc<ProtectedResourceMetadata>,
    /// Tools and sessions of `/mcp`.
    pub mcp: Arc<McpService>,
}

impl FromRef<AppState> for ResourceGuard {
    fn from_ref(state: &AppState) -> Self {
        state.guard.clone()
    }
}
