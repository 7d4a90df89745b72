//! Metadata documents and where to find them: OAuth 2.0 Authorization Server Metadata (RFC 8414),
//! OAuth 2.0 Protected Resource Metadata (RFC 9728), and the discovery order of the MCP
//! authorization spec.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::pkce::S256;
use crate::resource::{UrlRuleError, check_issuer, check_resource, resource_covers};

/// RFC 8414 §2, plus the fields of RFC 9207, OpenID Connect Discovery and Client ID Metadata
/// Documents that MCP clients look at. Unknown fields of foreign servers are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationServerMetadata {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_modes_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// RFC 7636 §6.2. MCP clients must refuse an AS that omits it or lacks `S256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207 §3: the AS puts `iss` in every authorization response.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
    /// draft-ietf-oauth-client-id-metadata-document: `client_id` may be a URL to a metadata document.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_id_metadata_document_supported: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
    /// OpenID Connect Discovery requires these two; served so that OIDC-only clients accept the
    /// document at `/.well-known/openid-configuration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_types_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// RFC 8414 §2: the JWS algorithms of `private_key_jwt` client assertions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// OpenID CIBA Core §4: where a confidential client asks for an out-of-band approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_authentication_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_token_delivery_modes_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_user_code_parameter_supported: Option<bool>,
    /// RFC 9396 §10: the `authorization_details` types this server understands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details_types_supported: Option<Vec<String>>,
}

/// What makes a metadata document unusable for an MCP client. Each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error(
        "`issuer` is {found:?} but the metadata was looked up for {expected:?}; they must be identical (RFC 8414 §3.3)"
    )]
    IssuerMismatch { expected: String, found: String },
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`code_challenge_methods_supported` does not include S256, so PKCE cannot be used safely")]
    NoS256,
    #[error("`response_types_supported` does not include \"code\"")]
    NoCodeResponseType,
    #[error("`resource` is {found:?}, which does not cover the requested URL {requested:?} (RFC 9728 §3.3)")]
    ResourceMismatch { requested: String, found: String },
    #[error("`authorization_servers` is empty")]
    NoAuthorizationServers,
    #[error("`{field}` is not acceptable: {reason}")]
    BadUrl { field: &'static str, reason: UrlRuleError },
}

impl AuthorizationServerMetadata {
    /// Checks a document fetched for `issuer` before a client trusts any endpoint in it.
    pub fn validate_for_issuer(&self, issuer: &str) -> Result<(), MetadataError> {
        if self.issuer != issuer {
            return Err(MetadataError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: self.issuer.clone(),
            });
        }
        check_issuer(&self.issuer).map_err(|reason| MetadataError::BadUrl { field: "issuer", reason })?;
        if self.authorization_endpoint.is_none() {
            return Err(MetadataError::Missing("authorization_endpoint"));
        }
        if self.token_endpoint.is_none() {
            return Err(MetadataError::Missing("token_endpoint"));
        }
        self.check_endpoints()?;
        if !self.response_types_supported.iter().any(|t| t == "code") {
            return Err(MetadataError::NoCodeResponseType);
        }
        match &self.code_challenge_methods_supported {
            None => Err(MetadataError::Missing("code_challenge_methods_supported")),
            Some(methods) if !methods.iter().any(|m| m == S256) => Err(MetadataError::NoS256),
            Some(_) => Ok(()),
        }
    }

    /// Every endpoint a client may send a person or a request to: https, or http on a loopback
    /// host only (the issuer's rule: OAuth 2.1 §1.5, RFC 8414 §2), no fragment, no user
    /// information. The document comes from a server that the MCP server named; unchecked, an
    /// `authorization_endpoint` of `file:` or a custom scheme would go to the desktop's URL
    /// opener, and a plain-http token endpoint would carry codes and secrets in the clear.
    fn check_endpoints(&self) -> Result<(), MetadataError> {
        let endpoints = [
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("registration_endpoint", &self.registration_endpoint),
            ("revocation_endpoint", &self.revocation_endpoint),
            ("introspection_endpoint", &self.introspection_endpoint),
            ("backchannel_authentication_endpoint", &self.backchannel_authentication_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ];
        for (field, value) in endpoints {
            if let Some(value) = value {
                // A resource indicator's rule is exactly an endpoint's: absolute, https or
                // loopback http, no fragment; a query is allowed (RFC 6749 §3.1, §3.2).
                check_resource(value).map_err(|reason| MetadataError::BadUrl { field, reason })?;
            }
        }
        Ok(())
    }
}

/// RFC 9728 §2.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    pub resource: String,
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_methods_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_signing_alg_values_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

impl ProtectedResourceMetadata {
    /// Checks a document before the client follows it to an authorization server: it must speak
    /// for the URL the client was calling, and name at least one authorization server.
    pub fn validate_for_request(&self, request_url: &str) -> Result<(), MetadataError> {
        if !resource_covers(&self.resource, request_url) {
            return Err(MetadataError::ResourceMismatch {
                requested: request_url.to_owned(),
                found: self.resource.clone(),
            });
        }
        let first = self.authorization_servers.first().ok_or(MetadataError::NoAuthorizationServers)?;
        check_issuer(first)
            .map_err(|reason| MetadataError::BadUrl { field: "authorization_servers[0]", reason })?;
        Ok(())
    }
}

/// The well-known suffix of RFC 9728 §3.
pub const PROTECTED_RESOURCE_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";
/// The well-known suffix of RFC 8414 §3.
pub const AUTHORIZATION_SERVER_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
/// The well-known suffix of OpenID Connect Discovery 1.0 §4.
pub const OPENID_CONFIGURATION_WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// Splits a URL into its origin (`scheme://host[:port]`) and its path without a trailing slash.
fn origin_and_path(url: &Url) -> (String, String) {
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/').to_owned();
    (origin, path)
}

/// Where a protected resource publishes its own metadata (RFC 9728 §3.1): the well-known suffix
/// inserted between the host and the path of its resource identifier. What its `401`s name as
/// `resource_metadata`: for `https://mcp.example/mcp`,
/// `https://mcp.example/.well-known/oauth-protected-resource/mcp`.
pub fn protected_resource_metadata_url(resource: &Url) -> String {
    let (origin, path) = origin_and_path(resource);
    format!("{origin}{PROTECTED_RESOURCE_WELL_KNOWN}{path}")
}

/// The paths a server with the resource identifier `resource` serves its metadata at: its own
/// ([`protected_resource_metadata_url`]), the root, and the path-inserted form for an MCP endpoint
/// at `/mcp`, which clients try first when a `401` names no metadata (MCP authorization,
/// "Protected Resource Metadata Discovery"). Each only once.
pub fn protected_resource_metadata_paths(resource: &Url) -> Vec<String> {
    let (_, path) = origin_and_path(resource);
    let mut paths =
        vec![PROTECTED_RESOURCE_WELL_KNOWN.to_owned(), format!("{PROTECTED_RESOURCE_WELL_KNOWN}/mcp")];
    let own = format!("{PROTECTED_RESOURCE_WELL_KNOWN}{path}");
    if !paths.contains(&own) {
        paths.push(own);
    }
    paths
}

/// Where to look for protected resource metadata when the `401` carried no `resource_metadata`
/// (MCP spec): the path-inserted form first, then the root.
pub fn protected_resource_metadata_urls(server_url: &Url) -> Vec<String> {
    let (origin, path) = origin_and_path(server_url);
    let mut urls = Vec::new();
    if !path.is_empty() {
        urls.push(format!("{origin}{PROTECTED_RESOURCE_WELL_KNOWN}{path}"));
    }
    urls.push(format!("{origin}{PROTECTED_RESOURCE_WELL_KNOWN}"));
    urls
}

/// Where to look for authorization server metadata for `issuer`, in the order the MCP spec gives:
/// with a path, RFC 8414 path-inserted, OIDC path-inserted, OIDC path-appended; without one,
/// RFC 8414 then OIDC.
pub fn authorization_server_metadata_urls(issuer: &Url) -> Vec<String> {
    let (origin, path) = origin_and_path(issuer);
    if path.is_empty() {
        vec![
            format!("{origin}{AUTHORIZATION_SERVER_WELL_KNOWN}"),
            format!("{origin}{OPENID_CONFIGURATION_WELL_KNOWN}"),
        ]
    } else {
        vec![
            format!("{origin}{AUTHORIZATION_SERVER_WELL_KNOWN}{path}"),
            format!("{origin}{OPENID_CONFIGURATION_WELL_KNOWN}{path}"),
            format!("{origin}{path}{OPENID_CONFIGURATION_WELL_KNOWN}"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good_as_metadata() -> AuthorizationServerMetadata {
        AuthorizationServerMetadata {
            issuer: "https://server.example.com".into(),
            authorization_endpoint: Some("https://server.example.com/authorize".into()),
            token_endpoint: Some("https://server.example.com/token".into()),
            response_types_supported: vec!["code".into()],
            code_challenge_methods_supported: Some(vec!["S256".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn parses_the_rfc_8414_example() {
        let body = r#"{
          "issuer": "https://server.example.com",
          "authorization_endpoint": "https://server.example.com/authorize",
          "token_endpoint": "https://server.example.com/token",
          "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
          "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
          "userinfo_endpoint": "https://server.example.com/userinfo",
          "jwks_uri": "https://server.example.com/jwks.json",
          "registration_endpoint": "https://server.example.com/register",
          "scopes_supported": ["openid", "profile", "email", "address", "phone", "offline_access"],
          "response_types_supported": ["code", "code token"],
          "service_documentation": "http://server.example.com/service_documentation.html",
          "ui_locales_supported": ["en-US", "en-GB", "en-CA", "fr-FR", "fr-CA"]
        }"#;
        let metadata: AuthorizationServerMetadata = serde_json::from_str(body).unwrap();
        assert_eq!(metadata.jwks_uri.as_deref(), Some("https://server.example.com/jwks.json"));
        // The RFC's example predates PKCE discovery, which MCP clients must insist on.
        assert_eq!(
            metadata.validate_for_issuer("https://server.example.com"),
            Err(MetadataError::Missing("code_challenge_methods_supported"))
        );
    }

    #[test]
    fn issuer_must_match_byte_for_byte() {
        let metadata = good_as_metadata();
        assert_eq!(metadata.validate_for_issuer("https://server.example.com"), Ok(()));
        assert!(matches!(
            metadata.validate_for_issuer("https://server.example.com/"),
            Err(MetadataError::IssuerMismatch { .. })
        ));
    }

    #[test]
    fn endpoints_must_be_https_or_loopback_http() {
        let issuer = "https://server.example.com";
        for bad in ["file:///x", "vscode://x/authorize", "http://as.example/authorize", "javascript:alert(1)"]
        {
            let mut metadata = good_as_metadata();
            metadata.authorization_endpoint = Some(bad.into());
            assert!(
                matches!(
                    metadata.validate_for_issuer(issuer),
                    Err(MetadataError::BadUrl { field: "authorization_endpoint", .. })
                ),
                "{bad}"
            );
        }
        let mut metadata = good_as_metadata();
        metadata.token_endpoint = Some("http://server.example.com/token".into());
        assert!(matches!(
            metadata.validate_for_issuer(issuer),
            Err(MetadataError::BadUrl { field: "token_endpoint", .. })
        ));
        for (field, set) in [
            (
                "registration_endpoint",
                (|m, v| m.registration_endpoint = v) as fn(&mut AuthorizationServerMetadata, Option<String>),
            ),
            ("revocation_endpoint", |m, v| m.revocation_endpoint = v),
            ("introspection_endpoint", |m, v| m.introspection_endpoint = v),
            ("jwks_uri", |m, v| m.jwks_uri = v),
        ] {
            let mut metadata = good_as_metadata();
            set(&mut metadata, Some("ftp://server.example.com/x".into()));
            assert!(
                matches!(metadata.validate_for_issuer(issuer), Err(MetadataError::BadUrl { field: f, .. }) if f == field),
                "{field}"
            );
        }
        // Loopback http, and a query, are fine.
        let mut metadata = good_as_metadata();
        metadata.issuer = "http://localhost:9000".into();
        metadata.authorization_endpoint = Some("http://127.0.0.1:9000/authorize?tenant=a".into());
        metadata.token_endpoint = Some("http://localhost:9000/token".into());
        assert_eq!(metadata.validate_for_issuer("http://localhost:9000"), Ok(()));
    }

    #[test]
    fn refuses_an_authorization_server_without_s256() {
        let mut metadata = good_as_metadata();
        metadata.code_challenge_methods_supported = Some(vec!["plain".into()]);
        assert_eq!(metadata.validate_for_issuer("https://server.example.com"), Err(MetadataError::NoS256));
    }

    #[test]
    fn parses_the_rfc_9728_example_and_checks_the_resource() {
        let body = r#"{
          "resource": "https://resource.example.com",
          "authorization_servers": ["https://as1.example.com", "https://as2.example.net"],
          "bearer_methods_supported": ["header", "body"],
          "scopes_supported": ["profile", "email", "phone"],
          "resource_documentation": "https://resource.example.com/resource_documentation.html"
        }"#;
        let metadata: ProtectedResourceMetadata = serde_json::from_str(body).unwrap();
        assert_eq!(metadata.validate_for_request("https://resource.example.com/echo"), Ok(()));
        assert!(matches!(
            metadata.validate_for_request("https://other.example.com/echo"),
            Err(MetadataError::ResourceMismatch { .. })
        ));
    }

    #[test]
    fn builds_discovery_urls_in_the_mcp_spec_order() {
        let with_path = Url::parse("https://auth.example.com/tenant1").unwrap();
        assert_eq!(
            authorization_server_metadata_urls(&with_path),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        let root = Url::parse("http://localhost:9000").unwrap();
        assert_eq!(
            authorization_server_metadata_urls(&root),
            [
                "http://localhost:9000/.well-known/oauth-authorization-server",
                "http://localhost:9000/.well-known/openid-configuration",
            ]
        );
        let mcp = Url::parse("https://mcp.example.com/mcp").unwrap();
        assert_eq!(
            protected_resource_metadata_urls(&mcp),
            [
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ]
        );
    }

    #[test]
    fn a_resource_publishes_its_metadata_at_its_path_inserted_url_and_serves_it_there() {
        const W: &str = PROTECTED_RESOURCE_WELL_KNOWN;
        let url = |s| Url::parse(s).unwrap();
        for (resource, own) in [
            ("http://localhost:9090", format!("http://localhost:9090{W}")),
            ("http://localhost:9090/", format!("http://localhost:9090{W}")),
            ("https://mcp.example/mcp", format!("https://mcp.example{W}/mcp")),
            ("https://mcp.example/tenant/a/mcp/", format!("https://mcp.example{W}/tenant/a/mcp")),
        ] {
            assert_eq!(protected_resource_metadata_url(&url(resource)), own, "{resource}");
            let paths = protected_resource_metadata_paths(&url(resource));
            let own_path = Url::parse(&own).unwrap().path().to_owned();
            assert!(paths.contains(&own_path), "{resource}: {paths:?}");
            assert!(paths.contains(&W.to_owned()) && paths.contains(&format!("{W}/mcp")), "{paths:?}");
            let unique: std::collections::HashSet<_> = paths.iter().collect();
            assert_eq!(unique.len(), paths.len(), "each path once (a router refuses a path twice)");
        }
    }

    #[test]
    fn serializes_without_empty_optional_fields() {
        let json = serde_json::to_value(good_as_metadata()).unwrap();
        assert!(json.get("jwks_uri").is_none());
        assert!(json.get("authorization_response_iss_parameter_supported").is_none());
    }
}
