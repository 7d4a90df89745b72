//! The authorization code flow with PKCE as a native app (OAuth 2.1 §4.1, RFC 8252): from a
//! challenge to a stored grant.

use std::time::Duration;

use protocol::authorization::{AuthorizationRequest, ExpectedCallback};
use protocol::challenge_reaction::Authorize;
use protocol::error::ErrorCode;
use protocol::pkce::{CodeChallenge, CodeVerifier};

use crate::browser::{self, BrowserMode};
use crate::discover::discover;
use crate::error::{AgentError, Result};
use crate::http::Http;
use crate::identity::{self, IdentityOptions};
use crate::loopback::Loopback;
use crate::output::Progress;
use crate::store::{Grant, Store};
use crate::tokens::{self, CodeRedemption};

/// What the login needs besides the challenge.
pub struct Login<'a> {
    pub http: &'a Http,
    pub store: &'a Store,
    pub progress: &'a Progress,
    pub identity: &'a IdentityOptions,
    pub browser: BrowserMode,
    pub timeout: Duration,
}

/// The authorization server and the scope an authorization will ask for, decided before any page
/// opens.
pub struct Plan {
    pub discovered: protocol::discovery::Discovered,
    pub scope: Option<String>,
}

/// Discovers the authorization server for `request_url` from the challenge, and decides the scope
/// (`protocol`'s scope selection: the challenge's, else the resource's `scopes_supported`, joined
/// with what the token has in a step-up).
pub async fn plan(login: &Login<'_>, request_url: &str, authorize: &Authorize) -> Result<Plan> {
    let discovered = discover(login.http, login.progress, request_url, &authorize.challenge).await?;
    let scope = authorize.scope(&discovered.resource);
    Ok(Plan { discovered, scope })
}

/// Runs the browser part and the code exchange for `plan`, and stores the grant.
pub async fn authorize(login: &Login<'_>, plan: Plan) -> Result<Grant> {
    let Plan { discovered, scope } = plan;
    let issuer = discovered.issuer.clone();
    let resource = discovered.resource.resource.clone();
    let loopback = Loopback::bind(identity::registered_port(login.store, &issuer)?).await?;
    let redirect_uri = loopback.redirect_uri();
    let client = identity::client_for(
        login.http,
        login.store,
        login.progress,
        &discovered,
        login.identity,
        &redirect_uri,
    )
    .await?;

    let verifier = CodeVerifier::from_random_bytes(random32()?);
    let state = protocol::base64url(&random32()?);
    let request = AuthorizationRequest::new(
        &client.client_id,
        &redirect_uri,
        scope.clone(),
        &state,
        CodeChallenge::s256(&verifier),
        &resource,
    );
    let endpoint = discovered.server.authorization_endpoint.as_deref().unwrap_or_default();
    let url = request.to_url(endpoint).map_err(|e| {
        AgentError::Protocol(format!("the authorization_endpoint {endpoint:?} is not a URL: {e}"))
    })?;

    login.progress.step(format!(
        "authorization needed for {resource} (scope: {}); logging in at {issuer}",
        scope.as_deref().unwrap_or("none requested")
    ));
    let waiting = tokio::spawn(loopback.wait_for(state.clone(), login.timeout));
    if let Err(e) = browser::open(login.browser, &url, &redirect_uri, login.progress).await {
        waiting.abort();
        return Err(e);
    }
    let params = waiting
        .await
        .map_err(|_| AgentError::Authorization("the redirect listener stopped unexpectedly".into()))??;
    let code = params.into_code(&ExpectedCallback {
        state: &state,
        issuer: &issuer,
        issuer_parameter_required: discovered.server.authorization_response_iss_parameter_supported,
    })?;
    login.progress.detail("redirect accepted: state and iss match; redeeming the code");

    let token_endpoint = discovered.server.token_endpoint.as_deref().unwrap_or_default();
    let redemption = CodeRedemption {
        issuer: &issuer,
        token_endpoint,
        revocation_endpoint: discovered.server.revocation_endpoint.as_deref(),
        client: &client,
        code,
        verifier: &verifier,
        redirect_uri: &redirect_uri,
        resource: &resource,
        requested_scope: scope.as_deref(),
    };
    let grant = match tokens::redeem(login.http, redemption, crate::now()).await {
        Ok(grant) => grant,
        Err(AgentError::TokenEndpoint(message)) if message.starts_with(ErrorCode::InvalidClient.as_str()) => {
            // The server no longer knows the registration made earlier: forget it, so the next
            // run registers again instead of failing the same way forever.
            login
                .store
                .update(&issuer, |file| {
                    if file.registration.as_ref().is_some_and(|r| r.client.client_id == client.client_id) {
                        file.registration = None;
                    }
                })
                .await?;
            return Err(AgentError::TokenEndpoint(format!(
                "{message} (the registration was forgotten; run the command again to register anew)"
            )));
        }
        Err(e) => return Err(e),
    };
    login.store.put_grant(&grant).await?;
    login.progress.step(format!(
        "logged in at {issuer}; granted scope: {}",
        if grant.scope.is_empty() { "(none)" } else { grant.scope.as_str() }
    ));
    Ok(grant)
}

fn random32() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        AgentError::Authorization(format!("the operating system's random generator failed: {e}"))
    })?;
    Ok(bytes)
}
