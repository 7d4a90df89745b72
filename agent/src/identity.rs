//! Which client id the agent uses at an authorization server, in the MCP spec's order:
//! 1. a pre-registered client (`--client-id`, with `--client-secret` if it is confidential), at
//!    the authorization server it was registered with (`--client-issuer`) only;
//! 2. a Client ID Metadata Document (`--client-metadata-url`), when the server supports them;
//! 3. the registration made here before, else a new RFC 7591 registration as a `native` app.
//!
//! Client credentials belong to the server that issued them (RFC 6749 §2.3; MCP keys them by the
//! authorization server's issuer). Which server a login goes to is named by the MCP server, which
//! the agent need not trust: sent anywhere else, a secret would be handed to whoever runs that
//! server (the mix-up of RFC 9700 §4.4). So a secret goes only to its `--client-issuer`, and
//! another server gets a metadata document or a registration of its own. A client id without a
//! secret and without an issuer is a public identifier, not a credential: it is presented to any
//! server, as before.

use protocol::discovery::Discovered;
use protocol::metadata::AuthorizationServerMetadata;
use protocol::registration::{ClientInformation, ClientMetadata};
use protocol::secret::ClientSecret;
use protocol::token::{GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN};

use crate::error::{AgentError, Result};
use crate::http::{Http, SMALL_BODY_LIMIT};
use crate::output::Progress;
use crate::store::{Client, Registration, Store, TokenEndpointAuth};

/// How the user configured the agent's identity.
#[derive(Debug, Clone, Default)]
pub struct IdentityOptions {
    pub client_id: Option<String>,
    pub client_secret: Option<ClientSecret>,
    /// Where `client_id` (and `client_secret`) were registered.
    pub client_issuer: ClientIssuer,
    pub client_metadata_url: Option<String>,
}

/// Which authorization server a pre-registered client belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientIssuer {
    /// None was named: only a client without a secret is used, at any server (see the module
    /// documentation); with a secret, [`check`] refuses the options.
    #[default]
    Unnamed,
    /// This issuer, compared exactly (as RFC 8414 §3.3 compares issuers).
    Named(String),
    /// Any issuer: only for the MCP conformance suite, which hands over the credentials of the
    /// mock authorization server it runs itself without saying its URL.
    Conformance,
}

impl IdentityOptions {
    /// Refuses a secret that could go to any server, or an issuer without a client.
    pub fn check(&self) -> Result<()> {
        if self.client_secret.is_some() && self.client_id.is_none() {
            return Err(AgentError::Usage("--client-secret needs --client-id".into()));
        }
        match &self.client_issuer {
            ClientIssuer::Unnamed if self.client_secret.is_some() => Err(AgentError::Usage(
                "--client-secret needs --client-issuer (MCP_AGENT_CLIENT_ISSUER), the authorization server \
                 that issued it: a client secret is sent to that server only, never to whichever one an MCP \
                 server names"
                    .into(),
            )),
            ClientIssuer::Named(_) if self.client_id.is_none() => {
                Err(AgentError::Usage("--client-issuer needs --client-id".into()))
            }
            ClientIssuer::Named(issuer) => protocol::resource::check_issuer(issuer)
                .map(|_| ())
                .map_err(|e| AgentError::Usage(format!("--client-issuer: {e}"))),
            _ => Ok(()),
        }
    }

    /// Whether `client`, stored with a grant from `issuer`, carries the pre-registered secret where
    /// it may not go: a grant stored before `--client-issuer` existed, at another server. Refreshing
    /// or revoking with it would send the secret there again; such a grant is dropped instead (a
    /// new login there uses a registration of its own). A secret a server issued itself (a dynamic
    /// registration) is that server's, and not this one.
    pub fn misplaced_secret(&self, client: &Client, issuer: &str) -> bool {
        let (Some(stored), Some(ours)) = (&client.client_secret, &self.client_secret) else {
            return false;
        };
        self.client_id.as_deref() == Some(client.client_id.as_str())
            && stored.secret() == ours.secret()
            && self.pre_registered_for(issuer).is_none()
    }

    /// The pre-registered client id and secret, if they may be used at `issuer`.
    fn pre_registered_for(&self, issuer: &str) -> Option<(&String, Option<&ClientSecret>)> {
        let client_id = self.client_id.as_ref()?;
        let usable = match &self.client_issuer {
            ClientIssuer::Named(named) => named == issuer,
            // A public id is no credential; a secret never goes to an unnamed server (in case
            // `check` was not called).
            ClientIssuer::Unnamed => self.client_secret.is_none(),
            ClientIssuer::Conformance => true,
        };
        usable.then_some((client_id, self.client_secret.as_ref()))
    }
}

/// The port of the redirect URI registered at `issuer` before, to listen on it again.
pub fn registered_port(store: &Store, issuer: &str) -> Result<Option<u16>> {
    let file = store.load(issuer)?;
    Ok(file.registration.and_then(|r| url::Url::parse(&r.redirect_uri).ok()).and_then(|u| u.port()))
}

/// The client to use at `discovered.issuer`, registering one if needed with `redirect_uri`.
pub async fn client_for(
    http: &Http,
    store: &Store,
    progress: &Progress,
    discovered: &Discovered,
    options: &IdentityOptions,
    redirect_uri: &str,
) -> Result<Client> {
    let server = &discovered.server;
    if let Some((client_id, client_secret)) = options.pre_registered_for(&discovered.issuer) {
        let auth = match client_secret {
            None => TokenEndpointAuth::None,
            Some(_) => secret_method(server).ok_or_else(|| {
                AgentError::Authorization(format!(
                    "{} accepts neither client_secret_basic nor client_secret_post at its token endpoint",
                    discovered.issuer
                ))
            })?,
        };
        progress.detail(format!("client: pre-registered {client_id} ({})", auth.as_str()));
        return Ok(Client { client_id: client_id.clone(), client_secret: client_secret.cloned(), auth });
    }
    if let (Some(client_id), ClientIssuer::Named(named)) = (&options.client_id, &options.client_issuer) {
        progress.detail(format!(
            "client: not the pre-registered {client_id}, which belongs to {named}, not {}",
            discovered.issuer
        ));
    }
    if let Some(url) = &options.client_metadata_url
        && server.client_id_metadata_document_supported
    {
        progress.detail(format!("client: metadata document {url}"));
        return Ok(Client { client_id: url.clone(), client_secret: None, auth: TokenEndpointAuth::None });
    }
    if let Some(registration) = store.load(&discovered.issuer)?.registration {
        progress.detail(format!("client: registered before as {}", registration.client.client_id));
        return Ok(registration.client);
    }
    register(http, store, progress, discovered, redirect_uri).await
}

/// The secret-based method the server accepts, `client_secret_basic` first (RFC 8414 §2: the
/// default when the server lists none).
fn secret_method(server: &AuthorizationServerMetadata) -> Option<TokenEndpointAuth> {
    match &server.token_endpoint_auth_methods_supported {
        None => Some(TokenEndpointAuth::ClientSecretBasic),
        Some(methods) => [TokenEndpointAuth::ClientSecretBasic, TokenEndpointAuth::ClientSecretPost]
            .into_iter()
            .find(|m| methods.iter().any(|s| s == m.as_str())),
    }
}

/// What to ask for when registering: a public client (`none`) unless the server only takes
/// secrets; then it issues one, kept in the token store.
fn registration_method(server: &AuthorizationServerMetadata) -> Option<TokenEndpointAuth> {
    match &server.token_endpoint_auth_methods_supported {
        None => Some(TokenEndpointAuth::None),
        Some(methods) if methods.iter().any(|m| m == "none") => Some(TokenEndpointAuth::None),
        Some(_) => secret_method(server),
    }
}

async fn register(
    http: &Http,
    store: &Store,
    progress: &Progress,
    discovered: &Discovered,
    redirect_uri: &str,
) -> Result<Client> {
    let issuer = &discovered.issuer;
    let Some(endpoint) = &discovered.server.registration_endpoint else {
        return Err(AgentError::Authorization(format!(
            "{issuer} offers no dynamic client registration and no client metadata documents \
             (or no --client-metadata-url was given): pass the client registered there with --client-id and \
             --client-issuer {issuer}"
        )));
    };
    let method = registration_method(&discovered.server).ok_or_else(|| {
        AgentError::Authorization(format!(
            "{issuer} supports no token endpoint authentication this agent can do"
        ))
    })?;
    let metadata = ClientMetadata {
        redirect_uris: vec![redirect_uri.to_owned()],
        token_endpoint_auth_method: Some(method.as_str().into()),
        grant_types: Some(vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()]),
        response_types: Some(vec!["code".into()]),
        client_name: Some("mcp-agent".into()),
        software_id: Some("mcp-agent".into()),
        software_version: Some(env!("CARGO_PKG_VERSION").into()),
        application_type: Some("native".into()),
        ..Default::default()
    };
    progress.step(format!("registering with {issuer} (RFC 7591, as a native app)"));
    progress.detail(format!("POST {endpoint}"));
    let request = http.client().post(endpoint).json(&metadata).header("accept", "application/json");
    let answer = http.send(endpoint, request, SMALL_BODY_LIMIT).await?;
    if answer.status != 201 && answer.status != 200 {
        return Err(AgentError::Authorization(format!(
            "registration at {endpoint} failed: {}",
            answer.oauth_error()
        )));
    }
    let info: ClientInformation = serde_json::from_str(&answer.body).map_err(|e| {
        AgentError::Protocol(format!("the registration response from {endpoint} is malformed: {e}"))
    })?;
    let auth = match info.metadata.token_endpoint_auth_method.as_deref() {
        None => method,
        Some(value) => TokenEndpointAuth::parse(value).ok_or_else(|| {
            AgentError::Authorization(format!(
                "{issuer} registered this agent for {value:?}, which it cannot do"
            ))
        })?,
    };
    if auth != TokenEndpointAuth::None && info.client_secret.is_none() {
        return Err(AgentError::Protocol(format!(
            "{issuer} registered this agent for {} but issued no client_secret",
            auth.as_str()
        )));
    }
    let client = Client { client_id: info.client_id, client_secret: info.client_secret, auth };
    let registration = Registration { client: client.clone(), redirect_uri: redirect_uri.to_owned() };
    store.update(issuer, |file| file.registration = Some(registration)).await?;
    progress.detail(format!("registered as {}", client.client_id));
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stub::{self, Stub};

    fn pre_registered(issuer: ClientIssuer) -> IdentityOptions {
        IdentityOptions {
            client_id: Some("pre-registered-client".into()),
            client_secret: Some(ClientSecret::new("pre-registered-secret")),
            client_issuer: issuer,
            client_metadata_url: None,
        }
    }

    /// Logs in at the stub (its MCP endpoint names the stub's own authorization server) as
    /// `identity`: what the stub's token endpoint received.
    async fn log_in_as(identity: IdentityOptions) -> Vec<stub::TokenRequest> {
        let stub = Stub::start().await;
        let home = tempfile::tempdir().unwrap();
        let mut access = stub::access(Store::open(home.path()).unwrap(), identity);
        assert_eq!(stub::call(&mut access, &stub.mcp()).await.unwrap(), 200);
        stub.token_requests()
    }

    /// An MCP server names the authorization server; one it controls must not receive the
    /// secret of a client registered with another (RFC 6749 §2.3, RFC 9700 §4.4). It gets a
    /// registration of its own instead.
    #[tokio::test]
    async fn a_pre_registered_secret_never_goes_to_another_authorization_server() {
        let requests = log_in_as(pre_registered(ClientIssuer::Named("https://as-a.example".into()))).await;
        assert_eq!(requests.len(), 1);
        for request in &requests {
            assert_eq!(request.authorization, None, "no client_secret_basic");
            assert!(!request.body.contains("client_secret"), "{}", request.body);
            assert!(!request.body.contains("pre-registered"), "{}", request.body);
            assert!(request.body.contains("client_id=registered-client"), "{}", request.body);
        }
    }

    #[tokio::test]
    async fn a_pre_registered_client_is_used_at_its_own_issuer() {
        let stub = Stub::start().await;
        let home = tempfile::tempdir().unwrap();
        let identity = pre_registered(ClientIssuer::Named(stub.base.clone()));
        let mut access = stub::access(Store::open(home.path()).unwrap(), identity);
        assert_eq!(stub::call(&mut access, &stub.mcp()).await.unwrap(), 200);
        let requests = stub.token_requests();
        assert_eq!(requests.len(), 1);
        let basic = requests[0].authorization.as_deref().unwrap_or_default();
        assert!(basic.starts_with("Basic "), "client_secret_basic at its own server: {basic:?}");
    }

    #[tokio::test]
    async fn a_public_client_id_without_an_issuer_is_used_anywhere() {
        let identity = IdentityOptions { client_id: Some("public-client".into()), ..Default::default() };
        let requests = log_in_as(identity).await;
        assert!(requests[0].body.contains("client_id=public-client"), "{}", requests[0].body);
        assert_eq!(requests[0].authorization, None);
    }

    /// A grant stored before `--client-issuer` existed, at another server, with the pre-registered
    /// secret: refreshing or revoking it would send the secret there again. A secret a server
    /// issued in a registration of its own is that server's.
    #[test]
    fn the_pre_registered_secret_stored_at_another_server_is_misplaced() {
        let options = pre_registered(ClientIssuer::Named("https://as-a.example".into()));
        let client = |id: &str, secret: &str| Client {
            client_id: id.into(),
            client_secret: Some(ClientSecret::new(secret)),
            auth: TokenEndpointAuth::ClientSecretBasic,
        };
        let ours = client("pre-registered-client", "pre-registered-secret");
        assert!(options.misplaced_secret(&ours, "https://as-b.example"));
        assert!(!options.misplaced_secret(&ours, "https://as-a.example"), "at its own issuer");
        let theirs = client("registered-client", "issued-by-b");
        assert!(!options.misplaced_secret(&theirs, "https://as-b.example"), "b's own registration");
        let public = Client { client_secret: None, ..ours.clone() };
        assert!(!options.misplaced_secret(&public, "https://as-b.example"));
    }

    #[test]
    fn a_secret_needs_the_issuer_it_belongs_to() {
        let error = pre_registered(ClientIssuer::Unnamed).check().unwrap_err();
        assert!(matches!(&error, AgentError::Usage(m) if m.contains("--client-issuer")), "{error}");
        assert!(pre_registered(ClientIssuer::Named("https://as.example".into())).check().is_ok());
        let bad = pre_registered(ClientIssuer::Named("http://as.example".into())).check();
        assert!(matches!(bad, Err(AgentError::Usage(_))), "{bad:?}");
        let no_id = IdentityOptions {
            client_issuer: ClientIssuer::Named("https://as.example".into()),
            ..Default::default()
        };
        assert!(no_id.check().is_err());
        // Even unchecked, an unnamed issuer never gets the secret.
        assert_eq!(pre_registered(ClientIssuer::Unnamed).pre_registered_for("https://as.example"), None);
    }

    fn server(methods: Option<&[&str]>) -> AuthorizationServerMetadata {
        AuthorizationServerMetadata {
            token_endpoint_auth_methods_supported: methods
                .map(|m| m.iter().map(|s| (*s).to_owned()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn registers_as_a_public_client_unless_the_server_only_takes_secrets() {
        assert_eq!(registration_method(&server(None)), Some(TokenEndpointAuth::None));
        assert_eq!(
            registration_method(&server(Some(&["client_secret_basic", "none"]))),
            Some(TokenEndpointAuth::None)
        );
        assert_eq!(
            registration_method(&server(Some(&["client_secret_post"]))),
            Some(TokenEndpointAuth::ClientSecretPost)
        );
        assert_eq!(registration_method(&server(Some(&["private_key_jwt"]))), None);
    }

    #[test]
    fn a_secret_goes_in_basic_auth_by_default() {
        assert_eq!(secret_method(&server(None)), Some(TokenEndpointAuth::ClientSecretBasic));
        assert_eq!(
            secret_method(&server(Some(&["client_secret_post", "client_secret_basic"]))),
            Some(TokenEndpointAuth::ClientSecretBasic)
        );
        assert_eq!(secret_method(&server(Some(&["none"]))), None);
    }
}
