//! `mcp-agent tools URL`: what the server offers.

use protocol::mcp::Tool;

use crate::access::Access;
use crate::error::Result;
use crate::mcp::McpClient;

/// Every tool `url` lists, all pages.
pub async fn run(access: &mut Access, url: &str, version: &str) -> Result<Vec<Tool>> {
    let mut client = McpClient::new(url, version)?;
    let tools = client.list_tools(access).await;
    client.close(access).await;
    tools
}
