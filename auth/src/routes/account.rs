//! `/account`: what the signed-in user has allowed, with a way to take it back; and sign-out.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::extract::{AccountForm, forbidden};
use crate::audit::{self, RequestContext};
use crate::error::BrowserError;
use crate::pages::{self, ConsentRow, StandingRow};
use crate::session;
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind};

pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, BrowserError> {
    let current = session::current(&state, &headers).await?;
    let Some((current, user_id)) = current.and_then(|c| c.session.user_id.clone().map(|user| (c, user)))
    else {
        return Ok(Redirect::to("/login").into_response());
    };
    let user = state.store.find_user_by_id(&user_id).await?.ok_or_else(forbidden)?;
    let consents = state.store.consents_of_user(&user_id).await?;
    let names = {
        let ids: Vec<&str> = consents.iter().map(|c| c.client_id.as_str()).collect();
        super::client_names(&state, &ids).await?
    };
    let rows: Vec<ConsentRow<'_>> = consents
        .iter()
        .zip(&names)
        .map(|(consent, name)| ConsentRow { consent, client_name: name })
        .collect();
    let standing = state.store.standing_approvals_of_user(&user_id, state.now()).await?;
    let standing_names = {
        let ids: Vec<&str> = standing.iter().map(|a| a.client_id.as_str()).collect();
        super::client_names(&state, &ids).await?
    };
    let standing_apps = {
        let ids: Vec<&str> = standing.iter().map(|a| a.subject_client_id.as_str()).collect();
        super::client_names(&state, &ids).await?
    };
    let standing_rows: Vec<StandingRow<'_>> = standing
        .iter()
        .zip(standing_names.iter().zip(&standing_apps))
        .map(|(approval, (name, app))| StandingRow { approval, client_name: name, app_name: app })
        .collect();
    Ok(pages::account_page(&user.username, &rows, &standing_rows, &current.session.csrf_token))
}

/// `POST /account/approvals/withdraw`: forgets one of the user's standing approvals; the next
/// call it would have covered asks the person again.
pub async fn withdraw_approval(
    State(state): State<AppState>,
    context: RequestContext,
    AccountForm(form): AccountForm,
) -> Result<Response, BrowserError> {
    let Some(user_id) = form.session.session.user_id.as_deref() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let id = form
        .field("approval_id")
        .ok_or_else(|| BrowserError::page(StatusCode::BAD_REQUEST, "Invalid form", "No approval named."))?;
    if state.store.withdraw_standing_approval(id, user_id).await? {
        let event = AuditEvent::new(AuditKind::StandingApprovalWithdrawn)
            .user(user_id)
            .detail(format!("approval {id}"));
        audit::record(&state, &context, event).await;
    }
    Ok(Redirect::to("/account").into_response())
}

pub async fn withdraw(
    State(state): State<AppState>,
    context: RequestContext,
    AccountForm(form): AccountForm,
) -> Result<Response, BrowserError> {
    let Some(user_id) = form.session.session.user_id.as_deref() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let client_id = form.field("client_id").ok_or_else(|| {
        BrowserError::page(StatusCode::BAD_REQUEST, "Invalid form", "No application named.")
    })?;
    if state.store.revoke_consent(user_id, client_id, state.now()).await? {
        let event = AuditEvent::new(AuditKind::ConsentRevoked)
            .client(client_id)
            .user(user_id)
            .detail("grants revoked");
        audit::record(&state, &context, event).await;
    }
    Ok(Redirect::to("/account").into_response())
}

pub async fn logout(
    State(state): State<AppState>,
    AccountForm(form): AccountForm,
) -> Result<Response, BrowserError> {
    state.store.delete_session(&form.session.session.id_hash).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::expired_cookie(&state));
    Ok(response)
}
