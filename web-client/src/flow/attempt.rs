//! One try at a call with the token we hold (or none).

use protocol::challenge::BearerChallenge;
use protocol::echo::EchoResponse;
use protocol::mcp::Approval;
use url::Url;

use super::{Call, FlowResult, mcp, read_challenge};
use crate::http::Outgoing;
use crate::state::{AppState, CallResult, TokenSet};
use crate::timeline::Outcome;

pub enum Attempt {
    Done(CallResult),
    /// 401 or 403 with its challenge.
    Refused {
        status: u16,
        challenge: BearerChallenge,
    },
    /// The call waits for a person's approval, or was denied it (a gateway's policy); with the
    /// server's message about it, if any.
    Approval {
        approval: Approval,
        message: Option<String>,
    },
}

pub async fn attempt(app: AppState, call: &Call, tokens: Option<&TokenSet>) -> FlowResult<Attempt> {
    match call {
        Call::Echo { url, text } => echo(app, url, text, tokens).await,
        Call::ListTools { url } => mcp::list_tools(app, url, tokens).await,
        Call::CallTool { url, tool, arguments } => mcp::call_tool(app, url, tool, arguments, tokens).await,
    }
}

/// The title of a request step, saying whether a token went along.
pub fn with_or_without(tokens: Option<&TokenSet>, what: &str) -> String {
    match tokens {
        Some(_) => format!("{what} with the access token"),
        None => format!("{what} without a token"),
    }
}

/// Turns a 401/403 into [`Attempt::Refused`], recording it; other statuses are errors.
pub fn refused_or_error(app: AppState, response: &crate::http::Exchange, title: &str) -> FlowResult<Attempt> {
    if matches!(response.status, 401 | 403) {
        app.push(
            response
                .step(
                    title,
                    "MCP authorization: the 401/403 challenge says where authorization starts",
                    Outcome::Info,
                )
                .detail(response.pretty_body()),
        );
        let challenge = read_challenge(app, response)?;
        return Ok(Attempt::Refused { status: response.status, challenge });
    }
    app.push(response.step(title, "RFC 6750 §3", Outcome::Error).detail(response.pretty_body()));
    Err(format!("The server answered {} (see the timeline).", response.status))
}

async fn echo(app: AppState, endpoint: &str, text: &str, tokens: Option<&TokenSet>) -> FlowResult<Attempt> {
    let mut url = Url::parse(endpoint).map_err(|e| format!("{endpoint:?} is not a URL: {e}"))?;
    url.query_pairs_mut().append_pair("text", text);
    let url = url.to_string();
    let title = with_or_without(tokens, "Call the API");
    app.gate(&title, &format!("GET {url}: the bearer token, if any, goes in the Authorization header (RFC 6750 §2.1), never in the URL.")).await?;
    let response = Outgoing::get(&url).bearer(tokens.map(|t| &t.access_token)).send().await.map_err(|e| {
        app.push(e.step(&title, "RFC 6750 §2.1"));
        format!("The server at {endpoint} could not be reached (see the timeline).")
    })?;
    if response.status == 200 {
        let echo: EchoResponse = serde_json::from_str(&response.body)
            .map_err(|e| format!("The server answered 200 but not with an echo: {e}"))?;
        app.push(response.step(&title, "RFC 6750 §2.1", Outcome::Ok).detail(response.pretty_body()));
        return Ok(Attempt::Done(CallResult::Echo(echo)));
    }
    refused_or_error(app, &response, &title)
}
