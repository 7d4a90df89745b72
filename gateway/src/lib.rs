//! `mcp-gateway`: between MCP clients and MCP servers, deciding every tool call by policy.
//!
//! This is the first part of the gateway (issue 13): the catalog of upstream tools and the Cedar
//! policy that decides each call, with the `mcp-gateway policy check|explain` commands that run
//! them offline, and the hop tokens an upstream call is made with. The MCP endpoint, consent
//! automation and the audit trail build on them.
//!
//! | module | responsibility |
//! |---|---|
//! | [`catalog`] | upstream tools under prefixed names, and the action group of each (`read`, `write`, `destructive`), never loosened by an upstream's hints |
//! | [`policy`] | the Cedar schema of a catalog, strict validation with file and line, decisions (deny on any error), consent obligations, listing |
//! | [`listing`] | what `tools/list` answers: live tools the catalog offers, filtered by policy |
//! | [`hop`] | hop tokens: one per upstream, by token exchange at the AS, cached until shortly before they expire |
//! | [`upstream`] | `tools/list` and `tools/call` at an upstream with a hop token (the protocol core of `protocol::mcp_client`) |
//! | [`audit`] | the audit trail: one durable record per decision (never argument values or tokens) in the gateway's database (SQLite or PostgreSQL), and what `mcp-gateway audit` prints |
//! | [`trace`] | the W3C `traceparent` of a call, passed on to the AS and the upstream |
//! | [`turns`] | identical work once at a time per key (hop-token exchanges, approval requests) |
//! | [`cli`] | the command line |

// `Result<_, Response>`: the error is the finished HTTP answer, returned once per request straight
// to axum; boxing it would add an allocation to the failure path for nothing.
#![allow(clippy::result_large_err)]

pub mod approval;
pub mod as_client;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod endpoint;
pub mod hop;
pub mod listing;
pub mod policy;
pub mod service;
pub mod startup;
pub mod trace;
pub mod upstream;
