//! The HTTP surface. One module per endpoint; handlers parse (with the extractors of [`extract`]),
//! call, and map errors.

mod account;
mod approvals;
mod authorize;
mod bc_authorize;
mod consent;
mod extract;
mod introspect;
mod jwks;
mod login;
mod metadata;
mod register;
mod revoke;
mod token;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::error::{ErrorCode, ErrorResponse};
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::pages;
use crate::state::AppState;

pub use extract::{FromParams, Params};
pub use metadata::authorization_server_metadata;

/// Request bodies are small forms and JSON documents; anything larger is refused with 413.
const BODY_LIMIT: usize = 64 * 1024;

/// Builds the router.
///
/// CORS: the endpoints a browser app calls with `fetch` (metadata, JWKS, token, registration,
/// revocation, and
/// the 404 fallback, so that a discovery probe for a missing document reads as 404 rather than as a
/// network error) allow any origin without credentials: they use no cookies, and PKCE, not the
/// origin, protects the code exchange. The authorize, login and consent pages get no CORS headers:
/// they are navigated to, never fetched.
///
/// The client address the audit trail and the login throttle use is read from the
/// `--forwarded-header` only for requests from `--trusted-proxy` peers (`serve::client_addr`).
pub fn router(state: AppState) -> Router {
    let trusted_proxies = state.config.settings.trusted_proxies.clone();
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        // MCP clients (the TypeScript SDK among them) send `MCP-Protocol-Version` with their
        // metadata requests too; a preflight refusing it costs each browser client a failed
        // request and a retry without it.
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(Duration::from_secs(3600));

    let api = Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata::metadata))
        .route("/.well-known/openid-configuration", get(metadata::metadata))
        .route("/jwks.json", get(jwks::jwks))
        .route("/token", post(token::token))
        .route("/register", post(register::register))
        .route("/revoke", post(revoke::revoke))
        .fallback(not_found)
        .layer(cors);

    // Server to server: resource servers call it, browsers have no business there.
    let backchannel = Router::new()
        .route("/introspect", post(introspect::introspect))
        .route("/bc-authorize", post(bc_authorize::bc_authorize));

    let browser = Router::new()
        .route("/authorize", get(authorize::authorize))
        .route("/login", get(login::show).post(login::submit))
        .route("/consent", get(consent::show).post(consent::submit))
        .route("/account", get(account::show))
        .route("/account/consents/withdraw", post(account::withdraw))
        .route("/account/approvals/withdraw", post(account::withdraw_approval))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}", get(approvals::show).post(approvals::answer))
        .route("/logout", post(account::logout))
        .route(pages::STYLESHEET_PATH, get(pages::stylesheet));

    api.merge(backchannel)
        .merge(browser)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
        .layer(axum::Extension(trusted_proxies))
        .with_state(state)
}

/// The names to show for these clients, in order: each one's registered name, or its id when it
/// has none or is gone (the account and approval pages).
pub(crate) async fn client_names(
    state: &AppState,
    client_ids: &[&str],
) -> Result<Vec<String>, crate::store::StoreError> {
    let mut names = Vec::with_capacity(client_ids.len());
    for &client_id in client_ids {
        let client = state.store.find_client(client_id).await?;
        names.push(client.map_or_else(|| client_id.to_owned(), |c| c.display_name().to_owned()));
    }
    Ok(names)
}

async fn not_found() -> (StatusCode, Json<ErrorResponse>) {
    (StatusCode::NOT_FOUND, Json(ErrorResponse::new(ErrorCode::InvalidRequest, "no such endpoint")))
}

/// The tracing span of a request: id, method and path only. Query strings can carry codes,
/// states or a token someone put where it does not belong, and must not reach the logs.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id =
        request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
    // The W3C trace id a caller (the gateway) sent, so one call can be followed across programs.
    let traceparent = request.headers().get(protocol::trace::TRACEPARENT).and_then(|v| v.to_str().ok());
    let trace = protocol::trace::trace_id_or_dash(traceparent);
    tracing::info_span!("request", id, trace, method = %request.method(), path = %request.uri().path())
}

/// Request ids: random, so they reveal nothing about traffic volume. Sent back as `x-request-id`
/// and recorded with every audit event.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        axum::http::HeaderValue::from_str(&crate::random::short_id()).ok().map(RequestId::new)
    }
}
