//! The MCP OAuth public client, in the browser.
//!
//! | module | responsibility |
//! |---|---|
//! | [`flow`] | the authorization flow, phase by phase, and the calls it authorizes |
//! | [`http`] | `fetch` with timeline details and CORS-aware errors |
//! | [`storage`] | `sessionStorage` / `localStorage`: pending authorizations, client ids (never tokens) |
//! | [`state`] | reactive state shared by the components; tokens live here, in memory |
//! | [`timeline`] | the step-by-step record of the flow |
//! | [`tool_form`] | a form for an MCP tool, built from its input schema |

// The tests render components and use timers: they run in the browser (headless Chromium).
#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

pub mod flow;
pub mod http;
pub mod state;
pub mod storage;
pub mod timeline;
pub mod tool_form;

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::introspection::RevocationRequest;
use protocol::jwt::decode_unverified;
use protocol::mcp::{CallToolResult, Content};

use crate::flow::Call;
use crate::state::{AppState, CallResult, TokenSet};
use crate::timeline::Timeline;
use crate::tool_form::ToolForm;

/// The app: one page. The authorization server redirects back to `/callback`, which this page
/// handles on load and then replaces with `/` (a router would be a lot of code for one redirect).
#[component]
pub fn App() -> impl IntoView {
    let app = AppState::new();
    provide_context(app);
    set_interval(move || app.now_ms.set(js_sys::Date::now()), Duration::from_secs(1));
    handle_callback(app);
    view! {
        <main>
            <header>
                <h1>"MCP authorization, in the browser"</h1>
                <p class="lede">
                    "Call a protected MCP server. When it answers 401, this page discovers its \
                     authorization server, finds a client id, sends you to sign in with PKCE, \
                     exchanges the code and retries; every step is listed below, with the rule it follows."
                </p>
            </header>
            <Home/>
        </main>
    }
}

fn app_state() -> AppState {
    use_context::<AppState>().expect("AppState is provided by App")
}

#[component]
fn Home() -> impl IntoView {
    let app = app_state();
    view! {
        <ModeSwitch/>
        <PausePanel/>
        <ApprovalPanel/>
        <McpPanel/>
        <EchoPanel/>
        <ResultPanel/>
        <TokensPanel/>
        <Settings/>
        <section aria-labelledby="flow-heading">
            <h2 id="flow-heading">"Flow"</h2>
            <Timeline steps=app.timeline.read_only()/>
        </section>
    }
}

/// Quick or step-by-step.
#[component]
fn ModeSwitch() -> impl IntoView {
    let app = app_state();
    view! {
        <div class="mode">
            <input id="step-mode" type="checkbox"
                prop:checked=move || app.step_mode.get()
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    app.step_mode.set(on);
                    storage::save_step_mode(on);
                }/>
            <label for="step-mode">"Step by step: pause before every request and explain it"</label>
        </div>
    }
}

#[component]
fn PausePanel() -> impl IntoView {
    let app = app_state();
    move || {
        app.pause.get().map(|pause| {
            view! {
                <section class="pause" id="pause" role="status" aria-live="polite">
                    <h2>"Next: " {pause.title}</h2>
                    <p>{pause.explanation}</p>
                    <div class="actions">
                        <button id="next" type="button" on:click=move |_| app.next()>"Next"</button>
                        <button id="run-through" type="button" class="secondary" on:click=move |_| app.run_through()>
                            "Run to the end"
                        </button>
                    </div>
                </section>
            }
        })
    }
}

/// A call waiting for a person's approval: the approval page's site, the server asking and its
/// message, the link (opened in a new tab, so this page keeps its tokens and goes on trying), when
/// the next try is, and *Stop waiting*.
#[component]
fn ApprovalPanel() -> impl IntoView {
    let app = app_state();
    move || {
        app.waiting.get().map(|waiting| {
            let next_try = move || {
                let seconds = ((waiting.next_try_ms - app.now_ms.get()) / 1000.0).ceil().max(0.0) as i64;
                format!("Making the same call again in {seconds} s (tries so far: {}).", waiting.tries)
            };
            view! {
                <section class="pause" id="approval" role="status" aria-live="polite">
                    <h2>"This call needs a person's approval"</h2>
                    // MCP URL-mode elicitation: show where the link leads and who asks, before
                    // anyone follows it.
                    <p id="approval-asked">
                        "The approval page is at " <strong id="approval-site">{waiting.site.clone()}</strong>
                        ", asked for by the MCP server " <code id="approval-server">{waiting.server.clone()}</code>
                        {waiting.message.clone().map(|m| format!(", which says: \u{201c}{m}\u{201d}")).unwrap_or_default()}
                    </p>
                    <p>
                        "The server's policy asks a person to approve this call at the authorization server. \
                         Open the approval page (sign in there if asked), answer, and come back: this page \
                         makes the same call again until it goes through, for up to 5 minutes."
                    </p>
                    <p>
                        <a id="approval-link" href=waiting.url.clone() target="_blank" rel="noopener noreferrer">
                            {waiting.url.clone()}
                        </a>
                    </p>
                    <p class="detail" id="approval-next">{next_try}</p>
                    <div class="actions">
                        <button id="stop-waiting" type="button" class="secondary" on:click=move |_| app.stop_waiting()>
                            "Stop waiting"
                        </button>
                    </div>
                </section>
            }
        })
    }
}

#[component]
fn McpPanel() -> impl IntoView {
    let app = app_state();
    let list = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(flow::run(app, Call::ListTools { url: app.mcp_url.get_untracked() }));
    };
    view! {
        <section aria-labelledby="mcp-heading">
            <h2 id="mcp-heading">"MCP server"</h2>
            <form class="call" on:submit=list>
                <label for="mcp-url">"MCP endpoint (Streamable HTTP): in the demo, the server (:9090) or the gateway (:9100)"</label>
                // The listed tools belong to the endpoint they were listed from.
                <input id="mcp-url" type="url" required list="mcp-urls"
                    prop:value=move || app.mcp_url.get()
                    on:input=move |ev| {
                        app.mcp_url.set(event_target_value(&ev));
                        app.tools.set(Vec::new());
                    }/>
                <datalist id="mcp-urls">
                    <option value=state::DEFAULT_MCP_URL label="the demo's MCP server"/>
                    <option value=state::DEMO_GATEWAY_URL label="the demo's gateway: policies and approvals"/>
                </datalist>
                <div class="actions">
                    <button id="list-tools" type="submit" disabled=move || app.busy.get()>"List tools"</button>
                </div>
            </form>
            <div class="tools">
                <For each=move || app.tools.get() key=|tool| tool.name.clone() let(tool)>
                    <ToolForm tool=tool/>
                </For>
            </div>
        </section>
    }
}

#[component]
fn EchoPanel() -> impl IntoView {
    let app = app_state();
    let call = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let call = Call::Echo { url: app.echo_url.get_untracked(), text: app.echo_text.get_untracked() };
        spawn_local(flow::run(app, call));
    };
    view! {
        <section aria-labelledby="echo-heading">
            <h2 id="echo-heading">"Plain HTTP API"</h2>
            <form class="call" on:submit=call>
                <label for="endpoint">"Echo endpoint"</label>
                <input id="endpoint" type="url" required
                    prop:value=move || app.echo_url.get()
                    on:input=move |ev| app.echo_url.set(event_target_value(&ev))/>
                <label for="text">"Text"</label>
                <input id="text" type="text"
                    prop:value=move || app.echo_text.get()
                    on:input=move |ev| app.echo_text.set(event_target_value(&ev))/>
                <div class="actions">
                    <button id="call-echo" type="submit" disabled=move || app.busy.get()>"Call echo"</button>
                </div>
            </form>
        </section>
    }
}

/// The text content blocks of a tool result.
fn tool_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| match block {
            Content::Text { text } => Some(text.as_str()),
            Content::Other(_) => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[component]
fn ResultPanel() -> impl IntoView {
    let app = app_state();
    view! {
        {move || app.result.get().map(|result| match result {
            CallResult::Echo(echo) => view! {
                <section class="result" aria-live="polite">
                    <h2>"Echoed"</h2>
                    <p id="result">{echo.text}</p>
                    <p class="detail">{format!("for subject {} via client {}", echo.subject, echo.client_id)}</p>
                </section>
            }.into_any(),
            CallResult::Tools(tools) => view! {
                <section class="result" aria-live="polite">
                    <h2>"Tools"</h2>
                    <p id="result">{format!("{} tools: {}", tools.len(), tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "))}</p>
                </section>
            }.into_any(),
            CallResult::ToolResult { tool, result } => {
                let is_error = result.is_error;
                let structured = result.structured_content.as_ref().map(|s| serde_json::to_string_pretty(s).unwrap_or_default());
                view! {
                    <section class=if is_error { "result error" } else { "result" } aria-live="polite">
                        <h2>{format!("{tool} answered{}", if is_error { " with a tool error" } else { "" })}</h2>
                        <p id="result">{tool_text(&result)}</p>
                        {structured.map(|s| view! { <pre class="detail">{s}</pre> })}
                    </section>
                }.into_any()
            }
        })}
        {move || app.error.get().map(|message| view! {
            <section class="error" role="alert"><p id="error">{message}</p></section>
        })}
    }
}

/// The tokens this tab holds, never shown raw: resource, scopes, a live expiry countdown, the
/// decoded claims; and the button that forgets it all.
#[component]
fn TokensPanel() -> impl IntoView {
    let app = app_state();
    let forget = move |_| spawn_local(forget(app));
    view! {
        <section aria-labelledby="tokens-heading">
            <h2 id="tokens-heading">"Tokens (in memory only)"</h2>
            {move || {
                let tokens = app.tokens.get();
                if tokens.is_empty() {
                    return view! { <p class="detail" id="no-tokens">"None yet."</p> }.into_any();
                }
                view! {
                    <ul class="tokens">
                        {tokens.into_iter().map(|t| view! { <TokenCard tokens=t/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <div class="actions">
                <button id="forget" type="button" class="secondary" on:click=forget>"Log out / forget"</button>
            </div>
        </section>
    }
}

#[component]
fn TokenCard(tokens: TokenSet) -> impl IntoView {
    let app = app_state();
    let claims = decode_unverified(tokens.access_token.secret())
        .map(|jwt| serde_json::to_string_pretty(&jwt.claims).unwrap_or_default())
        .unwrap_or_else(|_| "(opaque token)".into());
    let expires = tokens.expires_at_ms;
    let countdown = move || match expires {
        Some(at) => {
            // Whole seconds, formatted as an integer (float formatting is a lot of wasm).
            let seconds = ((at - app.now_ms.get()) / 1000.0).round() as i64;
            if seconds > 0 { format!("expires in {seconds} s") } else { "expired".to_owned() }
        }
        None => "no expiry given".to_owned(),
    };
    view! {
        <li class="token">
            <p>
                <strong>{tokens.resource.clone()}</strong>
                {format!(" — scope \"{}\" — ", tokens.scopes)}
                <span class="token-expiry">{countdown}</span>
                {if tokens.refresh_token.is_some() { " — refreshable" } else { "" }}
            </p>
            <details>
                <summary>"Decoded claims (not verified by this client)"</summary>
                <pre class="detail">{claims}</pre>
            </details>
        </li>
    }
}

/// *Log out / forget*: stops the call under way, if any (a wait for approval, a pause, a refresh
/// whose answer is on its way), drops tokens, sessions, client ids and the timeline, then revokes
/// the refresh tokens at their authorization servers (best effort).
async fn forget(app: AppState) {
    app.stop_flow();
    let tokens = app.tokens.get_untracked();
    app.tokens.set(Vec::new());
    app.mcp_sessions.set(Vec::new());
    app.tools.set(Vec::new());
    app.result.set(None);
    app.error.set(None);
    app.timeline.set(Vec::new());
    storage::forget_everything();
    if app.busy.get_untracked() {
        app.push(timeline::Step::new("Log out", "this page", timeline::Outcome::Info).detail(
            "The call under way was stopped: it sends nothing more. A request already sent may still \
             have been carried out by the server.",
        ));
    }
    for tokens in tokens {
        if let (Some(endpoint), Some(refresh)) = (&tokens.revocation_endpoint, &tokens.refresh_token) {
            let request = RevocationRequest::refresh_token(refresh, &tokens.client_id);
            let body = serde_urlencoded::to_string(&request).unwrap_or_default();
            let _ = http::Outgoing::post(endpoint, "application/x-www-form-urlencoded", body).send().await;
        }
    }
}

/// Pre-registered client ids, per authorization server.
#[component]
fn Settings() -> impl IntoView {
    let issuer = RwSignal::new(String::new());
    let client_id = RwSignal::new(String::new());
    let saved = RwSignal::new(storage::preregistered_clients());
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (i, c) = (issuer.get_untracked(), client_id.get_untracked());
        if !i.is_empty() && !c.is_empty() && storage::save_preregistered_client(i.trim(), c.trim()).is_ok() {
            saved.set(storage::preregistered_clients());
            client_id.set(String::new());
        }
    };
    view! {
        <details class="settings" id="settings">
            <summary>"Settings: a pre-registered client id"</summary>
            <p class="detail">
                "If an authorization server gave you a client id for this app, enter it here; it is used \
                 before metadata documents and registration."
            </p>
            <form class="call" on:submit=save>
                <label for="prereg-issuer">"Authorization server issuer"</label>
                <input id="prereg-issuer" type="url" required placeholder="https://auth.example.com"
                    prop:value=move || issuer.get() on:input=move |ev| issuer.set(event_target_value(&ev))/>
                <label for="prereg-client-id">"Client id"</label>
                <input id="prereg-client-id" type="text" required
                    prop:value=move || client_id.get() on:input=move |ev| client_id.set(event_target_value(&ev))/>
                <div class="actions"><button id="prereg-save" type="submit">"Save"</button></div>
            </form>
            <ul>
                {move || saved.get().into_iter().map(|(i, c)| view! { <li><code>{i}</code>" → "<code>{c}</code></li> }).collect_view()}
            </ul>
        </details>
    }
}

/// On `/callback`: replace the URL with `/` at once, so the code and state leave the address bar
/// and the history, then hand the query to the flow.
fn handle_callback(app: AppState) {
    let Some(window) = web_sys::window() else { return };
    let location = window.location();
    if location.pathname().ok().as_deref() != Some("/callback") {
        return;
    }
    let query = location.search().unwrap_or_default().trim_start_matches('?').to_owned();
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/"));
    }
    spawn_local(flow::authorize::complete_authorization(app, query));
}
