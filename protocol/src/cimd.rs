//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP authorization
//! 2025-11-25): the checks an authorization server applies to a client id that is a URL, and to
//! the document fetched from it.
//!
//! Only the pure checks are here. Fetching (SSRF fencing, address checks, timeouts, size limits,
//! caching) is the authorization server's business.

use url::Url;

use crate::registration::{self, ClientIdMetadataDocument, ClientMetadata};
use crate::resource::is_loopback;

/// Why a metadata document client id, or its document, cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the client id is not an acceptable metadata document URL: {0}")]
    BadUrl(String),
    #[error("the client metadata document is not valid: {0}")]
    Invalid(String),
}

/// Does this client id ask for metadata document handling?
pub fn is_metadata_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The draft's rules for the URL: https (or, with `allow_loopback`, loopback http for
/// development), a path, no fragment, no credentials, no dot segments.
pub fn check_client_id_url(client_id: &str, allow_loopback: bool) -> Result<Url, DocumentError> {
    let bad = |why: &str| DocumentError::BadUrl(why.to_owned());
    let url = Url::parse(client_id).map_err(|e| DocumentError::BadUrl(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && is_loopback(&url) => {}
        "http" => return Err(bad("it must use https")),
        _ => return Err(bad("it must be an https URL")),
    }
    if url.fragment().is_some() || client_id.contains('#') {
        return Err(bad("it must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain credentials"));
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err(bad("it must have a path"));
    }
    // `Url` resolves dot segments; a client id that was not already normalised is refused rather
    // than silently compared as something else.
    if url.as_str() != client_id {
        return Err(bad("it must be in normal form (no dot segments, lowercase scheme and host)"));
    }
    Ok(url)
}

/// Checks a document fetched from `client_id` against that URL and the registration rules
/// ([`registration::validate`]), returning the metadata as the AS stores it.
pub fn validate_document(
    client_id: &str,
    document: ClientIdMetadataDocument,
) -> Result<ClientMetadata, DocumentError> {
    if document.client_id != client_id {
        return Err(DocumentError::Invalid(format!(
            "its client_id is {:?}, not the URL it was fetched from",
            document.client_id
        )));
    }
    if document.metadata.redirect_uris.is_empty() {
        return Err(DocumentError::Invalid("it lists no redirect_uris".into()));
    }
    registration::validate(document.metadata)
        .map_err(|(code, description)| DocumentError::Invalid(format!("{code}: {description}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_urls_must_be_https_with_a_path_and_in_normal_form() {
        assert!(check_client_id_url("https://app.example/client.json", false).is_ok());
        for bad in [
            "http://app.example/client.json",
            "https://app.example",
            "https://app.example/",
            "https://app.example/a#frag",
            "https://user:pw@app.example/client.json",
            "https://app.example/a/../client.json",
            "https://APP.example/client.json",
            "ftp://app.example/client.json",
            "http://localhost:8080/client-metadata.json",
        ] {
            assert!(check_client_id_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_client_id_url("http://localhost:8080/client-metadata.json", true).is_ok());
        assert!(check_client_id_url("http://app.example/client.json", true).is_err(), "only loopback http");
    }

    #[test]
    fn url_client_ids_are_the_ones_with_an_http_scheme() {
        assert!(is_metadata_document_url("https://app.example/client.json"));
        assert!(is_metadata_document_url("http://localhost/c.json"));
        assert!(!is_metadata_document_url("my-app"));
        assert!(!is_metadata_document_url("HTTPS://app.example/client.json"));
    }

    #[test]
    fn the_document_must_name_its_own_url_and_valid_redirects() {
        let doc = |client_id: &str, uris: &[&str]| ClientIdMetadataDocument {
            client_id: client_id.into(),
            metadata: ClientMetadata {
                redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
                client_name: Some("App".into()),
                ..Default::default()
            },
        };
        let id = "https://app.example/client.json";
        assert!(validate_document(id, doc(id, &["https://app.example/cb"])).is_ok());
        assert!(
            validate_document(id, doc("https://evil.example/client.json", &["https://app.example/cb"]))
                .is_err()
        );
        assert!(validate_document(id, doc(id, &[])).is_err());
        assert!(validate_document(id, doc(id, &["http://app.example/cb"])).is_err());
    }
}
