//! `GET /login` shows the form, `POST /login` checks the password and signs the browser in.

use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use protocol::secret::Password;
use serde::Deserialize;

use crate::error::BrowserError;
use crate::pages::{self, LoginForm};
use crate::password;
use crate::session::{self, CurrentSession};
use crate::state::AppState;
use crate::store::{Client, PendingAuthorization};

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
    Query(query): Query<RequestId>,
) -> Result<Response, BrowserError> {
    let (current, request, client) = load(&state, &headers, query.request.as_deref()).await?;
    if current.session.user_id.is_some() {
        return Ok(Redirect::to(&format!("/consent?request={}", request.id)).into_response());
    }
    let form = LoginForm {
        client: &client,
        request_id: &request.id,
        csrf_token: &current.session.csrf_token,
        username: "",
        error: None,
    };
    Ok(pages::login_page(StatusCode::OK, &form))
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Result<Response, BrowserError> {
    let form = super::read_form(&body)?;
    let field = |name: &str| form.get(name).map(String::as_str);

    let (current, request, client) = load(&state, &headers, field("request")).await?;
    if !current.csrf_matches(field("csrf_token")) {
        return Err(forbidden());
    }

    let username = field("username").unwrap_or_default().to_owned();
    let password = Password::new(field("password").unwrap_or_default());
    let user = state.store.find_user_by_username(&username).await?;
    // Verify against a dummy hash when the user does not exist: both paths cost one argon2id run,
    // so response time does not reveal which usernames exist.
    let stored_hash =
        user.as_ref().map_or(state.config.dummy_password_hash.clone(), |u| u.password_hash.clone());
    let verified =
        tokio::task::spawn_blocking(move || password::verify(&password, &stored_hash)).await.unwrap_or(false);

    let Some(user) = user.filter(|_| verified) else {
        tracing::info!(client_id = %client.client_id, "login failed");
        let form = LoginForm {
            client: &client,
            request_id: &request.id,
            csrf_token: &current.session.csrf_token,
            username: &username,
            error: Some("Wrong username or password."),
        };
        return Ok(pages::login_page(StatusCode::OK, &form));
    };

    let (session, cookie) = session::new_session(&state, Some(user.id.clone()));
    state.store.replace_session_on_login(&current.session.id_hash, &session, state.now()).await?;
    tracing::info!(user_id = %user.id, client_id = %client.client_id, "login succeeded");

    let mut response = Redirect::to(&format!("/consent?request={}", request.id)).into_response();
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
