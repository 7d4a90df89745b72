//! `mcp-auth`: an OAuth 2.1 authorization server for MCP.
//!
//! The library holds everything, the command line included ([`cli`]); `main.rs` only sets up
//! logging and calls it. Tests start the real server on port 0 with
//! [`startup::Application::build`]. The pure checks of what clients send (authorization requests,
//! registrations, Client ID Metadata Documents) are in `protocol`, where the fuzz targets reach
//! them.
//!
//! | module | responsibility |
//! |---|---|
//! | [`cli`] | the command line: flags, one database opened per command, what each prints |
//! | [`admin`] | what the `users`, `clients` and `keys` commands do |
//! | [`startup`] | open the store, load keys, seed the demo user, bind, serve, shut down |
//! | [`routes`] | one module per endpoint; thin handlers, and the extractors of their forms |
//! | [`login`] | signing in: throttle, password check, audit, a fresh session |
//! | [`consent`] | whether to ask the user (the hook for consent automation), remembering consents, issuing codes |
//! | [`cimd`] | Client ID Metadata Documents: fenced fetching and caching |
//! | [`client_auth`] | who calls the back-channel endpoints: public clients, `client_secret_basic`, `private_key_jwt` |
//! | [`exchange`] | token exchange (RFC 8693): the subject token's checks, the narrower token with `act` |
//! | [`approvals`] | out-of-band approvals of tool calls (CIBA-shaped) and standing approvals |
//! | [`session`] | the browser session cookie and CSRF check of the login and consent forms |
//! | [`pages`] | server-rendered HTML with security headers; every value escaped by `maud` |
//! | [`issuance`] | minting access and refresh tokens for a grant |
//! | [`keyring`] | the ES256 signing keys: publishing, signing RFC 9068 access tokens, rotation |
//! | [`password`] | argon2id |
//! | [`model`] | the records the server keeps (users, clients, codes, grants, …), storage-free |
//! | [`store`] | the storage facade over a backend (SQLite via sqlx), and the sweep of expired rows |
//! | [`sealed_code`] | authorization codes that carry what they are bound to, encrypted: issuing one writes nothing |
//! | [`digest`] | SHA-256 of secrets, the form the store keeps them in |
//! | [`random`] | unguessable identifiers |
//! | [`audit`] | the audit trail and the request context (request id, peer address) |
//! | [`throttle`] | the login throttle |
//! | [`error`] | how failures reach the wire |

pub mod admin;
pub mod approvals;
pub mod audit;
pub mod cimd;
pub mod cli;
pub mod client_auth;
pub mod clock;
pub mod config;
pub mod consent;
pub mod digest;
pub mod error;
pub mod exchange;
pub mod issuance;
pub mod keyring;
pub mod login;
pub mod model;
pub mod pages;
pub mod password;
pub mod random;
pub mod routes;
pub mod sealed_code;
pub mod session;
pub mod startup;
pub mod state;
pub mod store;
pub mod throttle;
