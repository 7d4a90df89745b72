//! Discovery as a client does it, without I/O: from a `401`'s challenge to the authorization
//! server's validated metadata (MCP authorization spec, RFC 9728, RFC 8414).
//!
//! [`Discovery`] says which URL to fetch next; the caller fetches it however it fetches (the SPA
//! with `fetch()`, the agent with an HTTP client) and reports the answer. Both clients drive this
//! one implementation, so they cannot disagree on the order of the well-known URLs or on what makes
//! a document acceptable.

use std::collections::VecDeque;

use url::Url;

use crate::challenge::BearerChallenge;
use crate::metadata::{
    AuthorizationServerMetadata, MetadataError, ProtectedResourceMetadata,
    authorization_server_metadata_urls, protected_resource_metadata_urls,
};
use crate::scope::Scopes;

/// Which document a fetch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    ProtectedResource,
    AuthorizationServer,
}

/// What discovery needs next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// GET `url` (no credentials: metadata is public) and report the answer.
    Fetch {
        url: String,
        document: Document,
    },
    Done(Box<Discovered>),
    Failed(DiscoveryError),
}

/// What discovery found, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    pub resource: ProtectedResourceMetadata,
    /// `authorization_servers[0]` of the resource metadata, and the metadata's exact `issuer`.
    pub issuer: String,
    pub server: AuthorizationServerMetadata,
}

/// Why discovery stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0} is not a URL")]
    BadUrl(String),
    #[error("no protected resource metadata at {}", tried.join(", "))]
    NoResourceMetadata { tried: Vec<String> },
    #[error("no authorization server metadata at {}", tried.join(", "))]
    NoServerMetadata { tried: Vec<String> },
    #[error("{url} is not valid metadata: {reason}")]
    Unparsable { url: String, reason: String },
    #[error("the protected resource metadata is not usable: {0}")]
    Resource(MetadataError),
    #[error("the authorization server metadata is not usable: {0}")]
    Server(MetadataError),
}

/// The discovery state machine. See the module documentation.
#[derive(Debug, Clone)]
pub struct Discovery {
    request_url: String,
    document: Document,
    candidates: VecDeque<String>,
    tried: Vec<String>,
    current: Option<String>,
    resource: Option<ProtectedResourceMetadata>,
    issuer: String,
}

impl Discovery {
    /// Starts from the URL that answered `401`/`403` and its challenge: `resource_metadata` when
    /// given, else the path-inserted well-known URL, then the root one.
    pub fn start(request_url: &str, challenge: &BearerChallenge) -> (Self, Step) {
        let candidates = match &challenge.resource_metadata {
            Some(url) => VecDeque::from([url.clone()]),
            None => match Url::parse(request_url) {
                Ok(url) => protected_resource_metadata_urls(&url).into(),
                Err(_) => VecDeque::new(),
            },
        };
        let mut discovery = Self {
            request_url: request_url.to_owned(),
            document: Document::ProtectedResource,
            candidates,
            tried: Vec::new(),
            current: None,
            resource: None,
            issuer: String::new(),
        };
        let step = if discovery.candidates.is_empty() {
            Step::Failed(DiscoveryError::BadUrl(request_url.to_owned()))
        } else {
            discovery.next_fetch()
        };
        (discovery, step)
    }

    /// The resource metadata, once accepted (for showing it while the AS metadata is fetched).
    pub fn resource(&self) -> Option<&ProtectedResourceMetadata> {
        self.resource.as_ref()
    }

    /// The issuer being looked up, once known.
    pub fn issuer(&self) -> Option<&str> {
        (!self.issuer.is_empty()).then_some(self.issuer.as_str())
    }

    fn next_fetch(&mut self) -> Step {
        match self.candidates.pop_front() {
            Some(url) => {
                self.current = Some(url.clone());
                Step::Fetch { url, document: self.document }
            }
            None => {
                let tried = std::mem::take(&mut self.tried);
                Step::Failed(match self.document {
                    Document::ProtectedResource => DiscoveryError::NoResourceMetadata { tried },
                    Document::AuthorizationServer => DiscoveryError::NoServerMetadata { tried },
                })
            }
        }
    }

    /// The fetch could not be made (unreachable, refused by CORS): try the next location.
    pub fn on_unreachable(&mut self) -> Step {
        self.tried.extend(self.current.take());
        self.next_fetch()
    }

    /// The answer to the last [`Step::Fetch`]. A non-200 moves on to the next location; a 200
    /// must be the expected document and pass its checks.
    pub fn on_response(&mut self, status: u16, body: &str) -> Step {
        let url = self.current.take().unwrap_or_default();
        self.tried.push(url.clone());
        if status != 200 {
            return self.next_fetch();
        }
        let unparsable = |e: serde_json::Error| {
            Step::Failed(DiscoveryError::Unparsable { url: url.clone(), reason: e.to_string() })
        };
        match self.document {
            Document::ProtectedResource => {
                let resource: ProtectedResourceMetadata = match serde_json::from_str(body) {
                    Ok(resource) => resource,
                    Err(e) => return unparsable(e),
                };
                if let Err(e) = resource.validate_for_request(&self.request_url) {
                    return Step::Failed(DiscoveryError::Resource(e));
                }
                self.issuer = resource.authorization_servers[0].clone();
                self.resource = Some(resource);
                self.document = Document::AuthorizationServer;
                self.tried.clear();
                self.candidates = match Url::parse(&self.issuer) {
                    Ok(issuer) => authorization_server_metadata_urls(&issuer).into(),
                    Err(_) => return Step::Failed(DiscoveryError::BadUrl(self.issuer.clone())),
                };
                self.next_fetch()
            }
            Document::AuthorizationServer => {
                let server: AuthorizationServerMetadata = match serde_json::from_str(body) {
                    Ok(server) => server,
                    Err(e) => return unparsable(e),
                };
                // A document for another issuer is refused outright, not skipped: something
                // answered for the issuer with someone else's metadata (RFC 8414 §3.3).
                if let Err(e) = server.validate_for_issuer(&self.issuer) {
                    return Step::Failed(DiscoveryError::Server(e));
                }
                let resource = self.resource.clone().unwrap_or_default();
                Step::Done(Box::new(Discovered { resource, issuer: self.issuer.clone(), server }))
            }
        }
    }
}

/// The scope to ask for (MCP authorization, scope selection): the challenge's `scope`, else what
/// the resource advertises, else none; for step-up, joined with what the current token has.
pub fn requested_scope(
    challenge: &BearerChallenge,
    resource: &ProtectedResourceMetadata,
    granted: &Scopes,
) -> Option<String> {
    let wanted = match challenge.scopes() {
        Some(scopes) => scopes,
        None => {
            Scopes::from_tokens(resource.scopes_supported.clone().unwrap_or_default()).unwrap_or_default()
        }
    };
    let scope = granted.union(&wanted);
    (!scope.is_empty()).then(|| scope.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MCP: &str = "https://mcp.example.com/mcp";

    fn prm() -> String {
        json!({"resource": "https://mcp.example.com", "authorization_servers": ["https://auth.example.com/tenant"],
               "scopes_supported": ["read", "write"]})
        .to_string()
    }

    fn asm(issuer: &str) -> String {
        json!({"issuer": issuer, "authorization_endpoint": "https://auth.example.com/authorize",
               "token_endpoint": "https://auth.example.com/token", "response_types_supported": ["code"],
               "code_challenge_methods_supported": ["S256"]})
        .to_string()
    }

    fn fetch_url(step: &Step) -> &str {
        match step {
            Step::Fetch { url, .. } => url,
            other => panic!("expected a fetch, got {other:?}"),
        }
    }

    #[test]
    fn follows_the_challenge_then_the_issuer_path_order() {
        let challenge = BearerChallenge {
            resource_metadata: Some("https://mcp.example.com/prm".into()),
            ..Default::default()
        };
        let (mut discovery, step) = Discovery::start(MCP, &challenge);
        assert_eq!(fetch_url(&step), "https://mcp.example.com/prm");
        let step = discovery.on_response(200, &prm());
        assert_eq!(
            fetch_url(&step),
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant"
        );
        let step = discovery.on_response(404, "");
        assert_eq!(fetch_url(&step), "https://auth.example.com/.well-known/openid-configuration/tenant");
        let step = discovery.on_unreachable();
        assert_eq!(fetch_url(&step), "https://auth.example.com/tenant/.well-known/openid-configuration");
        match discovery.on_response(200, &asm("https://auth.example.com/tenant")) {
            Step::Done(found) => assert_eq!(found.issuer, "https://auth.example.com/tenant"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_resource_metadata_in_the_challenge_tries_path_inserted_then_root() {
        let (mut discovery, step) = Discovery::start(MCP, &BearerChallenge::default());
        assert_eq!(fetch_url(&step), "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
        let step = discovery.on_response(404, "");
        assert_eq!(fetch_url(&step), "https://mcp.example.com/.well-known/oauth-protected-resource");
        assert!(
            matches!(discovery.on_response(404, ""), Step::Failed(DiscoveryError::NoResourceMetadata { tried }) if tried.len() == 2)
        );
    }

    /// Found by the `discovery` fuzz target: a punycode label that decodes to U+200F, which
    /// idna 1.1.0 with the pinned adapter does not know as disallowed, tripped a `debug_assert!`
    /// in its bidi check (see the root Cargo.toml). The host is kept in its ASCII form, as in a
    /// release build, and discovery goes on as for any host.
    #[test]
    fn a_punycode_host_the_idna_tables_do_not_know_is_kept_in_ascii_without_panicking() {
        let (_, step) = Discovery::start("http://XN--Oh-Otttthttp/mcp", &BearerChallenge::default());
        assert_eq!(fetch_url(&step), "http://xn--oh-otttthttp/.well-known/oauth-protected-resource/mcp");
        let fuzzed = "http:XN--Oh-Otttthttp://localhost:90COOOOO90/mcp\n--O-OO";
        let (_, step) = Discovery::start(fuzzed, &BearerChallenge::default());
        assert!(fetch_url(&step).starts_with("http://xn--oh-otttthttp/.well-known/"), "{step:?}");
    }

    #[test]
    fn refuses_metadata_for_another_issuer_or_resource() {
        let (mut discovery, _) = Discovery::start(MCP, &BearerChallenge::default());
        discovery.on_response(200, &prm());
        assert!(matches!(
            discovery.on_response(200, &asm("https://auth.example.com/tenant/")),
            Step::Failed(DiscoveryError::Server(MetadataError::IssuerMismatch { .. }))
        ));

        let (mut elsewhere, _) =
            Discovery::start("https://other.example.com/mcp", &BearerChallenge::default());
        assert!(matches!(elsewhere.on_response(200, &prm()), Step::Failed(DiscoveryError::Resource(_))));
        let (mut broken, _) = Discovery::start(MCP, &BearerChallenge::default());
        assert!(matches!(broken.on_response(200, "{"), Step::Failed(DiscoveryError::Unparsable { .. })));
    }

    #[test]
    fn scope_comes_from_the_challenge_else_the_resource_and_joins_what_is_granted() {
        let resource: ProtectedResourceMetadata = serde_json::from_str(&prm()).unwrap();
        let challenge = BearerChallenge { scope: Some("write".into()), ..Default::default() };
        let none = Scopes::default();
        assert_eq!(requested_scope(&challenge, &resource, &none).as_deref(), Some("write"));
        assert_eq!(
            requested_scope(&BearerChallenge::default(), &resource, &none).as_deref(),
            Some("read write")
        );
        let granted = Scopes::parse("admin").unwrap();
        assert_eq!(requested_scope(&challenge, &resource, &granted).as_deref(), Some("admin write"));
        let bare = ProtectedResourceMetadata::default();
        assert_eq!(requested_scope(&BearerChallenge::default(), &bare, &none), None);
    }
}
