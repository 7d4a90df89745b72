//! The metadata documents a client reads before it trusts an endpoint: RFC 8414 authorization
//! server metadata (checked against the issuer it was fetched for) and RFC 9728 protected
//! resource metadata (checked against the URL that was called), with the well-known URLs derived
//! from them; and the other JSON a client reads from an AS: token and error responses.

#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::error::ErrorResponse;
use protocol::metadata::{
    AuthorizationServerMetadata, ProtectedResourceMetadata, authorization_server_metadata_urls,
    protected_resource_metadata_urls,
};
use protocol::token::TokenResponse;
use url::Url;

fuzz_target!(|data: &[u8]| {
    if let Ok(server) = serde_json::from_slice::<AuthorizationServerMetadata>(data) {
        let _ = server.validate_for_issuer("http://localhost:9000");
        if server.validate_for_issuer(&server.issuer).is_ok() {
            let issuer = Url::parse(&server.issuer).expect("a valid issuer is a URL");
            let urls = authorization_server_metadata_urls(&issuer);
            assert!(urls.iter().all(|u| Url::parse(u).is_ok()), "{urls:?}");
        }
    }

    if let Ok(resource) = serde_json::from_slice::<ProtectedResourceMetadata>(data) {
        let _ = resource.validate_for_request("http://localhost:9090/mcp");
        if resource.validate_for_request(&resource.resource).is_ok() {
            assert!(!resource.authorization_servers.is_empty());
        }
        if let Ok(url) = Url::parse(&resource.resource) {
            let _ = protected_resource_metadata_urls(&url);
        }
    }

    if let Ok(token) = serde_json::from_slice::<TokenResponse>(data) {
        let _ = token.is_bearer();
        let _ = token.scope.as_deref().map(protocol::scope::Scopes::parse);
    }
    let _ = serde_json::from_slice::<ErrorResponse>(data);
});
