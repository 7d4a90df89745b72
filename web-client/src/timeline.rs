//! The flow timeline: every HTTP exchange and decision of the OAuth flow, in order, with the spec
//! rule it satisfies. It is what makes the page an OAuth debugger rather than a demo.

use std::sync::atomic::{AtomicU64, Ordering};

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    /// Expected, and the flow goes on (the first `401`).
    Info,
    Error,
}

/// The id of the next step made (or read back after the redirect).
static NEXT_STEP_ID: AtomicU64 = AtomicU64::new(0);

fn next_step_id() -> u64 {
    NEXT_STEP_ID.fetch_add(1, Ordering::Relaxed)
}

/// One entry of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Unique in this page, the key the rendered list follows steps by. Not stored: a timeline
    /// read back after the redirect gets new ones, so they cannot meet the ones made since.
    #[serde(skip, default = "next_step_id")]
    pub id: u64,
    pub title: String,
    /// The rule this step follows, e.g. "RFC 9728 §5.1".
    pub rule: String,
    /// `GET https://…` when the step was a request.
    pub request: Option<String>,
    pub status: Option<u16>,
    /// The response headers that matter for OAuth.
    pub headers: Vec<(String, String)>,
    /// A parsed document, a decoded token, or an explanation.
    pub detail: Option<String>,
    pub outcome: Outcome,
}

impl Step {
    pub fn new(title: impl Into<String>, rule: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            id: next_step_id(),
            title: title.into(),
            rule: rule.into(),
            request: None,
            status: None,
            headers: Vec::new(),
            detail: None,
            outcome,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

fn outcome_class(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "step ok",
        Outcome::Info => "step info",
        Outcome::Error => "step error",
    }
}

/// Renders the timeline. Keyed by step id, not position: a timeline cleared and filled again
/// (a new call) has new steps at the old positions, which a positional key would keep showing.
#[component]
pub fn Timeline(steps: ReadSignal<Vec<Step>>) -> impl IntoView {
    view! {
        <ol class="timeline" id="timeline">
            <For each=move || steps.get() key=|step| step.id let(step)>
                <li class=outcome_class(step.outcome)>
                    <div class="step-head">
                        <span class="step-title">{step.title.clone()}</span>
                        <span class="rule">{step.rule.clone()}</span>
                    </div>
                    {step.request.clone().map(|r| view! { <code class="request">{r}</code> })}
                    {step.status.map(|s| view! { <span class="status">{format!("→ {s}")}</span> })}
                    {(!step.headers.is_empty()).then(|| view! {
                        <dl class="headers">
                            {step.headers.iter().map(|(k, v)| view! { <dt>{k.clone()}</dt><dd>{v.clone()}</dd> }).collect_view()}
                        </dl>
                    })}
                    {step.detail.clone().map(|d| view! { <pre class="detail">{d}</pre> })}
                </li>
            </For>
        </ol>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// Lets the reactive system run its effects (a macrotask: after every microtask).
    async fn settle() {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            let _ =
                web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    /// A new call clears the timeline and records its first step in the same turn; keyed by
    /// position, the rendered list kept the old call's step in that place.
    #[wasm_bindgen_test]
    async fn a_timeline_cleared_and_filled_again_shows_the_new_steps() {
        let document = web_sys::window().unwrap().document().unwrap();
        let parent: web_sys::HtmlElement = document.create_element("div").unwrap().unchecked_into();
        document.body().unwrap().append_child(&parent).unwrap();
        let steps = RwSignal::new(vec![Step::new("the old call", "r", Outcome::Ok)]);
        let _mounted =
            leptos::mount::mount_to(parent.clone(), move || view! { <Timeline steps=steps.read_only()/> });
        settle().await;
        assert!(parent.text_content().unwrap_or_default().contains("the old call"));
        steps.set(Vec::new());
        steps.update(|all| all.push(Step::new("the new call", "r", Outcome::Info)));
        settle().await;
        let shown = parent.text_content().unwrap_or_default();
        assert!(shown.contains("the new call") && !shown.contains("the old call"), "{shown}");
    }

    #[wasm_bindgen_test]
    fn steps_read_back_get_ids_of_their_own() {
        let made = Step::new("a", "r", Outcome::Ok);
        let back: Step = serde_json::from_str(&serde_json::to_string(&made).unwrap()).unwrap();
        assert_ne!(back.id, made.id);
        assert_ne!(Step::new("b", "r", Outcome::Ok).id, back.id);
    }
}
