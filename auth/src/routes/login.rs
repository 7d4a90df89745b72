//! `GET /login` shows the form, `POST /login` checks the password and signs the browser in.
//!
//! Usually the login is a step of an authorization (`?request=…`, then on to consent); without a
//! request it signs the user in to `/account`.

use axum::extract::rejection::{QueryRejection, RawFormRejection};
use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use protocol::secret::Password;
use serde::Deserialize;

use crate::audit::{self, RequestContext};
use crate::error::BrowserError;
use crate::pages::{self, LoginForm};
use crate::session::{self, CurrentSession};
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind, Client, PendingAuthorization};
use crate::{password, random, throttle};

#[derive(Deserialize)]
pub struct RequestId {
    pub(super) request: Option<String>,
}

/// Shown when the browser has no session or the request is not one of this browser's.
fn expired() -> BrowserError {
    BrowserError::page(
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired",
        "The sign-in took too long, was already completed, or was started in another browser. \
         Return to the application and start again.",
    )
}

/// Loads the session, the pending request it owns, and the request's client.
pub(super) async fn load(
    state: &AppState,
    headers: &HeaderMap,
    request_id: Option<&str>,
) -> Result<(CurrentSession, PendingAuthorization, Client), BrowserError> {
    let current = session::current(state, headers).await?.ok_or_else(expired)?;
    let request_id = request_id.ok_or_else(expired)?;
    let request = state
        .store
        .find_authorization_request(request_id, &current.session.id_hash, state.now())
        .await?
        .ok_or_else(expired)?;
    let client = state.store.find_client(&request.client_id).await?.ok_or_else(expired)?;
    Ok((current, request, client))
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RequestId>, QueryRejection>,
) -> Result<Response, BrowserError> {
    let Query(query) = query?;
    let Some(request_id) = query.request.as_deref() else {
        return show_standalone(&state, &headers).await;
    };
    let (current, request, client) = load(&state, &headers, Some(request_id)).await?;
    if current.session.user_id.is_some() {
        return Ok(Redirect::to(&format!("/consent?request={}", request.id)).into_response());
    }
    let form = LoginForm {
        flow: Some((&client, &request)),
        csrf_token: &current.session.csrf_token,
        username: "",
        error: None,
    };
    Ok(pages::login_page(StatusCode::OK, &form))
}

/// The login form for `/account`, starting an anonymous session if the browser has none.
async fn show_standalone(state: &AppState, headers: &HeaderMap) -> Result<Response, BrowserError> {
    let (csrf_token, set_cookie) = match session::current(state, headers).await? {
        Some(current) if current.session.user_id.is_some() => {
            return Ok(Redirect::to("/account").into_response());
        }
        Some(current) => (current.session.csrf_token, None),
        None => {
            let (session, cookie) = session::new_session(state, None);
            state.store.insert_session(&session, state.now()).await?;
            (session.csrf_token, Some(cookie))
        }
    };
    let form = LoginForm { flow: None, csrf_token: &csrf_token, username: "", error: None };
    let mut response = pages::login_page(StatusCode::OK, &form);
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

pub async fn submit(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Result<Response, BrowserError> {
    let form = super::read_form(form)?;
    let field = |name: &str| form.get(name).map(String::as_str);

    let (current, flow) = match field("request") {
        Some(request_id) => {
            let (current, request, client) = load(&state, &headers, Some(request_id)).await?;
            (current, Some((request, client)))
        }
        None => (session::current(&state, &headers).await?.ok_or_else(expired)?, None),
    };
    if !current.csrf_matches(field("csrf_token")) {
        return Err(forbidden());
    }
    let client = flow.as_ref().map(|(_, client)| client);
    let client_id = client.map(|c| c.client_id.as_str());

    let username = field("username").unwrap_or_default().to_owned();
    let page = |status, error| {
        let form = LoginForm {
            flow: flow.as_ref().map(|(request, client)| (client, request)),
            csrf_token: &current.session.csrf_token,
            username: &username,
            error: Some(error),
        };
        pages::login_page(status, &form)
    };
    let event = |kind| {
        let event = AuditEvent::new(kind);
        match client_id {
            Some(client_id) => event.client(client_id),
            None => event,
        }
    };

    // The throttle key is a hash: the audit trail must not collect what people type (a password
    // typed into the username field, for one).
    let username_key = random::hash(&username.to_lowercase());
    let ip = context.ip.map(|ip| ip.to_string());
    if let Some(wait) = throttle::check(&state, &username_key, ip.as_deref()).await? {
        let mut throttled = event(AuditKind::LoginThrottled);
        throttled.username_key = Some(username_key);
        audit::record(&state, &context, throttled).await;
        let minutes = (wait + 59) / 60;
        let mut response = page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed sign-ins. Try again in {minutes} minute(s)."),
        );
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }

    let password = Password::new(field("password").unwrap_or_default());
    let user = state.store.find_user_by_username(&username).await?;
    // Verify against a dummy hash when the user does not exist: both paths cost one argon2id run,
    // so response time does not reveal which usernames exist.
    let stored_hash =
        user.as_ref().map_or(state.config.dummy_password_hash.clone(), |u| u.password_hash.clone());
    let verified =
        tokio::task::spawn_blocking(move || password::verify(&password, &stored_hash)).await.unwrap_or(false);

    let Some(user) = user.filter(|_| verified) else {
        let mut failed = event(AuditKind::LoginFailed);
        failed.username_key = Some(username_key);
        audit::record(&state, &context, failed).await;
        return Ok(page(StatusCode::OK, "Wrong username or password."));
    };

    let (session, cookie) = session::new_session(&state, Some(user.id.clone()));
    state.store.replace_session_on_login(&current.session.id_hash, &session, state.now()).await?;
    audit::record(&state, &context, event(AuditKind::LoginSucceeded).user(&user.id)).await;

    let next = match &flow {
        Some((request, _)) => format!("/consent?request={}", request.id),
        None => "/account".to_owned(),
    };
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// A form without this session's CSRF token: someone else's page tried to submit it.
pub(super) fn forbidden() -> BrowserError {
    BrowserError::page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form was not submitted from this server's own page. Return to the application and start again.",
    )
}
