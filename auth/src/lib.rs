//! `mcp-auth`: an OAuth 2.1 authorization server for MCP.
//!
//! The library holds everything; `main.rs` only parses flags. Tests start the real server on
//! port 0 with [`startup::Application::build`].
//!
//! | module | responsibility |
//! |---|---|
//! | [`admin`] | what the `users`, `clients` and `keys` commands do |
//! | [`startup`] | open the store, load keys, seed the demo user, bind, serve, shut down |
//! | [`routes`] | one module per endpoint; thin handlers |
//! | [`authorize`] | validation of authorization requests (pure) |
//! | [`registration`] | validation of dynamic client registrations (pure) |
//! | [`cimd`] | Client ID Metadata Documents: fenced fetching, validation, caching |
//! | [`session`] | the browser session cookie and CSRF check of the login and consent forms |
//! | [`pages`] | server-rendered HTML with security headers; every value escaped by `maud` |
//! | [`issuance`] | minting access and refresh tokens for a grant |
//! | [`tokens`] | ES256 signing keys and RFC 9068 access tokens |
//! | [`password`] | argon2id |
//! | [`model`] | the records the server keeps (users, clients, codes, grants, …), storage-free |
//! | [`store`] | the storage facade over a backend (SQLite via sqlx), and the sweep of expired rows |
//! | [`audit`] | the audit trail and the request context (request id, peer address) |
//! | [`throttle`] | the login throttle |
//! | [`error`] | how failures reach the wire |

pub mod admin;
pub mod audit;
pub mod authorize;
pub mod cimd;
pub mod clock;
pub mod config;
pub mod error;
pub mod issuance;
pub mod model;
pub mod pages;
pub mod password;
pub mod random;
pub mod registration;
pub mod routes;
pub mod session;
pub mod startup;
pub mod state;
pub mod store;
pub mod throttle;
pub mod tokens;
