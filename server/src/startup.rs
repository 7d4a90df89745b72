//! Building and running the server.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use protocol::metadata::{
    ProtectedResourceMetadata, protected_resource_metadata_paths, protected_resource_metadata_url,
};
use protocol::resource::{check_issuer, check_resource};
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::mcp::McpService;
use crate::notes::Notes;
use crate::routes;
use crate::state::{AppState, Shared};
use mcp_bearer::{ResourceGuard, Validator};

/// The scopes this server understands, advertised in its metadata.
pub const SCOPES_SUPPORTED: &[&str] = &["echo", "profile", "notes:read", "notes:write"];

/// A bound, ready-to-serve resource server.
pub struct Application {
    listener: TcpListener,
    resource: String,
    router: Router,
    /// The validator and how often to refresh its keys in the background, if at all.
    key_refresh: Option<(std::sync::Weak<Validator>, std::time::Duration)>,
    /// The notes tools' database, closed once serving has stopped.
    notes: Notes,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        Self::build_on(listener, settings).await
    }

    /// Builds on a listener the caller already bound (`settings.bind` is ignored): lets a test bind
    /// every server of a stack first, so each knows the others' URLs before any starts.
    pub async fn build_on(listener: TcpListener, settings: Settings) -> anyhow::Result<Self> {
        let introspection = settings.introspection.clone();
        Self::build_on_with(listener, settings, move |issuer, resource| {
            let validator = Validator::new(issuer, resource);
            match introspection {
                Some(introspection) => validator.with_introspection(introspection),
                None => validator,
            }
        })
        .await
    }

    /// [`Application::build_on`] with a chosen validator, made from the issuer and the resource
    /// (the benchmark's ceiling uses [`Validator::dangerously_disabled_for_benchmarks`]).
    pub async fn build_on_with(
        listener: TcpListener,
        settings: Settings,
        validator: impl FnOnce(String, String) -> Validator,
    ) -> anyhow::Result<Self> {
        let address = listener.local_addr()?;
        let resource = settings.resource.clone().unwrap_or_else(|| format!("http://{address}"));
        let resource_url =
            check_resource(&resource).with_context(|| format!("resource {resource:?} is not valid"))?;
        check_issuer(&settings.authorization_server).with_context(|| {
            format!("authorization server {:?} is not a valid issuer", settings.authorization_server)
        })?;

        let metadata = ProtectedResourceMetadata {
            resource: resource.clone(),
            authorization_servers: vec![settings.authorization_server.clone()],
            scopes_supported: Some(SCOPES_SUPPORTED.iter().map(|s| (*s).to_owned()).collect()),
            bearer_methods_supported: Some(vec!["header".into()]),
            resource_signing_alg_values_supported: None,
            resource_name: Some("MCP OAuth reference server".into()),
            ..Default::default()
        };
        let validator = validator(settings.authorization_server.clone(), resource.clone());
        let validator = Arc::new(match &settings.required_actor {
            Some(actor) => {
                tracing::info!(%actor, "accepting only tokens presented by this client (--require-actor)");
                validator.with_required_actor(actor.clone())
            }
            None => validator,
        });
        let key_refresh = settings.jwks_refresh_interval.map(|every| (Arc::downgrade(&validator), every));
        let resource_metadata_url = protected_resource_metadata_url(&resource_url);
        let notes = Notes::open(&settings.database_url)
            .await
            .with_context(|| format!("cannot open the notes database {}", settings.database_url))?;
        let state = AppState::new(Shared {
            guard: ResourceGuard::new(validator, resource_metadata_url),
            metadata,
            mcp: McpService::new(settings.conformance_tools, notes.clone(), settings.sessions_per_user),
        });
        if settings.conformance_tools {
            tracing::warn!("serving the MCP conformance suite's diagnostic tools (--conformance-tools)");
        }
        let allowed_hosts = routes::allowed_hosts(&resource);
        let metadata_paths = protected_resource_metadata_paths(&resource_url);
        let router = routes::router(state, settings.allowed_origins, allowed_hosts, &metadata_paths);
        Ok(Self { listener, resource, router, key_refresh, notes })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// This server's resource identifier (the audience its tokens must carry).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(resource = %self.resource, address = %self.local_addr(), "resource server listening");
        if let Some((validator, every)) = self.key_refresh {
            // Ends by itself once the server (the validator's last owner) is gone.
            tokio::spawn(Validator::refresh_keys_every(validator, every));
        }
        let served = serve::serve(self.listener, self.router, shutdown).await;
        // Every request has finished: leave one complete database file behind.
        self.notes.close().await;
        served
    }
}
