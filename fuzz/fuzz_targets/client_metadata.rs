//! Client metadata as the AS receives it: an RFC 7591 registration request body, and a Client ID
//! Metadata Document fetched from a client's URL, each parsed and put through the AS's checks; and
//! the registration response as a client reads it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::cimd;
use protocol::registration::{self, ClientIdMetadataDocument, ClientInformation, ClientMetadata};

const DOCUMENT_URL: &str = "https://client.example.com/oauth/metadata.json";

/// What registration accepts, it accepts again unchanged, and stores and echoes losslessly.
fn check_accepted(accepted: &ClientMetadata) {
    assert_eq!(registration::validate(accepted.clone()).as_ref(), Ok(accepted), "validation is idempotent");
    let json = serde_json::to_string(accepted).expect("metadata serializes");
    let back: ClientMetadata = serde_json::from_str(&json).expect("serialized metadata parses");
    assert_eq!(&back, accepted, "metadata JSON round trip");
    assert!(
        !accepted.redirect_uris.is_empty() && accepted.redirect_uris.len() <= registration::MAX_REDIRECT_URIS
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(metadata) = serde_json::from_slice::<ClientMetadata>(data)
        && let Ok(accepted) = registration::validate(metadata)
    {
        check_accepted(&accepted);
    }

    if let Ok(document) = serde_json::from_slice::<ClientIdMetadataDocument>(data) {
        for allow_loopback in [false, true] {
            if let Ok(url) = cimd::check_client_id_url(&document.client_id, allow_loopback) {
                assert_eq!(url.as_str(), document.client_id, "only normalised client ids pass");
                assert!(cimd::is_metadata_document_url(&document.client_id));
            }
        }
        // Fetched from the URL it names, and from somewhere else.
        for fetched_from in [document.client_id.clone(), DOCUMENT_URL.to_owned()] {
            if let Ok(accepted) = cimd::validate_document(&fetched_from, document.clone()) {
                assert_eq!(fetched_from, document.client_id, "a document speaks only for its own URL");
                check_accepted(&accepted);
            }
        }
    }

    // A confidential client's metadata (`clients add --confidential`): what is accepted is
    // accepted again unchanged, and never holds a private key.
    if let Ok(metadata) = serde_json::from_slice::<ClientMetadata>(data)
        && let Ok(accepted) = registration::validate_confidential(metadata)
    {
        assert_eq!(registration::validate_confidential(accepted.clone()).as_ref(), Ok(&accepted));
        if let Some(jwks) = &accepted.jwks {
            assert!(registration::check_public_jwks(jwks).is_ok());
            assert!(accepted.jwks_uri.is_none());
        }
    }

    let _ = serde_json::from_slice::<ClientInformation>(data);
});
