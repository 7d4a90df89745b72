//! The discovery state machine both clients drive, fed a `401` and then arbitrary answers.
//!
//! Input, in chunks separated by a line `---`: the URL that was called, its `WWW-Authenticate`
//! value, then one answer per fetch: a status line (`200`, `404`, or `unreachable`) followed by
//! the body. Discovery must end within the answers given plus the URLs it knows, and whatever it
//! accepts must pass the checks it promises.

#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::challenge::BearerChallenge;
use protocol::discovery::{Discovery, Step, requested_scope};
use protocol::scope::Scopes;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut chunks = text.split("\n---\n");
    let request_url = chunks.next().unwrap_or_default();
    let header = chunks.next().unwrap_or_default();
    let Ok(challenge) = BearerChallenge::from_header_values([header]) else { return };
    let challenge = challenge.unwrap_or_default();

    let (mut discovery, mut step) = Discovery::start(request_url, &challenge);
    // At most two protected resource metadata URLs, then three authorization server ones.
    let mut fetches = 0;
    loop {
        match step {
            Step::Fetch { .. } => {
                fetches += 1;
                assert!(fetches <= 5, "discovery keeps fetching");
                step = match chunks.next() {
                    None => discovery.on_unreachable(),
                    Some(answer) => {
                        let (status, body) = answer.split_once('\n').unwrap_or((answer, ""));
                        match status.trim().parse::<u16>() {
                            Ok(status) => discovery.on_response(status, body),
                            Err(_) => discovery.on_unreachable(),
                        }
                    }
                };
            }
            Step::Done(found) => {
                assert_eq!(discovery.issuer(), Some(found.issuer.as_str()));
                found.server.validate_for_issuer(&found.issuer).expect("accepted AS metadata is valid");
                found
                    .resource
                    .validate_for_request(request_url)
                    .expect("accepted resource metadata is valid");
                assert_eq!(found.resource.authorization_servers.first(), Some(&found.issuer));
                let _ = requested_scope(&challenge, &found.resource, &Scopes::default());
                break;
            }
            Step::Failed(error) => {
                let _ = error.to_string();
                break;
            }
        }
    }
});
