//! The HTTP surface: protected resource metadata, the echo API, and the CORS and `Origin` rules
//! around them.

mod echo;
mod metadata;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use protocol::error::{ErrorCode, ErrorResponse};
use protocol::metadata::PROTECTED_RESOURCE_WELL_KNOWN;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::state::AppState;

pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// Builds the router.
///
/// * The metadata document is public: any origin may read it.
/// * The API answers only the configured browser origins (CORS), refuses any other `Origin` with
///   403 (protection against DNS rebinding, required by the MCP transport spec), and exposes
///   `WWW-Authenticate`, without which a browser app cannot see the challenge that starts
///   discovery.
pub fn router(state: AppState, allowed_origins: Vec<HeaderValue>) -> Router {
    let public_cors = CorsLayer::new().allow_origin(Any).allow_methods([Method::GET]);
    let metadata = Router::new()
        .route(PROTECTED_RESOURCE_WELL_KNOWN, get(metadata::protected_resource_metadata))
        .layer(public_cors);

    let allowed = Arc::new(allowed_origins);
    let api_cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, MCP_PROTOCOL_VERSION, MCP_SESSION_ID])
        .expose_headers([header::WWW_AUTHENTICATE, MCP_SESSION_ID])
        .max_age(std::time::Duration::from_secs(3600));
    let api = Router::new()
        .route("/echo", get(echo::echo))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(allowed, check_origin))
        .layer(api_cors);

    metadata.merge(api).layer(TraceLayer::new_for_http().make_span_with(request_span)).with_state(state)
}

/// Refuses requests whose `Origin` is not on the list. Requests without `Origin` come from
/// non-browser clients and pass; preflights are answered by the CORS layer before this runs.
async fn check_origin(
    State(allowed): State<Arc<Vec<HeaderValue>>>,
    request: Request,
    next: Next,
) -> Response {
    match request.headers().get(header::ORIGIN) {
        Some(origin) if !allowed.contains(origin) => {
            tracing::info!(origin = ?origin, "request from a foreign origin refused");
            let body =
                ErrorResponse::new(ErrorCode::Other("forbidden_origin".into()), "this origin is not allowed");
            (StatusCode::FORBIDDEN, Json(body)).into_response()
        }
        _ => next.run(request).await,
    }
}

async fn not_found() -> (StatusCode, Json<ErrorResponse>) {
    (StatusCode::NOT_FOUND, Json(ErrorResponse::new(ErrorCode::InvalidRequest, "no such endpoint")))
}

/// The tracing span of a request: method and path only. Query strings can carry codes, states or a
/// token someone put where it does not belong, and must not reach the logs.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}
