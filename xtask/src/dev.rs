//! `cargo xtask dev`: the whole demo on one terminal.
//!
//! Builds the programs, then runs `mcp-auth` (:9000, with the demo users), two `mcp-server`s
//! (:9090, and :9091 as the gateway's second upstream `team`), `mcp-gateway` (:9100, with the demo
//! catalog and policy of `gateway/demo/`) and `trunk serve` (:8080), waits until all of them
//! answer, and prints where to go. Ctrl-C (or SIGTERM) stops them all; if one dies, the others are
//! stopped too. State lives in `target/dev/` (databases, the gateway's key), kept between runs.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cmd::{self, Result, say};
use crate::tools::{self, Needs};

/// The demo user's password. Printed in the banner; never use this setup for anything real.
pub const DEMO_PASSWORD: &str = "demo-password";
/// A second demo user, in the groups `admins` and `team` (the demo policy gives them deletes,
/// with approval, and the `team` upstream).
pub const ADMIN_USER: &str = "ada";
pub const ADMIN_PASSWORD: &str = "ada-password";

const GATEWAY: &str = "http://localhost:9100";
/// The gateway's upstreams (`demo` and `team`).
const UPSTREAMS: [&str; 2] = ["http://localhost:9090", "http://localhost:9091"];
const SCOPES: &str = "echo profile notes:read notes:write";

struct Service {
    name: &'static str,
    port: u16,
    child: Child,
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(200)).is_ok()
}

pub fn run(root: &Path) -> Result {
    let tools = tools::ensure(root, Needs { browser: false })?;
    for port in [9000, 9090, 9091, 9100, 8080] {
        if listening(port) {
            return Err(format!("port {port} is already in use; stop whatever is listening there first"));
        }
    }
    say("== building the servers and the agent");
    cmd::run(cmd::cargo().current_dir(root).args([
        "build",
        "-p",
        "mcp-auth",
        "-p",
        "mcp-server",
        "-p",
        "mcp-agent",
        "-p",
        "mcp-gateway",
    ]))?;
    let data = root.join("target/dev");
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let bin = root.join("target/debug");
    let database = format!("sqlite://{}/mcp-auth.db", data.display());
    register_gateway(&bin, &data, &database)?;

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;

    say("== starting auth (:9000), servers (:9090, :9091), the gateway (:9100) and the SPA (:8080)");
    let mut services = Vec::new();
    let mut start = |name: &'static str, port: u16, command: &mut Command| -> Result {
        let child = command.current_dir(root).spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        services.push(Service { name, port, child });
        Ok(())
    };
    let resources =
        [UPSTREAMS[0], UPSTREAMS[1], GATEWAY].map(|resource| format!("{resource} {SCOPES}")).join(";");
    let started = start(
        "auth",
        9000,
        Command::new(bin.join("mcp-auth")).args([
            "--database-url",
            &database,
            "--demo-password",
            DEMO_PASSWORD,
            // The SPA's client id is its own metadata document at http://localhost:8080/…
            "--dev-allow-loopback-client-metadata",
            "--resource",
            &resources,
            // The gateway's policy reads the user's groups.
            "--groups-claim",
            GATEWAY,
        ]),
    )
    .and_then(|()| {
        let notes = format!("sqlite://{}/mcp-server.db", data.display());
        start("server", 9090, Command::new(bin.join("mcp-server")).args(["--database-url", &notes]))
    })
    .and_then(|()| {
        let notes = format!("sqlite://{}/mcp-team.db", data.display());
        // Only the gateway's tokens: nobody reaches the team's tools around its group rule.
        let args = [
            "--bind",
            "127.0.0.1:9091",
            "--resource",
            "http://localhost:9091",
            "--database-url",
            &notes,
            "--require-actor",
            "mcp-gateway",
        ];
        start("team server", 9091, Command::new(bin.join("mcp-server")).args(args))
    })
    .and_then(|()| {
        let demo = root.join("gateway/demo");
        let audit = format!("sqlite://{}/mcp-gateway.db", data.display());
        start(
            "gateway",
            9100,
            Command::new(bin.join("mcp-gateway")).arg("serve").args([
                "--upstream".as_ref(),
                "demo=http://localhost:9090/mcp,version=2026-07-28".as_ref(),
                "--upstream".as_ref(),
                "team=http://localhost:9091/mcp,version=2026-07-28".as_ref(),
                "--catalog".as_ref(),
                demo.join("catalog.json").as_os_str(),
                "--policy".as_ref(),
                demo.join("policy.cedar").as_os_str(),
                "--key-file".as_ref(),
                data.join("mcp-gateway.key").as_os_str(),
                "--audit-database-url".as_ref(),
                std::ffi::OsStr::new(&audit),
            ]),
        )
    })
    .and_then(|()| start("spa", 8080, Command::new(&tools.trunk).arg("serve").env("PATH", &tools.path)));
    let outcome = started.and_then(|()| supervise(&mut services, &stop));
    shut_down(&mut services);
    outcome
}

/// Registers the gateway at the AS (`private_key_jwt`, its key in `target/dev`) and the second
/// demo user, before the AS starts; both are kept in its database, so later runs find them.
fn register_gateway(bin: &Path, data: &Path, database: &str) -> Result {
    let key = data.join("mcp-gateway.key");
    let new_key = !key.exists();
    let jwks =
        cmd::output(bin.join("mcp-gateway"), &["key".as_ref(), "--key-file".as_ref(), key.as_os_str()])
            .ok_or("cannot create the gateway's key (mcp-gateway key)")?;
    let jwks_file = data.join("mcp-gateway.jwks.json");
    std::fs::write(&jwks_file, jwks).map_err(|e| format!("cannot write {}: {e}", jwks_file.display()))?;
    let jwks_file = jwks_file.display().to_string();
    let auth = bin.join("mcp-auth");
    // A database of an earlier run may hold the client as registered before `--exchange-to`
    // existed (free to exchange for any resource, warned about at each use): it is given its
    // upstreams.
    let listed = cmd::output(&auth, &["clients", "list", "--database-url", database])
        .ok_or("cannot list the AS's clients (mcp-auth clients list)")?;
    let registered = listed.lines().find(|line| line.starts_with("mcp-gateway\t"));
    if registered.is_some() && new_key {
        // The key file was deleted but not the AS's database, which holds the old public key:
        // the gateway could not authenticate there (no exchange, no approval). Registered again
        // below with the new key; what hung on the old registration (its users' grants and
        // standing approvals in this demo database) goes with it.
        say("  the gateway's key is new but the AS holds its old one: registering the gateway again");
        cmd::output(&auth, &["clients", "remove", "mcp-gateway", "--database-url", database])
            .ok_or("cannot remove the gateway's old registration (mcp-auth clients remove)")?;
    } else if registered.is_some_and(|line| line.contains("ANY RESOURCE")) {
        say("  the gateway's client predates --exchange-to: naming its upstreams");
        let set =
            ["clients", "exchange-to", "mcp-gateway", UPSTREAMS[0], UPSTREAMS[1], "--database-url", database];
        cmd::output(&auth, &set)
            .ok_or("cannot set the gateway's upstreams (mcp-auth clients exchange-to)")?;
    }
    once(
        "the gateway's client at the AS",
        Command::new(&auth).args(["clients", "add", "--database-url", database, "--confidential"]).args([
            "--client-id",
            "mcp-gateway",
            "--name",
            "MCP gateway (demo)",
            "--acts-for",
            GATEWAY,
            // Its upstreams, the only resources it may exchange the users' tokens for.
            "--exchange-to",
            UPSTREAMS[0],
            "--exchange-to",
            UPSTREAMS[1],
            "--jwks-file",
            &jwks_file,
        ]),
        None,
    )?;
    once(
        &format!("the demo user {ADMIN_USER} (groups admins, team)"),
        Command::new(&auth)
            .args(["users", "add", "--database-url", database, "--group", "admins", "--group", "team"])
            .arg(ADMIN_USER),
        Some(format!("{ADMIN_PASSWORD}\n")),
    )
}

/// Runs an `mcp-auth` command that creates something, where "already exists" (a later run) is
/// fine.
fn once(what: &str, command: &mut Command, stdin: Option<String>) -> Result {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot register {what}: {e}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(input.as_bytes());
    }
    let output = child.wait_with_output().map_err(|e| format!("cannot register {what}: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        say(format!("  registered {what}"));
        Ok(())
    } else if stderr.contains("already exists") {
        Ok(())
    } else {
        Err(format!("cannot register {what}: {}", stderr.trim()))
    }
}

/// Waits for every service to listen, prints the banner, then waits for Ctrl-C or a death.
fn supervise(services: &mut [Service], stop: &AtomicBool) -> Result {
    let begun = Instant::now();
    let mut announced = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            println!();
            say("stopping (Ctrl-C)");
            return Ok(());
        }
        for service in services.iter_mut() {
            if let Ok(Some(status)) = service.child.try_wait() {
                return Err(format!("{} exited ({status}); stopping the others", service.name));
            }
        }
        if !announced && services.iter().all(|s| listening(s.port)) {
            announced = true;
            banner(begun.elapsed());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn banner(took: Duration) {
    println!();
    say(format!("everything is up after {:.0}s:", took.as_secs_f64()));
    say(
        "  authorization server  http://localhost:9000   (metadata: /.well-known/oauth-authorization-server)",
    );
    say(
        "  MCP resource server   http://localhost:9090   (try: curl -i 'http://localhost:9090/echo?text=hi')",
    );
    say("  second MCP server     http://localhost:9091   (the gateway's upstream `team`)");
    say("  MCP gateway           http://localhost:9100/mcp   (policy: gateway/demo/policy.cedar)");
    say("  SPA                   http://localhost:8080");
    println!();
    say(format!("open http://localhost:8080, press \"Call echo\", and sign in as  demo / {DEMO_PASSWORD}"));
    say(format!(
        "  ({ADMIN_USER} / {ADMIN_PASSWORD} is in the groups admins and team: deletes through the gateway, with approval)"
    ));
    say("or, from another terminal, the headless agent (it opens the login page in your browser once):");
    say("  target/debug/mcp-agent call http://localhost:9090/mcp echo --arg text=hi");
    say(
        "  target/debug/mcp-agent call http://localhost:9100/mcp demo__echo --arg text=hi   (through the gateway)",
    );
    say(
        "  target/debug/mcp-gateway audit --database-url sqlite://target/dev/mcp-gateway.db   (its decisions)",
    );
    say("  (`cargo install --path agent` puts `mcp-agent` on your PATH)");
    say("Ctrl-C stops them all.");
    println!();
}

/// SIGTERM to each service, a few seconds to finish, then SIGKILL for stragglers.
fn shut_down(services: &mut [Service]) {
    for service in services.iter_mut() {
        if matches!(service.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-TERM", &service.child.id().to_string()]).status();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for service in services.iter_mut() {
        while matches!(service.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if matches!(service.child.try_wait(), Ok(None)) {
            let _ = service.child.kill();
        }
        let _ = service.child.wait();
        say(format!("  {} stopped", service.name));
    }
}
