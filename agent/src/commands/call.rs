//! `mcp-agent call URL TOOL --arg …`: one tool call.

use protocol::mcp::CallToolResult;
use serde_json::{Map, Value};

use crate::access::Access;
use crate::error::Result;
use crate::mcp::McpClient;

/// Calls `tool` at `url`. A tool that ran and reported an error is a result (exit status 4 is
/// decided from it), not an error.
pub async fn run(
    access: &mut Access,
    url: &str,
    version: &str,
    tool: &str,
    arguments: Map<String, Value>,
) -> Result<CallToolResult> {
    let mut client = McpClient::new(url, version)?;
    let result = client.call_tool(access, tool, arguments).await;
    client.close(access).await;
    result
}
