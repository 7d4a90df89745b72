//! The authorization code flow with PKCE: sending the browser to the authorization server, and
//! handling its redirect back to `/callback`.

use leptos::prelude::*;
use protocol::authorization::{AuthorizationRequest, CallbackParams, ExpectedCallback};
use protocol::challenge_reaction::Authorize;
use protocol::error::ErrorCode;
use protocol::jwt::decode_unverified;
use protocol::pkce::{CodeChallenge, CodeVerifier};
use protocol::scope::Scopes;
use protocol::token::{AuthorizationCodeRequest, TokenResponse};

use super::discovery::discover;
use super::identity::{client_id_for, origin};
use super::{Call, FlowResult, Performed, Progress, oauth_error, random_bytes};
use crate::http::{Exchange, Outgoing};
use crate::state::{AppState, TokenSet};
use crate::storage::{self, PendingAuthorization};
use crate::timeline::{Outcome, Step};

/// Discovery, client identity, PKCE and `state`; then the browser leaves for the AS, carrying
/// `progress` (the call's challenge state, with this authorization recorded, and its approval
/// deadline) for the retry.
pub async fn redirect_to_authorization(
    app: AppState,
    call: &Call,
    authorize: &Authorize,
    progress: Progress,
) -> FlowResult<()> {
    let Progress { mut reaction, approval_deadline_ms } = progress;
    let discovered = discover(app, call.url(), &authorize.challenge).await?;
    let redirect_uri = format!("{}/callback", origin()?);
    let client_id = client_id_for(app, &discovered, &redirect_uri).await?;

    let scope = authorize.scope(&discovered.resource);
    // Recorded now, as the page is about to be replaced; the retry it leads to happens when the
    // callback comes back.
    let requested = scope.as_deref().and_then(|s| Scopes::parse(s).ok()).unwrap_or_default();
    reaction.on_authorized(&requested);
    let granted = &authorize.keep;

    let verifier = CodeVerifier::from_random_bytes(random_bytes()?);
    let code_challenge = CodeChallenge::s256(&verifier);
    let state = protocol::base64url(&random_bytes()?);
    let authorization_endpoint = discovered.server.authorization_endpoint.clone().unwrap_or_default();
    let request = AuthorizationRequest::new(
        &client_id,
        &redirect_uri,
        scope.clone(),
        &state,
        code_challenge.clone(),
        &discovered.resource.resource,
    );
    let url =
        request.to_url(&authorization_endpoint).map_err(|e| format!("bad authorization_endpoint: {e}"))?;

    let step_up = if !authorize.step_up || granted.is_empty() {
        String::new()
    } else {
        format!("\nstep-up: the token has \"{granted}\"; asking for the union with what the server named")
    };
    app.push(
        Step::new("Create PKCE verifier, challenge and state", "RFC 7636 §4.1–4.2, RFC 6749 §10.12", Outcome::Ok)
            .detail(format!(
                "code_verifier: 43 random characters, kept in sessionStorage until the callback (not shown)\n\
                 code_challenge = BASE64URL(SHA256(verifier)) = {code_challenge}\ncode_challenge_method: S256\n\
                 state: {state}\nscope: {}{step_up}\nresource: {}",
                scope.as_deref().unwrap_or("(none)"),
                discovered.resource.resource
            )),
    );
    let pending = PendingAuthorization {
        state: state.clone(),
        code_verifier: verifier,
        issuer: discovered.issuer.clone(),
        issuer_parameter_required: discovered.server.authorization_response_iss_parameter_supported,
        token_endpoint: discovered.server.token_endpoint.clone().unwrap_or_default(),
        revocation_endpoint: discovered.server.revocation_endpoint.clone(),
        client_id,
        redirect_uri,
        resource: discovered.resource.resource.clone(),
        requested_scope: scope,
        call: call.clone(),
        reaction,
        approval_deadline_ms,
    };
    let title = "Send the browser to the authorization endpoint";
    app.push(Step {
        request: Some(format!("GET {url}")),
        ..Step::new(title, "OAuth 2.1 §4.1.1, RFC 8707 §2.1", Outcome::Info).detail(
            "The authorization server shows its login and consent pages, then redirects back to /callback.",
        )
    });
    app.gate(title, "The page is about to leave for the authorization server; the timeline so far is kept in sessionStorage and shown again on return.").await?;
    // Nothing awaits from here on: a logout cannot come between these writes and leaving.
    storage::save_pending(&pending)?;
    storage::save_timeline(&app.timeline.get_untracked())?;
    storage::save_tools(&app.tools.get_untracked());
    let location = web_sys::window().ok_or("no window")?.location();
    location.assign(&url).map_err(|_| "the browser refused to navigate".to_owned())
}

/// Handles `/callback?…`: checks the response, exchanges the code, retries the call.
pub async fn complete_authorization(app: AppState, query: String) {
    app.start_flow();
    app.busy.set(true);
    app.error.set(None);
    if let Some(steps) = storage::take_timeline() {
        app.timeline.set(steps);
    }
    app.tools.set(storage::take_tools());
    super::settle_boxed(app, finish(app, &query).await).await;
}

async fn finish(app: AppState, query: &str) -> FlowResult<Performed> {
    let params: CallbackParams =
        serde_urlencoded::from_str(query).map_err(|e| format!("The callback's query cannot be read: {e}"))?;
    app.push(Step::new("Back from the authorization server", "RFC 6749 §4.1.2, RFC 9207 §2", Outcome::Info).detail(
        format!(
            "code: {}\nstate: {}\niss: {}\nerror: {}\n(code and state were removed from the address bar with history.replaceState)",
            if params.code.is_some() { "(present, single use; not shown)" } else { "(absent)" },
            params.state.as_deref().unwrap_or("(absent)"),
            params.iss.as_deref().unwrap_or("(absent)"),
            params.error.as_ref().map_or("(none)", ErrorCode::as_str),
        ),
    ));

    let rule = "RFC 6749 §10.12 (state), RFC 9207 §2.4 (iss)";
    let pending = params.state.as_deref().and_then(storage::take_pending).ok_or_else(|| {
        let message = "This callback's state was not issued by this tab, or was already used: refusing it.";
        app.push(Step::new("Check state", rule, Outcome::Error).detail(message));
        message.to_owned()
    })?;
    let expected = ExpectedCallback {
        state: &pending.state,
        issuer: &pending.issuer,
        issuer_parameter_required: pending.issuer_parameter_required,
    };
    let code = params.into_code(&expected).map_err(|e| {
        app.push(Step::new("Check state and iss", rule, Outcome::Error).detail(e.to_string()));
        format!("Authorization failed: {e}")
    })?;
    app.push(
        Step::new("Check state and iss", rule, Outcome::Ok)
            .detail(format!("state matches the one this tab sent\niss is exactly {}", pending.issuer)),
    );

    let request = AuthorizationCodeRequest::new(
        code,
        &pending.redirect_uri,
        &pending.client_id,
        pending.code_verifier.clone(),
        &pending.resource,
    );
    let body = serde_urlencoded::to_string(&request).map_err(|e| e.to_string())?;
    let title = "Exchange the code for tokens";
    let rule = "OAuth 2.1 §4.1.3, RFC 7636 §4.5, RFC 8707 §2.2";
    app.gate(title, &format!("POST {} with the code, the PKCE code_verifier (proof that this tab started the flow), the redirect_uri and the resource.", pending.token_endpoint)).await?;
    let response = Outgoing::post(&pending.token_endpoint, "application/x-www-form-urlencoded", body)
        .send()
        .await
        .map_err(|e| {
            app.push(e.step(title, rule));
            "The token endpoint could not be reached.".to_owned()
        })?;
    // A token response without `scope` was granted what was asked for: without this, a later
    // step-up would ask for the challenged scope alone and lose the rest.
    let requested =
        pending.requested_scope.as_deref().and_then(|s| Scopes::parse(s).ok()).unwrap_or_default();
    let tokens =
        accept_tokens(app, &response, title, rule, &pending.resource, &requested, |tokens| TokenSet {
            issuer: pending.issuer.clone(),
            token_endpoint: pending.token_endpoint.clone(),
            revocation_endpoint: pending.revocation_endpoint.clone(),
            client_id: pending.client_id.clone(),
            ..tokens
        })?;
    app.store_tokens(tokens)?;
    // The page was reloaded on the way back: put what the user had typed back in the fields.
    match &pending.call {
        Call::Echo { url, text } => {
            app.echo_url.set(url.clone());
            app.echo_text.set(text.clone());
        }
        Call::ListTools { url } | Call::CallTool { url, .. } => app.mcp_url.set(url.clone()),
    }
    let progress =
        Progress { reaction: pending.reaction.clone(), approval_deadline_ms: pending.approval_deadline_ms };
    super::perform_boxed(app, &pending.call, progress).await
}

/// Reads a token endpoint answer into a [`TokenSet`] (completed by `finish_set`), recording it in
/// the timeline with the access token decoded and no token shown raw. `unnamed` is the scope the
/// token holds if the answer names none: the one requested (RFC 6749 §5.1), or on a refresh the
/// original grant's (§6).
pub(super) fn accept_tokens(
    app: AppState,
    response: &Exchange,
    title: &str,
    rule: &str,
    resource: &str,
    unnamed: &Scopes,
    finish_set: impl FnOnce(TokenSet) -> TokenSet,
) -> FlowResult<TokenSet> {
    if response.status != 200 {
        // RFC 6749 §5.1: success is 200. Another success status may still carry tokens, which
        // the timeline (kept in sessionStorage across a redirect) must never show.
        let detail = if (200..300).contains(&response.status) {
            "The body is not shown: an answer with a success status may carry tokens.".to_owned()
        } else {
            response.pretty_body()
        };
        app.push(response.step(title, rule, Outcome::Error).detail(detail));
        return Err(format!("The token endpoint refused: {}", oauth_error(response)));
    }
    let token: TokenResponse =
        serde_json::from_str(&response.body).map_err(|e| format!("The token response is malformed: {e}"))?;
    if !token.is_bearer() {
        return Err(format!(
            "The token endpoint issued a {:?} token; only Bearer is supported.",
            token.token_type
        ));
    }
    app.push(response.step(title, rule, Outcome::Ok).detail(describe(&token)));
    let now = js_sys::Date::now();
    Ok(finish_set(TokenSet {
        scopes: match token.scope.as_deref() {
            Some(scope) => Scopes::parse(scope).unwrap_or_default(),
            None => unnamed.clone(),
        },
        issued_at_ms: now,
        expires_at_ms: token.expires_in.map(|s| now + (s as f64) * 1000.0),
        access_token: token.access_token,
        refresh_token: token.refresh_token,
        resource: resource.to_owned(),
        issuer: String::new(),
        token_endpoint: String::new(),
        revocation_endpoint: None,
        client_id: String::new(),
    }))
}

/// A token response for the timeline: the access token decoded, the refresh token only mentioned.
fn describe(token: &TokenResponse) -> String {
    let decoded = decode_unverified(token.access_token.secret())
        .map(|jwt| {
            format!(
                "header: {}\nclaims: {}",
                serde_json::to_string_pretty(&jwt.header).unwrap_or_default(),
                serde_json::to_string_pretty(&jwt.claims).unwrap_or_default()
            )
        })
        .unwrap_or_else(|_| "(an opaque token: nothing to decode)".into());
    format!(
        "token_type: {}\nexpires_in: {}\nscope: {}\nrefresh_token: {}\naccess_token (decoded, not verified by the client):\n{decoded}",
        token.token_type,
        token.expires_in.map_or("(not given)".into(), |s| format!("{s} s")),
        token.scope.as_deref().unwrap_or("(not given)"),
        if token.refresh_token.is_some() { "(present; kept in memory, not shown)" } else { "(none)" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn token_answer(body: &str) -> Exchange {
        Exchange {
            method: "POST",
            url: "http://as.example/token".into(),
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// RFC 6749 §5.1: a token response may leave `scope` out when it is the one requested. The
    /// token then holds what was asked for (kept through a later step-up, which asks for the
    /// union); it used to be recorded as holding nothing.
    #[wasm_bindgen_test]
    fn a_token_response_without_scope_holds_the_scope_asked_for() {
        let app = AppState::new();
        let asked = Scopes::parse("echo profile").unwrap();
        let accept = |body: &str| {
            accept_tokens(app, &token_answer(body), "t", "r", "http://rs.example", &asked, |t| t).unwrap()
        };
        let silent = accept(r#"{"access_token":"a","token_type":"Bearer","expires_in":60}"#);
        assert_eq!(silent.scopes, asked);
        let named = accept(r#"{"access_token":"a","token_type":"Bearer","scope":"echo"}"#);
        assert_eq!(named.scopes, Scopes::parse("echo").unwrap(), "a scope named in the answer wins");
    }

    /// RFC 6749 §5.1: success is 200. A 201 carrying tokens is refused, and its body (kept in the
    /// timeline, which sessionStorage keeps across a redirect) is not shown; an error's body is.
    #[wasm_bindgen_test]
    fn tokens_under_another_success_status_are_not_shown() {
        let app = AppState::new();
        let answer = |status: u16, body: &str| Exchange { status, ..token_answer(body) };
        let tokens = r#"{"access_token":"secret-at","refresh_token":"secret-rt","token_type":"Bearer"}"#;
        let refused =
            accept_tokens(app, &answer(201, tokens), "t", "r", "http://rs", &Scopes::default(), |t| t);
        assert!(refused.is_err());
        let shown = serde_json::to_string(&app.timeline.get_untracked()).unwrap();
        assert!(!shown.contains("secret-at") && !shown.contains("secret-rt"), "{shown}");
        let error = r#"{"error":"invalid_grant","error_description":"the code was used"}"#;
        assert!(
            accept_tokens(app, &answer(400, error), "t", "r", "http://rs", &Scopes::default(), |t| t)
                .is_err()
        );
        let shown = serde_json::to_string(&app.timeline.get_untracked()).unwrap();
        assert!(shown.contains("the code was used"), "an error's body is shown: {shown}");
    }
}
