//! `mcp-agent call URL TOOL --arg …`: one tool call.
//!
//! A gateway may answer that a person must approve the call first (its policy's `@consent`). The
//! agent then shows where (the URL printed, and opened in a browser with `--browser auto`) and
//! makes the same call again every few seconds, as the gateway says, until it goes through, the
//! person denies it, or `wait` is over. Only the person can approve, at the authorization server,
//! in their own browser session: the agent has no way to do it for them.

use std::time::{Duration, Instant};

use protocol::mcp::{Approval, CallToolResult};
use serde_json::{Map, Value};

use crate::access::Access;
use crate::error::{AgentError, Result};
use crate::mcp::McpClient;

/// Longest pause between two attempts, whatever the gateway says.
const MAX_RETRY_AFTER: u64 = 30;

/// Calls `tool` at `url`, waiting up to `wait` for an approval. A tool that ran and reported an
/// error is a result (exit status 4 is decided from it), not an error.
pub async fn run(
    access: &mut Access,
    url: &str,
    version: &str,
    tool: &str,
    arguments: Map<String, Value>,
    wait: Duration,
) -> Result<CallToolResult> {
    let mut client = McpClient::new(url, version)?.with_url_elicitation();
    let deadline = Instant::now() + wait;
    let mut shown = None;
    let result = loop {
        match client.call_tool(access, tool, arguments.clone()).await {
            Err(AgentError::Approval(Approval::Pending { url: page, id, retry_after })) => {
                let pause = Duration::from_secs(retry_after.clamp(1, MAX_RETRY_AFTER));
                if Instant::now() + pause > deadline {
                    break Err(AgentError::Approval(Approval::Pending { url: page, id, retry_after }));
                }
                if shown.as_ref() != Some(&id) {
                    access.show_approval(url, &page);
                    shown = Some(id);
                }
                tokio::time::sleep(pause).await;
            }
            other => break other,
        }
    };
    client.close(access).await;
    result
}
