//! From the challenge to the authorization server: RFC 9728, then RFC 8414, in the MCP spec's
//! order, each document validated before anything in it is used.

use protocol::challenge::BearerChallenge;
use protocol::metadata::{
    AuthorizationServerMetadata, ProtectedResourceMetadata, authorization_server_metadata_urls,
    protected_resource_metadata_urls,
};
use url::Url;

use super::FlowResult;
use crate::http::Outgoing;
use crate::state::AppState;
use crate::timeline::{Outcome, Step};

/// What discovery found.
pub struct Discovered {
    pub resource: ProtectedResourceMetadata,
    pub issuer: String,
    pub server: AuthorizationServerMetadata,
}

pub async fn discover(
    app: AppState,
    request_url: &str,
    challenge: &BearerChallenge,
) -> FlowResult<Discovered> {
    let candidates = match &challenge.resource_metadata {
        Some(url) => vec![url.clone()],
        None => protected_resource_metadata_urls(&Url::parse(request_url).map_err(|e| e.to_string())?),
    };
    let rule = "RFC 9728 §3; MCP: resource_metadata, else path-inserted, else root";
    let resource: ProtectedResourceMetadata =
        fetch_first(app, &candidates, "Fetch the protected resource metadata", rule).await?;
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
    let rule = "RFC 8414 §3, OIDC Discovery; MCP discovery order";
    let server: AuthorizationServerMetadata =
        fetch_first(app, &candidates, "Fetch the authorization server metadata", rule).await?;
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
/// candidate; a document that does not parse is reported.
async fn fetch_first<T: serde::de::DeserializeOwned>(
    app: AppState,
    candidates: &[String],
    title: &str,
    rule: &str,
) -> FlowResult<T> {
    for url in candidates {
        app.gate(title, &format!("GET {url} (no credentials: metadata is public)")).await;
        let response = match Outgoing::get(url).send().await {
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
