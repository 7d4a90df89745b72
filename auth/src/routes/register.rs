//! `POST /register`: dynamic client registration (RFC 7591).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::error::ErrorCode;
use protocol::registration::{ClientInformation, ClientMetadata};

use super::extract::has_content_type;
use crate::audit::{self, RequestContext};
use crate::error::{ApiError, no_store};
use crate::random;
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind, Client, ExchangeTargets, Registration};

pub async fn register(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    if !has_content_type(&headers, "application/json") {
        return Err(ApiError::invalid_request("the body must be application/json"));
    }
    let submitted: ClientMetadata = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(ErrorCode::InvalidClientMetadata, format!("the body is not client metadata: {e}"))
    })?;
    let metadata = protocol::registration::validate(submitted)
        .map_err(|(code, description)| ApiError::new(code, description))?;

    let now = state.now();
    let client = Client {
        client_id: random::token(),
        client_name: metadata.client_name.clone(),
        redirect_uris: metadata.redirect_uris.clone(),
        registration: Registration::Dynamic,
        metadata: metadata.clone(),
        secret_hash: None,
        acts_for: Vec::new(),
        exchange_to: ExchangeTargets::none(),
    };
    let mut event = AuditEvent::new(AuditKind::ClientRegistered)
        .client(&client.client_id)
        .detail(format!("dynamic registration; redirect_uris {:?}", client.redirect_uris));
    audit::stamp(&context, &mut event);
    // The event is written with the client, in its commit.
    state.store.insert_client(&client, &event, now).await?;
    audit::log(&event);

    let body = ClientInformation {
        client_id: client.client_id,
        client_id_issued_at: u64::try_from(now).ok(),
        // Public clients only: PKCE, not a secret, proves who redeems a code.
        client_secret: None,
        client_secret_expires_at: None,
        metadata,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    no_store(&mut response);
    Ok(response)
}
