//! `GET /authorize`: validate the request, then answer at once with a code when the signed-in user
//! has already consented to as much (no page to show), else remember it and send the browser to
//! login or consent.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use protocol::authorization::validation::{check_client_redirect, validate};
use protocol::cimd::is_metadata_document_url;
use protocol::form::parse_unique;

use crate::audit::RequestContext;
use crate::consent::{self, AllowedBy, ConsentDecision, ConsentRequest};
use crate::error::{BrowserError, ClientError};
use crate::state::AppState;
use crate::store::PendingAuthorization;
use crate::{cimd, random, session};

pub async fn authorize(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, BrowserError> {
    let invalid =
        |detail: String| BrowserError::page(StatusCode::BAD_REQUEST, "Invalid authorization request", detail);

    // A repeated parameter makes even `redirect_uri` ambiguous, so it is reported on a page.
    let params = parse_unique(query.as_deref().unwrap_or_default()).map_err(|e| invalid(e.to_string()))?;
    let find_client = async {
        match params.get("client_id") {
            Some(client_id) if is_metadata_document_url(client_id) => {
                match cimd::resolve_client(&state, client_id).await {
                    Ok(client) => Ok(Some(client)),
                    Err(cimd::CimdError::Store(e)) => Err(e.into()),
                    Err(e) => Err(invalid(e.to_string())),
                }
            }
            Some(client_id) => Ok(state.store.find_client(client_id).await?),
            None => Ok(None),
        }
    };
    // The browser's session is read while the client is looked up (both only read): a returning
    // user's authorization waits for one round trip to the database instead of two. It is used
    // only once the request has been found valid.
    let (client, current) = tokio::join!(find_client, session::current(&state, &headers));
    let client = client?;
    let registered = client.as_ref().map(|c| c.redirect_uris.as_slice());
    let redirect_uri = check_client_redirect(&params, registered).map_err(|m| invalid(m.to_owned()))?;
    let client = client.expect("check_client_redirect succeeds only with a client");

    let resources = &state.config.settings.resources;
    let offered_scopes =
        |resource: &str| resources.iter().find(|r| r.resource == resource).map(|r| &r.scopes);
    let request = validate(&params, offered_scopes).map_err(|(error, description)| {
        let to_client = ClientError {
            redirect_uri: redirect_uri.to_owned(),
            error,
            description,
            state: params.get("state").cloned(),
            issuer: state.config.issuer.clone(),
        };
        // Nobody has signed in during this request. A client anyone could register (or describe
        // in a document it hosts) would make this server an open redirector to whatever URI it
        // registered, so its errors are shown with a link back instead (RFC 9700 §4.11.2).
        if client.registration.trusted_for_redirects() {
            BrowserError::Redirect(to_client)
        } else {
            BrowserError::Offer(to_client)
        }
    })?;

    let now = state.now();
    let (session_hash, signed_in, set_cookie) = match current? {
        Some(current) => {
            let signed_in = current.session.user_id.clone().zip(current.session.authenticated_at);
            (current.session.id_hash, signed_in, None)
        }
        None => {
            let (session, cookie) = session::new_session(&state, None);
            state.store.insert_session(&session, now).await?;
            (session.id_hash, None, Some(cookie))
        }
    };

    let pending = PendingAuthorization {
        id: random::token(),
        session_hash,
        client_id: client.client_id,
        redirect_uri: redirect_uri.to_owned(),
        scope: request.scope.to_string(),
        state: request.state,
        code_challenge: request.code_challenge.to_string(),
        resource: request.resource,
        expires_at: now
            + i64::try_from(state.config.settings.login_session_ttl.as_secs()).unwrap_or(i64::MAX / 2),
    };

    // What `GET /consent` would do without showing anything, done here: one redirect less for
    // every client that signs in again to a consent it already has.
    if let Some((user_id, auth_time)) = &signed_in
        && consent::decide(&state.store, ConsentRequest::of(&pending, user_id)).await?
            == ConsentDecision::Remembered
    {
        let answer =
            consent::issue_code(&state, &context, pending, user_id, *auth_time, AllowedBy::RememberedConsent);
        return Ok(super::consent::redirect(&answer));
    }

    state.store.insert_authorization_request(&pending, now).await?;
    let next = if signed_in.is_some() { "/consent" } else { "/login" };
    let mut response = Redirect::to(&format!("{next}?request={}", pending.id)).into_response();
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
