//! Building and running the server.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use protocol::resource::check_issuer;
use protocol::secret::Password;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::keyring::{KeyRing, RELOAD_INTERVAL};
use crate::sealed_code::CodeSeal;
use crate::state::{AppState, RuntimeConfig, secs};
use crate::store::sweep::Sweeper;
use crate::store::{CODE_SEALING, Store, User};
use crate::{password, random, routes};

/// A bound, ready-to-serve authorization server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens the database, loads or creates the signing key, seeds the demo user if asked, and
    /// binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with a chosen clock (tests move time by hand).
    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        Self::build_on(listener, settings, clock).await
    }

    /// Builds on a listener the caller already bound (`settings.bind` is ignored): lets a test bind
    /// every server of a stack first, so each knows the others' URLs before any starts.
    pub async fn build_on(
        listener: TcpListener,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let address = listener.local_addr()?;
        let issuer = settings.issuer.clone().unwrap_or_else(|| format!("http://{address}"));
        let issuer_url = check_issuer(&issuer).with_context(|| format!("issuer {issuer:?} is not valid"))?;
        if issuer.ends_with('/') {
            anyhow::bail!("issuer {issuer:?} must not end with '/': clients compare it byte for byte");
        }

        if secs(settings.sweep.audit_retention) < crate::throttle::WINDOW_SECS {
            anyhow::bail!(
                "audit events must be kept at least {} s: the login throttle counts failures from them",
                crate::throttle::WINDOW_SECS
            );
        }

        let (store, schema) =
            Store::open(&settings.database_url, settings.migrations).await.with_context(|| {
                format!("cannot open database {}", crate::store::display_url(&settings.database_url))
            })?;
        for (version, description) in &schema.applied_now {
            tracing::info!(version, description = description.as_str(), "applied a database migration");
        }
        let keys = KeyRing::load_or_create(&store, clock.now()).await?;
        let secret = store.sealing_secret(CODE_SEALING, &CodeSeal::generate_secret(), clock.now()).await?;
        let code_seal = CodeSeal::new(&secret)?;
        if let Some(seed) = &settings.seed_user {
            seed_user(&store, &seed.username, &seed.password, clock.now()).await?;
        }

        for credential in &settings.introspection_credentials {
            if !settings.resources.iter().any(|r| r.resource == credential.resource) {
                anyhow::bail!(
                    "introspection credential for {:?}, which is not a configured resource",
                    credential.resource
                );
            }
        }
        if settings.client_metadata.allow_loopback {
            tracing::warn!(
                "loopback client metadata documents are allowed: a development setting, never for production"
            );
        }
        let dummy_password_hash = password::hash(&Password::new(random::token()))
            .map_err(|e| anyhow::anyhow!("cannot hash the timing-equaliser password: {e}"))?;
        let config = RuntimeConfig {
            secure_cookies: issuer_url.scheme() == "https",
            issuer,
            dummy_password_hash,
            settings,
        };
        let state = AppState {
            config: Arc::new(config),
            store,
            keys: Arc::new(keys),
            code_seal: Arc::new(code_seal),
            clock,
            metadata_fetches: Arc::default(),
            client_keys: Arc::default(),
            sign_ins: Arc::default(),
            password_checks: Arc::new(tokio::sync::Semaphore::new(crate::login::verification_slots())),
        };
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn issuer(&self) -> &str {
        &self.state.config.issuer
    }

    /// The store, for tests and the command line to look at.
    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    /// The signing keys (tests reload them after a rotation instead of waiting).
    pub fn keys(&self) -> Arc<KeyRing> {
        self.state.keys.clone()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(issuer = %self.state.config.issuer, address = %self.local_addr(), "authorization server listening");
        let trusted_proxies = &self.state.config.settings.trusted_proxies;
        if !trusted_proxies.is_empty() {
            let header = trusted_proxies.header();
            tracing::info!(%trusted_proxies, %header, "client addresses of requests from these proxies are read from this header");
        }
        // Pick up key rotations done by `mcp-auth keys rotate` while this server runs.
        let keys = self.state.keys.clone();
        let reloader = tokio::spawn(async move {
            let mut interval = tokio::time::interval(RELOAD_INTERVAL);
            loop {
                interval.tick().await;
                if let Err(error) = keys.reload().await {
                    tracing::error!(%error, "could not reload the signing keys; keeping the ones loaded");
                }
            }
        });
        let store = self.state.store.clone();
        let sweeper =
            Sweeper::start(store.clone(), self.state.clock.clone(), self.state.config.settings.sweep.clone());
        // `serve` hands handlers the peer address, from which (and the headers of trusted proxies)
        // the client address of the login throttle and the audit trail is found.
        let served = serve::serve(self.listener, routes::router(self.state), shutdown).await;
        reloader.abort();
        sweeper.stop().await;
        // Every request has finished: checkpoint the WAL and close, so a stopped server leaves a
        // complete database file behind.
        store.close().await;
        served
    }
}

/// Creates a user unless one of that name exists. Loud, because a known password is a demo
/// convenience and a production hazard.
async fn seed_user(store: &Store, username: &str, password: &Password, now: i64) -> anyhow::Result<()> {
    if store.find_user_by_username(username).await?.is_some() {
        return Ok(());
    }
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || password::hash(&password))
            .await?
            .map_err(|e| anyhow::anyhow!("cannot hash the seed password: {e}"))?
    };
    let user = User { id: random::token(), username: username.to_owned(), password_hash: hash };
    if store.insert_user_if_absent(&user, now).await? {
        tracing::warn!(%username, "created a user with a password given on the command line: for demos only");
    }
    Ok(())
}
