//! Shared by the test suites and the benchmark, so that none of them copies the others:
//!
//! * [`issuer::TestIssuer`]: a stand-in authorization server (RFC 8414 metadata and a JWKS on
//!   loopback) with its own ES256 key, minting RFC 9068 access tokens of any shape, valid or not;
//! * [`model::ScriptedModel`]: an OpenAI-compatible model endpoint answering from a queue and
//!   recording what it receives, for the agent's loop tests;
//! * [`logs::CapturedLogs`]: a `tracing` writer that keeps what was logged, for tests asserting
//!   that no secret reaches the logs;
//! * with the `stack` feature: [`stack::Stack`], the real authorization server and resource server
//!   (and the SPA's files) running in-process on free ports; [`headless::HeadlessUser`], which
//!   walks the OAuth flow over plain HTTP posting the AS's forms; [`node`], where the Node programs
//!   of the interoperability tests are installed.
//!
//! Test code: it panics on failure instead of returning errors, except where a caller (the soak
//! harness) needs the error.

#[cfg(feature = "stack")]
pub mod headless;
pub mod issuer;
pub mod logs;
pub mod model;
#[cfg(feature = "stack")]
pub mod node;
#[cfg(feature = "stack")]
pub mod stack;
