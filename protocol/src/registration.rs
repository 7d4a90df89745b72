//! Dynamic client registration (RFC 7591): the metadata, and the checks an authorization server
//! applies to it.
//!
//! The checks are those of this project's AS, which registers public clients only: it issues no
//! secrets, so every client proves possession of its authorization code with PKCE instead. They
//! are here, not in the AS, because they are pure and read hostile input (the fuzz targets run
//! them without building a server).

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::resource::check_redirect_uri;
use crate::scope::Scopes;
use crate::secret::ClientSecret;
use crate::token::{GRANT_AUTHORIZATION_CODE, GRANT_CIBA, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE};

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
    /// RFC 7591 §2: where a `private_key_jwt` client publishes its public keys…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// …or the keys themselves (a JWK Set), never both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
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

/// More redirect URIs than any real client needs; a bound on what one request can store.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest accepted `client_name`, in characters.
pub const MAX_CLIENT_NAME: usize = 100;

/// Checks submitted metadata (RFC 7591 §2, §3.2.2) and fills in the defaults the AS applies, returning the metadata
/// as it will be stored and echoed back.
pub fn validate(mut metadata: ClientMetadata) -> Result<ClientMetadata, (ErrorCode, String)> {
    let bad = |description: String| Err((ErrorCode::InvalidClientMetadata, description));

    if metadata.redirect_uris.is_empty() {
        return Err((ErrorCode::InvalidRedirectUri, "redirect_uris must name at least one URI".into()));
    }
    if metadata.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err((ErrorCode::InvalidRedirectUri, format!("at most {MAX_REDIRECT_URIS} redirect_uris")));
    }
    for uri in &metadata.redirect_uris {
        if let Err(e) = check_redirect_uri(uri) {
            return Err((ErrorCode::InvalidRedirectUri, e.to_string()));
        }
    }

    match metadata.token_endpoint_auth_method.as_deref() {
        None | Some("none") => metadata.token_endpoint_auth_method = Some("none".into()),
        Some(other) => {
            return bad(format!(
                "token_endpoint_auth_method {other:?} is not supported; this server registers public clients (\"none\")"
            ));
        }
    }

    let grant_types = metadata.grant_types.get_or_insert_with(|| vec![GRANT_AUTHORIZATION_CODE.into()]);
    if let Some(other) = grant_types
        .iter()
        .find(|g| g.as_str() != GRANT_AUTHORIZATION_CODE && g.as_str() != GRANT_REFRESH_TOKEN)
    {
        return bad(format!("grant type {other:?} is not supported"));
    }
    if !grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) {
        return bad("grant_types must include authorization_code".into());
    }

    let response_types = metadata.response_types.get_or_insert_with(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return bad("only the \"code\" response type is supported".into());
    }

    if let Some(name) = &metadata.client_name {
        if name.chars().count() > MAX_CLIENT_NAME {
            return bad(format!("client_name is longer than {MAX_CLIENT_NAME} characters"));
        }
        if name.chars().any(char::is_control) {
            return bad("client_name contains control characters".into());
        }
        // The name is shown on the consent page: a right-to-left override can make
        // "Evil\u{202E}ppA" read as "EvilAppA", a zero-width space can make two names look alike.
        if name.chars().any(is_invisible_or_reordering) {
            return bad("client_name contains invisible or direction-changing characters".into());
        }
    }

    if let Some(scope) = &metadata.scope
        && let Err(e) = Scopes::parse(scope)
    {
        return bad(e.to_string());
    }

    match metadata.application_type.as_deref() {
        None | Some("web") | Some("native") => {}
        Some(other) => return bad(format!("application_type {other:?} must be \"web\" or \"native\"")),
    }

    // Keys authenticate confidential clients, which this endpoint does not register: whatever was
    // sent is dropped, and the answer (the metadata as stored) shows that.
    metadata.jwks = None;
    metadata.jwks_uri = None;

    Ok(metadata)
}

/// `token_endpoint_auth_method` of a client authenticating with a shared secret in HTTP Basic.
pub const CLIENT_SECRET_BASIC: &str = "client_secret_basic";
/// `token_endpoint_auth_method` of a client authenticating with a signed JWT (RFC 7523 §2.2).
pub const PRIVATE_KEY_JWT: &str = "private_key_jwt";
/// The grant types a confidential client of this server may use.
pub const CONFIDENTIAL_GRANT_TYPES: [&str; 4] =
    [GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE, GRANT_CIBA];
/// JWK members that only private (or symmetric) keys have; a client's published keys must have none.
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Checks the metadata of a confidential client registered by an operator (`mcp-auth clients add
/// --confidential`): it authenticates with `client_secret_basic` or `private_key_jwt` (then with
/// exactly one of `jwks_uri` and `jwks`, public keys only), uses grants this server has, and has
/// redirect URIs if, and only if, it uses the code grant. Fills in the default grants (token
/// exchange and CIBA, what a gateway needs).
pub fn validate_confidential(mut metadata: ClientMetadata) -> Result<ClientMetadata, (ErrorCode, String)> {
    let bad = |description: String| Err((ErrorCode::InvalidClientMetadata, description));
    let grant_types = metadata
        .grant_types
        .get_or_insert_with(|| vec![GRANT_TOKEN_EXCHANGE.to_owned(), GRANT_CIBA.to_owned()]);
    if grant_types.is_empty() {
        return bad("a confidential client needs at least one grant type".into());
    }
    if let Some(other) = grant_types.iter().find(|g| !CONFIDENTIAL_GRANT_TYPES.contains(&g.as_str())) {
        return bad(format!("grant type {other:?} is not supported"));
    }
    let code_flow = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    if code_flow {
        let public = validate(ClientMetadata {
            token_endpoint_auth_method: None,
            grant_types: Some(vec![GRANT_AUTHORIZATION_CODE.to_owned()]),
            ..metadata.clone()
        })?;
        metadata.redirect_uris = public.redirect_uris;
        metadata.response_types = public.response_types;
    } else if !metadata.redirect_uris.is_empty() {
        return bad("redirect_uris are only for clients of the authorization_code grant".into());
    }
    if let Some(name) = &metadata.client_name
        && (name.chars().count() > MAX_CLIENT_NAME
            || name.chars().any(|c| c.is_control() || is_invisible_or_reordering(c)))
    {
        return bad(format!("client_name must be at most {MAX_CLIENT_NAME} visible characters"));
    }

    match metadata.token_endpoint_auth_method.as_deref() {
        Some(CLIENT_SECRET_BASIC) => {
            if metadata.jwks.is_some() || metadata.jwks_uri.is_some() {
                return bad("jwks and jwks_uri are for private_key_jwt clients".into());
            }
        }
        Some(PRIVATE_KEY_JWT) => match (&metadata.jwks_uri, &metadata.jwks) {
            (Some(uri), None) => {
                if let Err(e) = check_redirect_uri(uri) {
                    return bad(format!("jwks_uri: {e}"));
                }
            }
            (None, Some(jwks)) => {
                if let Err(e) = check_public_jwks(jwks) {
                    return bad(e);
                }
            }
            _ => return bad("a private_key_jwt client has exactly one of jwks_uri and jwks".into()),
        },
        other => {
            return bad(format!(
                "token_endpoint_auth_method {other:?}: a confidential client uses {CLIENT_SECRET_BASIC:?} or {PRIVATE_KEY_JWT:?}"
            ));
        }
    }
    Ok(metadata)
}

/// A JWK Set of public keys: an object with a non-empty `keys` array of objects with a `kty`,
/// none holding private or symmetric key material.
pub fn check_public_jwks(jwks: &serde_json::Value) -> Result<(), String> {
    let keys = jwks.get("keys").and_then(serde_json::Value::as_array).ok_or("jwks must be a JWK Set")?;
    if keys.is_empty() {
        return Err("jwks holds no keys".into());
    }
    for key in keys {
        let key = key.as_object().ok_or("every key in jwks is a JSON object")?;
        match key.get("kty").and_then(serde_json::Value::as_str) {
            Some("EC" | "RSA" | "OKP") => {}
            _ => return Err("every key in jwks has kty EC, RSA or OKP".into()),
        }
        if let Some(member) = PRIVATE_JWK_MEMBERS.iter().find(|m| key.contains_key(**m)) {
            return Err(format!("jwks holds a private key (member {member:?}): publish public keys only"));
        }
    }
    Ok(())
}

/// Unicode format characters that change how text is ordered or hide in it: bidirectional
/// embeddings, overrides, isolates and marks, zero-width characters, the byte order mark, and
/// tag characters. (`char::is_control` covers only C0 and C1.)
fn is_invisible_or_reordering(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E0FFF}')
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

    fn spa() -> ClientMetadata {
        ClientMetadata {
            redirect_uris: vec!["http://localhost:8080/callback".into()],
            client_name: Some("MCP web client".into()),
            application_type: Some("web".into()),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_public_browser_client_and_fills_defaults() {
        let accepted = validate(spa()).unwrap();
        assert_eq!(accepted.token_endpoint_auth_method.as_deref(), Some("none"));
        assert_eq!(accepted.grant_types, Some(vec!["authorization_code".to_owned()]));
        assert_eq!(accepted.response_types, Some(vec!["code".to_owned()]));
    }

    #[test]
    fn refuses_missing_insecure_or_fragment_redirect_uris() {
        for uris in
            [vec![], vec!["http://app.example.com/cb".to_owned()], vec!["https://a.example/cb#f".to_owned()]]
        {
            let metadata = ClientMetadata { redirect_uris: uris, ..spa() };
            assert_eq!(validate(metadata).unwrap_err().0, ErrorCode::InvalidRedirectUri);
        }
    }

    #[test]
    fn refuses_confidential_clients_and_unsupported_grants() {
        let secret =
            ClientMetadata { token_endpoint_auth_method: Some("client_secret_basic".into()), ..spa() };
        assert_eq!(validate(secret).unwrap_err().0, ErrorCode::InvalidClientMetadata);
        let implicit = ClientMetadata { response_types: Some(vec!["token".into()]), ..spa() };
        assert_eq!(validate(implicit).unwrap_err().0, ErrorCode::InvalidClientMetadata);
        let password = ClientMetadata { grant_types: Some(vec!["password".into()]), ..spa() };
        assert_eq!(validate(password).unwrap_err().0, ErrorCode::InvalidClientMetadata);
    }

    #[test]
    fn refuses_control_characters_and_overlong_names() {
        let newline = ClientMetadata { client_name: Some("evil\nname".into()), ..spa() };
        assert_eq!(validate(newline).unwrap_err().0, ErrorCode::InvalidClientMetadata);
        let long = ClientMetadata { client_name: Some("x".repeat(101)), ..spa() };
        assert_eq!(validate(long).unwrap_err().0, ErrorCode::InvalidClientMetadata);
    }

    #[test]
    fn refuses_names_that_display_differently_from_what_they_are() {
        for name in ["Good\u{202E}ppA", "Go\u{200B}od", "\u{2066}App\u{2069}", "App\u{FEFF}", "App\u{E0041}"]
        {
            let metadata = ClientMetadata { client_name: Some(name.into()), ..spa() };
            assert_eq!(validate(metadata).unwrap_err().0, ErrorCode::InvalidClientMetadata, "{name:?}");
        }
        let plain = ClientMetadata { client_name: Some("Café <Ünïcödé> & \"quotes\"".into()), ..spa() };
        assert!(validate(plain).is_ok(), "ordinary Unicode and markup characters are escaped, not refused");
    }

    fn gateway() -> ClientMetadata {
        ClientMetadata {
            client_name: Some("Gateway".into()),
            token_endpoint_auth_method: Some(PRIVATE_KEY_JWT.into()),
            jwks: Some(serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]})),
            ..Default::default()
        }
    }

    #[test]
    fn a_confidential_client_gets_the_exchange_and_ciba_grants_by_default() {
        let checked = validate_confidential(gateway()).unwrap();
        assert_eq!(checked.grant_types.unwrap(), [GRANT_TOKEN_EXCHANGE, GRANT_CIBA]);
        let basic = ClientMetadata {
            token_endpoint_auth_method: Some(CLIENT_SECRET_BASIC.into()),
            jwks: None,
            ..gateway()
        };
        assert!(validate_confidential(basic).is_ok());
    }

    #[test]
    fn confidential_clients_are_refused_what_they_cannot_use() {
        let refused = |metadata: ClientMetadata| validate_confidential(metadata).unwrap_err().1;
        assert!(
            refused(ClientMetadata { token_endpoint_auth_method: None, ..gateway() })
                .contains("confidential")
        );
        assert!(
            refused(ClientMetadata { token_endpoint_auth_method: Some("none".into()), ..gateway() })
                .contains("confidential")
        );
        assert!(refused(ClientMetadata { jwks: None, ..gateway() }).contains("exactly one"));
        assert!(
            refused(ClientMetadata { jwks_uri: Some("https://gw.example/jwks".into()), ..gateway() })
                .contains("exactly one")
        );
        assert!(
            refused(ClientMetadata {
                jwks: None,
                jwks_uri: Some("http://gw.example/jwks".into()),
                ..gateway()
            })
            .contains("jwks_uri")
        );
        let private =
            serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "secret"}]});
        assert!(refused(ClientMetadata { jwks: Some(private), ..gateway() }).contains("private key"));
        let symmetric = serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]});
        assert!(refused(ClientMetadata { jwks: Some(symmetric), ..gateway() }).contains("kty"));
        assert!(
            refused(ClientMetadata { jwks: Some(serde_json::json!({"keys": []})), ..gateway() })
                .contains("no keys")
        );
        assert!(
            refused(ClientMetadata { grant_types: Some(vec!["password".into()]), ..gateway() })
                .contains("password")
        );
        assert!(
            refused(ClientMetadata { redirect_uris: vec!["https://gw.example/cb".into()], ..gateway() })
                .contains("redirect_uris")
        );
        let code_without_uris =
            ClientMetadata { grant_types: Some(vec![GRANT_AUTHORIZATION_CODE.into()]), ..gateway() };
        assert!(validate_confidential(code_without_uris).is_err());
    }

    #[test]
    fn a_public_registration_keeps_no_keys() {
        let with_keys = ClientMetadata { jwks_uri: Some("https://app.example/jwks".into()), ..spa() };
        let stored = validate(with_keys).unwrap();
        assert_eq!((stored.jwks_uri, stored.jwks), (None, None));
    }
}
