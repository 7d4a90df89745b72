//! `mcp-gateway`: between MCP clients and MCP servers, deciding every tool call by policy.
//!
//! This is the first part of the gateway (issue 13): the catalog of upstream tools and the Cedar
//! policy that decides each call, with the `mcp-gateway policy check|explain` commands that run
//! them offline. The MCP endpoint, hop tokens, consent automation and the audit trail build on it.
//!
//! | module | responsibility |
//! |---|---|
//! | [`catalog`] | upstream tools under prefixed names, and the action group of each (`read`, `write`, `destructive`), never loosened by an upstream's hints |
//! | [`policy`] | the Cedar schema of a catalog, strict validation with file and line, decisions (deny on any error), consent obligations, listing |
//! | [`cli`] | the command line |

pub mod catalog;
pub mod cli;
pub mod policy;
