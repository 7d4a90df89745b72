//! The HTTP surface: protected resource metadata, the echo API, the MCP endpoint, and the CORS,
//! `Origin` and `Host` rules around them.

mod echo;
mod metadata;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use protocol::error::{ErrorCode, ErrorResponse};
use protocol::metadata::PROTECTED_RESOURCE_WELL_KNOWN;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::trace::TraceLayer;
use url::Url;

use crate::mcp::{self, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use crate::state::AppState;

/// Builds the router.
///
/// * The metadata document is public: any origin may read it.
/// * The API answers only the configured browser origins (CORS), refuses any other `Origin` with
///   403 (protection against DNS rebinding, required by the MCP transport spec), and exposes
///   `WWW-Authenticate`, without which a browser app cannot see the challenge that starts
///   discovery.
pub fn router(state: AppState, allowed_origins: Vec<HeaderValue>, allowed_hosts: AllowedHosts) -> Router {
    let public_cors = CorsLayer::new().allow_origin(Any).allow_methods([Method::GET]);
    // The whole server is one protected resource, so the path-inserted form for the MCP endpoint
    // serves the same document (clients try it when a 401 carries no resource_metadata).
    let metadata = Router::new()
        .route(PROTECTED_RESOURCE_WELL_KNOWN, get(metadata::protected_resource_metadata))
        .route(&format!("{PROTECTED_RESOURCE_WELL_KNOWN}/mcp"), get(metadata::protected_resource_metadata))
        .layer(public_cors);

    let allowed = Arc::new(allowed_origins);
    let api_cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            MCP_PROTOCOL_VERSION,
            MCP_SESSION_ID,
            MCP_METHOD,
            MCP_NAME,
        ])
        .expose_headers([header::WWW_AUTHENTICATE, MCP_SESSION_ID])
        .max_age(std::time::Duration::from_secs(3600));
    let api = Router::new()
        .route("/echo", get(echo::echo))
        .route("/mcp", get(mcp::get).post(mcp::post).delete(mcp::delete))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(allowed, check_origin))
        .layer(middleware::from_fn_with_state(Arc::new(allowed_hosts), check_host))
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

/// The `Host` values the API answers to: this server's own name and port, and, for a loopback
/// resource, any loopback name with that port. Together with the `Origin` check this keeps a
/// DNS-rebinding page (a foreign name resolving to 127.0.0.1) out even if a browser omits `Origin`.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    host: String,
    port: u16,
    /// The port a `Host` without one means: the resource scheme's default.
    default_port: u16,
    loopback: bool,
}

impl AllowedHosts {
    /// Accepts `host[:port]` (the `Host` header's form).
    pub fn allows(&self, authority: &str) -> bool {
        // `[v6]:port`, `[v6]`, `name:port`, `name`.
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, port.parse::<u16>().ok()),
            _ => (authority, Some(self.default_port)),
        };
        if port != Some(self.port) {
            return false;
        }
        let Ok(parsed) = url::Host::parse(host) else {
            return false;
        };
        let name = parsed.to_string();
        name.eq_ignore_ascii_case(&self.host)
            || (self.loopback
                && match parsed {
                    url::Host::Domain(domain) => domain.eq_ignore_ascii_case("localhost"),
                    url::Host::Ipv4(ip) => ip.is_loopback(),
                    url::Host::Ipv6(ip) => ip.is_loopback(),
                })
    }
}

/// The hosts allowed for a server whose resource identifier is `resource`.
pub fn allowed_hosts(resource: &str) -> AllowedHosts {
    let url = Url::parse(resource).ok();
    let default_port = if url.as_ref().is_some_and(|u| u.scheme() == "https") { 443 } else { 80 };
    let port = url.as_ref().and_then(Url::port_or_known_default).unwrap_or(default_port);
    let host = url.as_ref().and_then(|u| u.host().map(|h| h.to_string())).unwrap_or_default();
    let loopback = url.as_ref().is_some_and(protocol::resource::is_loopback);
    AllowedHosts { host, port, default_port, loopback }
}

/// Refuses requests for a `Host` this server is not. Requests without `Host` (HTTP/1.0 tools) pass.
async fn check_host(State(allowed): State<Arc<AllowedHosts>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
    match host {
        Some(host) if !allowed.allows(&host) => {
            tracing::info!(%host, "request for a foreign Host refused");
            let body = ErrorResponse::new(
                ErrorCode::Other("forbidden_host".into()),
                "this host name is not served here",
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_the_resource_or_any_loopback_name_on_its_port() {
        let local = allowed_hosts("http://localhost:9090");
        for ok in ["localhost:9090", "127.0.0.1:9090", "[::1]:9090", "LOCALHOST:9090"] {
            assert!(local.allows(ok), "{ok}");
        }
        for bad in ["evil.example:9090", "localhost:9091", "localhost", "127.0.0.1.evil.example:9090", ""] {
            assert!(!local.allows(bad), "{bad}");
        }
        let public = allowed_hosts("https://mcp.example.com");
        assert!(public.allows("mcp.example.com") && public.allows("mcp.example.com:443"));
        assert!(!public.allows("localhost:443") && !public.allows("evil.example"));
        assert!(!public.allows("mcp.example.com:80"));
    }
}
