//! Wire types and pure functions of OAuth 2.1 for the Model Context Protocol.
//!
//! Everything that crosses the wire between the SPA, the authorization server and the MCP resource
//! server is defined here exactly once, with serde derives, so the three programs cannot disagree
//! about a field name. The crate does no I/O and compiles for `wasm32-unknown-unknown` as well as
//! native targets: randomness and time are always passed in by the caller.
//!
//! | module | what it holds | standard |
//! |---|---|---|
//! | [`mcp`] | MCP JSON-RPC messages: lifecycle and tools | MCP 2025-11-25, 2026-07-28 |
//! | [`metadata`] | authorization server and protected resource metadata, discovery URLs | RFC 8414, RFC 9728, MCP |
//! | [`challenge`] | the `WWW-Authenticate: Bearer …` challenge, parsed and rendered | RFC 6750, RFC 9728 |
//! | [`discovery`] | discovery as a state machine both clients drive | MCP, RFC 9728, RFC 8414 |
//! | [`challenge_reaction`] | what a client does about a `401`/`403`: refresh, authorize, retry, give up | RFC 6750 §3.1, RFC 6749 §6, MCP |
//! | [`mcp_client`] | the client side of Streamable HTTP: requests, headers, answers, version fallback | MCP transports, lifecycle |
//! | [`pkce`] | code verifier and S256 code challenge | RFC 7636 |
//! | [`authorization`] | the authorize request, the server's checks of it, and the redirect back to the client | RFC 6749, RFC 7636, RFC 8707, RFC 9207 |
//! | [`authorization_details`] | the description of one tool call a person approves | RFC 9396 |
//! | [`token`] | token request and response bodies, token exchange, the CIBA request | RFC 6749, RFC 8707, RFC 8693, OpenID CIBA |
//! | [`error`] | OAuth error codes and error bodies | RFC 6749 §5.2, RFC 6750 §3.1 |
//! | [`form`] | form and query parameters, refusing repeats | RFC 6749 §3.1 |
//! | [`introspection`] | introspection and revocation | RFC 7662, RFC 7009 |
//! | [`registration`] | dynamic client registration, and the server's checks of it | RFC 7591 |
//! | [`cimd`] | the server's checks of Client ID Metadata Documents | draft-ietf-oauth-client-id-metadata-document |
//! | [`jwt`] | access token claims and JSON Web Keys | RFC 9068, RFC 7517 |
//! | [`scope`] | scope sets | RFC 6749 §3.3 |
//! | [`resource`] | resource indicators and redirect URI rules | RFC 8707, OAuth 2.1 |
//! | [`secret`] | newtypes for secrets whose `Debug` never prints the value | — |
//! | [`echo`] | the demo `GET /echo` API | — |

pub mod authorization;
pub mod authorization_details;
pub mod challenge;
pub mod challenge_reaction;
pub mod cimd;
pub mod discovery;
pub mod echo;
pub mod error;
pub mod form;
pub mod introspection;
pub mod jwt;
pub mod mcp;
pub mod mcp_client;
pub mod metadata;
pub mod pkce;
pub mod registration;
pub mod resource;
pub mod scope;
pub mod secret;
pub mod token;
pub mod trace;

/// Base64url without padding, the encoding JOSE and PKCE use everywhere.
pub fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Lowercase hex, the spelling of SHA-256 digests in `authorization_details` and audit records and
/// of W3C trace ids. One allocation: it is on the gateway's path for every call (the request id,
/// the span of the upstream call, the arguments' digest).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_two_lowercase_digits_per_byte() {
        assert_eq!(super::hex(&[]), "");
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa0, 0xff, 0x4b]), "000fa0ff4b");
        let every: Vec<u8> = (0..=255).collect();
        let expected: String = every.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex(&every), expected);
    }
}
