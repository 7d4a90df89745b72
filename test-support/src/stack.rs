//! The whole system in one process on free ports: the authorization server, the resource server
//! and (optionally) the SPA's files, for the end-to-end tests, the agent's tests and the soak
//! harness.
//!
//! Every listener is bound before any server is built, so each server is configured with the
//! others' real URLs: the AS knows the resource, the resource knows the AS, and the resource
//! allows the SPA's origin.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use mcp_auth::clock::{Clock as _, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_http::services::{ServeDir, ServeFile};

/// The username and password of the seeded demo user.
pub const DEMO_USER: &str = "demo";
pub const DEMO_PASSWORD: &str = "demo-password";
/// A second user, in the groups `admins` and `team`, started with a gateway
/// ([`StackOptions::gateway`]): the demo policy lets admins delete (with approval) and shows the
/// `team` upstream to team members only.
pub const ADMIN_USER: &str = "ada";
pub const ADMIN_PASSWORD: &str = "ada-password-1";
/// The gateway's client id at the authorization server.
pub const GATEWAY_CLIENT: &str = "mcp-gateway";

/// The three programs, running.
pub struct Stack {
    /// Issuer of the authorization server.
    pub issuer: String,
    /// Resource identifier (and base URL) of the MCP server.
    pub resource: String,
    /// Origin of the SPA, when it is served (`http://127.0.0.1:<port>`).
    pub spa_origin: String,
    /// The same SPA as another origin (`http://localhost:<port>`), which makes it another client:
    /// its metadata document names only `spa_origin`, so there it registers. The resource server
    /// allows both, as the demo allows `localhost:8080` and `127.0.0.1:8080`.
    pub spa_alias_origin: String,
    /// The confidential client [`StackOptions::confidential_client`] asked for: its id and
    /// `client_secret_basic` secret. It acts for `resource`.
    pub confidential: Option<(String, protocol::secret::ClientSecret)>,
    /// The gateway, when [`StackOptions::gateway`] asked for one.
    pub gateway: Option<GatewayStack>,
    _shutdown: Vec<oneshot::Sender<()>>,
}

async fn bind() -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok((listener, url))
}

fn stopper() -> (oneshot::Sender<()>, impl std::future::Future<Output = ()> + Send + 'static) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

/// The gateway of a [`Stack`]: `mcp-gateway` in front of the stack's MCP server (upstream
/// `demo`) and a second one (upstream `team`), with the demo catalog.
pub struct GatewayStack {
    /// Its resource identifier and base URL (`/mcp` is the endpoint).
    pub resource: String,
    /// The second upstream's resource identifier.
    pub team_resource: String,
    /// Its decision log.
    pub audit: mcp_gateway::audit::AuditLog,
    /// With [`StackOptions::gateway_replica`]: a second replica's address, serving the same
    /// resource with the same settings but a process state of its own (sessions, pending
    /// approvals, hop tokens, decision log). Send it the `Host` of `resource`, as a load balancer
    /// in front of both would.
    pub replica: Option<String>,
}

/// What to vary when starting a [`Stack`].
#[derive(Debug, Default, Clone)]
pub struct StackOptions<'a> {
    /// Serve the built SPA from here.
    pub spa_dist: Option<&'a Path>,
    /// Offer the MCP conformance suite's diagnostic tools.
    pub conformance_tools: bool,
    /// More browser origins the resource server allows (besides the SPA's).
    pub extra_origins: Vec<String>,
    /// Run the resource server in introspection mode for every token, with the test credential.
    pub introspect_every_token: bool,
    /// The authorization server's access token lifetime, if not the default.
    pub access_token_ttl: Option<std::time::Duration>,
    /// Register a confidential client with this id (a secret, acting for the MCP server's
    /// resource: token exchange and out-of-band approvals).
    pub confidential_client: Option<&'a str>,
    /// Register a `private_key_jwt` confidential client with this id and these public keys (a JWK
    /// Set), acting for the MCP server's resource.
    pub key_client: Option<(&'a str, serde_json::Value)>,
    /// Start a gateway in front of the MCP server and a second one, with this policy file (the
    /// demo's, `gateway/demo/policy.cedar`, when empty).
    pub gateway: Option<Option<&'a Path>>,
    /// Peers (addresses or CIDR blocks) the AS and the gateway believe about the client's address
    /// in `Forwarded` / `X-Forwarded-For` (`--trusted-proxy`); none by default.
    pub trusted_proxies: &'a [&'a str],
    /// Start a second replica of the gateway too ([`GatewayStack::replica`]).
    pub gateway_replica: bool,
}

impl Stack {
    /// Starts `auth` and `server`, and serves the built SPA from `spa_dist` if given.
    pub async fn start(spa_dist: Option<&Path>) -> anyhow::Result<Self> {
        Self::start_with(StackOptions { spa_dist, ..Default::default() }).await
    }

    /// Starts the stack as `options` say.
    pub async fn start_with(options: StackOptions<'_>) -> anyhow::Result<Self> {
        let spa_dist = options.spa_dist;
        let trusted_proxies = options
            .trusted_proxies
            .iter()
            .map(|block| block.parse::<serve::client_addr::Cidr>())
            .collect::<Result<serve::client_addr::TrustedProxies, _>>()?;
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        }
        let (auth_listener, issuer) = bind().await?;
        let (server_listener, resource) = bind().await?;
        let (spa_listener, spa_origin) = bind().await?;
        let gateway_listeners = match options.gateway {
            Some(_) => Some((bind().await?, bind().await?)),
            None => None,
        };
        let mut shutdown = Vec::new();

        let mut auth_settings = mcp_auth::config::Settings {
            issuer: Some(issuer.clone()),
            ..mcp_auth::config::Settings::for_tests(&resource)
        };
        if let Some(ttl) = options.access_token_ttl {
            auth_settings.access_token_ttl = ttl;
        }
        auth_settings.trusted_proxies = trusted_proxies.clone();
        if let Some(((_, gateway), (_, team))) = &gateway_listeners {
            // Tests wait out the poll interval between asking and collecting an approval.
            auth_settings.approvals.poll_interval = std::time::Duration::from_secs(1);
            let scopes = auth_settings.resources[0].scopes.clone();
            for (resource, groups_claim) in [(gateway, true), (team, false)] {
                auth_settings.resources.push(mcp_auth::config::ResourceServer {
                    resource: resource.clone(),
                    scopes: scopes.clone(),
                    groups_claim,
                });
            }
        }
        let auth =
            mcp_auth::startup::Application::build_on(auth_listener, auth_settings, Arc::new(SystemClock))
                .await?;
        let confidential = match options.confidential_client {
            Some(id) => {
                let new = mcp_auth::admin::NewConfidentialClient {
                    client_id: Some(id.to_owned()),
                    name: format!("{id} (test)"),
                    auth: mcp_auth::admin::ConfidentialAuth::Secret,
                    acts_for: vec![resource.clone()],
                    exchange_to: vec![resource.clone()],
                    grant_types: None,
                    redirect_uris: Vec::new(),
                };
                let now = SystemClock.now();
                let (client, secret) =
                    mcp_auth::admin::add_confidential_client(&auth.store(), new, now).await?;
                Some((client.client_id, secret.context("a client_secret_basic client has a secret")?))
            }
            None => None,
        };
        if let Some((id, jwks)) = options.key_client.clone() {
            let new = mcp_auth::admin::NewConfidentialClient {
                client_id: Some(id.to_owned()),
                name: format!("{id} (test)"),
                auth: mcp_auth::admin::ConfidentialAuth::Jwks(jwks),
                acts_for: vec![resource.clone()],
                exchange_to: vec![resource.clone()],
                grant_types: None,
                redirect_uris: Vec::new(),
            };
            mcp_auth::admin::add_confidential_client(&auth.store(), new, SystemClock.now()).await?;
        }
        let gateway_secret = match &gateway_listeners {
            Some(((_, gateway), (_, team))) => {
                let store = auth.store();
                let now = SystemClock.now();
                let password = protocol::secret::Password::new(ADMIN_PASSWORD);
                let groups = ["admins".to_owned(), "team".to_owned()];
                mcp_auth::admin::add_user(&store, ADMIN_USER, &password, &groups, now).await?;
                let new = mcp_auth::admin::NewConfidentialClient {
                    client_id: Some(GATEWAY_CLIENT.to_owned()),
                    name: "MCP gateway (test)".into(),
                    auth: mcp_auth::admin::ConfidentialAuth::Secret,
                    acts_for: vec![gateway.clone()],
                    exchange_to: vec![resource.clone(), team.clone()],
                    grant_types: None,
                    redirect_uris: Vec::new(),
                };
                let (_, secret) = mcp_auth::admin::add_confidential_client(&store, new, now).await?;
                Some(secret.context("a client_secret_basic client has a secret")?)
            }
            None => None,
        };
        let (tx, stop) = stopper();
        shutdown.push(tx);
        tokio::spawn(auth.run_until(stop));

        let mut server_settings = mcp_server::config::Settings {
            resource: Some(resource.clone()),
            conformance_tools: options.conformance_tools,
            introspection: options.introspect_every_token.then(|| {
                mcp_bearer::introspection::IntrospectionSettings {
                    secret: protocol::secret::ClientSecret::new(mcp_auth::config::TEST_INTROSPECTION_SECRET),
                    every_token: true,
                }
            }),
            ..mcp_server::config::Settings::for_tests(&issuer, &spa_origin)
        };
        let spa_alias_origin = spa_origin.replace("127.0.0.1", "localhost");
        server_settings.allowed_origins.push(axum::http::HeaderValue::from_str(&spa_alias_origin)?);
        for origin in &options.extra_origins {
            server_settings.allowed_origins.push(axum::http::HeaderValue::from_str(origin)?);
        }
        let server = mcp_server::startup::Application::build_on(server_listener, server_settings).await?;
        let (tx, stop) = stopper();
        shutdown.push(tx);
        tokio::spawn(server.run_until(stop));

        let gateway = match (gateway_listeners, gateway_secret) {
            (Some(((gateway_listener, gateway), (team_listener, team))), Some(secret)) => {
                // As in `cargo xtask dev`: the team upstream takes only the gateway's tokens.
                let team_settings = mcp_server::config::Settings {
                    resource: Some(team.clone()),
                    required_actor: Some(GATEWAY_CLIENT.to_owned()),
                    ..mcp_server::config::Settings::for_tests(&issuer, &spa_origin)
                };
                let team_server =
                    mcp_server::startup::Application::build_on(team_listener, team_settings).await?;
                let (tx, stop) = stopper();
                shutdown.push(tx);
                tokio::spawn(team_server.run_until(stop));

                let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/demo");
                let policy = options
                    .gateway
                    .flatten()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| demo.join("policy.cedar"));
                let upstream = |name: &str, resource: &str| mcp_gateway::upstream::Upstream {
                    name: name.to_owned(),
                    url: format!("{resource}/mcp"),
                    resource: resource.to_owned(),
                    // One request per call: the stateless form needs no session per call.
                    version: protocol::mcp::STATELESS_VERSION.to_owned(),
                };
                let mut allowed_origins = vec![axum::http::HeaderValue::from_str(&spa_origin)?];
                for origin in &options.extra_origins {
                    allowed_origins.push(axum::http::HeaderValue::from_str(origin)?);
                }
                let settings = mcp_gateway::config::Settings {
                    bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                    resource: Some(gateway.clone()),
                    authorization_server: issuer.clone(),
                    allowed_origins,
                    upstreams: vec![upstream("demo", &resource), upstream("team", &team)],
                    catalog: demo.join("catalog.json"),
                    policy,
                    credentials: mcp_gateway::hop::ClientCredentials::Secret {
                        client_id: GATEWAY_CLIENT.to_owned(),
                        secret,
                    },
                    audit_database_url: "sqlite::memory:".into(),
                    approval_expiry: std::time::Duration::from_secs(300),
                    upstream_sessions: mcp_gateway::upstream::SessionLimits::default(),
                    sessions_per_user: mcp_endpoint::sessions::MAX_SESSIONS_PER_USER,
                };
                let replica = if options.gateway_replica {
                    let (listener, address) = bind().await?;
                    let app = mcp_gateway::startup::Application::build_on(listener, settings.clone())
                        .await?
                        .with_trusted_proxies(trusted_proxies.clone());
                    let (tx, stop) = stopper();
                    shutdown.push(tx);
                    tokio::spawn(app.run_until(stop));
                    Some(address)
                } else {
                    None
                };
                let app = mcp_gateway::startup::Application::build_on(gateway_listener, settings)
                    .await?
                    .with_trusted_proxies(trusted_proxies);
                let audit = app.audit();
                let (tx, stop) = stopper();
                shutdown.push(tx);
                tokio::spawn(app.run_until(stop));
                Some(GatewayStack { resource: gateway, team_resource: team, audit, replica })
            }
            _ => None,
        };

        if let Some(dist) = spa_dist {
            let (tx, stop) = stopper();
            shutdown.push(tx);
            let app = spa_router(dist, &spa_origin);
            tokio::spawn(async move { axum::serve(spa_listener, app).with_graceful_shutdown(stop).await });
        }
        Ok(Self {
            issuer,
            resource,
            spa_origin,
            spa_alias_origin,
            confidential,
            gateway,
            _shutdown: shutdown,
        })
    }
}

/// Serves a Trunk `dist/` like `trunk serve` does: files as they are, and `index.html` for any
/// other path so that `/callback` reaches the app's router. The client metadata document is
/// written for `http://localhost:8080`; served from another origin it is rewritten for that one,
/// as a deployment would publish its own.
pub fn spa_router(dist: &Path, origin: &str) -> Router {
    let index = dist.join("index.html");
    let document = std::fs::read_to_string(dist.join("client-metadata.json"))
        .unwrap_or_default()
        .replace("http://localhost:8080", origin);
    Router::new()
        .route(
            "/client-metadata.json",
            axum::routing::get(move || async move {
                ([(axum::http::header::CONTENT_TYPE, "application/json")], document)
            }),
        )
        .fallback_service(ServeDir::new(dist).fallback(ServeFile::new(index)))
}

/// The `Bearer` challenge of a response's `WWW-Authenticate` headers.
pub fn challenge_of(response: &reqwest::Response) -> protocol::challenge::BearerChallenge {
    let values: Vec<&str> =
        response.headers().get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()).collect();
    protocol::challenge::BearerChallenge::from_header_values(values)
        .ok()
        .flatten()
        .expect("a Bearer challenge in WWW-Authenticate")
}

/// `dist/` of the workspace, or `$E2E_DIST`.
pub fn dist_dir() -> PathBuf {
    std::env::var_os("E2E_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist"))
}
