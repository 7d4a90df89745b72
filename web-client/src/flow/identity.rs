//! Which client id to use at an authorization server, in the MCP spec's order of preference:
//! 1. a pre-registered client id the user entered for that issuer;
//! 2. a Client ID Metadata Document: this app's own `client-metadata.json`, when the AS supports
//!    it and the document really describes this origin;
//! 3. RFC 7591 dynamic registration, remembered per issuer.

use protocol::registration::{ClientIdMetadataDocument, ClientInformation, ClientMetadata};
use protocol::token::{GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN};
use serde_json::Value;

use super::FlowResult;
use crate::http::Outgoing;
use crate::state::AppState;
use crate::storage::{self, ClientRegistration};
use crate::timeline::{Outcome, Step};
use protocol::discovery::Discovered;

const RULE: &str = "MCP: pre-registered, else metadata document, else dynamic registration";

/// This app's origin (`http://localhost:8080`).
pub fn origin() -> FlowResult<String> {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .ok_or_else(|| "cannot read this page's origin".into())
}

pub async fn client_id_for(app: AppState, discovered: &Discovered, redirect_uri: &str) -> FlowResult<String> {
    let issuer = &discovered.issuer;
    if let Some(client_id) = storage::preregistered_client(issuer) {
        app.push(
            Step::new("Use the pre-registered client", RULE, Outcome::Ok)
                .detail(format!("client_id {client_id} (entered in the settings for {issuer})")),
        );
        return Ok(client_id);
    }
    if discovered.server.client_id_metadata_document_supported
        && let Some(client_id) = metadata_document(app, redirect_uri).await
    {
        return Ok(client_id);
    }
    if let Some(known) = storage::registered_client(issuer).filter(|c| c.redirect_uri == redirect_uri) {
        app.push(
            Step::new("Reuse this app's registration", RULE, Outcome::Ok)
                .detail(format!("client_id {} (registered with {issuer} before)", known.client_id)),
        );
        return Ok(known.client_id);
    }
    register(app, discovered, redirect_uri).await
}

/// This app's own metadata document, if it names this origin: then its URL is the client id.
async fn metadata_document(app: AppState, redirect_uri: &str) -> Option<String> {
    let client_id = format!("{}/client-metadata.json", origin().ok()?);
    let title = "Use this app's Client ID Metadata Document";
    let rule = "draft-ietf-oauth-client-id-metadata-document; MCP 2025-11-25";
    app.gate(title, &format!("GET {client_id}: the AS advertises client_id_metadata_document_supported, so the URL of this app's own metadata document can be its client id.")).await.ok()?;
    let response = Outgoing::get(&client_id).send().await.ok()?;
    let document = serde_json::from_str::<ClientIdMetadataDocument>(&response.body)
        .ok()
        .filter(|_| response.status == 200);
    match document {
        Some(document)
            if document.client_id == client_id
                && document.metadata.redirect_uris.iter().any(|u| u == redirect_uri) =>
        {
            app.push(response.step(title, rule, Outcome::Ok).detail(format!(
                "client_id is the document's URL: {client_id}\nThe authorization server fetches it and checks that it names itself and this redirect URI.\n{}",
                response.pretty_body()
            )));
            Some(client_id)
        }
        _ => {
            app.push(response.step(title, rule, Outcome::Info).detail(format!(
                "The document at {client_id} does not describe this origin (it is written for another address), so it cannot be used here; registering instead."
            )));
            None
        }
    }
}

/// RFC 7591 registration as a public `web` client, remembered per issuer.
async fn register(app: AppState, discovered: &Discovered, redirect_uri: &str) -> FlowResult<String> {
    let Some(endpoint) = &discovered.server.registration_endpoint else {
        let message = format!(
            "The authorization server {} supports neither metadata documents nor registration, and no client id \
             was entered for it. Enter a pre-registered client id in the settings.",
            discovered.issuer
        );
        app.push(Step::new("Find a client id", RULE, Outcome::Error).detail(message.clone()));
        return Err(message);
    };
    let metadata = ClientMetadata {
        redirect_uris: vec![redirect_uri.to_owned()],
        token_endpoint_auth_method: Some("none".into()),
        grant_types: Some(vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()]),
        response_types: Some(vec!["code".into()]),
        client_name: Some("MCP OAuth web client".into()),
        application_type: Some("web".into()),
        ..Default::default()
    };
    let body = serde_json::to_string(&metadata).map_err(|e| e.to_string())?;
    let title = "Register as a public client";
    let rule = "RFC 7591 §3 (dynamic client registration)";
    app.gate(title, &format!("POST {endpoint}: no client id yet, so this app registers itself, as a public client (no secret: PKCE proves possession instead).")).await?;
    let response = Outgoing::post(endpoint, "application/json", body).send().await.map_err(|e| {
        app.push(e.step(title, rule));
        "The registration endpoint could not be reached.".to_owned()
    })?;
    if response.status != 201 && response.status != 200 {
        app.push(response.step(title, rule, Outcome::Error).detail(without_credentials(&response.body)));
        return Err(format!(
            "Client registration failed with {}: {}",
            response.status,
            super::oauth_error(&response)
        ));
    }
    let info: ClientInformation = serde_json::from_str(&response.body)
        .map_err(|e| format!("The registration response is malformed: {e}"))?;
    app.push(response.step(title, rule, Outcome::Ok).detail(without_credentials(&response.body)));
    // Logged out meanwhile: *Forget* removed the client ids, and this one must not come back.
    app.still_running()?;
    storage::save_registered_client(
        &discovered.issuer,
        &ClientRegistration { client_id: info.client_id.clone(), redirect_uri: redirect_uri.to_owned() },
    )?;
    Ok(info.client_id)
}

/// The members of a registration response that are credentials: a secret this public client never
/// uses (RFC 7591 §3.2.1) and the token for managing the registration (RFC 7592 §3).
const CREDENTIALS: &[&str] = &["client_secret", "registration_access_token"];

/// A registration response for the timeline, with the value of every credential member replaced
/// by a marker: the timeline is on screen and is saved in `sessionStorage` across the redirect,
/// and an authorization server may send credentials even to a public client.
pub(crate) fn without_credentials(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut members)) => {
            for name in CREDENTIALS {
                if let Some(value) = members.get_mut(*name) {
                    *value = Value::String("(a credential: not shown, not kept)".into());
                }
            }
            serde_json::to_string_pretty(&Value::Object(members)).unwrap_or_default()
        }
        Ok(other) => serde_json::to_string_pretty(&other).unwrap_or_default(),
        Err(_) => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Step;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// A foreign authorization server's registration response used to be shown, and saved with the
    /// timeline before the redirect, as it came: with its secret and its management token.
    #[wasm_bindgen_test]
    fn credentials_in_a_registration_response_are_neither_shown_nor_stored() {
        let body = r#"{"client_id":"c-1","client_secret":"s3cr3t-value","registration_access_token":"rat-value",
                      "registration_client_uri":"https://as.example/register/c-1"}"#;
        let shown = without_credentials(body);
        assert!(shown.contains("c-1") && shown.contains("registration_client_uri"), "{shown}");
        storage::save_timeline(&vec![Step::new("Register", "r", Outcome::Ok).detail(shown)]).unwrap();
        let session = web_sys::window().unwrap().session_storage().unwrap().unwrap();
        let saved = session.get_item("mcp-oauth:timeline").unwrap().unwrap_or_default();
        let _ = storage::take_timeline::<Vec<Step>>();
        assert!(saved.contains("c-1"), "{saved}");
        assert!(!saved.contains("s3cr3t-value") && !saved.contains("rat-value"), "{saved}");
        assert_eq!(without_credentials("not json"), "not json");
    }
}
