//! The end-to-end tests' own support: the headless-Chromium driver and the token-adding proxy for
//! suites that know no OAuth. The running system (`Stack`), the headless user agent and the Node
//! programs' locations are `test-support`'s (feature `stack`), shared with the agent's tests and
//! the soak harness, and re-exported here so the tests read `e2e::Stack`.

pub mod browser;
pub mod proxy;

pub use test_support::stack::*;
pub use test_support::{headless, node};
