//! `POST /revoke` (RFC 7009): a client gives up a token.
//!
//! Revoking a refresh token revokes its whole grant (and with it every access token issued under
//! it, as far as introspection is concerned); revoking an access token revokes that token (and so
//! every token exchanged from it, [`crate::exchange::ancestry`]), and ends the approval requests
//! asked on any of them that are not yet collected. An `auth_req_id` (CIBA,
//! `/bc-authorize`) withdraws that request of the client's while it is pending or approved and not
//! collected: a gateway whose client declined the approval at its end tells the person's page
//! so (CIBA has no cancel; RFC 7009 lets a server revoke kinds of tokens of its own). The
//! answer is `200` whether or not the token was known: RFC 7009 §2.2 says invalid tokens are not an
//! error, and a different answer would let anyone claiming a public client id probe for tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::introspection::{HINT_ACCESS_TOKEN, RevocationRequest};
use protocol::secret::RevocableToken;
use protocol::token::GRANT_CIBA;

use super::extract::{ClientForm, FromParams, Params};
use crate::audit;
use crate::digest;
use crate::error::{ApiError, no_store};
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind};

pub async fn revoke(
    State(state): State<AppState>,
    ClientForm { caller, request, context }: ClientForm<RevocationRequest>,
) -> Result<Response, ApiError> {
    let client = caller.client()?;
    let token = request.token.secret();
    let now = state.now();

    // The hint only decides which kind is tried first (RFC 7009 §2.1).
    let access_first = request.token_type_hint.as_deref() == Some(HINT_ACCESS_TOKEN);
    let mut found = false;
    for try_access in [access_first, !access_first] {
        if try_access {
            // The client it was issued to, or the actor it was exchanged for (a gateway giving
            // up a hop token).
            if let Some(claims) = state.keys.verify(token)
                && (claims.client_id == client.client_id
                    || claims.act.as_ref().and_then(|a| a.client_id.as_deref()) == Some(&client.client_id))
            {
                state.store.revoke_access_token(&claims.jti, now).await?;
                let event = AuditEvent::new(AuditKind::TokenRevoked)
                    .client(&client.client_id)
                    .user(&claims.sub)
                    .detail(format!("access token, jti {}", claims.jti));
                audit::record(&state, &context, event).await;
                found = true;
                break;
            }
        } else if let Some((_, grant)) = state.store.find_refresh_token(&digest::sha256(token)).await?
            && grant.client_id == client.client_id
        {
            state.store.revoke_grant(&grant.id, "revoked by the client", now).await?;
            let event = AuditEvent::new(AuditKind::TokenRevoked)
                .client(&client.client_id)
                .user(&grant.user_id)
                .grant(&grant.id)
                .detail("refresh token; grant revoked");
            audit::record(&state, &context, event).await;
            found = true;
            break;
        }
    }
    // Only a client that may ask for approvals has `auth_req_id`s to give up (and a public
    // client's revocations, which anyone can send, cause no write here).
    if !found
        && let Ok(client) = caller.confidential(GRANT_CIBA)
        && let Some(request) =
            state.store.withdraw_approval(&digest::sha256(token), &client.client_id, now).await?
    {
        let event = AuditEvent::new(AuditKind::ApprovalWithdrawn)
            .client(&client.client_id)
            .user(&request.user_id)
            .grant(&request.grant_id)
            .detail(format!("approval request {} withdrawn by the client (auth_req_id revoked)", request.id));
        audit::record(&state, &context, event).await;
    }
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}

impl FromParams for RevocationRequest {
    fn from_params(params: Params) -> Result<Self, ApiError> {
        Ok(Self {
            token: RevocableToken::new(params.required("token")?),
            token_type_hint: params.get("token_type_hint").map(str::to_owned),
            // Public clients must send it; the handler says so when it is missing.
            client_id: params.get("client_id").map(str::to_owned),
        })
    }
}
