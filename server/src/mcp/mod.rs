//! `/mcp`: the MCP Streamable HTTP endpoint.
//!
//! Every request is authenticated first (401/403 challenges as for any protected resource); then
//! the body is read as one JSON-RPC message (`mcp_endpoint::inbound`) and handled in one of the two
//! forms the spec has had (a batch, in a 2025-03-26 session, is its elements handled one by one in
//! the session form, `mcp_endpoint::batch`):
//!
//! * [`session`]: revisions 2025-03-26 to 2025-11-25. `initialize` opens a session
//!   (`Mcp-Session-Id`), later requests carry it and `MCP-Protocol-Version`.
//! * [`stateless`]: revision 2026-07-28. No handshake, no session; each request carries its
//!   version in a header and in `params._meta`, and names itself in `Mcp-Method` / `Mcp-Name`.
//!
//! The transport steps both forms share with the gateway live in `mcp-endpoint`; what is here is
//! what this server answers.

mod notes_tools;
mod session;
pub mod spent;
mod stateless;
pub mod tools;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_endpoint::batch;
use mcp_endpoint::inbound::{self, Form, Read};
use mcp_endpoint::sessions::{Owner, Sessions};
use protocol::mcp::Implementation;
use protocol::scope::Scopes;
use serde_json::Value;

use crate::state::AppState;
use mcp_bearer::BearerError;
use mcp_bearer::VerifiedToken;
use tools::ToolSpec;

pub use mcp_endpoint::inbound::MAX_MESSAGE_BYTES;

/// What the MCP endpoint needs: its tools, its sessions, who it is.
pub struct McpService {
    pub tools: Vec<ToolSpec>,
    pub sessions: Sessions,
    pub server_info: Implementation,
    /// What the notes tools read and write.
    pub notes: crate::notes::Notes,
    /// The call-bound tokens already spent here.
    pub spent: spent::SpentCalls,
}

impl McpService {
    /// `sessions_per_user`: how many sessions one user may hold (at least one).
    pub fn new(conformance_tools: bool, notes: crate::notes::Notes, sessions_per_user: usize) -> Self {
        Self {
            notes,
            spent: spent::SpentCalls::default(),
            tools: tools::catalog(conformance_tools),
            sessions: Sessions::with_per_user(
                mcp_endpoint::sessions::MAX_SESSIONS,
                sessions_per_user,
                std::time::Duration::from_secs(30 * 60),
            ),
            server_info: Implementation {
                name: "mcp-oauth-reference-server".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                title: Some("MCP OAuth reference server".into()),
            },
        }
    }

    /// The capabilities this server declares: tools, plus empty prompts and resources (stateless
    /// clients list them, and an unknown method would be an error rather than an empty list).
    pub fn capabilities(&self) -> Value {
        serde_json::json!({"tools": {"listChanged": false}, "prompts": {"listChanged": false}, "resources": {}})
    }
}

/// The owner of a session: the token's subject and client.
fn owner(token: &VerifiedToken) -> Owner<'_> {
    Owner { subject: &token.claims.sub, client_id: &token.claims.client_id }
}

/// The challenge for `/mcp`: the scope a client needs to do anything useful here.
fn rejection(state: &AppState, error: BearerError) -> Response {
    state.guard.rejection(error, Scopes::from_tokens(["echo"]).unwrap_or_default()).into_response()
}

/// The token of an MCP request (refusals are counted and logged by the validator).
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Arc<VerifiedToken>, Response> {
    state.guard.validator().verify_request(headers, None).await.map_err(|e| rejection(state, e))
}

/// `POST /mcp`
pub async fn post(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    // Authenticate before reading the body: a stranger without a token never makes this server
    // buffer anything.
    let token = match authenticate(&state, &headers).await {
        Ok(token) => token,
        Err(response) => return mcp_endpoint::reply::refused_unread(response, body).await,
    };
    let inbound = match inbound::read(&headers, body).await {
        Ok(Read::One(inbound)) => inbound,
        Ok(Read::Batch(batch)) => {
            let (sessions, owner) = (&state.mcp.sessions, owner(&token));
            let (state, headers, token) = (&state, &headers, &*token);
            let step_up = |calls: Vec<batch::ToolCall>| async move {
                let needed = tools::missing_scopes(&state.mcp.tools, token, calls.iter().map(|c| &*c.name))?;
                Some(rejection(
                    state,
                    state.guard.validator().refused(BearerError::InsufficientScope(needed)),
                ))
            };
            let handle = |message| session::handle(state, headers, message, token);
            return batch::serve(sessions, headers, &owner, batch, step_up, handle).await;
        }
        Err(response) => return response,
    };
    match inbound.form {
        Form::Stateless => stateless::handle(&state, &headers, inbound.message, &token).await,
        Form::Session => session::handle(&state, &headers, inbound.message, &token).await,
    }
}

/// `GET /mcp`: this server offers no server-to-client stream.
pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(response) = authenticate(&state, &headers).await {
        return response;
    }
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST, DELETE")]).into_response()
}

/// `DELETE /mcp`: ends a session.
pub async fn delete(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = match authenticate(&state, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    mcp_endpoint::session::close(&state.mcp.sessions, &headers, &owner(&token))
}
