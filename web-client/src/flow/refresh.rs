//! Refreshing an access token (RFC 6749 §6) with rotation: the answer's refresh token replaces
//! the old one, together with the new access token, in one update of the token store. A refresh
//! that fails drops the tokens, so the next step is a fresh authorization.

use protocol::token::RefreshTokenRequest;

use crate::http::Outgoing;
use crate::state::{AppState, TokenSet};
use crate::timeline::{Outcome, Step};

/// Refreshes `tokens`; `true` if new tokens are stored, `false` if they were dropped.
pub async fn refresh_or_forget(app: AppState, tokens: &TokenSet, why: &str) -> bool {
    let title = "Refresh the access token";
    let rule = "OAuth 2.1 §4.3 (refresh, with rotation for public clients)";
    let Some(refresh_token) = &tokens.refresh_token else {
        app.push(
            Step::new(title, rule, Outcome::Info)
                .detail(format!("{why}, and there is no refresh token: authorizing again.")),
        );
        app.drop_tokens(&tokens.resource);
        return false;
    };
    let mut request = RefreshTokenRequest::new(refresh_token.clone(), &tokens.client_id);
    request.resource = Some(tokens.resource.clone());
    let body = serde_urlencoded::to_string(&request).unwrap_or_default();
    let explanation = format!(
        "{why}: POST {} with the refresh token (single use: the answer brings its successor).",
        tokens.token_endpoint
    );
    if app.gate(title, &explanation).await.is_err() {
        return false;
    }
    let response = match Outgoing::post(&tokens.token_endpoint, "application/x-www-form-urlencoded", body)
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => {
            app.push(e.step(title, rule));
            app.drop_tokens(&tokens.resource);
            return false;
        }
    };
    let resource = tokens.resource.clone();
    // No `scope` in the answer: the scope is unchanged (RFC 6749 §5.1, §6).
    match super::authorize::accept_tokens(app, &response, title, rule, &resource, &tokens.scopes, |fresh| {
        TokenSet {
            // Some servers do not rotate; then the old refresh token stays the one to use.
            refresh_token: fresh.refresh_token.or_else(|| tokens.refresh_token.clone()),
            issuer: tokens.issuer.clone(),
            token_endpoint: tokens.token_endpoint.clone(),
            revocation_endpoint: tokens.revocation_endpoint.clone(),
            client_id: tokens.client_id.clone(),
            ..fresh
        }
    }) {
        // Not stored if the user logged out while the answer was on its way.
        Ok(fresh) => app.store_tokens(fresh).is_ok(),
        Err(_) => {
            app.push(
                Step::new("Forget the tokens", rule, Outcome::Info)
                    .detail("The refresh failed; authorizing again."),
            );
            app.drop_tokens(&resource);
            false
        }
    }
}
