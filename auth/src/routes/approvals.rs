//! `/approvals`: the signed-in person's pending approval requests, and their answers.
//!
//! Only a browser session can answer (cookie plus the form's CSRF token), never a bearer token,
//! and only the user a request is for: anyone else's answer is refused and audited. Without a
//! session the pages send the browser to sign in and come back.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::extract::AccountForm;
use crate::approvals::{self, Answered, Choice};
use crate::audit::RequestContext;
use crate::error::BrowserError;
use crate::pages::{self, ApprovalCard};
use crate::session;
use crate::state::AppState;
use crate::store::ApprovalStatus;

/// `GET /approvals`
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, BrowserError> {
    let Some((user_id, csrf_token)) = signed_in(&state, &headers).await? else {
        return Ok(Redirect::to("/login?return_to=/approvals").into_response());
    };
    let requests = state.store.pending_approvals_of_user(&user_id, state.now()).await?;
    let names = {
        let ids: Vec<&str> = requests.iter().map(|r| r.client_id.as_str()).collect();
        super::client_names(&state, &ids).await?
    };
    let apps = {
        let ids: Vec<&str> = requests.iter().map(|r| r.subject.client_id.as_str()).collect();
        super::client_names(&state, &ids).await?
    };
    let cards: Vec<ApprovalCard<'_>> = requests
        .iter()
        .zip(names.iter().zip(&apps))
        .map(|(request, (client_name, app_name))| ApprovalCard { request, client_name, app_name })
        .collect();
    Ok(pages::approvals_page(&cards, &csrf_token, &state.config.settings.approvals.remember_choices))
}

/// `GET /approvals/{id}`: one request. Someone else's request looks like a missing one.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, BrowserError> {
    let Some((user_id, csrf_token)) = signed_in(&state, &headers).await? else {
        let back = super::login::return_path(Some(&format!("/approvals/{id}"))).map(str::to_owned);
        let login = back.map_or_else(
            || "/login?return_to=/approvals".to_owned(),
            |back| format!("/login?return_to={back}"),
        );
        return Ok(Redirect::to(&login).into_response());
    };
    let request =
        state.store.find_approval(&id).await?.filter(|r| r.user_id == user_id).ok_or_else(not_found)?;
    if request.status != ApprovalStatus::Pending || request.expires_at <= state.now() {
        return Err(gone());
    }
    let names =
        super::client_names(&state, &[request.client_id.as_str(), request.subject.client_id.as_str()])
            .await?;
    let card = ApprovalCard { request: &request, client_name: &names[0], app_name: &names[1] };
    Ok(pages::approvals_page(&[card], &csrf_token, &state.config.settings.approvals.remember_choices))
}

/// `POST /approvals/{id}`: the answer (`decision` = `once`, `remember-<seconds>` or `deny`).
pub async fn answer(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
    AccountForm(form): AccountForm,
) -> Result<Response, BrowserError> {
    let Some(user_id) = form.session.session.user_id.as_deref() else {
        return Ok(Redirect::to("/login?return_to=/approvals").into_response());
    };
    let choice = form.field("decision").and_then(Choice::parse).ok_or_else(not_offered)?;
    match approvals::decide(&state, &context, user_id, &id, choice).await? {
        Answered::Recorded => Ok(Redirect::to("/approvals").into_response()),
        Answered::NotYours => Err(BrowserError::page(
            StatusCode::FORBIDDEN,
            "Not your request",
            "This request asks another person for approval. Only they can answer it.",
        )),
        Answered::Gone => Err(gone()),
        Answered::NotOffered => Err(not_offered()),
    }
}

fn not_offered() -> BrowserError {
    BrowserError::page(StatusCode::BAD_REQUEST, "Invalid form", "Choose one of the answers offered.")
}

/// The signed-in user of the browser's session, and the session's CSRF token.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Option<(String, String)>, BrowserError> {
    let current = session::current(state, headers).await?;
    Ok(current.and_then(|c| c.session.user_id.clone().map(|user| (user, c.session.csrf_token))))
}

fn not_found() -> BrowserError {
    BrowserError::page(StatusCode::NOT_FOUND, "No such request", "There is no approval request here for you.")
}

fn gone() -> BrowserError {
    BrowserError::page(
        StatusCode::GONE,
        "Already answered",
        "This request was already answered, or it expired before anyone answered it.",
    )
}
