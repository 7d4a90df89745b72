//! The flow timeline: every HTTP exchange and decision of the OAuth flow, in order, with the spec
//! rule it satisfies. It is what makes the page an OAuth debugger rather than a demo.

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

/// One entry of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
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

/// Renders the timeline.
#[component]
pub fn Timeline(steps: ReadSignal<Vec<Step>>) -> impl IntoView {
    view! {
        <ol class="timeline" id="timeline">
            <For each=move || steps.get().into_iter().enumerate() key=|(i, _)| *i let((_, step))>
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
