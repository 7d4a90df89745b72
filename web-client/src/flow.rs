//! The MCP authorization flow as a public client in the browser, one function per phase:
//!
//! 1. [`call_echo`]: call the API; a `401`/`403` starts authorization.
//! 2. [`discover`]: challenge → protected resource metadata (RFC 9728) → authorization server
//!    metadata (RFC 8414), each validated before anything in it is used.
//! 3. [`client_id_for`]: a client id at that authorization server (RFC 7591 registration).
//! 4. [`redirect_to_authorization`]: PKCE, `state`, and off to the authorize endpoint.
//! 5. [`complete_authorization`]: back on `/callback`: `state` and `iss` checks, the code
//!    exchange, and the retried call.
//!
//! Every phase records what it did in the timeline, including the failures.

use leptos::prelude::*;
use protocol::authorization::{AuthorizationRequest, CallbackParams, ExpectedCallback};
use protocol::challenge::BearerChallenge;
use protocol::echo::EchoResponse;
use protocol::error::{ErrorCode, ErrorResponse};
use protocol::jwt::decode_unverified;
use protocol::metadata::{
    AuthorizationServerMetadata, ProtectedResourceMetadata, authorization_server_metadata_urls,
    protected_resource_metadata_urls,
};
use protocol::pkce::{CodeChallenge, CodeVerifier};
use protocol::registration::{ClientInformation, ClientMetadata};
use protocol::resource::resource_covers;
use protocol::scope::Scopes;
use protocol::token::{AuthorizationCodeRequest, GRANT_AUTHORIZATION_CODE, TokenResponse};
use url::Url;

use crate::http::{self, Exchange};
use crate::state::{AppState, TokenSession};
use crate::storage::{self, ClientRegistration, PendingAuthorization};
use crate::timeline::{Outcome, Step};

/// A human-readable reason the flow stopped. The timeline holds the details.
type FlowResult<T> = Result<T, String>;

/// What a call ended with.
enum Called {
    Echoed(EchoResponse),
    /// The browser is on its way to the authorization server.
    Redirecting,
}

/// Runs *Call echo*: the plain call, then authorization if the server asks for it.
pub async fn call_echo(app: AppState) {
    app.busy.set(true);
    app.error.set(None);
    app.result.set(None);
    app.timeline.set(Vec::new());
    let endpoint = app.endpoint.get_untracked();
    let text = app.text.get_untracked();
    match call(app, &endpoint, &text, true).await {
        Ok(Called::Echoed(echo)) => app.result.set(Some(echo)),
        // Keep the button disabled: the page is about to be replaced.
        Ok(Called::Redirecting) => return,
        Err(message) => app.error.set(Some(message)),
    }
    app.busy.set(false);
}

/// Calls the echo endpoint with the token we hold for it, if any. With `may_authorize`, a `401`
/// or `403 insufficient_scope` starts authorization; without it (the retry after a fresh token),
/// it is an error, so a misbehaving server cannot send us round in circles.
async fn call(app: AppState, endpoint: &str, text: &str, may_authorize: bool) -> FlowResult<Called> {
    let mut url = Url::parse(endpoint).map_err(|e| format!("{endpoint:?} is not a URL: {e}"))?;
    url.query_pairs_mut().append_pair("text", text);
    let url = url.to_string();
    let session = app.session.get_untracked().filter(|s| resource_covers(&s.resource, &url));
    let token = session.as_ref().map(|s| &s.access_token);
    let title =
        if token.is_some() { "Call the API with the access token" } else { "Call the API without a token" };

    let response = http::get(&url, token).await.map_err(|e| {
        app.push(e.step(title, "RFC 6750 §2.1: bearer token in the Authorization header"));
        format!("The server at {endpoint} could not be reached (see the timeline).")
    })?;
    match response.status {
        200 => {
            let echo: EchoResponse = serde_json::from_str(&response.body)
                .map_err(|e| format!("The server answered 200 but not with an echo: {e}"))?;
            app.push(response.step(title, "RFC 6750 §2.1", Outcome::Ok).detail(response.pretty_body()));
            Ok(Called::Echoed(echo))
        }
        401 | 403 if may_authorize => {
            app.push(
                response
                    .step(
                        title,
                        "MCP authorization: a 401/403 carries the challenge that starts discovery",
                        Outcome::Info,
                    )
                    .detail(response.pretty_body()),
            );
            let challenge = read_challenge(app, &response)?;
            if response.status == 403 && challenge.error != Some(ErrorCode::InsufficientScope) {
                return Err(
                    "The server refused the request (403) for a reason other than missing scope.".into()
                );
            }
            let granted = session.map(|s| s.scopes).unwrap_or_default();
            redirect_to_authorization(app, &url, endpoint, text, &challenge, &granted).await?;
            Ok(Called::Redirecting)
        }
        status => {
            app.push(response.step(title, "RFC 6750 §3", Outcome::Error).detail(response.pretty_body()));
            Err(format!("The server answered {status} (see the timeline)."))
        }
    }
}

/// The `WWW-Authenticate` challenge of a 401/403, which a browser can read only if the server
/// exposes it.
fn read_challenge(app: AppState, response: &Exchange) -> FlowResult<BearerChallenge> {
    let Some(header) = response.header("www-authenticate") else {
        let message = "The response has no readable WWW-Authenticate header. The server must send one and, for \
                       a browser to see it, list it in Access-Control-Expose-Headers.";
        app.push(Step::new("Read the challenge", "RFC 9728 §5.1, CORS", Outcome::Error).detail(message));
        return Err(message.into());
    };
    let challenge = BearerChallenge::from_header_values([header])
        .map_err(|e| format!("The WWW-Authenticate header is malformed: {e}"))?
        .ok_or("The WWW-Authenticate header has no Bearer challenge.")?;
    app.push(Step::new("Read the Bearer challenge", "RFC 6750 §3, RFC 9728 §5.1", Outcome::Ok).detail(
        format!(
            "resource_metadata: {}\nscope: {}\nerror: {}",
            challenge.resource_metadata.as_deref().unwrap_or("(absent: fall back to the well-known URLs)"),
            challenge.scope.as_deref().unwrap_or("(absent)"),
            challenge.error.as_ref().map_or("(none)", ErrorCode::as_str),
        ),
    ));
    Ok(challenge)
}

/// What discovery found.
struct Discovered {
    resource: ProtectedResourceMetadata,
    issuer: String,
    server: AuthorizationServerMetadata,
}

/// RFC 9728 then RFC 8414, in the MCP spec's order, validating each document.
async fn discover(app: AppState, request_url: &str, challenge: &BearerChallenge) -> FlowResult<Discovered> {
    let candidates = match &challenge.resource_metadata {
        Some(url) => vec![url.clone()],
        None => protected_resource_metadata_urls(&Url::parse(request_url).map_err(|e| e.to_string())?),
    };
    let resource: ProtectedResourceMetadata =
        fetch_first(app, &candidates, "Fetch the protected resource metadata", "RFC 9728 §3").await?;
    if let Err(e) = resource.validate_for_request(request_url) {
        app.push(
            Step::new("Check the protected resource metadata", "RFC 9728 §3.3", Outcome::Error)
                .detail(e.to_string()),
        );
        return Err(format!("The protected resource metadata is not usable: {e}"));
    }
    let issuer = resource.authorization_servers[0].clone();
    app.push(Step::new("Check the protected resource metadata", "RFC 9728 §3.3", Outcome::Ok).detail(
        format!("resource {} covers {request_url}\nauthorization server: {issuer}", resource.resource),
    ));

    let issuer_url = Url::parse(&issuer).map_err(|e| e.to_string())?;
    let candidates = authorization_server_metadata_urls(&issuer_url);
    let server: AuthorizationServerMetadata = fetch_first(
        app,
        &candidates,
        "Fetch the authorization server metadata",
        "RFC 8414 §3, MCP discovery order",
    )
    .await?;
    if let Err(e) = server.validate_for_issuer(&issuer) {
        app.push(
            Step::new("Check the authorization server metadata", "RFC 8414 §3.3, RFC 7636", Outcome::Error)
                .detail(e.to_string()),
        );
        return Err(format!("The authorization server metadata is not usable: {e}"));
    }
    app.push(Step::new("Check the authorization server metadata", "RFC 8414 §3.3, RFC 7636 §4.3", Outcome::Ok).detail(
        format!("issuer is exactly {issuer}\nS256 is supported\nauthorization_endpoint and token_endpoint present"),
    ));
    Ok(Discovered { resource, issuer, server })
}

/// GETs each URL in turn until one answers 200 with the expected JSON. A 404 moves on to the next
/// candidate; anything else is reported.
async fn fetch_first<T: serde::de::DeserializeOwned>(
    app: AppState,
    candidates: &[String],
    title: &str,
    rule: &str,
) -> FlowResult<T> {
    for url in candidates {
        let response = match http::get(url, None).await {
            Ok(response) => response,
            Err(e) => {
                app.push(e.step(title, rule));
                continue;
            }
        };
        if response.status != 200 {
            app.push(response.step(title, rule, Outcome::Info).detail("not here; trying the next location"));
            continue;
        }
        match serde_json::from_str::<T>(&response.body) {
            Ok(document) => {
                app.push(response.step(title, rule, Outcome::Ok).detail(response.pretty_body()));
                return Ok(document);
            }
            Err(e) => {
                app.push(
                    response.step(title, rule, Outcome::Error).detail(format!("not valid metadata: {e}")),
                );
                return Err(format!("{url} is not valid metadata: {e}"));
            }
        }
    }
    Err(format!("{title}: none of {} answered (see the timeline).", candidates.join(", ")))
}

/// The redirect URI of this app: its own origin plus `/callback`.
fn redirect_uri() -> FlowResult<String> {
    let origin =
        web_sys::window().and_then(|w| w.location().origin().ok()).ok_or("cannot read this page's origin")?;
    Ok(format!("{origin}/callback"))
}

/// A client id at this authorization server: the one this tab registered before, or a new
/// RFC 7591 registration as a public `web` client.
async fn client_id_for(app: AppState, discovered: &Discovered, redirect_uri: &str) -> FlowResult<String> {
    if let Some(known) = storage::client_for(&discovered.issuer).filter(|c| c.redirect_uri == redirect_uri) {
        app.push(
            Step::new(
                "Reuse this tab's client registration",
                "MCP: client credentials are kept per issuer",
                Outcome::Ok,
            )
            .detail(format!("client_id {}", known.client_id)),
        );
        return Ok(known.client_id);
    }
    let Some(endpoint) = &discovered.server.registration_endpoint else {
        let message = "The authorization server offers no registration endpoint, and this app has no client id \
                       for it.";
        app.push(Step::new("Register a client", "RFC 7591", Outcome::Error).detail(message));
        return Err(message.into());
    };
    let metadata = ClientMetadata {
        redirect_uris: vec![redirect_uri.to_owned()],
        token_endpoint_auth_method: Some("none".into()),
        grant_types: Some(vec![GRANT_AUTHORIZATION_CODE.into()]),
        response_types: Some(vec!["code".into()]),
        client_name: Some("MCP OAuth web client".into()),
        application_type: Some("web".into()),
        ..Default::default()
    };
    let body = serde_json::to_string(&metadata).map_err(|e| e.to_string())?;
    let title = "Register as a public client";
    let rule = "RFC 7591 §3 (dynamic client registration)";
    let response = http::post_json(endpoint, body).await.map_err(|e| {
        app.push(e.step(title, rule));
        "The registration endpoint could not be reached.".to_owned()
    })?;
    if response.status != 201 && response.status != 200 {
        app.push(response.step(title, rule, Outcome::Error).detail(response.pretty_body()));
        return Err(format!(
            "Client registration failed with {}: {}",
            response.status,
            oauth_error(&response)
        ));
    }
    let info: ClientInformation = serde_json::from_str(&response.body)
        .map_err(|e| format!("The registration response is malformed: {e}"))?;
    app.push(response.step(title, rule, Outcome::Ok).detail(response.pretty_body()));
    let registration =
        ClientRegistration { client_id: info.client_id.clone(), redirect_uri: redirect_uri.to_owned() };
    storage::save_client(&discovered.issuer, &registration)?;
    Ok(info.client_id)
}

/// 32 bytes from the browser's CSPRNG (`crypto.getRandomValues`).
fn random_bytes() -> FlowResult<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("the browser's random number generator failed: {e}"))?;
    Ok(bytes)
}

/// Discovery, client identity, PKCE and `state`; then the browser leaves for the AS.
async fn redirect_to_authorization(
    app: AppState,
    request_url: &str,
    endpoint: &str,
    text: &str,
    challenge: &BearerChallenge,
    granted: &Scopes,
) -> FlowResult<()> {
    let discovered = discover(app, request_url, challenge).await?;
    let redirect_uri = redirect_uri()?;
    let client_id = client_id_for(app, &discovered, &redirect_uri).await?;

    // MCP scope selection: the challenge's scope, else what the resource advertises, else none;
    // for step-up, together with what the current token already has.
    let wanted = match challenge.scopes() {
        Some(scopes) => scopes,
        None => Scopes::from_tokens(discovered.resource.scopes_supported.clone().unwrap_or_default())
            .unwrap_or_default(),
    };
    let scope = granted.union(&wanted);
    let scope = (!scope.is_empty()).then(|| scope.to_string());

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

    app.push(
        Step::new(
            "Create PKCE verifier, challenge and state",
            "RFC 7636 §4.1–4.2, RFC 6749 §10.12",
            Outcome::Ok,
        )
        .detail(format!(
            "code_verifier: 43 random characters, kept in sessionStorage until the callback (not shown)\n\
             code_challenge = BASE64URL(SHA256(verifier)) = {code_challenge}\ncode_challenge_method: S256\n\
             state: {state}\nscope: {}\nresource: {}",
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
        client_id,
        redirect_uri,
        resource: discovered.resource.resource.clone(),
        endpoint: endpoint.to_owned(),
        text: text.to_owned(),
    };
    storage::save_pending(&pending)?;
    app.push(Step {
        request: Some(format!("GET {url}")),
        ..Step::new(
            "Send the browser to the authorization endpoint",
            "OAuth 2.1 §4.1.1, RFC 8707 §2.1",
            Outcome::Info,
        )
        .detail(
            "The authorization server shows its login and consent pages, then redirects back to /callback.",
        )
    });
    storage::save_timeline(&app.timeline.get_untracked())?;
    let location = web_sys::window().ok_or("no window")?.location();
    location.assign(&url).map_err(|_| "the browser refused to navigate".to_owned())
}

/// Handles `/callback?…`: checks the response, exchanges the code, retries the call.
pub async fn complete_authorization(app: AppState, query: String) {
    app.busy.set(true);
    app.error.set(None);
    if let Some(steps) = storage::take_timeline() {
        app.timeline.set(steps);
    }
    match finish(app, &query).await {
        Ok(echo) => app.result.set(Some(echo)),
        Err(message) => app.error.set(Some(message)),
    }
    app.busy.set(false);
}

async fn finish(app: AppState, query: &str) -> FlowResult<EchoResponse> {
    let params: CallbackParams =
        serde_urlencoded::from_str(query).map_err(|e| format!("The callback's query cannot be read: {e}"))?;
    app.push(Step::new("Back from the authorization server", "RFC 6749 §4.1.2, RFC 9207 §2", Outcome::Info).detail(
        format!(
            "code: {}\nstate: {}\niss: {}\nerror: {}\n(code and state are removed from the address bar with history.replaceState)",
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

    let request = AuthorizationCodeRequest {
        grant_type: GRANT_AUTHORIZATION_CODE.into(),
        code,
        redirect_uri: pending.redirect_uri.clone(),
        client_id: pending.client_id.clone(),
        code_verifier: pending.code_verifier.clone(),
        resource: Some(pending.resource.clone()),
    };
    let body = serde_urlencoded::to_string(&request).map_err(|e| e.to_string())?;
    let title = "Exchange the code for an access token";
    let rule = "OAuth 2.1 §4.1.3, RFC 7636 §4.5, RFC 8707 §2.2";
    let response = http::post_form(&pending.token_endpoint, body).await.map_err(|e| {
        app.push(e.step(title, rule));
        "The token endpoint could not be reached.".to_owned()
    })?;
    if response.status != 200 {
        app.push(response.step(title, rule, Outcome::Error).detail(response.pretty_body()));
        return Err(format!("The token endpoint refused the code: {}", oauth_error(&response)));
    }
    let token: TokenResponse =
        serde_json::from_str(&response.body).map_err(|e| format!("The token response is malformed: {e}"))?;
    if !token.is_bearer() {
        return Err(format!(
            "The token endpoint issued a {:?} token; only Bearer is supported.",
            token.token_type
        ));
    }
    // Show the response with the token itself replaced by its decoded contents.
    let decoded = decode_unverified(token.access_token.secret())
        .map(|jwt| {
            format!(
                "header: {}\nclaims: {}",
                serde_json::to_string_pretty(&jwt.header).unwrap_or_default(),
                serde_json::to_string_pretty(&jwt.claims).unwrap_or_default()
            )
        })
        .unwrap_or_else(|_| "(opaque token)".into());
    app.push(response.step(title, rule, Outcome::Ok).detail(format!(
        "token_type: {}\nexpires_in: {}\nscope: {}\naccess_token (decoded, not verified by the client):\n{decoded}",
        token.token_type,
        token.expires_in.map_or("(not given)".into(), |s| format!("{s} s")),
        token.scope.as_deref().unwrap_or("(not given)"),
    )));

    let scopes = token.scope.as_deref().and_then(|s| Scopes::parse(s).ok()).unwrap_or_default();
    app.session.set(Some(TokenSession {
        access_token: token.access_token,
        resource: pending.resource.clone(),
        scopes,
        expires_at_ms: token.expires_in.map(|s| js_now_ms() + (s as f64) * 1000.0),
    }));
    app.endpoint.set(pending.endpoint.clone());
    app.text.set(pending.text.clone());

    match call(app, &pending.endpoint, &pending.text, false).await? {
        Called::Echoed(echo) => Ok(echo),
        Called::Redirecting => Err("unexpected second authorization".into()),
    }
}

/// `error: description` of an OAuth error body, or the raw status.
fn oauth_error(response: &Exchange) -> String {
    serde_json::from_str::<ErrorResponse>(&response.body)
        .map(|e| e.to_string())
        .unwrap_or_else(|_| format!("HTTP {}", response.status))
}

fn js_now_ms() -> f64 {
    js_sys::Date::now()
}
