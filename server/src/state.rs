//! What every handler may need, built once at startup.

use std::sync::Arc;

use protocol::metadata::ProtectedResourceMetadata;

use crate::auth::Validator;
use crate::mcp::McpService;

#[derive(Clone)]
pub struct AppState {
    pub validator: Arc<Validator>,
    /// This server's RFC 9728 document.
    pub metadata: Arc<ProtectedResourceMetadata>,
    /// Where that document lives; sent in every challenge.
    pub resource_metadata_url: String,
    /// Tools and sessions of `/mcp`.
    pub mcp: Arc<McpService>,
}
