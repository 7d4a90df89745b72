//! `GET /login` shows the form, `POST /login` signs the browser in ([`crate::login`]).
//!
//! Usually the login is a step of an authorization (`?request=…`, then on to consent); without a
//! request it signs the user in to `/account`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use protocol::secret::Password;
use serde::Deserialize;

use super::extract::{CsrfForm, expired};
use crate::audit::RequestContext;
use crate::error::BrowserError;
use crate::login::{self, Attempt, Outcome};
use crate::pages::{self, LoginForm};
use crate::session::{self, CurrentSession};
use crate::state::AppState;
use crate::store::{Client, PendingAuthorization};

#[derive(Deserialize)]
pub struct RequestId {
    pub(super) request: Option<String>,
    /// Where a standalone sign-in goes on to (an approval page); see [`return_path`].
    #[serde(default)]
    pub(super) return_to: Option<String>,
}

/// A path on this server that a standalone sign-in may go on to: the approval pages only, so the
/// parameter cannot turn the login page into an open redirector.
pub fn return_path(value: Option<&str>) -> Option<&str> {
    value.filter(|path| {
        (*path == "/approvals" || path.starts_with("/approvals/"))
            && path.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'))
            && !path.contains("//")
    })
}

/// The pending authorization `request_id` of this browser's session, and its client.
pub(super) async fn load(
    state: &AppState,
    current: &CurrentSession,
    request_id: Option<&str>,
) -> Result<(PendingAuthorization, Client), BrowserError> {
    let request_id = request_id.ok_or_else(expired)?;
    let request = state
        .store
        .find_authorization_request(request_id, &current.session.id_hash, state.now())
        .await?
        .ok_or_else(expired)?;
    let client = state.store.find_client(&request.client_id).await?.ok_or_else(expired)?;
    Ok((request, client))
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RequestId>, QueryRejection>,
) -> Result<Response, BrowserError> {
    let Query(query) = query?;
    let Some(request_id) = query.request.as_deref() else {
        return show_standalone(&state, &headers, return_path(query.return_to.as_deref())).await;
    };
    let current = session::current(&state, &headers).await?.ok_or_else(expired)?;
    let (request, client) = load(&state, &current, Some(request_id)).await?;
    if current.session.user_id.is_some() {
        return Ok(Redirect::to(&format!("/consent?request={}", request.id)).into_response());
    }
    let form = LoginForm {
        flow: Some((&client, &request)),
        csrf_token: &current.session.csrf_token,
        username: "",
        error: None,
        return_to: None,
    };
    Ok(pages::login_page(StatusCode::OK, &form))
}

/// The login form for `/account` (or an approval page, `return_to`), starting an anonymous
/// session if the browser has none.
async fn show_standalone(
    state: &AppState,
    headers: &HeaderMap,
    return_to: Option<&str>,
) -> Result<Response, BrowserError> {
    let (csrf_token, set_cookie) = match session::current(state, headers).await? {
        Some(current) if current.session.user_id.is_some() => {
            return Ok(Redirect::to(return_to.unwrap_or("/account")).into_response());
        }
        Some(current) => (current.session.csrf_token, None),
        None => {
            let (session, cookie) = session::new_session(state, None);
            state.store.insert_session(&session, state.now()).await?;
            (session.csrf_token, Some(cookie))
        }
    };
    let form = LoginForm { flow: None, csrf_token: &csrf_token, username: "", error: None, return_to };
    let mut response = pages::login_page(StatusCode::OK, &form);
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

pub async fn submit(
    State(state): State<AppState>,
    context: RequestContext,
    form: CsrfForm,
) -> Result<Response, BrowserError> {
    let flow = match form.field("request") {
        Some(request_id) => Some(load(&state, &form.session, Some(request_id)).await?),
        None => None,
    };
    let username = form.field("username").unwrap_or_default();
    let attempt = Attempt {
        username,
        password: Password::new(form.field("password").unwrap_or_default()),
        client_id: flow.as_ref().map(|(_, client)| client.client_id.as_str()),
    };
    // The form again, with what was typed as username and why it did not work.
    let page = |status, error| {
        let login = LoginForm {
            flow: flow.as_ref().map(|(request, client)| (client, request)),
            csrf_token: &form.session.session.csrf_token,
            username,
            error: Some(error),
            return_to: return_path(form.field("return_to")),
        };
        pages::login_page(status, &login)
    };

    match login::sign_in(&state, &context, &form.session, attempt).await? {
        Outcome::Throttled { retry_after } => {
            let minutes = (retry_after + 59) / 60;
            let mut response = page(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many failed sign-ins. Try again in {minutes} minute(s)."),
            );
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(response)
        }
        Outcome::Refused => Ok(page(StatusCode::OK, "Wrong username or password.")),
        Outcome::Busy => {
            let mut response =
                page(StatusCode::TOO_MANY_REQUESTS, "Too many sign-ins at once. Try again in a moment.");
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Ok(response)
        }
        Outcome::SignedIn { set_cookie } => {
            let next = match &flow {
                Some((request, _)) => format!("/consent?request={}", request.id),
                None => return_path(form.field("return_to")).unwrap_or("/account").to_owned(),
            };
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, set_cookie);
            Ok(response)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::return_path;

    #[test]
    fn a_sign_in_goes_on_only_to_this_servers_approval_pages() {
        for allowed in ["/approvals", "/approvals/abc-DEF_123"] {
            assert_eq!(return_path(Some(allowed)), Some(allowed));
        }
        for refused in [
            "https://evil.example/approvals",
            "//evil.example/approvals",
            "/approvals//evil.example",
            "/approvals/../account",
            "/approvalsx",
            "/account",
            "/approvals/%2e%2e",
            "/approvals?next=https://evil.example",
            "",
        ] {
            assert_eq!(return_path(Some(refused)), None, "{refused:?}");
        }
        assert_eq!(return_path(None), None);
    }
}
