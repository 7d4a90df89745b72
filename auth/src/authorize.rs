//! Validation of authorization requests (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 7636, RFC 8707).
//!
//! Split in two steps because the two kinds of failure must be answered differently:
//! 1. [`check_client_redirect`]: is there a known client and is `redirect_uri` one of its
//!    registered URIs, byte for byte? If not, the server must not redirect anywhere (RFC 9700
//!    §4.1.1: open redirector) and shows an error page.
//! 2. [`validate`]: everything else. Failures are sent back to the now-trusted redirect URI.

use std::collections::HashMap;

use protocol::error::ErrorCode;
use protocol::pkce::{CodeChallenge, S256};
use protocol::scope::Scopes;

use crate::config::ResourceServer;
use crate::store::Client;

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedRequest {
    pub scope: Scopes,
    pub state: Option<String>,
    pub code_challenge: CodeChallenge,
    pub resource: String,
}

/// Step 1: returns the trusted redirect URI, or a message for the error page.
pub fn check_client_redirect<'a>(
    params: &'a HashMap<String, String>,
    client: Option<&Client>,
) -> Result<&'a str, &'static str> {
    let client = client.ok_or("The application that sent you here is not registered with this server.")?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or("The request does not say where to send you back to (redirect_uri is missing).")?;
    if client.has_redirect_uri(redirect_uri) {
        Ok(redirect_uri)
    } else {
        Err(
            "The address to send you back to is not registered for this application, so this server will not \
             send you there.",
        )
    }
}

/// Step 2: the remaining parameters. Errors carry the OAuth code and a description for the client.
pub fn validate(
    params: &HashMap<String, String>,
    resources: &[ResourceServer],
) -> Result<ValidatedRequest, (ErrorCode, String)> {
    let get = |name: &str| params.get(name).map(String::as_str);
    let fail = |code: ErrorCode, description: &str| Err((code, description.to_owned()));

    match get("response_type") {
        None => return fail(ErrorCode::InvalidRequest, "response_type is required"),
        Some("code") => {}
        Some(_) => {
            return fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported (OAuth 2.1 removed the implicit grant)",
            );
        }
    }

    let Some(challenge) = get("code_challenge") else {
        return fail(ErrorCode::InvalidRequest, "code_challenge is required: PKCE is mandatory");
    };
    match get("code_challenge_method") {
        Some(S256) => {}
        None => return fail(ErrorCode::InvalidRequest, "code_challenge_method is required and must be S256"),
        Some(_) => return fail(ErrorCode::InvalidRequest, "code_challenge_method must be S256"),
    }
    let code_challenge = match CodeChallenge::parse(challenge) {
        Ok(challenge) => challenge,
        Err(e) => return Err((ErrorCode::InvalidRequest, format!("code_challenge {e}"))),
    };

    let Some(resource) = get("resource") else {
        return fail(
            ErrorCode::InvalidTarget,
            "resource is required: name the MCP server the token is for (RFC 8707)",
        );
    };
    let Some(server) = resources.iter().find(|r| r.resource == resource) else {
        return fail(
            ErrorCode::InvalidTarget,
            "this authorization server does not issue tokens for that resource",
        );
    };

    let scope = match get("scope").map(Scopes::parse) {
        // RFC 6749 §3.3: without a scope, use a documented default: everything the resource offers.
        None => server.scopes.clone(),
        Some(Ok(scope)) if scope.is_empty() => server.scopes.clone(),
        Some(Ok(scope)) if server.scopes.is_superset(&scope) => scope,
        Some(Ok(_)) => {
            return Err((
                ErrorCode::InvalidScope,
                format!("the resource offers only these scopes: {}", server.scopes),
            ));
        }
        Some(Err(e)) => return Err((ErrorCode::InvalidScope, e.to_string())),
    };

    Ok(ValidatedRequest {
        scope,
        state: get("state").map(str::to_owned),
        code_challenge,
        resource: resource.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Registration;
    use protocol::registration::ClientMetadata;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client() -> Client {
        Client {
            client_id: "c1".into(),
            client_name: Some("Demo".into()),
            redirect_uris: vec!["http://localhost:8080/callback".into()],
            registration: Registration::Dynamic,
            metadata: ClientMetadata::default(),
        }
    }

    fn resources() -> Vec<ResourceServer> {
        vec![ResourceServer {
            resource: "http://localhost:9090".into(),
            scopes: Scopes::parse("echo profile").unwrap(),
        }]
    }

    fn params(overrides: &[(&str, Option<&str>)]) -> HashMap<String, String> {
        let mut params: HashMap<String, String> = [
            ("response_type", "code"),
            ("client_id", "c1"),
            ("redirect_uri", "http://localhost:8080/callback"),
            ("scope", "echo"),
            ("state", "s"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("resource", "http://localhost:9090"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (name, value) in overrides {
            match value {
                Some(value) => params.insert((*name).to_owned(), (*value).to_owned()),
                None => params.remove(*name),
            };
        }
        params
    }

    fn error_of(overrides: &[(&str, Option<&str>)]) -> ErrorCode {
        validate(&params(overrides), &resources()).unwrap_err().0
    }

    #[test]
    fn accepts_a_complete_request() {
        let valid = validate(&params(&[]), &resources()).unwrap();
        assert_eq!(valid.scope.to_string(), "echo");
        assert_eq!(valid.resource, "http://localhost:9090");
        assert_eq!(valid.state.as_deref(), Some("s"));
    }

    #[test]
    fn unknown_client_or_unregistered_redirect_uri_is_never_redirected_to() {
        let client = client();
        assert!(check_client_redirect(&params(&[]), Some(&client)).is_ok());
        assert!(check_client_redirect(&params(&[]), None).is_err());
        for bad in [
            "http://localhost:8080/callback/",
            "http://localhost:8080/callback?x=1",
            "http://LOCALHOST:8080/callback",
            "http://localhost:8080/Callback",
            "http://localhost:8081/callback",
        ] {
            assert!(
                check_client_redirect(&params(&[("redirect_uri", Some(bad))]), Some(&client)).is_err(),
                "{bad}"
            );
        }
        assert!(check_client_redirect(&params(&[("redirect_uri", None)]), Some(&client)).is_err());
    }

    #[test]
    fn only_the_code_response_type_is_supported() {
        assert_eq!(error_of(&[("response_type", Some("token"))]), ErrorCode::UnsupportedResponseType);
        assert_eq!(error_of(&[("response_type", None)]), ErrorCode::InvalidRequest);
    }

    #[test]
    fn pkce_s256_is_required_and_checked() {
        assert_eq!(error_of(&[("code_challenge", None)]), ErrorCode::InvalidRequest);
        assert_eq!(error_of(&[("code_challenge_method", None)]), ErrorCode::InvalidRequest);
        assert_eq!(error_of(&[("code_challenge_method", Some("plain"))]), ErrorCode::InvalidRequest);
        assert_eq!(error_of(&[("code_challenge", Some("too-short"))]), ErrorCode::InvalidRequest);
    }

    #[test]
    fn resource_must_be_known() {
        assert_eq!(error_of(&[("resource", None)]), ErrorCode::InvalidTarget);
        assert_eq!(error_of(&[("resource", Some("http://localhost:9090/"))]), ErrorCode::InvalidTarget);
        assert_eq!(error_of(&[("resource", Some("https://evil.example"))]), ErrorCode::InvalidTarget);
    }

    #[test]
    fn scope_must_be_offered_by_the_resource_and_defaults_to_all_of_it() {
        assert_eq!(error_of(&[("scope", Some("echo admin"))]), ErrorCode::InvalidScope);
        assert_eq!(error_of(&[("scope", Some("bad\"scope"))]), ErrorCode::InvalidScope);
        let defaulted = validate(&params(&[("scope", None)]), &resources()).unwrap();
        assert_eq!(defaulted.scope.to_string(), "echo profile");
    }
}
