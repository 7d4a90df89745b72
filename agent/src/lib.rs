//! `mcp-agent`: a headless MCP client that reaches tools through OAuth 2.1 the way a native app
//! does (RFC 8252), sharing discovery, PKCE, challenge parsing and scope selection with the SPA
//! through the `protocol` crate.
//!
//! | module | what it does |
//! |---|---|
//! | [`cli`] | the command line, parsed |
//! | [`commands`] | what `call`, `tools`, `login`, `logout`, `status` do, each returning data |
//! | [`conversation`] | the agent loop of `run` and `chat`: the model chooses, the agent calls, results go back |
//! | [`llm`] | the models: an OpenAI-compatible client, and Needle offline in-process |
//! | [`conformance`] | the MCP conformance suite's entry point (`mcp-agent conformance`) |
//! | [`output`] | printing: results on stdout (human or `--json`), progress on stderr |
//! | [`error`] | the error type and every exit status |
//! | [`mcp`] | the MCP client over Streamable HTTP, driving `protocol::mcp_client` |
//! | [`access`] | sending with a token, driving `protocol::challenge_reaction` (refresh, login, step-up) |
//! | [`authorize`] | the authorization code flow with PKCE, `state` and `iss` checks |
//! | [`discover`] | discovery over HTTP, driving `protocol::discovery` |
//! | [`identity`] | pre-registered client, metadata document, or RFC 7591 registration |
//! | [`loopback`] | the `127.0.0.1` redirect listener |
//! | [`browser`] | opening (or printing, or following) the authorization URL |
//! | [`tokens`] | the token endpoint: code, refresh, revocation; client authentication |
//! | [`store`] | the token store: a `0600` file per issuer, locked and replaced atomically |
//! | [`http`] | the HTTP client: no automatic redirects, bounded bodies |

pub mod access;
pub mod authorize;
pub mod browser;
pub mod cli;
pub mod commands;
pub mod conformance;
pub mod conversation;
pub mod discover;
pub mod error;
pub mod http;
pub mod identity;
pub mod llm;
pub mod loopback;
pub mod mcp;
pub mod output;
pub mod store;
#[cfg(test)]
mod stub;
pub mod tokens;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
