//! `mcp-server`: an MCP resource server that accepts only access tokens issued for it.
//!
//! | module | responsibility |
//! |---|---|
//! | [`startup`] | bind, build state, serve, shut down |
//! | [`routes`] | endpoints, CORS and the `Origin` check |
//! | [`auth`] | bearer token validation: keys from the AS's JWKS, claim checks, the extractor |
//! | [`mcp`] | the MCP Streamable HTTP endpoint: sessions, the stateless form, tools |
//! | [`error`] | 401/403/400 challenges with `WWW-Authenticate` |

pub mod auth;
pub mod config;
pub mod error;
pub mod mcp;
pub mod routes;
pub mod startup;
pub mod state;
