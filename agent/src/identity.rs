//! Which client id the agent uses at an authorization server, in the MCP spec's order:
//! 1. a pre-registered client (`--client-id`, with `--client-secret` if it is confidential);
//! 2. a Client ID Metadata Document (`--client-metadata-url`), when the server supports them;
//! 3. the registration made here before, else a new RFC 7591 registration as a `native` app.

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
    pub client_metadata_url: Option<String>,
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
    if let Some(client_id) = &options.client_id {
        let auth = match &options.client_secret {
            None => TokenEndpointAuth::None,
            Some(_) => secret_method(server).ok_or_else(|| {
                AgentError::Authorization(format!(
                    "{} accepts neither client_secret_basic nor client_secret_post at its token endpoint",
                    discovered.issuer
                ))
            })?,
        };
        progress.detail(format!("client: pre-registered {client_id} ({})", auth.as_str()));
        return Ok(Client {
            client_id: client_id.clone(),
            client_secret: options.client_secret.clone(),
            auth,
        });
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
             (or no --client-metadata-url was given): pass the client id registered there with --client-id"
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
