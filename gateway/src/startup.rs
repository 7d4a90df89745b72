//! Building and running the gateway: the catalog and policy are loaded (and refused with file and
//! line if they do not validate), the authorization server's metadata is read for its token and
//! backchannel endpoints, and the router is the same shape as `mcp-server`'s: public metadata,
//! `/mcp` behind the `Host`/`Origin` boundary and CORS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::routing::get;
use mcp_bearer::{ResourceGuard, Validator};
use mcp_endpoint::boundary::{Boundary, allowed_hosts};
use mcp_endpoint::cors;
use protocol::metadata::{
    AuthorizationServerMetadata, ProtectedResourceMetadata, authorization_server_metadata_urls,
    protected_resource_metadata_paths, protected_resource_metadata_url,
};
use protocol::resource::{check_issuer, check_resource};
use protocol::scope::Scopes;
use serve::client_addr::TrustedProxies;
use tokio::net::TcpListener;

use crate::approval::Approvals;
use crate::as_client::{AsClient, ClientCredentials};
use crate::audit::AuditLog;
use crate::catalog::{Catalog, Entry, Group, UpstreamTools};
use crate::config::Settings;
use crate::endpoint::{self, AppState};
use crate::hop::HopTokens;
use crate::policy::reload::PolicySource;
use crate::service::Gateway;

/// Where the gateway publishes its public keys, for the AS to fetch (`clients add --jwks-uri`).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// How long the gateway waits for the AS's metadata at startup (it may be starting too).
const DISCOVERY_PATIENCE: Duration = Duration::from_secs(30);

/// A bound, ready-to-serve gateway.
pub struct Application {
    listener: TcpListener,
    resource: String,
    router: Router,
    policies: Arc<PolicySource>,
    gateway: Arc<Gateway>,
    trusted_proxies: TrustedProxies,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        Self::build_on(listener, settings).await
    }

    /// Builds on a listener the caller already bound (`settings.bind` is ignored).
    pub async fn build_on(listener: TcpListener, settings: Settings) -> anyhow::Result<Self> {
        let address = listener.local_addr()?;
        let resource = settings.resource.clone().unwrap_or_else(|| format!("http://{address}"));
        let resource_url =
            check_resource(&resource).with_context(|| format!("resource {resource:?} is not valid"))?;
        let issuer = settings.authorization_server.clone();
        check_issuer(&issuer)
            .with_context(|| format!("authorization server {issuer:?} is not a valid issuer"))?;

        let catalog = load_catalog(&settings)?;
        let scopes_supported = scopes_of(&catalog, |_| true);
        let initial_scope =
            Scopes::from_tokens(scopes_of(&catalog, |entry| entry.group == Group::Read)).unwrap_or_default();
        let policies = Arc::new(PolicySource::load(&settings.policy, catalog)?);
        let metadata = discover(&issuer).await?;
        let token_endpoint =
            metadata.token_endpoint.clone().context("the AS's metadata has no token_endpoint")?;
        let bc_endpoint = metadata.backchannel_authentication_endpoint.clone().context(
            "the AS's metadata has no backchannel_authentication_endpoint: approvals need one (OpenID CIBA)",
        )?;
        let jwks = match &settings.credentials {
            ClientCredentials::PrivateKey { key, .. } => serde_json::json!({"keys": [key.public_jwk()]}),
            ClientCredentials::Secret { .. } => serde_json::json!({"keys": []}),
        };
        let client = Arc::new(AsClient::new(settings.credentials.clone()));
        let approvals = Approvals::new(
            client.clone(),
            bc_endpoint,
            token_endpoint.clone(),
            metadata.revocation_endpoint.clone(),
            format!("{}/approvals", issuer.trim_end_matches('/')),
            settings.approval_expiry.as_secs(),
        );
        let audit = AuditLog::open(&settings.audit_database_url).await.with_context(|| {
            format!(
                "cannot open the audit database {}",
                crate::audit::display_url(&settings.audit_database_url)
            )
        })?;
        let gateway = Arc::new(Gateway::new(
            policies.clone(),
            settings.upstreams.clone(),
            HopTokens::with_client(token_endpoint, client),
            approvals,
            audit,
            settings.upstream_sessions,
            settings.sessions_per_user,
        ));

        let resource_metadata_url = protected_resource_metadata_url(&resource_url);
        let validator = Arc::new(Validator::new(issuer.clone(), resource.clone()));
        let state = AppState {
            gateway: gateway.clone(),
            guard: ResourceGuard::new(validator, resource_metadata_url),
            metadata: Arc::new(ProtectedResourceMetadata {
                resource: resource.clone(),
                authorization_servers: vec![issuer],
                scopes_supported: Some(scopes_supported),
                bearer_methods_supported: Some(vec!["header".into()]),
                resource_name: Some("MCP OAuth reference gateway".into()),
                ..Default::default()
            }),
            jwks: Arc::new(jwks),
            initial_scope,
        };
        let metadata_paths = protected_resource_metadata_paths(&resource_url);
        let router = router(state, settings.allowed_origins.clone(), &resource, &metadata_paths);
        Ok(Self { listener, resource, router, policies, gateway, trusted_proxies: TrustedProxies::default() })
    }

    /// Reads the client address (the policy's `client_address`, and the audit record's) from the
    /// forwarding header `proxies` names (`--forwarded-header`) of requests whose peer is one of
    /// them (`--trusted-proxy`). Without it, the peer is the client: anyone can send that header.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.router = self.router.layer(axum::Extension(proxies.clone()));
        self.trusted_proxies = proxies;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The decision log (a handle on the same database).
    pub fn audit(&self) -> crate::audit::AuditLog {
        self.gateway.audit.clone()
    }

    /// The gateway's resource identifier (the audience client tokens must carry).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and writes the last
    /// audit records.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(resource = %self.resource, address = %self.local_addr(), "gateway listening");
        let trusted_proxies = &self.trusted_proxies;
        if !trusted_proxies.is_empty() {
            let header = trusted_proxies.header();
            tracing::info!(%trusted_proxies, %header, "client addresses of requests from these proxies are read from this header");
        }
        let watcher = self.policies.watch();
        let served = serve::serve(self.listener, self.router, shutdown).await;
        watcher.abort();
        if let Err(error) = self.gateway.audit.flush().await {
            tracing::error!(%error, "the last audit records could not be written");
        }
        served
    }
}

fn router(
    state: AppState,
    allowed_origins: Vec<axum::http::HeaderValue>,
    resource: &str,
    metadata_paths: &[String],
) -> Router {
    let public = metadata_paths
        .iter()
        .fold(Router::new(), |router, path| router.route(path, get(metadata)))
        .route(JWKS_PATH, get(jwks))
        .layer(cors::public());
    let origins = Arc::new(allowed_origins);
    let api = Router::new()
        .route("/mcp", get(endpoint::get).post(endpoint::post).delete(endpoint::delete))
        .layer(Boundary::new(allowed_hosts(resource), origins.clone()).into_layer())
        .layer(cors::api(origins));
    public.merge(api).with_state(state)
}

async fn metadata(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<ProtectedResourceMetadata> {
    axum::Json(state.metadata.as_ref().clone())
}

async fn jwks(axum::extract::State(state): axum::extract::State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(state.jwks.as_ref().clone())
}

/// The catalog file: upstream name → its tools as configured.
fn load_catalog(settings: &Settings) -> anyhow::Result<Catalog> {
    let path = &settings.catalog;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the catalog {}", path.display()))?;
    let upstreams: BTreeMap<String, UpstreamTools> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a catalog", path.display()))?;
    for name in upstreams.keys() {
        if !settings.upstreams.iter().any(|u| &u.name == name) {
            bail!("the catalog names upstream {name:?}, but no --upstream {name}=URL is configured");
        }
    }
    for upstream in &settings.upstreams {
        if !upstreams.contains_key(&upstream.name) {
            tracing::warn!(upstream = %upstream.name, "no tools of this upstream are in the catalog: none are offered");
        }
    }
    let (catalog, skipped) = Catalog::build(&upstreams);
    for skip in skipped {
        tracing::warn!(upstream = %skip.upstream, tool = ?skip.tool, reason = %skip.reason, "left out of the catalog");
    }
    Ok(catalog)
}

/// Every scope some tool of `which` needs: all of them are what the gateway's metadata
/// advertises; those of the read tools are what a first `401` asks for (least privilege: a client
/// steps up to write when it first writes).
fn scopes_of(catalog: &Catalog, which: impl Fn(&Entry) -> bool) -> Vec<String> {
    let mut scopes: Vec<String> = catalog
        .entries()
        .filter(|e| which(e))
        .filter_map(|e| e.scopes.as_ref())
        .flat_map(|s| s.iter().map(str::to_owned))
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// The AS's metadata (RFC 8414), retried for a while: in the demo the AS starts alongside.
async fn discover(issuer: &str) -> anyhow::Result<AuthorizationServerMetadata> {
    let url = url::Url::parse(issuer)?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()?;
    let deadline = tokio::time::Instant::now() + DISCOVERY_PATIENCE;
    let mut last_error = String::new();
    loop {
        for candidate in authorization_server_metadata_urls(&url) {
            match fetch_metadata(&http, &candidate, issuer).await {
                Ok(metadata) => return Ok(metadata),
                Err(error) => last_error = format!("{candidate}: {error}"),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("cannot read the authorization server's metadata: {last_error}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn fetch_metadata(
    http: &reqwest::Client,
    url: &str,
    issuer: &str,
) -> anyhow::Result<AuthorizationServerMetadata> {
    let response = http.get(url).send().await?;
    if !response.status().is_success() {
        bail!("answered {}", response.status());
    }
    let metadata: AuthorizationServerMetadata = response.json().await?;
    metadata.validate_for_issuer(issuer)?;
    Ok(metadata)
}
