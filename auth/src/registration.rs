//! Validation of dynamic client registrations (RFC 7591 §2, §3.2.2).
//!
//! This server registers public clients only: it issues no secrets, so every client proves
//! possession of its authorization code with PKCE instead.

use protocol::error::ErrorCode;
use protocol::registration::ClientMetadata;
use protocol::resource::check_redirect_uri;
use protocol::scope::Scopes;
use protocol::token::{GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN};

/// More redirect URIs than any real client needs; a bound on what one request can store.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest accepted `client_name`, in characters.
pub const MAX_CLIENT_NAME: usize = 100;

/// Checks submitted metadata and fills in the defaults this server applies, returning the metadata
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

    Ok(metadata)
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
}
