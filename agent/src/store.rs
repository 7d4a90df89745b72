//! The token store: one JSON file per authorization server (issuer) under the agent's directory,
//! holding the client registration made there and the tokens it issued, per resource.
//!
//! * The directory is created `0700` and every file `0600`, before anything is written to it.
//! * A file is replaced atomically (written beside, flushed, renamed over), so a crash or a full
//!   disk leaves the previous version, never half of one.
//! * Read-modify-write runs under an exclusive lock on a companion `.lock` file. Refreshing holds
//!   that lock across the request to the token endpoint, so two agents running at once cannot
//!   both spend the same single-use refresh token, which would look like token theft to the
//!   authorization server and revoke the whole grant (OAuth 2.1 §4.3.1).
//! * Taking the lock never blocks the thread: the concurrent calls of one model turn are futures
//!   of one task, and one of them waiting in `flock` for a lock another holds across an `await`
//!   would stop both for good. Within the process an async mutex per issuer gives the turns; the
//!   file lock, for other processes, is tried and retried after a short sleep.
//! * A file that cannot be parsed is reported and left alone, never overwritten.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::secret::{AccessToken, ClientSecret, RefreshToken};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AgentError, Result};

/// How the agent authenticates at the token endpoint (RFC 6749 §2.3, RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuth {
    /// A public client: `client_id` in the body, PKCE proves the rest.
    None,
    /// `Authorization: Basic` with the form-encoded id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
}

impl TokenEndpointAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuth::None => "none",
            TokenEndpointAuth::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuth::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(TokenEndpointAuth::None),
            "client_secret_basic" => Some(TokenEndpointAuth::ClientSecretBasic),
            "client_secret_post" => Some(TokenEndpointAuth::ClientSecretPost),
            _ => None,
        }
    }
}

/// Who the agent is at one authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    pub auth: TokenEndpointAuth,
}

/// A registration made with RFC 7591 at this issuer, reused for later logins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub client: Client,
    /// The redirect URI registered; its port is tried first on the next login, for servers that
    /// compare loopback redirect URIs exactly (RFC 8252 §7.3 says they must not).
    pub redirect_uri: String,
}

/// Tokens for one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The authorization server that issued the tokens (the file's issuer).
    pub issuer: String,
    /// The resource indicator the tokens are bound to (RFC 8707), exactly as its metadata says.
    pub resource: String,
    pub client: Client,
    pub token_endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    pub access_token: AccessToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// The scope granted (the token response's, else the one requested), space-separated.
    #[serde(default)]
    pub scope: String,
    /// Seconds since the epoch; `None` when the server did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl Grant {
    /// Is the access token expired, or about to (within `margin` seconds)?
    pub fn expires_within(&self, now: u64, margin: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now.saturating_add(margin))
    }
}

/// Everything stored for one authorization server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerFile {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// Grants by resource.
    #[serde(default)]
    pub grants: BTreeMap<String, Grant>,
}

/// How long to wait before trying again for a file lock another process holds.
const LOCK_RETRY: Duration = Duration::from_millis(20);

/// The directory of issuer files.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// Whose turn it is at each issuer's file, among the clones of this store (an `Access` and
    /// its forks): an async mutex per issuer, awaited before the file lock is tried.
    turns: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// An exclusive lock on one issuer's file; released when dropped.
pub struct Locked {
    _file: File,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Store {
    /// The store at `dir`, created (mode `0700`) if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        Ok(Self { dir, turns: Arc::default() })
    }

    /// `$MCP_AGENT_HOME`, else the platform's config directory (`~/.config/mcp-agent` on Linux).
    pub fn default_dir() -> Result<PathBuf> {
        if let Some(home) = std::env::var_os("MCP_AGENT_HOME").filter(|h| !h.is_empty()) {
            return Ok(PathBuf::from(home));
        }
        dirs::config_dir().map(|d| d.join("mcp-agent")).ok_or_else(|| {
            AgentError::Store("no configuration directory for this user; set MCP_AGENT_HOME".into())
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file for `issuer`: readable host and port, plus a hash of the whole issuer so that
    /// `https://a.example/x` and `https://a.example/y` never share a file.
    pub fn path_for(&self, issuer: &str) -> PathBuf {
        let readable: String = url::Url::parse(issuer)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| format!("{h}{}", u.port().map(|p| format!("_{p}")).unwrap_or_default()))
            })
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' })
            .take(64)
            .collect();
        let hash = Sha256::digest(issuer.as_bytes());
        let hash = protocol::hex(&hash[..8]);
        self.dir.join(format!("{readable}-{hash}.json"))
    }

    /// Waits for the exclusive lock on `issuer`'s file, without blocking the thread (see the
    /// module documentation): first this process's turn, then the file lock against others.
    pub async fn lock(&self, issuer: &str) -> Result<Locked> {
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            turns.entry(issuer.to_owned()).or_default().clone()
        };
        let turn = turn.lock_owned().await;
        let path = self.path_for(issuer).with_extension("lock");
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| store_error(&path, "cannot open", e))?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Locked { _file: file, _turn: turn }),
                // Another process holds it (a refresh takes a request's time at most).
                Err(TryLockError::WouldBlock) => tokio::time::sleep(LOCK_RETRY).await,
                Err(TryLockError::Error(e)) => return Err(store_error(&path, "cannot lock", e)),
            }
        }
    }

    /// What is stored for `issuer` (empty if nothing is).
    pub fn load(&self, issuer: &str) -> Result<IssuerFile> {
        let path = self.path_for(issuer);
        match read_file(&path)? {
            Some(file) if file.issuer == issuer => Ok(file),
            Some(file) => Err(AgentError::Store(format!(
                "{} holds tokens for {}, not {issuer}; refusing to mix them",
                path.display(),
                file.issuer
            ))),
            None => Ok(IssuerFile { issuer: issuer.to_owned(), ..Default::default() }),
        }
    }

    /// Replaces `issuer`'s file. Call it with the lock held ([`Store::update`] does).
    pub fn save(&self, file: &IssuerFile) -> Result<()> {
        let path = self.path_for(&file.issuer);
        let json = serde_json::to_vec_pretty(file).map_err(|e| AgentError::Store(e.to_string()))?;
        write_atomically(&path, &json)
    }

    /// Locks, loads, lets `change` modify, saves.
    pub async fn update<T>(&self, issuer: &str, change: impl FnOnce(&mut IssuerFile) -> T) -> Result<T> {
        let _lock = self.lock(issuer).await?;
        let mut file = self.load(issuer)?;
        let result = change(&mut file);
        self.save(&file)?;
        Ok(result)
    }

    /// Every issuer file, in name order. Unreadable files are errors, not skipped.
    pub fn all(&self) -> Result<Vec<IssuerFile>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(store_error(&self.dir, "cannot list", e)),
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            if let Some(file) = read_file(&path)? {
                files.push(file);
            }
        }
        Ok(files)
    }

    /// The stored grant whose resource covers `url` (the longest such resource, if several do).
    pub fn grant_for(&self, url: &str) -> Result<Option<Grant>> {
        let mut best: Option<Grant> = None;
        for file in self.all()? {
            for grant in file.grants.into_values() {
                let better = best.as_ref().is_none_or(|b| grant.resource.len() > b.resource.len());
                if protocol::resource::resource_covers(&grant.resource, url) && better {
                    best = Some(grant);
                }
            }
        }
        Ok(best)
    }

    /// Stores `grant` in its issuer's file, and drops grants for the same resource held from
    /// other issuers: the resource moved to another authorization server, and the old tokens
    /// must not be picked up again.
    pub async fn put_grant(&self, grant: &Grant) -> Result<()> {
        self.update(&grant.issuer, |file| file.grants.insert(grant.resource.clone(), grant.clone())).await?;
        for file in self.all()? {
            if file.issuer != grant.issuer && file.grants.contains_key(&grant.resource) {
                self.update(&file.issuer, |f| f.grants.remove(&grant.resource)).await?;
            }
        }
        Ok(())
    }
}

fn store_error(path: &Path, what: &str, error: std::io::Error) -> AgentError {
    AgentError::Store(format!("{what} {}: {error}", path.display()))
}

fn read_file(path: &Path) -> Result<Option<IssuerFile>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(store_error(path, "cannot read", e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        AgentError::Store(format!(
            "{} is not a token store file ({e}); it was left as it is: move it away or fix it",
            path.display()
        ))
    })
}

#[cfg(unix)]
fn private_options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = OpenOptions::new();
    options.mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> OpenOptions {
    OpenOptions::new()
}

fn create_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| store_error(dir, "cannot create", e))?;
        // An existing directory keeps its mode unless it is open to others: then tighten it.
        let mode = fs::metadata(dir).map_err(|e| store_error(dir, "cannot read", e))?.permissions().mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| store_error(dir, "cannot restrict", e))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    fs::create_dir_all(dir).map_err(|e| store_error(dir, "cannot create", e))
}

/// Writes `bytes` beside `path` (mode `0600` from creation, no window where others can read),
/// flushes it to disk, and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = private_options().write(true).create(true).truncate(true).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        if let Some(parent) = path.parent()
            && let Ok(dir) = File::open(parent)
        {
            // Makes the rename itself durable; not possible on every platform, hence no `?`.
            let _ = dir.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&temporary);
        store_error(path, "cannot write", e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(resource: &str) -> Grant {
        Grant {
            issuer: "https://as.example".into(),
            resource: resource.into(),
            client: Client { client_id: "c".into(), client_secret: None, auth: TokenEndpointAuth::None },
            token_endpoint: "https://as.example/token".into(),
            revocation_endpoint: None,
            access_token: AccessToken::new("at"),
            refresh_token: Some(RefreshToken::new("rt")),
            scope: "echo".into(),
            expires_at: Some(100),
        }
    }

    #[tokio::test]
    async fn round_trips_and_finds_the_longest_covering_resource() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("agent")).unwrap();
        store
            .update("https://as.example", |f| {
                f.grants.insert("https://mcp.example".into(), grant("https://mcp.example"));
                f.grants.insert("https://mcp.example/mcp".into(), grant("https://mcp.example/mcp"));
            })
            .await
            .unwrap();
        let found = store.grant_for("https://mcp.example/mcp").unwrap().unwrap();
        assert_eq!(found.issuer, "https://as.example");
        assert_eq!(found.resource, "https://mcp.example/mcp");
        assert_eq!(
            store.grant_for("https://mcp.example/echo").unwrap().unwrap().resource,
            "https://mcp.example"
        );
        assert!(store.grant_for("https://other.example/mcp").unwrap().is_none());
        assert_eq!(store.load("https://as.example").unwrap().grants.len(), 2);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_private_from_creation() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("agent")).unwrap();
        store.update("https://as.example", |f| f.grants.insert("r".into(), grant("r"))).await.unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&store.path_for("https://as.example")), 0o600);
        assert_eq!(mode(&store.path_for("https://as.example").with_extension("lock")), 0o600);
    }

    #[tokio::test]
    async fn a_new_grant_from_another_issuer_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_grant(&grant("https://mcp.example")).await.unwrap();
        let moved = Grant { issuer: "https://new-as.example".into(), ..grant("https://mcp.example") };
        store.put_grant(&moved).await.unwrap();
        assert_eq!(
            store.grant_for("https://mcp.example/mcp").unwrap().unwrap().issuer,
            "https://new-as.example"
        );
        assert!(store.load("https://as.example").unwrap().grants.is_empty());
    }

    #[test]
    fn distinct_issuers_on_one_host_get_distinct_files() {
        let store = Store { dir: PathBuf::from("/x"), turns: Arc::default() };
        let a = store.path_for("https://as.example/tenant-a");
        let b = store.path_for("https://as.example/tenant-b");
        assert_ne!(a, b);
        assert!(a.file_name().unwrap().to_string_lossy().starts_with("as.example-"));
        assert!(store.path_for("http://localhost:9000").to_string_lossy().contains("localhost_9000-"));
    }

    #[tokio::test]
    async fn a_corrupt_file_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = store.path_for("https://as.example");
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(store.load("https://as.example"), Err(AgentError::Store(_))));
        assert!(store.update("https://as.example", |_| ()).await.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{not json");
    }

    #[test]
    fn a_file_for_another_issuer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let other = IssuerFile { issuer: "https://evil.example".into(), ..Default::default() };
        fs::write(store.path_for("https://as.example"), serde_json::to_vec(&other).unwrap()).unwrap();
        assert!(store.load("https://as.example").is_err());
    }
}
