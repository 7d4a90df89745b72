//! SIGTERM stops the real binary: it exits 0, promptly, even with a client's keep-alive
//! connection open. (That a request in flight is finished first is tested in the `serve` crate,
//! which both servers share, and against the `mcp-auth` binary.)
#![cfg(unix)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_and_exits_cleanly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-server"))
        .args(["--bind", &address, "--resource", &format!("http://{address}")])
        // Never contacted: the request below has no token.
        .args(["--authorization-server", "http://127.0.0.1:1"])
        .args(["--database-url", "sqlite::memory:"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        if let Ok(stream) = TcpStream::connect(&address).await {
            break stream;
        }
        assert!(child.try_wait().unwrap().is_none(), "mcp-server exited before listening");
        assert!(Instant::now() < deadline, "mcp-server did not start listening");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // A kept-alive connection that has been answered and stays open.
    stream
        .write_all(format!("GET /echo?text=x HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buffer = [0u8; 4096];
    let read =
        tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 401"));

    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "mcp-server did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}
