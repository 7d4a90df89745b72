//! The MCP OAuth public client, in the browser.
//!
//! | module | responsibility |
//! |---|---|
//! | [`flow`] | the authorization flow, phase by phase |
//! | [`http`] | `fetch` with timeline details and CORS-aware errors |
//! | [`storage`] | `sessionStorage`: pending authorizations, client ids (never tokens) |
//! | [`state`] | reactive state shared by the components; the token lives here, in memory |
//! | [`timeline`] | the step-by-step record of the flow |

pub mod flow;
pub mod http;
pub mod state;
pub mod storage;
pub mod timeline;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_navigate;
use leptos_router::path;

use crate::state::AppState;
use crate::timeline::Timeline;

/// The app: one page, plus the `/callback` route the authorization server redirects to.
#[component]
pub fn App() -> impl IntoView {
    provide_context(AppState::new());
    view! {
        <Router>
            <main>
                <header>
                    <h1>"MCP authorization, in the browser"</h1>
                    <p class="lede">
                        "Call a protected MCP server. When it answers 401, this page discovers its \
                         authorization server, registers, sends you to log in with PKCE, exchanges the \
                         code and retries: every step is listed below."
                    </p>
                </header>
                <Routes fallback=|| view! { <p>"Not found."</p> }>
                    <Route path=path!("/") view=Home/>
                    <Route path=path!("/callback") view=Callback/>
                </Routes>
            </main>
        </Router>
    }
}

fn app_state() -> AppState {
    use_context::<AppState>().expect("AppState is provided by App")
}

/// The call form, its result, and the timeline.
#[component]
fn Home() -> impl IntoView {
    let app = app_state();
    let call = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(flow::call_echo(app));
    };
    let forget = move |_| {
        app.session.set(None);
        app.timeline.set(Vec::new());
        app.result.set(None);
        app.error.set(None);
    };
    view! {
        <form class="call" on:submit=call>
            <label for="endpoint">"Echo endpoint"</label>
            <input id="endpoint" type="url" required
                prop:value=move || app.endpoint.get()
                on:input=move |ev| app.endpoint.set(event_target_value(&ev))/>
            <label for="text">"Text"</label>
            <input id="text" type="text"
                prop:value=move || app.text.get()
                on:input=move |ev| app.text.set(event_target_value(&ev))/>
            <div class="actions">
                <button id="call-echo" type="submit" disabled=move || app.busy.get()>"Call echo"</button>
                <button id="forget" type="button" class="secondary" on:click=forget>"Forget token"</button>
            </div>
        </form>
        <SessionInfo/>
        {move || app.result.get().map(|echo| view! {
            <section class="result">
                <h2>"Echoed"</h2>
                <p id="result">{echo.text}</p>
                <p class="detail">{format!("for subject {} via client {}", echo.subject, echo.client_id)}</p>
            </section>
        })}
        {move || app.error.get().map(|message| view! {
            <section class="error" role="alert"><p id="error">{message}</p></section>
        })}
        <section>
            <h2>"Flow"</h2>
            <Timeline steps=app.timeline.read_only()/>
        </section>
    }
}

/// What token this tab holds, without showing the token.
#[component]
fn SessionInfo() -> impl IntoView {
    let app = app_state();
    move || {
        app.session.get().map(|session| {
            let expires = session.expires_at_ms.map(|at| {
                let seconds = ((at - js_sys::Date::now()) / 1000.0).max(0.0).round();
                format!(", expires in about {seconds} s")
            });
            view! {
                <p class="session" id="session">
                    {format!(
                        "Holding an access token for {} with scope \"{}\"{} (in memory only).",
                        session.resource,
                        session.scopes,
                        expires.unwrap_or_default()
                    )}
                </p>
            }
        })
    }
}

/// `/callback`: hand the query to the flow, then replace the URL so the code and state leave the
/// address bar and the history.
#[component]
fn Callback() -> impl IntoView {
    let app = app_state();
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .map(|s| s.trim_start_matches('?').to_owned())
        .unwrap_or_default();
    let navigate = use_navigate();
    navigate("/", NavigateOptions { replace: true, ..Default::default() });
    spawn_local(flow::complete_authorization(app, query));
    view! { <p>"Completing the authorization…"</p> }
}
