//! `cargo xtask dev`: the whole demo on one terminal.
//!
//! Builds the two servers, then runs `mcp-auth` (:9000, with the demo user), `mcp-server`
//! (:9090) and `trunk serve` (:8080), waits until all three answer, and prints where to go.
//! Ctrl-C (or SIGTERM) stops all three; if one of them dies, the others are stopped too.

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
    for port in [9000, 9090, 8080] {
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
    ]))?;
    let data = root.join("target/dev");
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;

    say("== starting auth (:9000), server (:9090) and the SPA (:8080)");
    let bin = root.join("target/debug");
    let mut services = Vec::new();
    let mut start = |name: &'static str, port: u16, command: &mut Command| -> Result {
        let child = command.current_dir(root).spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        services.push(Service { name, port, child });
        Ok(())
    };
    let database = format!("sqlite://{}/mcp-auth.db", data.display());
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
        ]),
    )
    .and_then(|()| {
        let notes = format!("sqlite://{}/mcp-server.db", data.display());
        start("server", 9090, Command::new(bin.join("mcp-server")).args(["--database-url", &notes]))
    })
    .and_then(|()| start("spa", 8080, Command::new(&tools.trunk).arg("serve").env("PATH", &tools.path)));
    let outcome = started.and_then(|()| supervise(&mut services, &stop));
    shut_down(&mut services);
    outcome
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
    say("  SPA                   http://localhost:8080");
    println!();
    say(format!("open http://localhost:8080, press \"Call echo\", and sign in as  demo / {DEMO_PASSWORD}"));
    say("or, from another terminal, the headless agent (it opens the login page in your browser once):");
    say("  target/debug/mcp-agent call http://localhost:9090/mcp echo --arg text=hi");
    say("  (`cargo install --path agent` puts `mcp-agent` on your PATH)");
    say("Ctrl-C stops all three.");
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
