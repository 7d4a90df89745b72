//! The server side of MCP's Streamable HTTP transport, shared by `mcp-server` (which answers tool
//! calls itself) and `mcp-gateway` (which decides them and passes them on): everything about a
//! request that does not depend on what the tools do.
//!
//! | module | responsibility |
//! |---|---|
//! | [`inbound`] | a `POST`'s headers and body as one JSON-RPC message, and which form it speaks |
//! | [`batch`] | JSON-RPC batches, in 2025-03-26 sessions only: each element handled alone, one array back |
//! | [`reply`] | JSON-RPC answers as HTTP responses |
//! | [`session`], [`sessions`] | the session-based form (2025-03-26 … 2025-11-25): `initialize`, `Mcp-Session-Id`, owners |
//! | [`stateless`] | the stateless form (2026-07-28): the `_meta` envelope, version and routing-header checks, result hints |
//! | [`boundary`] | the `Host` and `Origin` rules (DNS rebinding) as one tower layer |
//! | [`cors`] | the CORS layers of a protected MCP resource |
//!
//! Authentication is not here: it comes first, from `mcp-bearer`, before any body is read.

// `Result<_, Response>`: the error is the finished HTTP answer, returned at most once per request
// and straight to axum; boxing it would add an allocation to the failure path for nothing.
#![allow(clippy::result_large_err)]

pub mod batch;
pub mod boundary;
pub mod cors;
pub mod inbound;
pub mod reply;
pub mod session;
pub mod sessions;
pub mod stateless;

use axum::http::{HeaderMap, HeaderName};
use protocol::mcp;

// The transport's header names, spelt once in `protocol` for the servers and both clients.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static(mcp::header::SESSION_ID);
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static(mcp::header::PROTOCOL_VERSION);
pub const MCP_METHOD: HeaderName = HeaderName::from_static(mcp::header::METHOD);
pub const MCP_NAME: HeaderName = HeaderName::from_static(mcp::header::NAME);

/// A header's value as text, if it is there and is text.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
