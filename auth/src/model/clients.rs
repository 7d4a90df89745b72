//! OAuth clients: pre-registered, registered dynamically (RFC 7591), or fetched from a Client ID
//! Metadata Document.

use protocol::registration::ClientMetadata;

/// How a client came to exist; shown to operators and decides nothing about trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Preregistered,
    Dynamic,
    /// The client id is the URL of a Client ID Metadata Document the AS fetched.
    MetadataDocument,
}

impl Registration {
    /// The name under which the kind is stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Preregistered => "preregistered",
            Registration::Dynamic => "dynamic",
            Registration::MetadataDocument => "metadata_document",
        }
    }

    /// The kind named by [`Registration::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "preregistered" => Some(Registration::Preregistered),
            "dynamic" => Some(Registration::Dynamic),
            "metadata_document" => Some(Registration::MetadataDocument),
            _ => None,
        }
    }
}

/// A public client (this server issues no client secrets).
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub registration: Registration,
    pub metadata: ClientMetadata,
}

impl Client {
    /// Exact, byte-for-byte comparison (OAuth 2.1 §4.1.1, RFC 9700 §4.1.3): no prefix matching, no
    /// normalisation, so an attacker cannot register `…/callback` and use `…/callback/../evil`.
    /// The one exception is the port of a loopback IP redirect URI (below).
    pub fn has_redirect_uri(&self, candidate: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == candidate || same_but_loopback_port(registered, candidate))
    }

    /// The name to show on the consent page: the registered name, else the client id.
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }
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
        }
    }
}
