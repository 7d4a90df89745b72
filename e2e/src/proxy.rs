//! A reverse proxy that adds a bearer token to every request, so that test suites which speak MCP
//! but not OAuth (the MCP conformance runner sends no `Authorization`) can exercise a server that
//! requires tokens, without the server growing an authentication bypass.
//!
//! Everything else passes through as sent (method, path, query, headers including `Origin`,
//! body); `Host` is rewritten to the upstream, as any reverse proxy does.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

#[derive(Clone)]
struct Upstream {
    base: String,
    authorization: String,
    http: reqwest::Client,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy sets itself.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
            | "content-length"
            | "authorization"
    )
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut outgoing = upstream.http.request(parts.method.clone(), format!("{}{path}", upstream.base));
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let outgoing = outgoing.header(header::AUTHORIZATION, &upstream.authorization).body(body);
    match outgoing.send().await {
        Ok(response) => {
            let mut builder = Response::builder().status(response.status());
            for (name, value) in response.headers() {
                if !is_hop_by_hop(name) {
                    builder = builder.header(name, value);
                }
            }
            let bytes: Bytes = response.bytes().await.unwrap_or_default();
            builder.body(Body::from(bytes)).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

/// Serves the proxy on `listener`, forwarding to `upstream_base` (`http://host:port`) with
/// `Authorization: Bearer <token>`.
pub fn spawn(listener: TcpListener, upstream_base: &str, token: &str) -> SocketAddr {
    let address = listener.local_addr().expect("a bound listener has an address");
    let upstream = Upstream {
        base: upstream_base.trim_end_matches('/').to_owned(),
        authorization: format!("Bearer {token}"),
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
    };
    let app = Router::new().fallback(forward).with_state(upstream);
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}
