//! The store contract: every guarantee the rest of the server relies on, stated at the store level
//! (no HTTP), and proven against whichever backend `MCP_AUTH_TEST_DATABASE_URL` names (a fresh
//! SQLite file per test when unset). A new backend passes this suite before anything uses it.

mod approvals;
mod clients;
mod codes;
mod connections;
mod consents;
mod fixtures;
mod grants;
mod keys;
mod requests;
mod sessions;
mod sweep;
mod throttle;
