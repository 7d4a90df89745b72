//! The server-rendered pages: login, consent, errors.
//!
//! `maud` escapes every interpolated value, which matters here: client names and redirect URIs
//! come from whoever registered the client. Every page is sent with headers that forbid framing
//! (clickjacking a consent button is a classic attack), third-party content and referrers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use std::time::Duration;

use crate::store::{ApprovalRequest, Client, Consent, PendingAuthorization, StandingApproval};

/// Path of the stylesheet, served by [`stylesheet`].
pub const STYLESHEET_PATH: &str = "/assets/auth.css";

/// `GET /assets/auth.css`
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../assets/auth.css"),
    )
        .into_response()
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · MCP authorization server" }
                link rel="stylesheet" href=(STYLESHEET_PATH);
            }
            body { main { div.brand { "MCP authorization server" } (body) } }
        }
    }
}

/// The CSP source that lets a form's submission end at `redirect_uri`: its origin.
///
/// Chromium applies `form-action` to every redirect that follows a form POST, not only to the
/// form's own `action`. Any page whose form can end in a redirect to the client must allow the
/// client's origin, or the browser silently stops on the page: the consent page (Allow and Deny
/// both go back to the client) and the login page of an authorization (signing in goes on to
/// the consent step, which answers at once with a redirect to the client when the user allowed
/// the client before). Redirect URIs are http(s) in normal form (`protocol::resource`), so their
/// origin is a valid CSP source; anything else gets no source, never the raw string.
pub fn form_target(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// Sends a page with the security headers. `form_target` is an extra origin the page's form may
/// end up at (see [`form_target`]).
pub fn html_page(status: StatusCode, markup: Markup, form_target: Option<&str>) -> Response {
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, axum::response::Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = html! {
        h1 { (title) }
        p.error role="alert" { (detail) }
        p.detail { "You can close this page and return to the application." }
    };
    html_page(status, layout(title, body), None)
}

/// An authorization request's error for a client the server does not redirect to on its own
/// ([`crate::error::BrowserError::Offer`]): the OAuth error code and description, where the client
/// lives (its redirect URI's origin), and a link back carrying the error, which the person may
/// follow. `link` is the redirect URI with the error's parameters; shown only for an http(s) one.
pub fn client_error_page(
    status: StatusCode,
    code: &str,
    description: &str,
    redirect_uri: &str,
    link: &str,
) -> Response {
    let title = "Invalid authorization request";
    let origin = form_target(redirect_uri);
    let body = html! {
        h1 { (title) }
        p.error role="alert" { "The application's request cannot be answered: " code { (code) } }
        p.detail { (description) }
        @if let Some(origin) = &origin {
            p.detail {
                "The application is at " code id="client-origin" { (origin) } ". This server does not send "
                "you there by itself: anyone can register an application under any address."
            }
            p { a id="return-to-client" href=(link) { "Return to " (origin) " with this error" } }
        }
        p.detail { "Or close this page if you did not expect to sign in anywhere." }
    };
    html_page(status, layout(title, body), None)
}

/// What the login form needs to render.
pub struct LoginForm<'a> {
    /// The client and the pending authorization the user signs in for; `None` when signing in to
    /// manage the account.
    pub flow: Option<(&'a Client, &'a PendingAuthorization)>,
    pub csrf_token: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    /// Where a standalone sign-in goes on to (an approval page), already checked.
    pub return_to: Option<&'a str>,
}

pub fn login_page(status: StatusCode, form: &LoginForm<'_>) -> Response {
    let body = html! {
        h1 { "Sign in" }
        @match form.flow {
            Some((client, _)) => p { "to continue to " strong { (client.display_name()) } },
            None => @if form.return_to.is_some() {
                p { "to answer an application's request for your approval" }
            } @else {
                p { "to see and withdraw what you have allowed applications to do" }
            },
        }
        @if let Some(error) = form.error {
            p.error role="alert" id="login-error" { (error) }
        }
        form method="post" action="/login" {
            @if let Some((_, request)) = form.flow {
                input type="hidden" name="request" value=(request.id);
            }
            @if let Some(return_to) = form.return_to {
                input type="hidden" name="return_to" value=(return_to);
            }
            input type="hidden" name="csrf_token" value=(form.csrf_token);
            label for="username" { "Username" }
            input type="text" id="username" name="username" value=(form.username)
                autocomplete="username" autocapitalize="none" required autofocus;
            label for="password" { "Password" }
            input type="password" id="password" name="password" autocomplete="current-password" required;
            div.actions { button.primary type="submit" id="sign-in" { "Sign in" } }
        }
    };
    // Signing in for a client can end at the client: the consent step redirects there at once
    // when the user allowed it before.
    let form_target = form.flow.and_then(|(_, request)| form_target(&request.redirect_uri));
    html_page(status, layout("Sign in", body), form_target.as_deref())
}

/// What a scope lets a client do, for the consent page.
fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "echo" => "call the echo tool",
        "profile" => "see your user id and which client and scopes a token carries",
        "notes:read" => "read your notes",
        "notes:write" => "add notes and delete your notes",
        _ => "a permission defined by the resource server",
    }
}

pub struct ConsentForm<'a> {
    pub client: &'a Client,
    pub request: &'a PendingAuthorization,
    pub csrf_token: &'a str,
    pub username: &'a str,
}

pub fn consent_page(form: &ConsentForm<'_>) -> Response {
    // Allow and Deny both end at the client; its origin is also shown, so the user sees where
    // they will be sent.
    let redirect_origin = form_target(&form.request.redirect_uri);
    let scopes: Vec<&str> = form.request.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let body = html! {
        h1 { "Allow " (form.client.display_name()) "?" }
        p { "Signed in as " strong { (form.username) } "." }
        p { strong { (form.client.display_name()) } " wants to access "
            code { (form.request.resource) } " on your behalf and be able to:" }
        ul.scopes {
            @for scope in &scopes {
                li { code { (scope) } " — " (describe_scope(scope)) }
            }
        }
        p.detail {
            "Client id: " code { (form.client.client_id) } br;
            "You will be sent back to "
            code { (redirect_origin.as_deref().unwrap_or(&form.request.redirect_uri)) } "."
        }
        form method="post" action="/consent" {
            input type="hidden" name="request" value=(form.request.id);
            input type="hidden" name="csrf_token" value=(form.csrf_token);
            div.actions {
                button.primary type="submit" name="decision" value="allow" id="allow" { "Allow" }
                button.secondary type="submit" name="decision" value="deny" id="deny" { "Deny" }
            }
        }
    };
    html_page(StatusCode::OK, layout("Consent", body), redirect_origin.as_deref())
}

/// A remembered consent and the name of its client, for the account page.
pub struct ConsentRow<'a> {
    pub consent: &'a Consent,
    pub client_name: &'a str,
}

/// A standing approval and the name of its client, for the account page.
pub struct StandingRow<'a> {
    pub approval: &'a StandingApproval,
    /// The client that asked (the gateway).
    pub client_name: &'a str,
    /// The application the approved calls are made for.
    pub app_name: &'a str,
}

/// A duration as people say it: "1 hour", "24 hours", "30 minutes".
pub fn for_how_long(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (count, unit) = if seconds.is_multiple_of(3600) {
        (seconds / 3600, "hour")
    } else if seconds.is_multiple_of(60) {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

/// The longest of the `offered` choices, if the request cut a longer one of the `configured`.
fn cut_to(offered: &[Duration], configured: &[Duration]) -> Option<Duration> {
    let cut = configured.iter().any(|choice| !choice.is_zero() && !offered.contains(choice));
    offered.last().copied().filter(|_| cut)
}

/// A pending approval request and the name of its client, for the approval pages.
pub struct ApprovalCard<'a> {
    pub request: &'a ApprovalRequest,
    /// The client that asked (the gateway).
    pub client_name: &'a str,
    /// The application the person uses, on whose behalf it asks (the subject token's client).
    pub app_name: &'a str,
}

/// The approval requests waiting for the signed-in person, each with its answers. Every value
/// shown comes from the client that asked and is escaped; the argument summary is shown as text.
pub fn approvals_page(
    cards: &[ApprovalCard<'_>],
    csrf_token: &str,
    remember_choices: &[Duration],
) -> Response {
    let body = html! {
        h1 { "Approvals" }
        @if cards.is_empty() {
            p.detail id="no-approvals" { "Nothing is waiting for your approval." }
        }
        @for card in cards {
            @let choices = card.request.remember_choices(remember_choices);
            div.approval id=(format!("approval-{}", card.request.id)) {
                h2 { (card.app_name) " wants to call " code.tool { (card.request.tool) } }
                p { "on " code { (card.request.resource) } " for you, through " (card.client_name) "." }
                @if let Some(message) = &card.request.binding_message {
                    p { "Message from " (card.client_name) ": " strong.binding { (message) } }
                }
                @if let Some(summary) = &card.request.arguments_summary {
                    p { "Arguments:" }
                    pre.arguments { (summary) }
                }
                p.detail {
                    "Application: " code { (card.request.subject.client_id) }
                    "; asked by: " code { (card.request.client_id) }
                }
                form method="post" action=(format!("/approvals/{}", card.request.id)) {
                    input type="hidden" name="csrf_token" value=(csrf_token);
                    div.actions {
                        button.primary type="submit" name="decision" value="once" { "Approve once" }
                        @for choice in &choices {
                            button.secondary type="submit" name="decision" value=(format!("remember-same-{}", choice.as_secs())) {
                                "Approve these arguments for " (for_how_long(*choice))
                            }
                            button.secondary type="submit" name="decision" value=(format!("remember-{}", choice.as_secs())) {
                                "Approve and remember for " (for_how_long(*choice))
                            }
                        }
                        button.secondary type="submit" name="decision" value="deny" { "Deny" }
                    }
                }
                @if card.request.always_ask {
                    p.detail { (card.client_name) " asks you to approve this call each time it is made." }
                } @else if choices.is_empty() {
                    p.detail { "Nothing can be remembered for this call: approve it once, or deny it." }
                } @else {
                    p.detail {
                        "“Approve these arguments” remembers this exact call; “Approve and remember” approves "
                        code { (card.request.tool) } " with any arguments. Either holds for "
                        (card.app_name) " through " (card.client_name)
                        " only, until it expires or you withdraw it on your account page."
                    }
                    @if let Some(longest) = cut_to(&choices, remember_choices) {
                        p.detail {
                            (card.client_name) " lets a remembered approval of this call answer for at most "
                            (for_how_long(longest)) "."
                        }
                    }
                }
            }
        }
        p.detail { a href="/account" { "Your account" } }
    };
    html_page(StatusCode::OK, layout("Approvals", body), None)
}

pub fn account_page(
    username: &str,
    consents: &[ConsentRow<'_>],
    standing: &[StandingRow<'_>],
    csrf_token: &str,
) -> Response {
    let body = html! {
        h1 { "Your account" }
        p { "Signed in as " strong { (username) } "." }
        h2 { "Applications you allowed" }
        @if consents.is_empty() {
            p.detail id="no-consents" { "None yet." }
        }
        @for row in consents {
            div.consent {
                p {
                    strong { (row.client_name) } " may use " code { (row.consent.scope) }
                    " on " code { (row.consent.resource) }
                }
                form method="post" action="/account/consents/withdraw" {
                    input type="hidden" name="csrf_token" value=(csrf_token);
                    input type="hidden" name="client_id" value=(row.consent.client_id);
                    button.secondary type="submit" { "Withdraw" }
                }
            }
        }
        p.detail { "Withdrawing a consent also revokes the tokens the application holds." }
        h2 { "Tool calls you approved in advance" }
        @if standing.is_empty() {
            p.detail id="no-standing-approvals" { "None." }
        }
        @for row in standing {
            div.consent {
                p {
                    strong { (row.app_name) } " (through " (row.client_name) ") may call "
                    code { (row.approval.tool) }
                    @if row.approval.arguments_sha256.is_some() { " (with the approved arguments only)" }
                    " on " code { (row.approval.resource) } " without asking, until "
                    (row.approval.expires_at) " (Unix time)"
                }
                form method="post" action="/account/approvals/withdraw" {
                    input type="hidden" name="csrf_token" value=(csrf_token);
                    input type="hidden" name="approval_id" value=(row.approval.id);
                    button.secondary type="submit" { "Withdraw" }
                }
            }
        }
        p.detail { a href="/approvals" { "Requests waiting for your approval" } }
        form method="post" action="/logout" {
            input type="hidden" name="csrf_token" value=(csrf_token);
            div.actions { button.secondary type="submit" id="sign-out" { "Sign out" } }
        }
    };
    html_page(StatusCode::OK, layout("Your account", body), None)
}
