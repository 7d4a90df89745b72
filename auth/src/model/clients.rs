//! OAuth clients: pre-registered, registered dynamically (RFC 7591), or fetched from a Client ID
//! Metadata Document.

use protocol::jwt::client_registration;
use protocol::registration::{CLIENT_SECRET_BASIC, ClientMetadata, PRIVATE_KEY_JWT};

/// How a client came to exist: shown to operators, and carried in its access tokens
/// (`client_registration`) for resource servers' policies (a gateway may, say, keep deletes to
/// preregistered clients). This server trusts no kind more than another, with one exception:
/// only an operator's client is redirected to before anyone signed in
/// ([`Registration::trusted_for_redirects`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Preregistered,
    Dynamic,
    /// The client id is the URL of a Client ID Metadata Document the AS fetched.
    MetadataDocument,
}

impl Registration {
    /// The name under which the kind is stored and shown, and which access tokens carry as
    /// `client_registration`.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Preregistered => client_registration::PREREGISTERED,
            Registration::Dynamic => client_registration::DYNAMIC,
            Registration::MetadataDocument => client_registration::METADATA_DOCUMENT,
        }
    }

    /// May an authorization request's error be sent to this client's redirect URI at once, before
    /// anyone signed in? Only for a client an operator registered. Anyone may register a dynamic
    /// client or host a metadata document naming any redirect URI, so an automatic redirect to it
    /// would make this server an open redirector (RFC 9700 §4.11.2).
    pub fn trusted_for_redirects(self) -> bool {
        matches!(self, Registration::Preregistered)
    }

    /// The kind named by [`Registration::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            client_registration::PREREGISTERED => Some(Registration::Preregistered),
            client_registration::DYNAMIC => Some(Registration::Dynamic),
            client_registration::METADATA_DOCUMENT => Some(Registration::MetadataDocument),
            _ => None,
        }
    }
}

/// How a client proves who it is at the token endpoint (its `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// A public client: its id alone; PKCE and refresh token rotation carry the proof.
    None,
    /// A confidential client with a secret, sent with HTTP Basic (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// A confidential client signing a JWT with its private key (RFC 7523 §2.2).
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretBasic => CLIENT_SECRET_BASIC,
            ClientAuthMethod::PrivateKeyJwt => PRIVATE_KEY_JWT,
        }
    }
}

/// The resources a client acting for others may obtain tokens for, by token exchange (RFC 8693
/// leaves the targets a client may name to the AS's policy) or an approved call. A gateway lists
/// its upstreams; without the list, a user's token given to it could be traded for a token for any
/// resource of this server whose scopes it shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeTargets {
    /// These and no others; none for ordinary clients and for clients that only introspect.
    Listed(Vec<String>),
    /// Any resource: a client registered before the list existed (stored as NULL), which keeps
    /// working after an upgrade. Every use is logged as a warning until it is registered again.
    Unrestricted,
}

impl ExchangeTargets {
    /// No targets.
    pub fn none() -> Self {
        ExchangeTargets::Listed(Vec::new())
    }

    /// May a token for `resource` be obtained? Compared as resources are
    /// ([`protocol::resource::canonical_resource`]: `https://host/` is `https://host`).
    pub fn allow(&self, resource: &str) -> bool {
        use protocol::resource::canonical_resource;
        match self {
            ExchangeTargets::Listed(listed) => {
                listed.iter().any(|r| canonical_resource(r) == canonical_resource(resource))
            }
            ExchangeTargets::Unrestricted => true,
        }
    }
}

/// A client: public (registered dynamically, by metadata document, or by hand) or confidential
/// (pre-registered by an operator, with a secret or keys).
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub registration: Registration,
    pub metadata: ClientMetadata,
    /// SHA-256 of a `client_secret_basic` client's secret; `None` for every other client.
    pub secret_hash: Option<String>,
    /// The resources this client acts for (a gateway, say): it may exchange tokens issued for
    /// them. Empty for ordinary clients.
    pub acts_for: Vec<String>,
    /// The resources it may obtain tokens for when it acts for others.
    pub exchange_to: ExchangeTargets,
}

impl Client {
    /// A client registered by an operator (`mcp-auth clients add`), with checked metadata.
    pub fn preregistered(
        client_id: String,
        metadata: ClientMetadata,
        secret_hash: Option<String>,
        acts_for: Vec<String>,
        exchange_to: ExchangeTargets,
    ) -> Self {
        Self {
            client_id,
            client_name: metadata.client_name.clone(),
            redirect_uris: metadata.redirect_uris.clone(),
            registration: Registration::Preregistered,
            metadata,
            secret_hash,
            acts_for,
            exchange_to,
        }
    }

    /// How this client authenticates. Anything but the two confidential methods is a public
    /// client: an unknown method stored by some future version never makes a client confidential.
    pub fn auth_method(&self) -> ClientAuthMethod {
        match self.metadata.token_endpoint_auth_method.as_deref() {
            Some(CLIENT_SECRET_BASIC) => ClientAuthMethod::ClientSecretBasic,
            Some(PRIVATE_KEY_JWT) => ClientAuthMethod::PrivateKeyJwt,
            _ => ClientAuthMethod::None,
        }
    }

    pub fn is_confidential(&self) -> bool {
        self.auth_method() != ClientAuthMethod::None
    }

    /// Is the client registered for `grant_type`?
    pub fn has_grant_type(&self, grant_type: &str) -> bool {
        self.metadata.grant_types.as_ref().is_some_and(|g| g.iter().any(|g| g == grant_type))
    }

    /// Does the client act for `resource`, so that it may exchange tokens issued for it?
    pub fn acts_for(&self, resource: &str) -> bool {
        self.acts_for.iter().any(|r| r == resource)
    }

    /// The name to show on the consent page: the registered name, else the client id.
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }
}
