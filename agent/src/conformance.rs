//! `mcp-agent conformance URL`: the entry point of the MCP conformance suite's client runner
//! (`conformance client --command "mcp-agent conformance"`). The same flow as `call`, configured
//! from the suite's environment, with a throwaway token store and the programmatic browser.

use std::path::PathBuf;

use protocol::secret::ClientSecret;
use serde_json::{Map, Value};

use crate::browser::BrowserMode;
use crate::cli::Global;
use crate::commands::{self, Outcome};
use crate::error::{AgentError, Result};
use crate::identity::ClientIssuer;
use crate::mcp::McpClient;
use crate::output::Progress;
use crate::store::Store;

/// The Client ID Metadata Document URL the MCP conformance suite expects a client to present.
pub const CONFORMANCE_CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";

/// Reads `MCP_CONFORMANCE_SCENARIO`, `MCP_CONFORMANCE_CONTEXT` (client credentials) and
/// `MCP_CONFORMANCE_PROTOCOL_VERSION`, lists the tools and calls `test-tool` (else the first
/// tool; with none, the list is the outcome).
pub async fn run(global: &Global, progress: &Progress, url: &str) -> Result<Outcome> {
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context: Value = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
        Ok(raw) => serde_json::from_str(&raw)
            .map_err(|e| AgentError::Usage(format!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}")))?,
        Err(_) => Value::Null,
    };
    let text = |key: &str| context.get(key).and_then(Value::as_str).map(str::to_owned);
    let version =
        std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION").unwrap_or_else(|_| global.protocol_version.clone());
    progress.step(format!("conformance scenario {scenario:?} at {version}"));

    let home = ThrowawayHome::create()?;
    let global_for_run = Global {
        browser: BrowserMode::Fetch,
        client_metadata_url: global
            .client_metadata_url
            .clone()
            .or_else(|| Some(CONFORMANCE_CLIENT_METADATA_URL.to_owned())),
        protocol_version: version,
        home: Some(home.path.clone()),
        ..global.clone()
    };
    let mut identity = commands::identity(&global_for_run);
    if let Some(client_id) = text("client_id") {
        // The suite's credentials are for the mock authorization server it runs itself, whose
        // URL it does not say: usable wherever the scenario leads. Only these: credentials of
        // the flags keep their --client-issuer.
        identity.client_id = Some(client_id);
        identity.client_secret = text("client_secret").map(ClientSecret::new);
        identity.client_issuer = ClientIssuer::Conformance;
    }
    let mut access =
        commands::access_as(&global_for_run, identity, progress, Store::open(&home.path)?, true)?;
    let mut client = McpClient::new(url, &global_for_run.protocol_version)?;
    let outcome = async {
        let tools = client.list_tools(&mut access).await?;
        let tool = tools.iter().find(|t| t.name == "test-tool").or(tools.first()).map(|t| t.name.clone());
        match tool {
            Some(tool) => client.call_tool(&mut access, &tool, Map::new()).await.map(Outcome::ToolResult),
            None => Ok(Outcome::Tools(tools)),
        }
    }
    .await;
    client.close(&mut access).await;
    outcome
}

/// A private temporary token store, removed when dropped.
struct ThrowawayHome {
    path: PathBuf,
}

impl ThrowawayHome {
    fn create() -> Result<Self> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| AgentError::Store(e.to_string()))?;
        let name = protocol::hex(&bytes);
        let path = std::env::temp_dir().join(format!("mcp-agent-conformance-{name}"));
        Ok(Self { path })
    }
}

impl Drop for ThrowawayHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
