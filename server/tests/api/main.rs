//! HTTP-level tests of the resource server. Tokens come from a test issuer whose key the tests
//! hold, so every kind of bad token can be forged; the real authorization server's tokens are
//! tested end to end in the `e2e` crate.

mod challenges;
mod helpers;
mod introspection;
mod keys;
mod mcp;
mod notes;
mod tokens;
