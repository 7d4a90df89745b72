//! A call that waits for a person's approval. A gateway's policy may ask a person to approve a
//! tool call first: the gateway answers with where they approve (this project's `-31042`, or the
//! spec's URL-mode elicitation `-32042`; `protocol::mcp::approval_of` reads both and accepts only
//! `http(s)` links). The page shows the link and makes the same call again, as often as the
//! gateway says, until it goes through, the person denies it, or five minutes are over. Only the
//! person can approve, at the authorization server in their own session: this page cannot.

use leptos::prelude::*;
use protocol::mcp::{Approval, error_code};
use protocol::mcp_client::McpError;

use super::{Call, FlowResult, Performed, Progress};
use crate::state::{AppState, Waiting};
use crate::timeline::{Outcome, Step};

const RULE: &str = "the gateway's approval (-31042) or MCP URL-mode elicitation (-32042)";
/// How long the page keeps trying; the gateway's approvals expire after about as long.
const MAX_WAIT_MS: f64 = 5.0 * 60.0 * 1000.0;
/// The longest pause between two tries, whatever the gateway says (as `mcp-agent`).
const MAX_PAUSE_SECONDS: u64 = 30;

/// The longest server message shown with an approval, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// A person's approval a call waits for, as the server asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// The page where the person approves (an `http(s)` URL, checked by `approval_of`).
    pub url: String,
    pub id: String,
    pub retry_after: u64,
    /// What the server says about it, if anything.
    pub message: Option<String>,
}

/// The approval a failed MCP call is waiting for, if that is why it failed.
pub fn approval_in(error: &McpError) -> Option<Approval> {
    match error {
        McpError::Rpc { error, .. } => protocol::mcp::approval_of(error),
        _ => None,
    }
}

/// What the server says about the approval it asks for: a URL-mode elicitation's `message`, or
/// the error's own message for this project's `-31042`; at most [`MAX_MESSAGE_CHARS`] of it.
/// Read here because `protocol::mcp::Approval` does not carry it.
pub fn message_in(error: &McpError) -> Option<String> {
    let McpError::Rpc { error, .. } = error else { return None };
    let message = match error.code {
        error_code::URL_ELICITATION_REQUIRED => error
            .data
            .as_ref()
            .and_then(|d| d.get("elicitations"))
            .and_then(|e| e.get(0))
            .and_then(|e| e.get("message"))
            .and_then(|m| m.as_str())?,
        error_code::APPROVAL_PENDING => error.message.as_str(),
        _ => return None,
    };
    let message = message.trim();
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        _ if message.is_empty() => None,
        Some((cut, _)) => Some(format!("{}…", message.get(..cut).unwrap_or_default())),
        None => Some(message.to_owned()),
    }
}

/// The site of an approval page, as a person should read it before going there (MCP URL-mode
/// elicitation: clients MUST show the target domain): its host, and its port if not the
/// default. An internationalized name is shown in its ASCII (`xn--`) form, which cannot pass for
/// another (this build parses no Unicode host names at all: see `idna_adapter`).
pub fn site_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// What an approval answer means for the call: wait (with the call to make again), or stop.
pub(super) fn outcome(
    app: AppState,
    call: &Call,
    approval: Approval,
    message: Option<String>,
    progress: Progress,
) -> FlowResult<Performed> {
    let stop = |title: &str, message: &str| {
        app.push(Step::new(title, RULE, Outcome::Error).detail(message));
        Err(message.to_owned())
    };
    match approval {
        Approval::Pending { url, id, retry_after } => {
            let asked = Asked { url, id, retry_after, message };
            Ok(Performed::AwaitingApproval { call: call.clone(), asked, progress })
        }
        Approval::Denied { .. } => stop("The person denied the call", "The person denied this call."),
        Approval::Expired { .. } => stop(
            "Nobody approved the call in time",
            "Nobody approved this call in time; calling again asks again.",
        ),
    }
}

/// The pause before the next try, in seconds, or `None` once the wait would go past `deadline_ms`.
pub fn next_pause(retry_after: u64, now_ms: f64, deadline_ms: f64) -> Option<u64> {
    let pause = retry_after.clamp(1, MAX_PAUSE_SECONDS);
    (now_ms + (pause * 1000) as f64 <= deadline_ms).then_some(pause)
}

/// One approval being waited for, across the tries of its call.
#[derive(Default)]
pub(super) struct Wait {
    /// The approval id last shown, so each new one gets its own timeline step.
    shown: Option<String>,
    tries: u32,
    /// The timeline's length before the last try.
    mark: usize,
}

impl Wait {
    /// Shows what `server` (the MCP endpoint) asks and waits before the next try; `Ok` with the
    /// deadline (`deadline`, the call's if it waited before, even on another page before the
    /// redirect, else five minutes from now) to carry to the next try, `Err` when the page stops
    /// waiting (the person pressed *Stop waiting*, or the deadline has come).
    pub(super) async fn pause(
        &mut self,
        app: AppState,
        server: &str,
        asked: Asked,
        deadline: Option<f64>,
    ) -> FlowResult<f64> {
        let Asked { url, id, retry_after, message } = asked;
        let now = js_sys::Date::now();
        let deadline = deadline.unwrap_or(now + MAX_WAIT_MS);
        self.tries += 1;
        if self.shown.as_ref() == Some(&id) {
            // Still waiting: the try added only its own exchange, which says nothing new.
            if app.timeline.with_untracked(Vec::len) == self.mark + 1 {
                app.timeline.update(|steps| steps.truncate(self.mark));
            }
        } else {
            app.push(Step::new("This call needs a person's approval", RULE, Outcome::Info).detail(format!(
                "asked by: {server}\napproval page: {url}\napproval id: {id}\nmessage: {}\nThe person \
                 opens the page (signing in at the authorization server if asked) and answers. This page \
                 makes the same call again every {} s; tries that are still waiting are not listed here.",
                message.as_deref().unwrap_or("(none)"),
                retry_after.clamp(1, MAX_PAUSE_SECONDS)
            )));
            self.shown = Some(id);
        }
        let Some(pause) = next_pause(retry_after, now, deadline) else {
            return Err(give_up(
                app,
                "Nobody answered within 5 minutes; the call was not made. Call it again once approved.",
            ));
        };
        app.now_ms.set(now);
        app.waiting.set(Some(Waiting {
            site: site_of(&url).unwrap_or_default(),
            url,
            server: server.to_owned(),
            message,
            next_try_ms: now + (pause * 1000) as f64,
            tries: self.tries,
        }));
        if app.wait_or_stop(pause).await {
            // Logged out: the page was cleared, there is nothing to say.
            app.still_running()?;
            return Err(give_up(
                app,
                "Stopped waiting; the call was not made. Call it again once the person has approved.",
            ));
        }
        self.mark = app.timeline.with_untracked(Vec::len);
        Ok(deadline)
    }

    /// After the call went through: say so, if it had waited.
    pub(super) fn approved(&self, app: AppState) {
        if self.shown.is_some() {
            app.push(Step::new("Approved: the same call went through", RULE, Outcome::Ok));
        }
    }
}

fn give_up(app: AppState, message: &'static str) -> String {
    app.push(Step::new("Stop waiting", RULE, Outcome::Error).detail(message));
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::mcp::RpcError;
    use serde_json::json;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn rpc(code: i64, data: serde_json::Value) -> McpError {
        McpError::Rpc {
            method: "tools/call".into(),
            error: RpcError { code, message: "m".into(), data: Some(data) },
        }
    }

    #[wasm_bindgen_test]
    fn both_forms_of_a_pending_approval_are_understood_and_only_web_links_are_shown() {
        let pending =
            |url: &str, id: &str| Some(Approval::Pending { url: url.into(), id: id.into(), retry_after: 2 });
        let page = "http://as.example/approvals";
        assert_eq!(
            approval_in(&rpc(
                error_code::APPROVAL_PENDING,
                json!({"approvalUrl": page, "approvalId": "a1", "retryAfterSeconds": 2})
            )),
            pending(page, "a1")
        );
        assert_eq!(
            approval_in(&rpc(
                error_code::URL_ELICITATION_REQUIRED,
                json!({"elicitations": [{"mode": "url", "url": page, "elicitationId": "e1", "message": "m"}],
                       "retryAfterSeconds": 2})
            )),
            pending(page, "e1")
        );
        let script = json!({"approvalUrl": "javascript:alert(1)", "approvalId": "a2"});
        assert_eq!(approval_in(&rpc(error_code::APPROVAL_PENDING, script)), None);
        assert_eq!(approval_in(&rpc(error_code::INVALID_PARAMS, json!({}))), None);
        assert_eq!(approval_in(&McpError::SessionLost), None);
    }

    /// The deadline is the call's, carried from try to try and across the redirect: a try after
    /// a fresh authorization used to start five new minutes.
    #[wasm_bindgen_test]
    async fn a_wait_past_the_calls_deadline_ends_without_another_try() {
        let app = AppState::new();
        let past = js_sys::Date::now() - 1.0;
        let mut wait = Wait::default();
        let asked = Asked {
            url: "http://as.example/approvals".into(),
            id: "a1".into(),
            retry_after: 1,
            message: None,
        };
        let outcome = wait.pause(app, "http://gw.example/mcp", asked, Some(past)).await;
        assert!(outcome.unwrap_err().starts_with("Nobody answered"));
        assert_eq!(app.waiting.get_untracked(), None, "no further try is announced");
    }

    /// MCP URL-mode elicitation: the client must show the target's domain and the server's
    /// message; the panel showed the raw link only.
    #[wasm_bindgen_test]
    fn the_site_and_the_servers_message_are_read_for_the_person() {
        assert_eq!(site_of("https://as.example/approvals?x=1").as_deref(), Some("as.example"));
        assert_eq!(site_of("http://localhost:9000/approvals").as_deref(), Some("localhost:9000"));
        assert_eq!(site_of("https://xn--bcher-kva.example/a").as_deref(), Some("xn--bcher-kva.example"));
        let page = "http://as.example/approvals";
        let elicitation = json!({"elicitations": [{"mode": "url", "url": page, "elicitationId": "e1",
                                                   "message": "Approve the transfer"}]});
        assert_eq!(
            message_in(&rpc(error_code::URL_ELICITATION_REQUIRED, elicitation)).as_deref(),
            Some("Approve the transfer")
        );
        let own = rpc(error_code::APPROVAL_PENDING, json!({"approvalUrl": page, "approvalId": "a1"}));
        assert_eq!(message_in(&own).as_deref(), Some("m"), "-31042: the error's message");
        let long = json!({"elicitations": [{"mode": "url", "url": page, "message": "x".repeat(1000)}]});
        let shown = message_in(&rpc(error_code::URL_ELICITATION_REQUIRED, long)).unwrap();
        assert_eq!(shown.chars().count(), MAX_MESSAGE_CHARS + 1, "cut, with an ellipsis");
        assert_eq!(message_in(&rpc(error_code::INVALID_PARAMS, json!({}))), None);
    }

    #[wasm_bindgen_test]
    fn the_pause_follows_the_gateway_within_bounds_and_ends_at_the_deadline() {
        assert_eq!(next_pause(5, 0.0, MAX_WAIT_MS), Some(5));
        assert_eq!(next_pause(0, 0.0, MAX_WAIT_MS), Some(1), "never a busy loop");
        assert_eq!(next_pause(3600, 0.0, MAX_WAIT_MS), Some(MAX_PAUSE_SECONDS));
        assert_eq!(next_pause(5, MAX_WAIT_MS - 4_000.0, MAX_WAIT_MS), None, "no try after the deadline");
    }
}
