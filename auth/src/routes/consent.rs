//! `GET /consent` asks the signed-in user; `POST /consent` records the answer and redirects back to
//! the client with a code, or with `access_denied`.
//!
//! A consent is remembered per user, client and resource: when the user already allowed at least
//! the requested scopes, `GET /consent` answers at once, as authorization servers usually do.
//! Users see and withdraw their consents on `/account`.

use axum::extract::rejection::{QueryRejection, RawFormRejection};
use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use protocol::error::ErrorCode;
use protocol::scope::Scopes;

use super::login::{RequestId, forbidden, load};
use crate::audit::{self, RequestContext};
use crate::error::{BrowserError, redirect_with};
use crate::pages::{self, ConsentForm};
use crate::random;
use crate::state::{AppState, secs};
use crate::store::{AuditEvent, AuditKind, CodeBinding, Consent, NewCode, PendingAuthorization};

pub async fn show(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    query: Result<Query<RequestId>, QueryRejection>,
) -> Result<Response, BrowserError> {
    let Query(query) = query?;
    let (current, request, client) = load(&state, &headers, query.request.as_deref()).await?;
    let (Some(user_id), Some(auth_time)) =
        (current.session.user_id.as_deref(), current.session.authenticated_at)
    else {
        return Ok(Redirect::to(&format!("/login?request={}", request.id)).into_response());
    };

    if already_allowed(&state, user_id, &request).await? {
        let request = state
            .store
            .take_authorization_request(&request.id, &current.session.id_hash, state.now())
            .await?
            .ok_or_else(already_answered)?;
        return issue_code(&state, &context, request, user_id, auth_time, "remembered consent").await;
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
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Result<Response, BrowserError> {
    let form = super::read_form(form)?;
    let field = |name: &str| form.get(name).map(String::as_str);

    let (current, request, _client) = load(&state, &headers, field("request")).await?;
    if !current.csrf_matches(field("csrf_token")) {
        return Err(forbidden());
    }
    let (Some(user_id), Some(auth_time)) =
        (current.session.user_id.clone(), current.session.authenticated_at)
    else {
        return Err(forbidden());
    };
    let allow = match field("decision") {
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
        .take_authorization_request(&request.id, &current.session.id_hash, now)
        .await?
        .ok_or_else(already_answered)?;

    if !allow {
        let event = AuditEvent::new(AuditKind::ConsentDenied).client(&request.client_id).user(&user_id);
        audit::record(&state, &context, event).await;
        return Err(BrowserError::Redirect {
            redirect_uri: request.redirect_uri,
            error: ErrorCode::AccessDenied,
            description: "the user denied the request".into(),
            state: request.state,
            issuer: state.config.issuer.clone(),
        });
    }

    remember(&state, &user_id, &request, now).await?;
    issue_code(&state, &context, request, &user_id, auth_time, "consent page").await
}

fn already_answered() -> BrowserError {
    BrowserError::page(StatusCode::BAD_REQUEST, "Already answered", "This request was already answered.")
}

/// Has the user already allowed this client at least these scopes for this resource?
async fn already_allowed(
    state: &AppState,
    user_id: &str,
    request: &PendingAuthorization,
) -> Result<bool, BrowserError> {
    let Some(consent) = state.store.find_consent(user_id, &request.client_id, &request.resource).await?
    else {
        return Ok(false);
    };
    let (Ok(allowed), Ok(requested)) = (Scopes::parse(&consent.scope), Scopes::parse(&request.scope)) else {
        return Ok(false);
    };
    Ok(allowed.is_superset(&requested))
}

/// Remembers the consent, adding these scopes to any the user allowed before.
async fn remember(
    state: &AppState,
    user_id: &str,
    request: &PendingAuthorization,
    now: i64,
) -> Result<(), BrowserError> {
    let previous = state.store.find_consent(user_id, &request.client_id, &request.resource).await?;
    let mut scope = Scopes::parse(&request.scope).unwrap_or_default();
    if let Some(previous) = previous {
        scope = scope.union(&Scopes::parse(&previous.scope).unwrap_or_default());
    }
    let consent = Consent {
        user_id: user_id.to_owned(),
        client_id: request.client_id.clone(),
        resource: request.resource.clone(),
        scope: scope.to_string(),
        granted_at: now,
    };
    state.store.save_consent(&consent).await?;
    Ok(())
}

/// Stores a fresh code for the request and sends the browser back with `code`, `state`, `iss`.
async fn issue_code(
    state: &AppState,
    context: &RequestContext,
    request: PendingAuthorization,
    user_id: &str,
    auth_time: i64,
    how: &str,
) -> Result<Response, BrowserError> {
    let now = state.now();
    let code = random::token();
    let new_code = NewCode {
        code_hash: random::hash(&code),
        binding: CodeBinding {
            client_id: request.client_id.clone(),
            user_id: user_id.to_owned(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            code_challenge: request.code_challenge,
            resource: request.resource,
            auth_time,
            expires_at: now + secs(state.config.settings.authorization_code_ttl),
        },
    };
    state.store.insert_code(&new_code, now).await?;
    let event = AuditEvent::new(AuditKind::ConsentGranted)
        .client(&request.client_id)
        .user(user_id)
        .detail(format!("scope \"{}\" via {how}", request.scope));
    audit::record(state, context, event).await;

    let issuer = state.config.issuer.as_str();
    let mut params = vec![("code", code.as_str())];
    if let Some(client_state) = request.state.as_deref() {
        params.push(("state", client_state));
    }
    params.push(("iss", issuer));
    Ok(redirect_with(&request.redirect_uri, &params))
}
