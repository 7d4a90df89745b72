//! `/mcp` of the gateway: to clients an ordinary protected MCP server (Streamable HTTP, both the
//! session-based and the stateless 2026-07-28 forms, through `mcp-endpoint`), whose tools are the
//! upstreams' as the policy lets each user see and call them ([`crate::service`]).
//!
//! How outcomes reach the client:
//! * a denied tool and an unknown tool: the same JSON-RPC error, byte for byte;
//! * a missing scope: HTTP `403 insufficient_scope` naming the scopes (step-up), as any MCP server;
//! * an approval to give: for a client that declared URL-mode elicitation, the approval page as
//!   a URL elicitation, in the `-32042` error of a 2025-11-25 session (earlier sessions have no
//!   URL-mode elicitation) or, in the 2026-07-28 form, an
//!   `input_required` result (whose retry may answer `decline`: `-31043`); for others `-31042`
//!   with `data.approvalUrl`. Denied `-31043`, expired `-31044`;
//! * the AS or an upstream unavailable: `-32603`, details only in the log.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_bearer::{BearerError, ResourceGuard, VerifiedToken};
use mcp_endpoint::batch;
use mcp_endpoint::inbound::{self, Form, Read};
use mcp_endpoint::reply::{accepted, failure, rpc_error, success};
use mcp_endpoint::session::{self as session_form, ServerInfo};
use mcp_endpoint::sessions::Owner;
use mcp_endpoint::stateless::{self as stateless_form, cached, complete};
use mcp_endpoint::{header_str, inbound::Inbound};
use protocol::jwt::validation::Refusal;
use protocol::mcp::{CallToolResult, ListToolsResult, Message, Request as RpcRequest, RpcError, error_code};
use protocol::scope::Scopes;
use protocol::secret::AccessToken;
use serde_json::{Value, json};
use serve::client_addr::ClientAddr;

use crate::approval::Answer;
use crate::service::{Caller, Gateway, Outcome};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub guard: ResourceGuard,
    pub metadata: Arc<protocol::metadata::ProtectedResourceMetadata>,
    /// The gateway's public keys (its `private_key_jwt` key), served for the AS to fetch.
    pub jwks: Arc<Value>,
    /// What a `401` asks a client to get first: the scopes of the tools that only read.
    pub initial_scope: Scopes,
}

impl axum::extract::FromRef<AppState> for ResourceGuard {
    fn from_ref(state: &AppState) -> Self {
        state.guard.clone()
    }
}

/// What `initialize` and `server/discover` say about the gateway.
pub const INSTRUCTIONS: &str = "A gateway: the tools of several MCP servers under `<server>__<tool>`, as policy allows. \
Some calls need a person's approval first; the error then says where to give it, and the same call made again goes through.";

fn capabilities() -> Value {
    json!({"tools": {"listChanged": false}, "prompts": {"listChanged": false}, "resources": {}})
}

/// The challenge for `/mcp`, naming what a client needs to do anything here.
fn rejection(state: &AppState, error: BearerError, scope: Scopes) -> Response {
    state.guard.rejection(state.guard.validator().refused(error), scope).into_response()
}

async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Arc<VerifiedToken>, AccessToken), Response> {
    let token = state
        .guard
        .validator()
        .verify_request(headers, None)
        .await
        .map_err(|e| state.guard.rejection(e, state.initial_scope.clone()).into_response())?;
    // The token the validator just verified, read by the same rule.
    let raw = mcp_bearer::validator::bearer_token(headers, None)
        .map(AccessToken::new)
        .map_err(|e| state.guard.rejection(e, state.initial_scope.clone()).into_response())?;
    Ok((token, raw))
}

fn owner(token: &VerifiedToken) -> Owner<'_> {
    Owner { subject: &token.claims.sub, client_id: &token.claims.client_id }
}

/// `POST /mcp`. The client address the policy sees (`client_address`) is the peer's, or behind a
/// `--trusted-proxy` the one its forwarding header names.
pub async fn post(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let (token, raw) = match authenticate(&state, &headers).await {
        Ok(token) => token,
        // Refused before the body was read: a short body is dropped to keep the connection,
        // else the connection closes after this answer.
        Err(response) => return mcp_endpoint::reply::refused_unread(response, body).await,
    };
    let read = match inbound::read(&headers, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let caller = Caller {
        token: &token,
        raw: &raw,
        client_address: client.to_string(),
        request_id: crate::audit::request_id(header_str(&headers, &TRACEPARENT)),
    };
    let span = tracing::info_span!("mcp", request_id = %caller.request_id);
    let handling = async {
        match read {
            Read::One(Inbound { message, form: Form::Stateless }) => {
                stateless(&state, &headers, message, &caller).await
            }
            Read::One(Inbound { message, form: Form::Session }) => {
                session(&state, &headers, message, &caller).await
            }
            // 2025-03-26 sessions only; each element is decided, audited (under this request's
            // id) and passed on as if it had come alone.
            Read::Batch(elements) => {
                let (state, headers, caller) = (&state, &headers, &caller);
                let step_up = |calls: Vec<batch::ToolCall>| async move {
                    let needed = state.gateway.batch_step_up(caller, &calls).await?;
                    Some(rejection(state, BearerError::InsufficientScope(needed.clone()), needed))
                };
                let handle = |message| session(state, headers, message, caller);
                let owner = owner(caller.token);
                let serving =
                    batch::serve(&state.gateway.sessions, headers, &owner, elements, step_up, handle);
                Box::pin(serving).await
            }
        }
    };
    let mut response =
        crate::trace::within(caller.request_id.clone(), tracing::Instrument::instrument(handling, span))
            .await;
    if let Ok(value) = HeaderValue::from_str(&caller.request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// W3C Trace Context, read from clients and passed on.
pub const TRACEPARENT: header::HeaderName = header::HeaderName::from_static(protocol::trace::TRACEPARENT);
/// The trace id of a request, in every answer, so a user can quote it to an operator.
pub const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

async fn session(state: &AppState, headers: &HeaderMap, message: Message, caller: &Caller<'_>) -> Response {
    if let Err(response) = session_form::check_version(headers) {
        return response;
    }
    if let Message::Request(request) = &message
        && request.method == "initialize"
    {
        let server = ServerInfo {
            capabilities: capabilities(),
            implementation: &state.gateway.server_info,
            instructions: Some(INSTRUCTIONS),
        };
        return session_form::initialize(&state.gateway.sessions, request, &owner(caller.token), server);
    }
    let session = match session_form::require(&state.gateway.sessions, headers, &owner(caller.token)) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let request = match message {
        Message::Request(request) => request,
        Message::Notification(_) | Message::Response(_) => return accepted(),
    };
    let ok = |result| success(request.id.clone(), result);
    if let Some(error) = inbound::refusal(&request, false) {
        return failure(StatusCode::OK, Some(request.id.clone()), error);
    }
    match request.method.as_str() {
        "ping" => ok(json!({})),
        "tools/list" => ok(list_result(state, caller).await),
        "prompts/list" => ok(json!({"prompts": []})),
        "resources/list" => ok(json!({"resources": []})),
        "resources/templates/list" => ok(json!({"resourceTemplates": []})),
        "tools/call" => {
            let asking = if has_url_elicitation(session.protocol_version)
                && declares_url_elicitation(&session.client_capabilities)
            {
                Asking::UrlElicitationError
            } else {
                Asking::ApprovalError
            };
            match call(state, &request, caller, None, asking).await {
                Ok(result) => ok(result),
                Err(response) => response,
            }
        }
        other => rpc_error(
            StatusCode::OK,
            Some(request.id.clone()),
            error_code::METHOD_NOT_FOUND,
            format!("Method not found: {other}"),
        ),
    }
}

async fn stateless(state: &AppState, headers: &HeaderMap, message: Message, caller: &Caller<'_>) -> Response {
    let request = match message {
        Message::Request(request) => request,
        Message::Notification(notification) => {
            return stateless_form::check_notification(headers, &notification)
                .map_or_else(|r| r, |()| accepted());
        }
        Message::Response(_) => return accepted(),
    };
    let envelope = match stateless_form::envelope(headers, &request) {
        Ok(envelope) => envelope,
        Err(response) => return response,
    };
    if let Some(error) = inbound::refusal(&request, true) {
        return failure(StatusCode::OK, Some(request.id.clone()), error);
    }
    let info = &state.gateway.server_info;
    let result = match request.method.as_str() {
        "server/discover" => stateless_form::discover(&capabilities(), info, INSTRUCTIONS),
        "tools/list" => cached(list_result(state, caller).await),
        "prompts/list" => cached(json!({"prompts": []})),
        "resources/list" => cached(json!({"resources": []})),
        "resources/templates/list" => cached(json!({"resourceTemplates": []})),
        "tools/call" => {
            let asking = if declares_url_elicitation(envelope.capabilities) {
                Asking::InputRequired
            } else {
                Asking::ApprovalError
            };
            match call(state, &request, caller, Some(headers), asking).await {
                Ok(result) => result,
                Err(response) => return response,
            }
        }
        other => {
            return failure(
                StatusCode::NOT_FOUND,
                Some(request.id.clone()),
                RpcError::new(error_code::METHOD_NOT_FOUND, format!("Method not found: {other}")),
            );
        }
    };
    success(request.id.clone(), complete(result, info))
}

async fn list_result(state: &AppState, caller: &Caller<'_>) -> Value {
    // Boxed, like the other paths a tool call does not take (batches, approvals): the handlers'
    // futures hold the largest of their paths, and are copied whole each time they move.
    let tools = Box::pin(state.gateway.list_tools(caller)).await;
    serde_json::to_value(ListToolsResult { tools, next_cursor: None }).unwrap_or_default()
}

/// Does a session revision have URL-mode elicitation (and its `-32042` error)? 2025-11-25 brought
/// both; in an earlier session a client's `elicitation.url` means nothing, and the error would be
/// one that revision does not define.
fn has_url_elicitation(protocol_version: &str) -> bool {
    protocol_version == URL_ELICITATION_VERSION
}

/// The one session revision with URL-mode elicitation: the last (2026-07-28 has no sessions).
const URL_ELICITATION_VERSION: &str = "2025-11-25";

/// Did the client declare URL-mode elicitation (`capabilities.elicitation.url`)?
fn declares_url_elicitation(capabilities: &Value) -> bool {
    capabilities.get("elicitation").and_then(|e| e.get("url")).is_some_and(Value::is_object)
}

/// How a client is told that a person must approve its call, by what it declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asking {
    /// This project's `-31042` with `data.approvalUrl` (any client).
    ApprovalError,
    /// A session-form client with `elicitation.url`: the 2025-11-25 `-32042` error.
    UrlElicitationError,
    /// A 2026-07-28 client with `elicitation.url`: an `input_required` result with a URL-mode
    /// elicitation (multi round-trip requests; that revision no longer has `-32042`).
    InputRequired,
}

/// `tools/call`: the result, or the whole answer when it is not one.
async fn call(
    state: &AppState,
    request: &RpcRequest,
    caller: &Caller<'_>,
    headers: Option<&HeaderMap>,
    asking: Asking,
) -> Result<Value, Response> {
    let id = || Some(request.id.clone());
    let error = |status, error: RpcError| Err(failure(status, id(), error));
    let (name, arguments) = match mcp_endpoint::inbound::tool_call(request.params.as_ref()) {
        Ok(call) => call,
        Err(why) => return error(StatusCode::OK, RpcError::new(error_code::INVALID_PARAMS, why)),
    };
    let declined = declined_at_client(request.params.as_ref());
    match state.gateway.call_tool(caller, name, arguments, headers, &declined).await {
        Outcome::Result(result) => Ok(result.into_value()),
        // The very error an unknown tool gets, so that a denial tells nothing about existence.
        Outcome::Hidden => {
            error(StatusCode::OK, RpcError::new(error_code::INVALID_PARAMS, format!("Unknown tool: {name}")))
        }
        Outcome::InvalidArguments(why) => {
            let result = CallToolResult::error(format!("Invalid arguments for {name}: {why}"));
            Ok(serde_json::to_value(result).unwrap_or_default())
        }
        Outcome::NeedsScope(scopes) => {
            Err(rejection(state, BearerError::InsufficientScope(scopes.clone()), scopes))
        }
        Outcome::Reauthenticate => {
            Err(rejection(state, BearerError::InvalidToken(Refusal::Inactive), Scopes::default()))
        }
        Outcome::Declined { approval_id } => {
            let mut declined = RpcError::new(
                error_code::APPROVAL_DENIED,
                "The approval was declined; the call was not made.",
            );
            declined.data = Some(json!({"approvalId": approval_id}));
            error(StatusCode::OK, declined)
        }
        Outcome::Approval(Answer::Waiting { approval_id, url, .. }) if asking == Asking::InputRequired => {
            Err(success(request.id.clone(), input_required(&approval_id, &url, &state.gateway.server_info)))
        }
        Outcome::Approval(answer) => {
            error(StatusCode::OK, approval_error(&answer, asking == Asking::UrlElicitationError))
        }
        Outcome::Upstream(upstream_error) => error(StatusCode::OK, upstream_error),
        Outcome::BadHeaders(why) => {
            error(StatusCode::BAD_REQUEST, RpcError::new(error_code::HEADER_MISMATCH, why))
        }
        Outcome::Unavailable(_) => error(
            StatusCode::OK,
            RpcError::new(
                error_code::INTERNAL_ERROR,
                "the gateway could not complete the call; try again later",
            ),
        ),
    }
}

/// The message shown with a URL-mode elicitation for an approval.
const APPROVE_AT_THE_AS: &str = "Approve this tool call at your authorization server, then retry it.";

/// The 2026-07-28 answer to a call waiting for a person: one URL-mode elicitation under the
/// approval's id. No `requestState`: the gateway finds the approval again by the call itself (the
/// same user, client, tool and arguments), so a client has nothing to keep or forge.
fn input_required(approval_id: &str, url: &str, server_info: &protocol::mcp::Implementation) -> Value {
    json!({
        "resultType": "input_required",
        "inputRequests": {approval_id: {
            "method": "elicitation/create",
            "params": {"mode": "url", "url": url, "message": APPROVE_AT_THE_AS},
        }},
        "_meta": {protocol::mcp::META_SERVER_INFO: server_info},
    })
}

/// The approvals whose elicitation a 2026-07-28 retry answers with `decline` or `cancel`
/// (`inputResponses`, keyed by approval id): the person chose not to approve, and a call waiting
/// for one of them ends instead of asking again.
fn declined_at_client(params: Option<&Value>) -> Vec<&str> {
    let Some(responses) = params.and_then(|p| p.get("inputResponses")).and_then(Value::as_object) else {
        return Vec::new();
    };
    responses
        .iter()
        .filter(|(_, response)| {
            matches!(response.get("action").and_then(Value::as_str), Some("decline" | "cancel"))
        })
        .map(|(approval_id, _)| approval_id.as_str())
        .collect()
}

/// How the client learns about an approval.
fn approval_error(answer: &Answer, url_elicitation: bool) -> RpcError {
    match answer {
        Answer::Waiting { approval_id, url, retry_after } if url_elicitation => {
            let mut error = RpcError::new(
                error_code::URL_ELICITATION_REQUIRED,
                "This call needs a person's approval. Open the link, approve, then call again.",
            );
            error.data = Some(json!({"elicitations": [{
                "mode": "url",
                "elicitationId": approval_id,
                "url": url,
                "message": APPROVE_AT_THE_AS,
            }], "retryAfterSeconds": retry_after}));
            error
        }
        Answer::Waiting { approval_id, url, retry_after } => {
            let mut error = RpcError::new(
                error_code::APPROVAL_PENDING,
                format!("This call needs a person's approval: open {url}, approve, then call again."),
            );
            error.data = Some(
                json!({"approvalUrl": url, "approvalId": approval_id, "retryAfterSeconds": retry_after}),
            );
            error
        }
        Answer::Denied { approval_id } | Answer::Declined { approval_id } => {
            let mut error = RpcError::new(error_code::APPROVAL_DENIED, "The person denied this call.");
            error.data = Some(json!({"approvalId": approval_id}));
            error
        }
        Answer::Expired { approval_id } | Answer::Approved { approval_id, .. } => {
            let mut error = RpcError::new(
                error_code::APPROVAL_EXPIRED,
                "Nobody approved this call in time; calling again asks again.",
            );
            error.data = Some(json!({"approvalId": approval_id}));
            error
        }
    }
}

/// `GET /mcp`: no server-to-client stream here.
pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(response) = authenticate(&state, &headers).await {
        return response;
    }
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST, DELETE")]).into_response()
}

/// `DELETE /mcp`: ends a session.
pub async fn delete(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match authenticate(&state, &headers).await {
        Ok((token, _)) => session_form::close(&state.gateway.sessions, &headers, &owner(&token)),
        Err(response) => response,
    }
}
