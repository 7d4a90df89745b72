//! `mcp-server`: an MCP resource server that accepts only access tokens issued for it.
//!
//! | module | responsibility |
//! |---|---|
//! | [`startup`] | bind, build state, serve, shut down |
//! | [`routes`] | endpoints, CORS and the `Origin` check |
//! | [`mcp`] | the MCP Streamable HTTP endpoint: sessions, the stateless form, tools |
//! | [`notes`] | the per-user notes the notes tools keep, in SQLite |
//!
//! Token validation (keys from the AS's JWKS, claim checks, the extractor, the challenges) is the
//! `mcp-bearer` crate, shared with the gateway.

pub mod config;
pub mod mcp;
pub mod notes;
pub mod routes;
pub mod startup;
pub mod state;
