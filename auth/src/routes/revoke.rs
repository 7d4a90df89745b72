//! `POST /revoke` (RFC 7009): a client gives up a token.
//!
//! Revoking a refresh token revokes its whole grant (and with it every access token issued under
//! it, as far as introspection is concerned); revoking an access token revokes that token. The
//! answer is `200` whether or not the token was known: RFC 7009 §2.2 says invalid tokens are not an
//! error, and a different answer would let anyone claiming a public client id probe for tokens.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::introspection::HINT_ACCESS_TOKEN;

use super::token::{public_client, required};
use crate::audit::{self, RequestContext};
use crate::error::{ApiError, no_store};
use crate::random;
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind};

pub async fn revoke(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let params = super::read_oauth_form(&headers, &body)?;
    let token = required(&params, "token")?;
    let client = public_client(&state, &params).await?;
    let now = state.now();

    // The hint only decides which kind is tried first (RFC 7009 §2.1).
    let access_first = params.get("token_type_hint").map(String::as_str) == Some(HINT_ACCESS_TOKEN);
    for try_access in [access_first, !access_first] {
        if try_access {
            if let Some(claims) = state.keys.verify(token)
                && claims.client_id == client.client_id
            {
                state.store.revoke_access_token(&claims.jti, now).await?;
                let event = AuditEvent::new(AuditKind::TokenRevoked)
                    .client(&client.client_id)
                    .user(&claims.sub)
                    .detail(format!("access token, jti {}", claims.jti));
                audit::record(&state, &context, event).await;
                break;
            }
        } else if let Some((_, grant)) = state.store.find_refresh_token(&random::hash(token)).await?
            && grant.client_id == client.client_id
        {
            state.store.revoke_grant(&grant.id, "revoked by the client", now).await?;
            let event = AuditEvent::new(AuditKind::TokenRevoked)
                .client(&client.client_id)
                .user(&grant.user_id)
                .grant(&grant.id)
                .detail("refresh token; grant revoked");
            audit::record(&state, &context, event).await;
            break;
        }
    }
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}
