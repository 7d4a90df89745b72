//! Row h's hop: the thinnest HTTP hop that can be built from the gateway's own parts, as a
//! yardstick for the gateway's rows. What it measures is what *any* gateway made of these parts
//! pays on this machine for being a second server in the path, before it does anything a
//! gateway is for.
//!
//! It serves `POST /mcp` through the same server loop as `mcp-gateway` ([`serve::serve`]) and
//! sends each request on to the upstream through the gateway's own pooled client for plain-HTTP
//! upstreams ([`mcp_gateway::upstream::plain_client`]). Both bodies are read
//! whole, as the gateway reads them. Nothing else: no token check, no policy, no audit record, no
//! JSON, no hop token. The client's own token is passed through to the upstream, which the real
//! gateway never does (MCP forbids it): this is a bench's reference point, not a gateway.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::net::TcpListener;

struct Hop {
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Uri,
}

/// Serves the hop on `listener` (on the current runtime), in front of `upstream` (an MCP
/// endpoint's URL).
pub fn start(listener: TcpListener, upstream: &str) -> anyhow::Result<()> {
    let hop = Arc::new(Hop { client: mcp_gateway::upstream::plain_client(), upstream: upstream.parse()? });
    let router = axum::Router::new().route("/mcp", axum::routing::post(forward)).with_state(hop);
    tokio::spawn(serve::serve(listener, router, std::future::pending()));
    Ok(())
}

/// Sends the request on with its headers (but those of this hop's own connection) and answers
/// with the upstream's status, headers and body.
async fn forward(State(hop): State<Arc<Hop>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut onward = hyper::Request::new(Full::new(body));
    *onward.method_mut() = parts.method;
    *onward.uri_mut() = hop.upstream.clone();
    for (name, value) in &parts.headers {
        if ![header::HOST, header::CONNECTION, header::CONTENT_LENGTH, header::TRANSFER_ENCODING]
            .contains(name)
        {
            onward.headers_mut().append(name.clone(), value.clone());
        }
    }
    let Ok(answer) = hop.client.request(onward).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let (mut parts, body) = answer.into_parts();
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    for hop_by_hop in [header::CONNECTION, header::CONTENT_LENGTH, header::TRANSFER_ENCODING] {
        parts.headers.remove(hop_by_hop);
    }
    Response::from_parts(parts, Body::from(body))
}
