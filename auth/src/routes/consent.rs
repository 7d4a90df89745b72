//! `GET /consent` asks the signed-in user; `POST /consent` records the answer and redirects back to
//! the client with a code, or with `access_denied`.

use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use protocol::error::ErrorCode;

use super::login::{RequestId, forbidden, load};
use crate::error::{BrowserError, redirect_with};
use crate::pages::{self, ConsentForm};
use crate::random;
use crate::state::AppState;
use crate::store::{CodeGrant, NewCode};

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RequestId>,
) -> Result<Response, BrowserError> {
    let (current, request, client) = load(&state, &headers, query.request.as_deref()).await?;
    let Some(user_id) = current.session.user_id.as_deref() else {
        return Ok(Redirect::to(&format!("/login?request={}", request.id)).into_response());
    };
    let user = state.store.find_user_by_id(user_id).await?.ok_or_else(forbidden)?;
    let redirect_origin = url::Url::parse(&request.redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| request.redirect_uri.clone());
    Ok(pages::consent_page(&ConsentForm {
        client: &client,
        request: &request,
        csrf_token: &current.session.csrf_token,
        username: &user.username,
        redirect_origin: &redirect_origin,
    }))
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Result<Response, BrowserError> {
    let form = super::read_form(&body)?;
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
        .ok_or_else(|| {
        BrowserError::page(StatusCode::BAD_REQUEST, "Already answered", "This request was already answered.")
    })?;
    let issuer = state.config.issuer.clone();

    if !allow {
        tracing::info!(client_id = %request.client_id, %user_id, "consent denied");
        return Err(BrowserError::Redirect {
            redirect_uri: request.redirect_uri,
            error: ErrorCode::AccessDenied,
            description: "the user denied the request".into(),
            state: request.state,
            issuer,
        });
    }

    let code = random::token();
    let ttl = i64::try_from(state.config.authorization_code_ttl.as_secs()).unwrap_or(60);
    let new_code = NewCode {
        code_hash: random::hash(&code),
        grant: CodeGrant {
            client_id: request.client_id.clone(),
            user_id: user_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope,
            code_challenge: request.code_challenge,
            resource: request.resource,
            auth_time,
            expires_at: now + ttl,
        },
    };
    state.store.insert_code(&new_code, now).await?;
    tracing::info!(client_id = %request.client_id, %user_id, "consent granted, code issued");

    let mut params = vec![("code", code.as_str())];
    if let Some(client_state) = request.state.as_deref() {
        params.push(("state", client_state));
    }
    params.push(("iss", issuer.as_str()));
    Ok(redirect_with(&request.redirect_uri, &params))
}
