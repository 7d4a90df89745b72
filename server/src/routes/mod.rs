//! The HTTP surface: protected resource metadata, the echo API, the MCP endpoint, and the CORS,
//! `Origin` and `Host` rules around them.

mod echo;
mod metadata;

pub use mcp_endpoint::boundary::{AllowedHosts, Boundary, allowed_hosts};

use axum::http::{HeaderValue, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use mcp_endpoint::cors;
use protocol::error::{ErrorCode, ErrorResponse};
use tower_http::trace::TraceLayer;

use crate::mcp;
use crate::state::AppState;

/// Builds the router.
///
/// * The metadata document is public: any origin may read it.
/// * The API answers only the configured browser origins (CORS), refuses any other `Origin` with
///   403 (protection against DNS rebinding, required by the MCP transport spec), and exposes
///   `WWW-Authenticate`, without which a browser app cannot see the challenge that starts
///   discovery.
pub fn router(
    state: AppState,
    allowed_origins: Vec<HeaderValue>,
    allowed_hosts: AllowedHosts,
    metadata_paths: &[String],
) -> Router {
    // The whole server is one protected resource: its metadata's own path, the root and the
    // path-inserted form for the MCP endpoint serve the same document (clients try the last when
    // a 401 carries no resource_metadata).
    let metadata = metadata_paths
        .iter()
        .fold(Router::new(), |router, path| router.route(path, get(metadata::protected_resource_metadata)))
        .layer(cors::public());

    let origins = std::sync::Arc::new(allowed_origins);
    let api = Router::new()
        .route("/echo", get(echo::echo))
        .route("/mcp", get(mcp::get).post(mcp::post).delete(mcp::delete))
        .fallback(not_found)
        .layer(Boundary::new(allowed_hosts, origins.clone()).into_layer())
        .layer(cors::api(origins));

    let router = metadata.merge(api).with_state(state);
    // A span per request only where it can show: with DEBUG on when the server starts. At the
    // default INFO level the layer would run on every request for nothing (see `cargo xtask bench`).
    if tracing::enabled!(tracing::Level::DEBUG) {
        router.layer(TraceLayer::new_for_http().make_span_with(request_span))
    } else {
        router
    }
}

async fn not_found() -> (StatusCode, Json<ErrorResponse>) {
    (StatusCode::NOT_FOUND, Json(ErrorResponse::new(ErrorCode::InvalidRequest, "no such endpoint")))
}

/// The tracing span of a request: method and path only. Query strings can carry codes, states or a
/// token someone put where it does not belong, and must not reach the logs.
///
/// At DEBUG: at the default INFO level nothing is logged per request (refusals are summarised by
/// the bearer crate), and an enabled span formats its fields on every request.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    // The W3C trace id a caller (the gateway) sent, so one call can be followed across programs.
    let traceparent = request.headers().get(protocol::trace::TRACEPARENT).and_then(|v| v.to_str().ok());
    let trace = protocol::trace::trace_id_or_dash(traceparent);
    tracing::debug_span!("request", trace, method = %request.method(), path = %request.uri().path())
}
