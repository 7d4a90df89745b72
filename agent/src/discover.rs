//! Discovery, driven over HTTP: the protocol crate's [`Discovery`] state machine decides which URL
//! comes next and what is acceptable; this module only fetches.

use protocol::challenge::BearerChallenge;
use protocol::discovery::{Discovered, Discovery, Step};

use crate::error::{AgentError, Result};
use crate::http::Http;
use crate::output::Progress;

/// From the challenge of a `401`/`403` on `request_url` to validated metadata.
pub async fn discover(
    http: &Http,
    progress: &Progress,
    request_url: &str,
    challenge: &BearerChallenge,
) -> Result<Discovered> {
    let (mut discovery, mut step) = Discovery::start(request_url, challenge);
    loop {
        match step {
            Step::Fetch { url, .. } => {
                progress.detail(format!("GET {url}"));
                step = match http.get_json(&url).await {
                    Ok(answer) => discovery.on_response(answer.status, &answer.body),
                    Err(AgentError::Unreachable { .. }) => discovery.on_unreachable(),
                    Err(other) => return Err(other),
                };
            }
            Step::Done(found) => {
                progress
                    .detail(format!("resource {} is protected by {}", found.resource.resource, found.issuer));
                return Ok(*found);
            }
            Step::Failed(error) => return Err(error.into()),
        }
    }
}
