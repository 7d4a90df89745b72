//! The authorization server's checks of an authorization request (RFC 6749 §4.1.1, OAuth 2.1
//! §4.1.1, RFC 7636, RFC 8707), on the query parameters as [`crate::form::parse_unique`] read them.
//!
//! Split in two steps because the two kinds of failure must be answered differently:
//! 1. [`check_client_redirect`]: is there a known client and is `redirect_uri` one of its
//!    registered URIs ([`redirect_uri_matches`])? If not, the server must not redirect anywhere
//!    (RFC 9700 §4.1.1: open redirector) and shows an error page.
//! 2. [`validate`]: everything else. Failures are sent back to the now-verified redirect URI (at
//!    once, or by a link the person may follow, as the server trusts the client: RFC 9700 §4.11.2).

use std::collections::HashMap;

use crate::error::ErrorCode;
use crate::pkce::{CodeChallenge, S256};
use crate::scope::Scopes;

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedRequest {
    pub scope: Scopes,
    pub state: Option<String>,
    pub code_challenge: CodeChallenge,
    pub resource: String,
}

/// Step 1: returns the trusted redirect URI, or a message for the error page. `registered` is the
/// client's registered redirect URIs, `None` when no client has the request's `client_id`.
pub fn check_client_redirect<'a>(
    params: &'a HashMap<String, String>,
    registered: Option<&[String]>,
) -> Result<&'a str, &'static str> {
    let registered =
        registered.ok_or("The application that sent you here is not registered with this server.")?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or("The request does not say where to send you back to (redirect_uri is missing).")?;
    if registered.iter().any(|uri| redirect_uri_matches(uri, redirect_uri)) {
        Ok(redirect_uri)
    } else {
        Err(
            "The address to send you back to is not registered for this application, so this server will not \
             send you there.",
        )
    }
}

/// Step 2: the remaining parameters. `offered_scopes` names the scopes of each resource the AS
/// issues tokens for (`None` for any other resource). Errors carry the OAuth code and a
/// description for the client.
pub fn validate<'r>(
    params: &HashMap<String, String>,
    offered_scopes: impl Fn(&str) -> Option<&'r Scopes>,
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

    let Some(resource) = get("resource").map(crate::resource::canonical_resource) else {
        return fail(
            ErrorCode::InvalidTarget,
            "resource is required: name the MCP server the token is for (RFC 8707)",
        );
    };
    let Some(offered) = offered_scopes(resource) else {
        return fail(
            ErrorCode::InvalidTarget,
            "this authorization server does not issue tokens for that resource",
        );
    };

    let scope = match get("scope").map(Scopes::parse) {
        // RFC 6749 §3.3: without a scope, use a documented default: everything the resource offers.
        None => offered.clone(),
        Some(Ok(scope)) if scope.is_empty() => offered.clone(),
        Some(Ok(scope)) if offered.is_superset(&scope) => scope,
        Some(Ok(_)) => {
            return Err((
                ErrorCode::InvalidScope,
                format!("the resource offers only these scopes: {offered}"),
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

/// Does `candidate` match the `registered` redirect URI? Exact, byte-for-byte comparison (OAuth
/// 2.1 §4.1.1, RFC 9700 §4.1.3): no prefix matching, no normalisation, so an attacker cannot
/// register `…/callback` and use `…/callback/../evil`. The one exception is the port of a loopback
/// IP redirect URI (below).
pub fn redirect_uri_matches(registered: &str, candidate: &str) -> bool {
    registered == candidate || same_but_loopback_port(registered, candidate)
}

/// `http://127.0.0.1[:port]rest` → (`127.0.0.1`, `rest`); likewise `[::1]`. `None` for anything
/// else, `localhost` included (RFC 8252 §8.3 recommends the IP literal).
fn split_loopback(uri: &str) -> Option<(&str, &str)> {
    let after_scheme = uri.strip_prefix("http://")?;
    let end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']')?;
        let (host, after) = authority.split_at(close + 2);
        if !(after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        {
            return None;
        }
        host
    } else {
        let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
        if !port.bytes().all(|b| b.is_ascii_digit()) || authority.ends_with(':') {
            return None;
        }
        host
    };
    matches!(host, "127.0.0.1" | "[::1]").then_some((host, rest))
}

/// RFC 8252 §7.3, OAuth 2.1 §8.4.2: a native app listening on a loopback IP address gets a port
/// from the OS at run time, so for `http://127.0.0.1` and `http://[::1]` redirect URIs the port may
/// differ from the registered one. Everything else (scheme, host literal, path, query) must still
/// be byte-identical.
fn same_but_loopback_port(registered: &str, candidate: &str) -> bool {
    match (split_loopback(registered), split_loopback(candidate)) {
        (Some(registered), Some(candidate)) => registered == candidate,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const RESOURCE: &str = "http://localhost:9090";

    fn registered() -> Vec<String> {
        vec!["http://localhost:8080/callback".into()]
    }

    fn offered() -> Scopes {
        Scopes::parse("echo profile").unwrap()
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
            ("resource", RESOURCE),
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

    fn check(params: &HashMap<String, String>) -> Result<ValidatedRequest, (ErrorCode, String)> {
        let offered = offered();
        validate(params, |resource| (resource == RESOURCE).then_some(&offered))
    }

    fn error_of(overrides: &[(&str, Option<&str>)]) -> ErrorCode {
        check(&params(overrides)).unwrap_err().0
    }

    #[test]
    fn accepts_a_complete_request() {
        let valid = check(&params(&[])).unwrap();
        assert_eq!(valid.scope.to_string(), "echo");
        assert_eq!(valid.resource, "http://localhost:9090");
        assert_eq!(valid.state.as_deref(), Some("s"));
    }

    #[test]
    fn unknown_client_or_unregistered_redirect_uri_is_never_redirected_to() {
        let registered = registered();
        assert!(check_client_redirect(&params(&[]), Some(&registered)).is_ok());
        assert!(check_client_redirect(&params(&[]), None).is_err());
        for bad in [
            "http://localhost:8080/callback/",
            "http://localhost:8080/callback?x=1",
            "http://LOCALHOST:8080/callback",
            "http://localhost:8080/Callback",
            "http://localhost:8081/callback",
        ] {
            assert!(
                check_client_redirect(&params(&[("redirect_uri", Some(bad))]), Some(&registered)).is_err(),
                "{bad}"
            );
        }
        assert!(check_client_redirect(&params(&[("redirect_uri", None)]), Some(&registered)).is_err());
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
        assert_eq!(error_of(&[("resource", Some("http://localhost:9090/mcp"))]), ErrorCode::InvalidTarget);
        assert_eq!(error_of(&[("resource", Some("https://evil.example"))]), ErrorCode::InvalidTarget);
    }

    #[test]
    fn a_root_resource_written_with_its_slash_is_the_same_resource() {
        let valid = check(&params(&[("resource", Some("http://localhost:9090/"))])).unwrap();
        assert_eq!(valid.resource, "http://localhost:9090", "tokens carry the canonical form");
    }

    #[test]
    fn scope_must_be_offered_by_the_resource_and_defaults_to_all_of_it() {
        assert_eq!(error_of(&[("scope", Some("echo admin"))]), ErrorCode::InvalidScope);
        assert_eq!(error_of(&[("scope", Some("bad\"scope"))]), ErrorCode::InvalidScope);
        let defaulted = check(&params(&[("scope", None)])).unwrap();
        assert_eq!(defaulted.scope.to_string(), "echo profile");
    }

    #[test]
    fn loopback_ip_redirects_may_change_port_and_nothing_else() {
        assert!(same_but_loopback_port("http://127.0.0.1/callback", "http://127.0.0.1:51234/callback"));
        assert!(same_but_loopback_port("http://127.0.0.1:8000/callback", "http://127.0.0.1:9/callback"));
        assert!(same_but_loopback_port("http://[::1]/cb?x=1", "http://[::1]:4000/cb?x=1"));
        for (registered, candidate) in [
            ("http://127.0.0.1/callback", "http://127.0.0.1:5000/callback/"),
            ("http://127.0.0.1/callback", "http://127.0.0.1:5000/other"),
            ("http://127.0.0.1/callback", "http://127.0.0.2:5000/callback"),
            ("http://127.0.0.1/callback", "https://127.0.0.1:5000/callback"),
            ("http://localhost/callback", "http://localhost:5000/callback"),
            ("http://127.0.0.1/callback", "http://127.0.0.1.evil.example:5000/callback"),
            ("http://127.0.0.1/callback", "http://127.0.0.1:/callback"),
            ("http://127.0.0.1/callback", "http://127.0.0.1:50x/callback"),
            ("https://app.example/cb", "https://app.example:444/cb"),
        ] {
            assert!(!same_but_loopback_port(registered, candidate), "{registered} vs {candidate}");
            assert!(!redirect_uri_matches(registered, candidate), "{registered} vs {candidate}");
        }
        assert!(redirect_uri_matches("http://[::1]:1/cb", "http://[::1]:2/cb"));
        assert!(redirect_uri_matches("https://app.example/cb", "https://app.example/cb"));
    }
}
