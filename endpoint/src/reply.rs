//! JSON-RPC answers as HTTP responses: always `application/json` (a server may choose JSON over
//! SSE for any request) and compact, since some clients read a body line by line.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::mcp::{self, RequestId, RpcError};
use serde_json::Value;

/// An HTTP answer carrying a JSON-RPC message.
pub fn rpc_response(status: StatusCode, message: &mcp::Response) -> Response {
    let body = serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// A JSON-RPC error at the given HTTP status.
pub fn rpc_error(
    status: StatusCode,
    id: Option<RequestId>,
    code: i64,
    message: impl Into<String>,
) -> Response {
    failure(status, id, RpcError::new(code, message))
}

/// A JSON-RPC error object at the given HTTP status.
pub fn failure(status: StatusCode, id: Option<RequestId>, error: RpcError) -> Response {
    rpc_response(status, &mcp::Response::failure(id, error))
}

/// A JSON-RPC result, `200 OK`.
pub fn success(id: RequestId, result: Value) -> Response {
    rpc_response(StatusCode::OK, &mcp::Response::success(id, result))
}

/// `202 Accepted`, no body: a notification or a response was received.
pub fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// The most of a refused request's body [`refused_unread`] reads (and drops) to keep its
/// connection: a `tools/call` is well under it.
pub const DRAIN_LIMIT: u64 = 64 * 1024;
/// How long [`refused_unread`] waits for that body before it closes the connection instead.
pub const DRAIN_TIME: std::time::Duration = std::time::Duration::from_millis(500);

/// `response` to a request refused before its body was read (a `POST` without a valid token: a
/// stranger never makes the server buffer anything). A body of a declared length up to
/// [`DRAIN_LIMIT`] that arrives within [`DRAIN_TIME`] is read and dropped frame by frame, never
/// kept, and the connection stays open for the client's next request, as after any answer. Any
/// other body is left unread and the answer says `Connection: close` ([`closing`]).
///
/// Why not always close: every refused request would then cost a new TCP connection, and a flood
/// of bad tokens would cost the server more than the same flood of good ones (the bench's row d).
pub async fn refused_unread(response: Response, body: axum::body::Body) -> Response {
    use http_body_util::BodyExt as _;
    let short = axum::body::HttpBody::size_hint(&body).upper().is_some_and(|upper| upper <= DRAIN_LIMIT);
    if !short {
        return closing(response);
    }
    let drain = async {
        let mut body = body;
        while let Some(frame) = body.frame().await {
            frame.map_err(drop)?;
        }
        Ok::<(), ()>(())
    };
    match tokio::time::timeout(DRAIN_TIME, drain).await {
        Ok(Ok(())) => response,
        _ => closing(response),
    }
}

/// `response`, saying the connection closes after it. For a refusal sent before the request's body
/// was read (a `POST` without a valid token is refused unread, so a stranger never makes the
/// server buffer anything): the server then closes the connection, and a client that is not told
/// so may send its next request on it and see it fail ("server disconnected").
pub fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
