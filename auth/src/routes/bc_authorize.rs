//! `POST /bc-authorize` (OpenID CIBA Core §7, poll mode, adapted): a confidential client asks for a
//! person's approval of one tool call ([`crate::approvals::start`]). Server to server: no CORS.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use protocol::token::GRANT_CIBA;

use super::extract::{FromParams, OAuthForm, Params};
use super::token::confidential;
use crate::approvals::{self, BackchannelRequest};
use crate::audit::RequestContext;
use crate::client_auth::{self, Credentials};
use crate::error::{ApiError, no_store};
use crate::state::AppState;

pub async fn bc_authorize(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    OAuthForm(params): OAuthForm<Params>,
) -> Result<Response, ApiError> {
    let credentials = Credentials::read(&headers, &params)?;
    let request = BackchannelRequest::from_params(params)?;
    let endpoint = state.config.endpoint("/bc-authorize");
    let caller = client_auth::authenticate(&state, &context, credentials, &endpoint).await?;
    let client = confidential(&caller, GRANT_CIBA)?;
    let answer = approvals::start(&state, &context, client, request).await?;
    let mut response = Json(answer).into_response();
    no_store(&mut response);
    Ok(response)
}
