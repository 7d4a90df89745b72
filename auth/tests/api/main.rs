//! HTTP-level tests of the authorization server: the real app on port 0, a fresh in-memory
//! database per test, driven by an HTTP client that keeps cookies and does not follow redirects.

mod approvals;
mod audit;
mod authorize;
mod cimd;
mod client_auth;
mod consent;
mod exchange;
mod gateway;
mod groups;
mod helpers;
mod keys;
mod metadata;
mod pages;
mod refresh;
mod register;
mod revocation;
mod throttle;
mod token;
mod trusted_proxy;
