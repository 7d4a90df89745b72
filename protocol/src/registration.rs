//! Dynamic client registration (RFC 7591).

use serde::{Deserialize, Serialize};

use crate::secret::ClientSecret;

/// Client metadata (RFC 7591 §2): what a client sends to the registration endpoint, and what the
/// authorization server echoes back with the `client_id` it assigned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `none` for public clients such as a browser app: it cannot keep a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// OpenID Connect Dynamic Client Registration: `web` for a browser app, `native` for an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
}

/// The registration response (RFC 7591 §3.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInformation {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_issued_at: Option<u64>,
    /// Only for confidential clients; this project's authorization server issues none, but a
    /// client registering elsewhere may be given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// When the secret expires, in seconds since the epoch; 0 for never (RFC 7591 §3.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<u64>,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// A Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document): the client's
/// metadata, published at the URL that is its `client_id`, and naming that URL again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientIdMetadataDocument {
    pub client_id: String,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_7591_section_3_1_example() {
        let body = r#"{
          "redirect_uris": ["https://client.example.org/callback", "https://client.example.org/callback2"],
          "client_name": "My Example Client",
          "client_name#ja-Jpan-JP": "クライアント名",
          "token_endpoint_auth_method": "client_secret_basic",
          "logo_uri": "https://client.example.org/logo.png",
          "jwks_uri": "https://client.example.org/my_public_keys.jwks",
          "example_extension_parameter": "example_value"
        }"#;
        let metadata: ClientMetadata = serde_json::from_str(body).unwrap();
        assert_eq!(metadata.redirect_uris.len(), 2);
        assert_eq!(metadata.client_name.as_deref(), Some("My Example Client"));
    }

    #[test]
    fn response_flattens_the_metadata_next_to_the_client_id() {
        let info = ClientInformation {
            client_id: "abc".into(),
            client_id_issued_at: Some(1),
            client_secret: None,
            client_secret_expires_at: None,
            metadata: ClientMetadata {
                redirect_uris: vec!["http://localhost/cb".into()],
                ..Default::default()
            },
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["client_id"], "abc");
        assert_eq!(json["redirect_uris"][0], "http://localhost/cb");
        assert_eq!(serde_json::from_value::<ClientInformation>(json).unwrap(), info);
    }
}
