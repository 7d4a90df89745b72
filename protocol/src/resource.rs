//! Rules about URLs: resource indicators (RFC 8707), issuers (RFC 8414 §2), redirect URIs
//! (OAuth 2.1 §2.3.1, RFC 8252 §7.3) and which resource a metadata document may speak for.
//!
//! All functions keep the caller's string as it was: an issuer or resource identifier is compared
//! byte for byte, and `url::Url` would silently add a trailing `/` to `http://localhost:9090`.

use url::Url;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRuleError {
    #[error("{0:?} is not an absolute URL")]
    NotAbsolute(String),
    #[error("{0:?} must not contain a fragment")]
    Fragment(String),
    #[error("{0:?} must not contain a query")]
    Query(String),
    #[error("{0:?} must use https (plain http is allowed only for loopback hosts)")]
    InsecureScheme(String),
    #[error("{0:?} must not contain user information")]
    UserInfo(String),
    #[error("{0:?} must be written in normal form ({1:?})")]
    NotNormalForm(String, String),
}

/// A resource indicator as the server compares it: `https://host[:port]/` (an empty path written as
/// `/`, RFC 3986 §6.2.3) is the same resource as `https://host[:port]`, which MCP asks clients to
/// use (some SDKs send the slash anyway). Any other path, and anything that is not an http(s) URL,
/// is compared as it is.
pub fn canonical_resource(value: &str) -> &str {
    match value.strip_suffix('/') {
        Some(base)
            if !base.ends_with('/')
                && Url::parse(value).is_ok_and(|url| {
                    matches!(url.scheme(), "http" | "https")
                        && url.path() == "/"
                        && url.query().is_none()
                        && url.fragment().is_none()
                }) =>
        {
            base
        }
        _ => value,
    }
}

/// `localhost`, `127.0.0.0/8` and `[::1]`: hosts that never leave the machine, where plain http
/// is acceptable (OAuth 2.1 §1.5, RFC 8252 §8.3).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn parse_absolute(value: &str) -> Result<Url, UrlRuleError> {
    let url = Url::parse(value).map_err(|_| UrlRuleError::NotAbsolute(value.to_owned()))?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(UrlRuleError::NotAbsolute(value.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRuleError::UserInfo(value.to_owned()));
    }
    if url.fragment().is_some() || value.contains('#') {
        return Err(UrlRuleError::Fragment(value.to_owned()));
    }
    Ok(url)
}

fn require_https_or_loopback(url: &Url, value: &str) -> Result<(), UrlRuleError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => Err(UrlRuleError::InsecureScheme(value.to_owned())),
    }
}

/// An authorization server issuer identifier: https (or loopback http), no query, no fragment
/// (RFC 8414 §2).
pub fn check_issuer(value: &str) -> Result<Url, UrlRuleError> {
    let url = parse_absolute(value)?;
    if url.query().is_some() {
        return Err(UrlRuleError::Query(value.to_owned()));
    }
    require_https_or_loopback(&url, value)?;
    Ok(url)
}

/// A resource indicator: an absolute URI without a fragment (RFC 8707 §2). The MCP spec adds
/// that it is the canonical URI of the MCP server, so https or loopback http.
pub fn check_resource(value: &str) -> Result<Url, UrlRuleError> {
    let url = parse_absolute(value)?;
    require_https_or_loopback(&url, value)?;
    Ok(url)
}

/// A redirect URI a client may register: absolute, no fragment, https or loopback http (OAuth 2.1
/// §2.3.1). Custom schemes for native apps are out of scope for a browser-based reference.
///
/// And in normal form: exactly as `url::Url` (the WHATWG parser browsers use) writes it back.
/// The authorization server compares the registered string byte for byte, but the browser goes to
/// the parsed URL; if the two differ, what was approved is not where the user lands. The parser
/// silently drops tabs and line breaks, turns `\` into `/`, resolves `..` and `%2e%2e`, and
/// percent-encodes spaces, control and non-ASCII characters: each of those is refused here
/// instead. Only the `/` that the parser adds to an empty path is tolerated.
pub fn check_redirect_uri(value: &str) -> Result<Url, UrlRuleError> {
    let url = parse_absolute(value)?;
    require_https_or_loopback(&url, value)?;
    let normal = url.as_str();
    let same = normal == value || (url.path() == "/" && normal.strip_suffix('/') == Some(value));
    if !same {
        return Err(UrlRuleError::NotNormalForm(value.to_owned(), normal.to_owned()));
    }
    Ok(url)
}

/// May protected resource metadata that names `resource` speak for a request to `request_url`?
///
/// RFC 9728 §3.3 asks for exact equality, which no server can satisfy for `GET /echo?text=hi`;
/// draft-mcguinness-oauth-rfc9728bis and the MCP SDKs relax it to: same origin, and the resource
/// path is a prefix of the request path on a segment boundary. That is the rule used here.
pub fn resource_covers(resource: &str, request_url: &str) -> bool {
    let (Ok(resource), Ok(request)) = (Url::parse(resource), Url::parse(request_url)) else {
        return false;
    };
    if resource.origin() != request.origin() || resource.query().is_some() {
        return false;
    }
    let prefix = resource.path().trim_end_matches('/');
    let path = request.path();
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_resource_is_the_same_with_or_without_its_slash_and_nothing_else_changes() {
        assert_eq!(canonical_resource("http://localhost:9090/"), "http://localhost:9090");
        assert_eq!(canonical_resource("https://mcp.example/"), "https://mcp.example");
        assert_eq!(canonical_resource("https://mcp.example"), "https://mcp.example");
        for kept in
            ["https://mcp.example/mcp/", "https://mcp.example/?q=1", "https://mcp.example//", "urn:x:/", "/"]
        {
            assert_eq!(canonical_resource(kept), kept);
        }
    }

    #[test]
    fn issuers_must_be_https_or_loopback_without_query_or_fragment() {
        assert!(check_issuer("https://as.example.com").is_ok());
        assert!(check_issuer("https://as.example.com/tenant").is_ok());
        assert!(check_issuer("http://localhost:9000").is_ok());
        assert!(check_issuer("http://127.0.0.1:9000").is_ok());
        assert!(check_issuer("http://[::1]:9000").is_ok());
        assert!(matches!(check_issuer("http://as.example.com"), Err(UrlRuleError::InsecureScheme(_))));
        assert!(matches!(check_issuer("https://as.example.com?x=1"), Err(UrlRuleError::Query(_))));
        assert!(matches!(check_issuer("https://as.example.com#f"), Err(UrlRuleError::Fragment(_))));
        assert!(matches!(check_issuer("/relative"), Err(UrlRuleError::NotAbsolute(_))));
    }

    #[test]
    fn redirect_uris_refuse_fragments_userinfo_and_remote_http() {
        assert!(check_redirect_uri("http://localhost:8080/callback").is_ok());
        assert!(check_redirect_uri("https://app.example.com/cb?x=1").is_ok());
        assert!(matches!(
            check_redirect_uri("http://app.example.com/cb"),
            Err(UrlRuleError::InsecureScheme(_))
        ));
        assert!(matches!(check_redirect_uri("https://app.example.com/cb#x"), Err(UrlRuleError::Fragment(_))));
        assert!(matches!(
            check_redirect_uri("https://u:p@app.example.com/cb"),
            Err(UrlRuleError::UserInfo(_))
        ));
        assert!(matches!(check_redirect_uri("javascript:alert(1)"), Err(UrlRuleError::NotAbsolute(_))));
        // A host that merely starts with "localhost" is not loopback.
        assert!(check_redirect_uri("http://localhost.evil.example/cb").is_err());
    }

    #[test]
    fn redirect_uris_must_be_what_the_browser_would_be_sent_to() {
        assert!(check_redirect_uri("http://localhost:8080").is_ok(), "the parser's trailing / is fine");
        assert!(check_redirect_uri("https://xn--80ak6aa92e.com/cb").is_ok(), "punycode is ASCII");
        for different in [
            "https://app.example.com/cb/../admin",
            "https://app.example.com/cb/%2e%2e/admin",
            "https://good.example\\@evil.example/cb",
            "https://app.example.com/c\r\nb",
            "https://app.example.com/c\tb",
            "https://app.example.com/a b",
            "https://app.example.com/\u{0}",
            "https://app.example.com/ｃｂ",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
        ] {
            assert!(
                matches!(check_redirect_uri(different), Err(UrlRuleError::NotNormalForm(..))),
                "{different:?}"
            );
        }
        // Hosts in full-width or other non-ASCII letters do not parse at all (see idna_adapter).
        assert!(check_redirect_uri("https://ｅｖｉｌ.example/cb").is_err());
        assert!(check_redirect_uri("https://аpple.com/cb").is_err());
    }

    #[test]
    fn resource_covers_requests_below_it_on_the_same_origin() {
        assert!(resource_covers("http://localhost:9090", "http://localhost:9090/echo?text=hi"));
        assert!(resource_covers("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"));
        assert!(resource_covers("https://mcp.example.com/mcp/", "https://mcp.example.com/mcp/tools"));
        assert!(!resource_covers("https://mcp.example.com/mcp", "https://mcp.example.com/mcpx"));
        assert!(!resource_covers("https://mcp.example.com/mcp", "https://mcp.example.com/other"));
        assert!(!resource_covers("http://localhost:9090", "http://localhost:9091/echo"));
        assert!(!resource_covers("https://evil.example", "https://mcp.example.com/mcp"));
    }

    #[test]
    fn hosts_mixing_capitals_and_non_ascii_are_refused_without_panicking() {
        // Found by the `discovery` fuzz target: idna_adapter 1.0.0's `debug_assert!` used to
        // panic debug builds here (see the root Cargo.toml); the host must simply be refused.
        for url in ["http://Aé.example/", "https://A%C3%A9.example/mcp", "http://l0cUUUU\u{aa}UU/"] {
            assert!(check_issuer(url).is_err(), "{url}");
            assert!(check_redirect_uri(url).is_err(), "{url}");
            assert!(!resource_covers(url, url), "{url}");
        }
    }
}
