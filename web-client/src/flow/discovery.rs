//! From the challenge to the authorization server, driving `protocol::discovery` (the same state
//! machine the agent drives) with `fetch()`, and recording each step in the timeline.

use protocol::challenge::BearerChallenge;
use protocol::discovery::{Discovered, Discovery, DiscoveryError, Document, Step as Next};

use super::FlowResult;
use crate::http::Outgoing;
use crate::state::AppState;
use crate::timeline::{Outcome, Step};

const RULE_RESOURCE: &str = "RFC 9728 §3; MCP: resource_metadata, else path-inserted, else root";
const RULE_SERVER: &str = "RFC 8414 §3, OIDC Discovery; MCP discovery order";

pub async fn discover(
    app: AppState,
    request_url: &str,
    challenge: &BearerChallenge,
) -> FlowResult<Discovered> {
    let (mut discovery, mut next) = Discovery::start(request_url, challenge);
    let mut resource_checked = false;
    loop {
        match next {
            Next::Fetch { url, document } => {
                if document == Document::AuthorizationServer && !resource_checked {
                    resource_checked = true;
                    if let Some(resource) = discovery.resource() {
                        app.push(
                            Step::new("Check the protected resource metadata", "RFC 9728 §3.3", Outcome::Ok)
                                .detail(format!(
                                    "resource {} covers {request_url}\nauthorization server: {}",
                                    resource.resource,
                                    discovery.issuer().unwrap_or_default()
                                )),
                        );
                    }
                }
                let (title, rule) = match document {
                    Document::ProtectedResource => ("Fetch the protected resource metadata", RULE_RESOURCE),
                    Document::AuthorizationServer => ("Fetch the authorization server metadata", RULE_SERVER),
                };
                app.gate(title, &format!("GET {url} (no credentials: metadata is public)")).await?;
                next = match Outgoing::get(&url).send().await {
                    Ok(response) => {
                        let outcome = if response.status == 200 { Outcome::Ok } else { Outcome::Info };
                        let detail = if response.status == 200 {
                            response.pretty_body()
                        } else {
                            "not here; trying the next location".into()
                        };
                        app.push(response.step(title, rule, outcome).detail(detail));
                        discovery.on_response(response.status, &response.body)
                    }
                    Err(e) => {
                        app.push(e.step(title, rule));
                        discovery.on_unreachable()
                    }
                };
            }
            Next::Done(found) => {
                app.push(
                    Step::new("Check the authorization server metadata", "RFC 8414 §3.3, RFC 7636 §4.3", Outcome::Ok)
                        .detail(format!(
                            "issuer is exactly {}\nS256 is supported\nauthorization_endpoint and token_endpoint present",
                            found.issuer
                        )),
                );
                return Ok(*found);
            }
            Next::Failed(error) => {
                let (title, rule) = match &error {
                    DiscoveryError::Resource(_) | DiscoveryError::NoResourceMetadata { .. } => {
                        ("Check the protected resource metadata", "RFC 9728 §3.3")
                    }
                    _ => ("Check the authorization server metadata", "RFC 8414 §3.3, RFC 7636 §4.3"),
                };
                app.push(Step::new(title, rule, Outcome::Error).detail(error.to_string()));
                return Err(format!("Discovery failed: {error}"));
            }
        }
    }
}
