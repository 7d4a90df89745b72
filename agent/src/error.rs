//! The agent's one error type, and every exit status the agent can end with.

use protocol::authorization::CallbackError;
use protocol::discovery::DiscoveryError;

use crate::commands::Outcome;

/// The tool ran and reported an error (`isError: true`): the call itself worked.
pub const EXIT_TOOL_ERROR: u8 = 4;
/// The call waits for a person's approval that did not come (in time, or at all under
/// `--no-login`): another run may make the same call once it is given.
pub const EXIT_APPROVAL_PENDING: u8 = 5;

/// The exit status of a command (documented in the agent's `--help`): 0 on success, 4 when the
/// tool reported an error, else the error's ([`AgentError::exit_code`]).
pub fn exit_status(outcome: &Result<Outcome>) -> u8 {
    match outcome {
        Ok(Outcome::ToolResult(result)) if result.is_error => EXIT_TOOL_ERROR,
        // `run` without an answer (the model declined, or ran out of steps): it did not get there.
        Ok(Outcome::Transcript(transcript)) if transcript.answer.is_none() => 1,
        Ok(_) => 0,
        Err(error) => error.exit_code(),
    }
}

/// Why a command failed. Messages name what was expected and what arrived; none ever contains a
/// token, a code, a verifier or a client secret.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The command line or its values are wrong.
    #[error("{0}")]
    Usage(String),
    /// A server could not be reached or answered outside HTTP (refused, reset, timed out).
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// A server answered, but not as its specification says it must.
    #[error("{0}")]
    Protocol(String),
    /// Discovery of the authorization server failed (MCP authorization, RFC 9728, RFC 8414).
    #[error("discovery failed: {0}")]
    Discovery(#[from] DiscoveryError),
    /// The redirect back from the authorization server was refused (`state`, `iss`) or carried
    /// the server's error (`access_denied`, …).
    #[error("authorization failed: {0}")]
    Callback(#[from] CallbackError),
    /// Authorization could not be completed for another reason: no client id, no browser, a
    /// timeout waiting for the login, the retry limit.
    #[error("authorization failed: {0}")]
    Authorization(String),
    /// The token endpoint refused a code or a refresh token.
    #[error("the token endpoint refused: {0}")]
    TokenEndpoint(String),
    /// The MCP server answered a request with a JSON-RPC error.
    #[error("the MCP server answered {method} with error {code}: {message}")]
    Rpc { method: String, code: i64, message: String },
    /// The MCP server does not speak the protocol version asked for (`-32022`, 2026-07-28).
    #[error("the MCP server does not speak protocol version {requested}; it speaks {}", supported.join(", "))]
    UnsupportedVersion { requested: String, supported: Vec<String> },
    /// The token store could not be read or written.
    #[error("token store: {0}")]
    Store(String),
    /// The call needs a person's approval (a gateway's policy), which was not given.
    #[error("{}", approval_message(.0))]
    Approval(protocol::mcp::Approval),
}

fn approval_message(approval: &protocol::mcp::Approval) -> String {
    use protocol::mcp::Approval;
    match approval {
        Approval::Pending { url, .. } => {
            format!(
                "the call waits for a person's approval: approve it at {url}, then make the same call again"
            )
        }
        Approval::Denied { .. } => "the person denied the call".into(),
        Approval::Expired { .. } => "nobody approved the call in time; calling again asks again".into(),
    }
}

impl AgentError {
    /// The process exit status for this error (documented in the agent's `--help`):
    /// 1 for a failed call, 2 for bad usage, 3 when authorization could not be obtained, 5 when a
    /// person's approval is still awaited.
    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::Usage(_) => 2,
            AgentError::Discovery(_)
            | AgentError::Callback(_)
            | AgentError::Authorization(_)
            | AgentError::TokenEndpoint(_) => 3,
            AgentError::Unreachable { .. }
            | AgentError::Protocol(_)
            | AgentError::Rpc { .. }
            | AgentError::UnsupportedVersion { .. }
            | AgentError::Store(_) => 1,
            AgentError::Approval(protocol::mcp::Approval::Pending { .. }) => EXIT_APPROVAL_PENDING,
            AgentError::Approval(_) => 1,
        }
    }

    /// A stable, machine-readable name for `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentError::Usage(_) => "usage",
            AgentError::Unreachable { .. } => "unreachable",
            AgentError::Protocol(_) => "protocol",
            AgentError::Discovery(_) => "discovery",
            AgentError::Callback(_) => "callback",
            AgentError::Authorization(_) => "authorization",
            AgentError::TokenEndpoint(_) => "token_endpoint",
            AgentError::Rpc { .. } => "rpc",
            AgentError::UnsupportedVersion { .. } => "unsupported_version",
            AgentError::Store(_) => "store",
            AgentError::Approval(protocol::mcp::Approval::Pending { .. }) => "approval_pending",
            AgentError::Approval(protocol::mcp::Approval::Denied { .. }) => "approval_denied",
            AgentError::Approval(protocol::mcp::Approval::Expired { .. }) => "approval_expired",
        }
    }

    pub(crate) fn unreachable(url: &str, error: &reqwest::Error) -> Self {
        // reqwest's Display includes the URL already; the source says why.
        let reason = std::error::Error::source(error).map_or_else(|| error.to_string(), |s| s.to_string());
        AgentError::Unreachable { url: url.to_owned(), reason }
    }
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::mcp::CallToolResult;

    #[test]
    fn a_tool_error_is_4_a_failed_call_1_bad_usage_2_no_authorization_3() {
        assert_eq!(exit_status(&Ok(Outcome::ToolResult(CallToolResult::text("fine")))), 0);
        assert_eq!(exit_status(&Ok(Outcome::ToolResult(CallToolResult::error("no")))), EXIT_TOOL_ERROR);
        assert_eq!(exit_status(&Ok(Outcome::Tools(Vec::new()))), 0);
        let rpc = AgentError::Rpc { method: "tools/call".into(), code: -32602, message: "bad".into() };
        assert_eq!(exit_status(&Err(rpc)), 1);
        assert_eq!(exit_status(&Err(AgentError::Usage("x".into()))), 2);
        assert_eq!(exit_status(&Err(AgentError::Authorization("x".into()))), 3);
    }
}
