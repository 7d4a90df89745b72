//! `POST /bc-authorize` (OpenID CIBA Core §7, poll mode, adapted): a confidential client asks for a
//! person's approval of one tool call ([`crate::approvals::start`]). Server to server: no CORS.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use protocol::token::GRANT_CIBA;

use super::extract::ClientForm;
use crate::approvals::{self, BackchannelRequest};
use crate::error::{ApiError, no_store};
use crate::state::AppState;

pub async fn bc_authorize(
    State(state): State<AppState>,
    ClientForm { caller, request, context }: ClientForm<BackchannelRequest>,
) -> Result<Response, ApiError> {
    let answer = approvals::start(&state, &context, caller.confidential(GRANT_CIBA)?, request).await?;
    let mut response = Json(answer).into_response();
    no_store(&mut response);
    Ok(response)
}
