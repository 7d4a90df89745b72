//! Shared by the test suites and the benchmark, so that none of them copies the others:
//!
//! * [`issuer::TestIssuer`]: a stand-in authorization server (RFC 8414 metadata and a JWKS on
//!   loopback) with its own ES256 key, minting RFC 9068 access tokens of any shape, valid or not;
//! * [`logs::CapturedLogs`]: a `tracing` writer that keeps what was logged, for tests asserting
//!   that no secret reaches the logs.
//!
//! Test code: it panics on failure instead of returning errors.

pub mod issuer;
pub mod logs;
