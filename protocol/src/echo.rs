//! The demo API of the resource server: `GET /echo?text=…` (not part of any standard).

use serde::{Deserialize, Serialize};

/// Longest `text` the echo endpoint accepts, in characters.
pub const MAX_ECHO_TEXT: usize = 1000;

/// What `GET /echo` answers: the text, and who the token said was asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoResponse {
    pub text: String,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `client_id`.
    pub client_id: String,
}
