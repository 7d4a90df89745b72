//! `mcp-bearer`: the one place bearer access tokens are checked, by the MCP server and the gateway.
//!
//! A handler never sees a request whose token failed a check: the [`Authorized`] extractor (or a
//! direct [`Validator::verify_request`]) either hands it a [`VerifiedToken`] carrying the scopes it
//! needs, or answers with the challenge the MCP authorization spec asks for.
//!
//! | module | responsibility |
//! |---|---|
//! | [`validator`] | finds the token in the request, checks it (cache, signature, claims, introspection) |
//! | [`keys`] | the authorization server's keys: discovered, cached, refreshed, rate-limited |
//! | [`cache`] | verified tokens, so a repeated token costs no signature check |
//! | [`introspection`] | RFC 7662, for opaque tokens or for immediate revocation |
//! | [`extract`] | the axum extractor and the state it reads through `FromRef` |
//! | [`refusals`] | refusals counted and logged per interval, never one line per request |
//! | [`error`] | 401/403/400/503 answers with `WWW-Authenticate` |
//! | [`clock`] | the injected clock every time check reads |
//!
//! The rules themselves (header, claims, actor chain, introspection answers) are pure functions in
//! `protocol::jwt::validation` and `protocol::introspection`, shared with the fuzz targets.

pub mod cache;
pub mod clock;
pub mod error;
pub mod extract;
pub mod introspection;
pub mod keys;
pub mod refusals;
pub mod validator;
mod verified;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{BearerError, Rejection};
pub use extract::{Authorized, ResourceGuard, ScopeRequirement};
pub use validator::Validator;
pub use verified::VerifiedToken;
