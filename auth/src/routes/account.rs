//! `/account`: what the signed-in user has allowed, with a way to take it back; and sign-out.

use axum::extract::rejection::RawFormRejection;
use axum::extract::{RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::login::forbidden;
use crate::audit::{self, RequestContext};
use crate::error::BrowserError;
use crate::pages::{self, ConsentRow};
use crate::session::{self, CurrentSession};
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind};

/// The signed-in session, or a redirect to sign in.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Result<(CurrentSession, String), Response>, BrowserError> {
    match session::current(state, headers).await? {
        Some(current) => match current.session.user_id.clone() {
            Some(user_id) => Ok(Ok((current, user_id))),
            None => Ok(Err(Redirect::to("/login").into_response())),
        },
        None => Ok(Err(Redirect::to("/login").into_response())),
    }
}

pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, BrowserError> {
    let (current, user_id) = match signed_in(&state, &headers).await? {
        Ok(signed_in) => signed_in,
        Err(redirect) => return Ok(redirect),
    };
    let user = state.store.find_user_by_id(&user_id).await?.ok_or_else(forbidden)?;
    let consents = state.store.consents_of_user(&user_id).await?;
    let mut names = Vec::with_capacity(consents.len());
    for consent in &consents {
        let client = state.store.find_client(&consent.client_id).await?;
        names.push(client.map_or_else(|| consent.client_id.clone(), |c| c.display_name().to_owned()));
    }
    let rows: Vec<ConsentRow<'_>> = consents
        .iter()
        .zip(&names)
        .map(|(consent, name)| ConsentRow { consent, client_name: name })
        .collect();
    Ok(pages::account_page(&user.username, &rows, &current.session.csrf_token))
}

pub async fn withdraw(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Result<Response, BrowserError> {
    let form = super::read_form(form)?;
    let (current, user_id) = match signed_in(&state, &headers).await? {
        Ok(signed_in) => signed_in,
        Err(redirect) => return Ok(redirect),
    };
    if !current.csrf_matches(form.get("csrf_token").map(String::as_str)) {
        return Err(forbidden());
    }
    let client_id = form.get("client_id").ok_or_else(|| {
        BrowserError::page(StatusCode::BAD_REQUEST, "Invalid form", "No application named.")
    })?;
    if state.store.revoke_consent(&user_id, client_id, state.now()).await? {
        let event = AuditEvent::new(AuditKind::ConsentRevoked)
            .client(client_id)
            .user(&user_id)
            .detail("grants revoked");
        audit::record(&state, &context, event).await;
    }
    Ok(Redirect::to("/account").into_response())
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Result<Response, BrowserError> {
    let form = super::read_form(form)?;
    let Some(current) = session::current(&state, &headers).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !current.csrf_matches(form.get("csrf_token").map(String::as_str)) {
        return Err(forbidden());
    }
    state.store.delete_session(&current.session.id_hash).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::expired_cookie(&state));
    Ok(response)
}
