//! `GET /consent` asks the signed-in user, unless [`consent::decide`] says a remembered consent
//! answers; `POST /consent` records the answer. Either way the browser goes back to the client
//! with a code, or with `access_denied`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use protocol::error::ErrorCode;

use super::extract::{CsrfForm, expired, forbidden};
use super::login::{RequestId, load};
use crate::audit::RequestContext;
use crate::consent::{self, AllowedBy, CodeResponse, ConsentDecision, ConsentRequest};
use crate::error::{BrowserError, ClientError, redirect_with};
use crate::pages::{self, ConsentForm};
use crate::session;
use crate::state::AppState;

pub async fn show(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    query: Result<Query<RequestId>, QueryRejection>,
) -> Result<Response, BrowserError> {
    let Query(query) = query?;
    let current = session::current(&state, &headers).await?.ok_or_else(expired)?;
    let (request, client) = load(&state, &current, query.request.as_deref()).await?;
    let (Some(user_id), Some(auth_time)) =
        (current.session.user_id.as_deref(), current.session.authenticated_at)
    else {
        return Ok(Redirect::to(&format!("/login?request={}", request.id)).into_response());
    };

    if consent::decide(&state.store, ConsentRequest::of(&request, user_id)).await?
        == ConsentDecision::Remembered
    {
        let request = state
            .store
            .take_authorization_request(&request.id, &current.session.id_hash, state.now())
            .await?
            .ok_or_else(already_answered)?;
        let answer =
            consent::issue_code(&state, &context, request, user_id, auth_time, AllowedBy::RememberedConsent);
        return Ok(redirect(&answer));
    }

    let user = state.store.find_user_by_id(user_id).await?.ok_or_else(forbidden)?;
    Ok(pages::consent_page(&ConsentForm {
        client: &client,
        request: &request,
        csrf_token: &current.session.csrf_token,
        username: &user.username,
    }))
}

pub async fn submit(
    State(state): State<AppState>,
    context: RequestContext,
    form: CsrfForm,
) -> Result<Response, BrowserError> {
    let (request, _client) = load(&state, &form.session, form.field("request")).await?;
    let session = &form.session.session;
    let (Some(user_id), Some(auth_time)) = (session.user_id.as_deref(), session.authenticated_at) else {
        return Err(forbidden());
    };
    let allow = match form.field("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return Err(BrowserError::page(StatusCode::BAD_REQUEST, "Invalid form", "Choose Allow or Deny."));
        }
    };

    // Consume the request: a second submission (double click, back button) finds nothing.
    let now = state.now();
    let request = state
        .store
        .take_authorization_request(&request.id, &session.id_hash, now)
        .await?
        .ok_or_else(already_answered)?;

    if !allow {
        consent::deny(&state, &context, &request, user_id).await;
        // The person signed in and chose Deny: going back to the client is what they asked for.
        return Err(BrowserError::Redirect(ClientError {
            redirect_uri: request.redirect_uri,
            error: ErrorCode::AccessDenied,
            description: "the user denied the request".into(),
            state: request.state,
            issuer: state.config.issuer.clone(),
        }));
    }

    consent::remember(&state.store, &context, ConsentRequest::of(&request, user_id), now).await?;
    let answer = consent::issue_code(&state, &context, request, user_id, auth_time, AllowedBy::ConsentPage);
    Ok(redirect(&answer))
}

fn already_answered() -> BrowserError {
    BrowserError::page(StatusCode::BAD_REQUEST, "Already answered", "This request was already answered.")
}

/// Sends the browser back to the client with `code`, `state` and `iss`.
pub(super) fn redirect(answer: &CodeResponse) -> Response {
    let mut params = vec![("code", answer.code.secret())];
    if let Some(client_state) = answer.state.as_deref() {
        params.push(("state", client_state));
    }
    params.push(("iss", answer.iss.as_str()));
    redirect_with(&answer.redirect_uri, &params)
}
