//! `POST /token` (RFC 6749 §3.2): dispatch by `grant_type`. Every answer, success or error, is
//! JSON with `Cache-Control: no-store`.

mod code;
mod refresh;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use protocol::error::ErrorCode;
use protocol::token::{GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN};

use crate::audit::RequestContext;
use crate::error::{ApiError, no_store};
use crate::state::AppState;
use crate::store::Client;

pub async fn token(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let params = super::read_oauth_form(&headers, &body)?;

    let response = match params.get("grant_type").map(String::as_str) {
        None => return Err(ApiError::invalid_request("grant_type is required")),
        Some(GRANT_AUTHORIZATION_CODE) => code::exchange(&state, &context, &params).await?,
        Some(GRANT_REFRESH_TOKEN) => refresh::refresh(&state, &context, &params).await?,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedGrantType,
                "this server supports the authorization_code and refresh_token grants",
            ));
        }
    };
    let mut response = Json(response).into_response();
    no_store(&mut response);
    Ok(response)
}

/// A required parameter.
pub(super) fn required<'a>(
    params: &'a std::collections::HashMap<String, String>,
    name: &str,
) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::invalid_request(format!("{name} is required")))
}

/// The public client named by `client_id`. Public clients authenticate by id alone (PKCE and
/// refresh token rotation carry the proof); a `client_secret` sent anyway is ignored rather than
/// treated as authentication.
pub(super) async fn public_client(
    state: &AppState,
    params: &std::collections::HashMap<String, String>,
) -> Result<Client, ApiError> {
    let client_id = required(params, "client_id")?;
    state
        .store
        .find_client(client_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidClient, "unknown client_id"))
}

/// Does this client get refresh tokens? Only if it registered for the grant (RFC 7591 defaults
/// `grant_types` to `authorization_code` alone).
fn wants_refresh_tokens(client: &Client) -> bool {
    client.metadata.grant_types.as_ref().is_some_and(|g| g.iter().any(|g| g == GRANT_REFRESH_TOKEN))
}
