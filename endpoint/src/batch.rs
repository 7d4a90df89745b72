//! JSON-RPC batches, which MCP 2025-03-26 has and every later revision dropped.
//!
//! 2025-03-26 (transports, "Sending Messages to the Server") says the body of a `POST` may be an
//! array of requests and notifications, and that a server MUST accept it. So inside a session
//! negotiated at 2025-03-26 (and on a request that names no other version), a batch is taken apart
//! and each element handled as if it had come alone, by the same handler; the answers come back as
//! one array (JSON-RPC 2.0 §6). Anywhere else a batch is `400` / `-32600`.
//!
//! The rules, from JSON-RPC 2.0 §6 and the 2025-03-26 lifecycle:
//! * an empty array is one `-32600` error, not an array;
//! * an element that is not a JSON-RPC message gets its own `-32600` in the answer;
//! * `initialize` MUST NOT be part of a batch: that element gets `-32600` and opens nothing;
//! * notifications and responses get no answer; a batch of nothing else is `202 Accepted`;
//! * the elements are handled one after another, in order, so a batch of tool calls is never
//!   more load on a server (or, through the gateway, on its upstreams) than the same calls made
//!   one by one.
//!
//! A step-up is found before anything runs. The server is shown the batch's tool calls first
//! (`step_up`), and if any of them needs a scope the token lacks, its `403 insufficient_scope`,
//! naming every scope the batch needs, is the answer to the whole request and no element is
//! handled: a client that steps up and sends the batch again makes each call once, not the calls
//! before the one that needed more scope twice (a note written twice, say).
//!
//! An element whose answer is still an HTTP one rather than a JSON-RPC one (the gateway's `401`
//! asking to sign in again when its authorization server stops honouring the token, an upstream's
//! own step-up, or a policy reloaded mid-batch) ends the batch: that challenge is the answer to
//! the whole request, as the transport says authorization errors are answered, and the elements
//! after it are not handled. Those before it were; those a client sends again run again.

use std::future::Future;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use protocol::mcp::{self, Message, RequestId, RpcError, error_code};
use serde_json::{Map, Value};

use crate::reply::{accepted, rpc_error};
use crate::sessions::{Owner, Sessions, Touched};
use crate::{MCP_PROTOCOL_VERSION, header_str};

/// The one revision that has batches.
pub const BATCH_VERSION: &str = "2025-03-26";

/// A batch as read: each element on its own, a message or the error it gets.
#[derive(Debug)]
pub struct Batch {
    pub elements: Vec<Element>,
}

/// One element of a batch.
pub type Element = Result<Message, (Option<RequestId>, RpcError)>;

/// A tool call of a batch, as a server's `step_up` check is shown it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: Map<String, Value>,
}

impl Batch {
    /// Reads the elements of a non-empty JSON array (the caller answers an empty one).
    pub fn from_values(values: Vec<Value>) -> Self {
        Self { elements: values.into_iter().map(mcp::classify).collect() }
    }

    /// The well-formed `tools/call` requests among the elements, in order (a malformed one gets
    /// its error when handled, and needs no scope).
    pub fn tool_calls(&self) -> Vec<ToolCall> {
        self.elements
            .iter()
            .filter_map(|element| match element {
                Ok(Message::Request(request)) if request.method == "tools/call" => {
                    crate::inbound::tool_call(request.params.as_ref()).ok()
                }
                _ => None,
            })
            .map(|(name, arguments)| ToolCall { name: name.to_owned(), arguments })
            .collect()
    }
}

/// Answers a `POST` that carried `batch`: refused unless `admit`ted; else, unless `step_up` (shown
/// the batch's tool calls) answers with a challenge for the scopes they need, `answer`ed through
/// `handle` (the server's handler of a single message in the session form). What `mcp-server`
/// and the gateway call.
pub async fn serve<F, Fut, S, SFut>(
    sessions: &Sessions,
    headers: &HeaderMap,
    owner: &Owner<'_>,
    batch: Batch,
    step_up: S,
    handle: F,
) -> Response
where
    F: FnMut(Message) -> Fut,
    Fut: Future<Output = Response>,
    S: FnOnce(Vec<ToolCall>) -> SFut,
    SFut: Future<Output = Option<Response>>,
{
    if let Err(refused) = admit(sessions, headers, owner, &batch) {
        return refused;
    }
    let calls = batch.tool_calls();
    if !calls.is_empty()
        && let Some(challenge) = step_up(calls).await
    {
        return challenge;
    }
    answer(batch, handle).await
}

/// Whether this request may carry `batch`: it names no version other than 2025-03-26, and the
/// session it names is one negotiated at 2025-03-26 and owned by `owner`. The refusal otherwise:
/// the session transport's own answers (no session id, an unknown session), or `400` / `-32600`
/// (also for a batch that tries to open its session with `initialize`).
fn admit(
    sessions: &Sessions,
    headers: &HeaderMap,
    owner: &Owner<'_>,
    batch: &Batch,
) -> Result<Touched, Response> {
    if let Some(version) = header_str(headers, &MCP_PROTOCOL_VERSION).map(str::trim)
        && version != BATCH_VERSION
    {
        return Err(not_in(version));
    }
    if headers.get(crate::MCP_SESSION_ID).is_none() && batch.elements.iter().any(is_initialize) {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            error_code::INVALID_REQUEST,
            "initialize must not be part of a batch: send it alone",
        ));
    }
    let session = crate::session::require(sessions, headers, owner)?;
    if session.protocol_version != BATCH_VERSION {
        return Err(not_in(session.protocol_version));
    }
    Ok(session)
}

fn is_initialize(element: &Element) -> bool {
    matches!(element, Ok(Message::Request(request)) if request.method == "initialize")
}

fn not_in(version: &str) -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        None,
        error_code::INVALID_REQUEST,
        format!(
            "JSON-RPC batches are part of MCP {BATCH_VERSION} only, and this request speaks {version}; \
             send one message per request"
        ),
    )
}

/// The answer to an empty array (JSON-RPC 2.0 §6: one error, not an empty array).
pub fn empty() -> Response {
    rpc_error(StatusCode::BAD_REQUEST, None, error_code::INVALID_REQUEST, "an empty batch")
}

/// Answers an admitted batch: each element through `handle` (the handler of a single message in
/// the session form), in order, and the JSON-RPC answers as one array; `202` if there are none.
/// An element answered with anything but `200` or `202` ends the batch with that answer.
async fn answer<F, Fut>(batch: Batch, mut handle: F) -> Response
where
    F: FnMut(Message) -> Fut,
    Fut: Future<Output = Response>,
{
    let mut answers: Vec<Value> = Vec::new();
    for element in batch.elements {
        let message = match element {
            Ok(Message::Request(request)) if request.method == "initialize" => {
                let error =
                    RpcError::new(error_code::INVALID_REQUEST, "initialize must not be part of a batch");
                answers.push(to_value(&mcp::Response::failure(Some(request.id), error)));
                continue;
            }
            Ok(message) => message,
            Err((id, error)) => {
                answers.push(to_value(&mcp::Response::failure(id, error)));
                continue;
            }
        };
        let id = match &message {
            Message::Request(request) => Some(request.id.clone()),
            Message::Notification(_) | Message::Response(_) => None,
        };
        match read_answer(handle(message).await).await {
            Ok(Some(answer)) => answers.push(answer),
            Ok(None) => {}
            Err(Unreadable) => {
                let error = RpcError::new(error_code::INTERNAL_ERROR, "this element's answer was lost");
                answers.push(to_value(&mcp::Response::failure(id, error)));
            }
            Err(Challenge(response)) => return response,
        }
    }
    if answers.is_empty() {
        return accepted();
    }
    let body = serde_json::to_vec(&answers).unwrap_or_else(|_| b"[]".to_vec());
    let mut response = Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

/// Why an element's answer cannot go into the array.
enum NotAnElement {
    /// An HTTP-level answer (a challenge): it answers the whole request.
    Challenge(Response),
    /// A `200` whose body is not JSON. The handlers never answer so; if one did, the element
    /// gets an internal error rather than the batch being lost.
    Unreadable,
}
use NotAnElement::{Challenge, Unreadable};

/// The JSON-RPC message of a single message's answer: `200` with a body is one, `202` is none.
async fn read_answer(response: Response) -> Result<Option<Value>, NotAnElement> {
    match response.status() {
        StatusCode::ACCEPTED => Ok(None),
        StatusCode::OK => {
            // The handlers' own answers, already in memory: the limit only guards the type.
            let bytes =
                axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|_| Unreadable)?;
            serde_json::from_slice(&bytes).map(Some).map_err(|_| Unreadable)
        }
        _ => Err(Challenge(response)),
    }
}

fn to_value(response: &mcp::Response) -> Value {
    serde_json::to_value(response).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::success;
    use serde_json::json;

    fn batch(values: Value) -> Batch {
        let Value::Array(values) = values else { panic!("an array") };
        Batch::from_values(values)
    }

    async fn json(response: Response) -> (StatusCode, Value) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
    }

    /// A handler that answers a request with its method's name, and a notification with `202`.
    async fn echo_method(message: Message) -> Response {
        match message {
            Message::Request(request) => success(request.id, json!({"method": request.method})),
            _ => accepted(),
        }
    }

    #[tokio::test]
    async fn each_request_is_answered_in_order_and_notifications_are_not() {
        let (status, body) = json(
            answer(
                batch(json!([
                    {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                    {"jsonrpc": "2.0", "method": "notifications/progress"},
                    {"jsonrpc": "2.0", "id": "b", "method": "tools/list"},
                ])),
                echo_method,
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!([
                {"jsonrpc": "2.0", "id": 1, "result": {"method": "ping"}},
                {"jsonrpc": "2.0", "id": "b", "result": {"method": "tools/list"}},
            ])
        );
    }

    #[tokio::test]
    async fn a_batch_of_notifications_and_responses_is_accepted_with_no_body() {
        let (status, body) = json(
            answer(
                batch(json!([
                    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
                    {"jsonrpc": "2.0", "id": 7, "result": {}},
                ])),
                echo_method,
            )
            .await,
        )
        .await;
        assert_eq!((status, body), (StatusCode::ACCEPTED, Value::Null));
    }

    #[tokio::test]
    async fn bad_elements_and_initialize_get_their_own_errors_and_are_not_handled() {
        let mut handled = Vec::new();
        let (status, body) = json(
            answer(
                batch(json!([
                    1,
                    {"jsonrpc": "1.0", "id": 2, "method": "ping"},
                    {"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": {"protocolVersion": "2025-03-26"}},
                    {"jsonrpc": "2.0", "id": 4, "method": "ping"},
                ])),
                |message| {
                    handled.push(format!("{message:?}"));
                    echo_method(message)
                },
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(handled.len(), 1, "only the ping reached the handler: {handled:?}");
        let answers = body.as_array().unwrap();
        assert_eq!(answers.len(), 4);
        assert_eq!(
            (answers[0]["id"].clone(), answers[0]["error"]["code"].clone()),
            (Value::Null, json!(-32600))
        );
        assert_eq!(
            (answers[1]["id"].clone(), answers[1]["error"]["code"].clone()),
            (json!(2), json!(-32600))
        );
        assert_eq!(
            (answers[2]["id"].clone(), answers[2]["error"]["code"].clone()),
            (json!(3), json!(-32600))
        );
        assert_eq!(answers[3], json!({"jsonrpc": "2.0", "id": 4, "result": {"method": "ping"}}));
    }

    #[tokio::test]
    async fn a_challenge_answers_the_whole_batch_and_ends_it() {
        let mut handled = 0;
        let (status, _) = json(
            answer(
                batch(json!([
                    {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                    {"jsonrpc": "2.0", "id": 2, "method": "tools/call"},
                    {"jsonrpc": "2.0", "id": 3, "method": "ping"},
                ])),
                |message| {
                    handled += 1;
                    async move {
                        match message {
                            Message::Request(request) if request.method == "tools/call" => {
                                rpc_error(StatusCode::FORBIDDEN, None, -32600, "step up")
                            }
                            other => echo_method(other).await,
                        }
                    }
                },
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(handled, 2, "nothing after the challenge was handled");
    }

    #[test]
    fn the_tool_calls_of_a_batch_are_its_well_formed_tools_call_requests_in_order() {
        let calls = batch(json!([
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "b", "arguments": {"x": 1}}},
            {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "notification"}},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "bad", "arguments": 7}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {}},
            {"jsonrpc": "1.0", "id": 5, "method": "tools/call", "params": {"name": "old"}},
            {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "a"}},
        ]))
        .tool_calls();
        let arguments = |value: Value| value.as_object().cloned().unwrap();
        assert_eq!(
            calls,
            [
                ToolCall { name: "b".into(), arguments: arguments(json!({"x": 1})) },
                ToolCall { name: "a".into(), arguments: Map::new() },
            ]
        );
    }

    #[tokio::test]
    async fn a_step_up_any_tool_call_needs_answers_the_batch_before_any_element_is_handled() {
        let sessions = Sessions::new(10, std::time::Duration::from_secs(60));
        let ada = Owner { subject: "ada", client_id: "c" };
        let session = sessions.open(&ada, BATCH_VERSION);
        let mut headers = HeaderMap::new();
        headers.insert(crate::MCP_SESSION_ID, session.parse().unwrap());
        let elements = || {
            batch(json!([
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "write"}},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "delete"}},
            ]))
        };
        let mut handled = 0;
        let mut shown = Vec::new();
        let response = serve(
            &sessions,
            &headers,
            &ada,
            elements(),
            |calls: Vec<ToolCall>| {
                shown = calls.into_iter().map(|call| call.name).collect();
                let needs_more = shown.iter().any(|name| name == "delete");
                async move { needs_more.then(|| rpc_error(StatusCode::FORBIDDEN, None, -32600, "step up")) }
            },
            |message| {
                handled += 1;
                echo_method(message)
            },
        )
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(shown, ["write", "delete"]);
        assert_eq!(handled, 0, "not even the write before the delete ran");

        let (status, body) = json(
            serve(
                &sessions,
                &headers,
                &ada,
                elements(),
                |_| async { None },
                |message| {
                    handled += 1;
                    echo_method(message)
                },
            )
            .await,
        )
        .await;
        assert_eq!((status, body.as_array().map(Vec::len)), (StatusCode::OK, Some(2)));
        assert_eq!(handled, 2);

        // A batch without tool calls is not shown to the check; one not admitted is refused first.
        let pings = batch(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]));
        let refuse = |_| async { Some(rpc_error(StatusCode::FORBIDDEN, None, -32600, "step up")) };
        let response = serve(&sessions, &headers, &ada, pings, refuse, echo_method).await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = serve(&sessions, &HeaderMap::new(), &ada, elements(), refuse, echo_method).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "no session id");
    }

    #[tokio::test]
    async fn a_batch_is_admitted_only_in_a_2025_03_26_session_of_its_owner() {
        let sessions = Sessions::new(10, std::time::Duration::from_secs(60));
        let ada = Owner { subject: "ada", client_id: "c" };
        let ping = batch(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]));
        let old = sessions.open(&ada, "2025-03-26");
        let new = sessions.open(&ada, "2025-06-18");
        let headers = |session: &str, version: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(crate::MCP_SESSION_ID, session.parse().unwrap());
            if let Some(version) = version {
                headers.insert(MCP_PROTOCOL_VERSION, version.parse().unwrap());
            }
            headers
        };
        assert!(admit(&sessions, &headers(&old, None), &ada, &ping).is_ok());
        assert!(admit(&sessions, &headers(&old, Some("2025-03-26")), &ada, &ping).is_ok());
        for (session, version) in [(&old, Some("2025-06-18")), (&new, None), (&new, Some("2025-03-26"))] {
            let (status, body) =
                json(admit(&sessions, &headers(session, version), &ada, &ping).unwrap_err()).await;
            assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!(-32600)));
        }
        let (status, body) = json(admit(&sessions, &HeaderMap::new(), &ada, &ping).unwrap_err()).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(-32000)),
            "no session id"
        );
        let opening = batch(json!([{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}]));
        let (status, body) = json(admit(&sessions, &HeaderMap::new(), &ada, &opening).unwrap_err()).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(-32600)),
            "{body}"
        );
        let eve = Owner { subject: "eve", client_id: "c" };
        let (status, _) = json(admit(&sessions, &headers(&old, None), &eve, &ping).unwrap_err()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "someone else's session");
    }
}
