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
    /// The name to show on the consent page: the registered name, else the client id.
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }
}
