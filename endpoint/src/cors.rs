//! The CORS layers of a protected MCP resource.
//!
//! * The metadata document is public: any origin may read it ([`public`]).
//! * The MCP endpoint answers only the configured browser origins ([`api`]) and exposes
//!   `WWW-Authenticate`, without which a browser app cannot see the challenge that starts
//!   discovery, `Mcp-Session-Id` and `X-Request-Id`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};

use crate::{MCP_PROTOCOL_VERSION, MCP_SESSION_ID};

/// For public documents: any origin, `GET` only, and the one header MCP clients add to their
/// metadata requests (the TypeScript SDK sends `MCP-Protocol-Version`; refused in the preflight,
/// it costs every browser client a failed request and a retry without it).
pub fn public() -> CorsLayer {
    CorsLayer::new().allow_origin(Any).allow_methods([Method::GET]).allow_headers([MCP_PROTOCOL_VERSION])
}

/// For the API: exactly `origins`, shared with the `Origin` check of
/// [`Boundary`](crate::boundary::Boundary) so that one list decides both.
pub fn api(origins: Arc<Vec<HeaderValue>>) -> CorsLayer {
    // A predicate over a shared list rather than `AllowOrigin::list`: axum clones the layer stack
    // for every request, and a list is copied each time where an `Arc` is only counted.
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| origins.contains(origin)))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        // The headers a preflight asks for, mirrored: besides `Authorization`, `Content-Type` and
        // the fixed MCP headers, 2026-07-28 clients send one `Mcp-Param-{name}` per argument a
        // tool marks with `x-mcp-header`, names no static list can hold. Mirroring loosens
        // nothing: the answer carries `Access-Control-Allow-Origin` only for the allowed origins.
        .allow_headers(AllowHeaders::mirror_request())
        // `X-Request-Id` (the gateway's trace id) lets a browser app show what to quote to an
        // operator.
        .expose_headers([header::WWW_AUTHENTICATE, MCP_SESSION_ID, REQUEST_ID])
        .max_age(Duration::from_secs(3600))
}

const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Parses a browser origin (`scheme://host[:port]`, as `--allowed-origin` takes it), refusing
/// anything with a path, which a browser never sends and which would never match.
pub fn parse_origin(value: &str) -> Result<HeaderValue, String> {
    let url = url::Url::parse(value).map_err(|e| format!("{value:?} is not an origin: {e}"))?;
    let origin = url.origin().ascii_serialization();
    if origin != value.trim_end_matches('/') {
        return Err(format!("{value:?} is not an origin (scheme://host[:port]); did you mean {origin}?"));
    }
    HeaderValue::from_str(&origin).map_err(|e| e.to_string())
}
