//! The real binaries as child processes: started on free loopback ports, their logs kept, and
//! stopped the hard way (`SIGKILL`) or the polite one (`SIGTERM`).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The demo user's password, set with `--demo-password` on every start.
pub const DEMO_PASSWORD: &str = test_support::stack::DEMO_PASSWORD;

/// A free port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Where one scenario's programs live: a fresh database in a temporary directory, and the ports
/// the authorization server and the resource server will listen on.
pub struct Site {
    _dir: tempfile::TempDir,
    pub db: PathBuf,
    pub auth_port: u16,
    pub server_port: u16,
    /// The resource server's identifier (and base URL).
    pub resource: String,
}

impl Site {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("auth.db");
        let (auth_port, server_port) = (free_port()?, free_port()?);
        Ok(Self {
            _dir: dir,
            db,
            auth_port,
            server_port,
            resource: format!("http://127.0.0.1:{server_port}"),
        })
    }
}

/// A running child process and everything it printed.
pub struct Proc {
    name: String,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(name: &str, command: &mut Command) -> anyhow::Result<Self> {
        let mut child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            collect(BufReader::new(out), log.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(BufReader::new(err), log.clone());
        }
        Ok(Self { name: name.to_owned(), child, log })
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many threads the process has now (Linux), to see that waiting does not pile them up.
    pub fn threads(&self) -> Option<usize> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok())
    }

    /// `kill -9`: no chance to finish anything.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// `SIGTERM`, then waits up to `grace` for the process to exit by itself.
    pub async fn terminate(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        let Some(pid) = self.child.id() else { return Ok(self.child.wait().await?) };
        std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                self.kill9().await?;
                bail!("{} did not exit within {grace:?} of SIGTERM", self.name)
            }
        }
    }
}

fn collect<R: tokio::io::AsyncRead + Unpin + Send + 'static>(reader: BufReader<R>, log: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = reader.lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
}

/// Waits until `url` answers at all (any status).
pub async fn wait_until_up(url: &str, within: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        if http.get(url).timeout(Duration::from_secs(1)).send().await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not come up within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where the binaries are, and the arguments every start of them shares.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub dir: PathBuf,
}

impl Binaries {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `mcp-auth` on `port` with its database at `db`, issuing tokens for `resource`.
    pub async fn auth(&self, db: &Path, port: u16, resource: &str, extra: &[&str]) -> anyhow::Result<Auth> {
        let issuer = format!("http://127.0.0.1:{port}");
        self.auth_on(&database_url(db), port, &issuer, resource, extra).await
    }

    /// `mcp-auth` on `port` with the database at `database_url`, naming itself `issuer` (a replica
    /// behind a proxy has the proxy's URL); returns once `port` answers.
    pub async fn auth_on(
        &self,
        database_url: &str,
        port: u16,
        issuer: &str,
        resource: &str,
        extra: &[&str],
    ) -> anyhow::Result<Auth> {
        let mut command = Command::new(self.path("mcp-auth"));
        command
            .arg("serve")
            .args(["--database-url", database_url])
            .args(["--bind", &format!("127.0.0.1:{port}"), "--issuer", issuer])
            .args(["--resource", &format!("{resource} echo profile notes:read notes:write")])
            .args(["--demo-password", DEMO_PASSWORD])
            .args(extra);
        let proc = Proc::spawn("mcp-auth", &mut command)?;
        let own = format!("http://127.0.0.1:{port}");
        wait_until_up(&format!("{own}/.well-known/oauth-authorization-server"), Duration::from_secs(30))
            .await
            .with_context(|| format!("mcp-auth did not start; its log:\n{}", proc.log()))?;
        Ok(Auth { proc, issuer: issuer.to_owned() })
    }

    /// `mcp-server` on `port`, trusting `issuer`.
    pub async fn server(&self, port: u16, issuer: &str, extra: &[&str]) -> anyhow::Result<Server> {
        let resource = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(self.path("mcp-server"));
        command
            .args(["--bind", &format!("127.0.0.1:{port}"), "--resource", &resource])
            .args(["--authorization-server", issuer])
            // The notes tools' database: nothing here uses it, and several servers run at once.
            .args(["--database-url", "sqlite::memory:"])
            .args(extra);
        let proc = Proc::spawn("mcp-server", &mut command)?;
        wait_until_up(&format!("{resource}/.well-known/oauth-protected-resource"), Duration::from_secs(30))
            .await
            .with_context(|| format!("mcp-server did not start; its log:\n{}", proc.log()))?;
        Ok(Server { proc, resource })
    }

    /// Runs an `mcp-auth` administration command to completion.
    pub async fn auth_admin(&self, db: &Path, args: &[&str]) -> anyhow::Result<String> {
        self.auth_admin_on(&database_url(db), args).await
    }

    /// [`Binaries::auth_admin`] on the database at `database_url`.
    pub async fn auth_admin_on(&self, database_url: &str, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(self.path("mcp-auth"))
            .args(args)
            .args(["--database-url", database_url])
            .output()
            .await?;
        if !output.status.success() {
            bail!("mcp-auth {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

pub fn database_url(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

/// A running authorization server.
pub struct Auth {
    pub proc: Proc,
    pub issuer: String,
}

/// A running resource server.
pub struct Server {
    pub proc: Proc,
    pub resource: String,
}
