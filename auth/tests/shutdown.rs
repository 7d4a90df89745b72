//! SIGTERM stops the real binary gracefully: a request in flight when the signal arrives is still
//! answered, the process exits 0, and the database is left checkpointed (no write-ahead log).
#![cfg(unix)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A connection to the server once it serves: the listener is bound before the server has
/// loaded its keys and installed its signal handlers, so being able to connect is not enough (a
/// SIGTERM in that window would end the process by the signal's default action).
async fn connect_when_ready(address: &str, child: &mut Child) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut probe) = TcpStream::connect(address).await {
            let request = format!("GET /jwks.json HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            probe.write_all(request.as_bytes()).await.unwrap();
            let mut response = Vec::new();
            let _ = probe.read_to_end(&mut response).await;
            if response.starts_with(b"HTTP/1.1 200") {
                return TcpStream::connect(address).await.unwrap();
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "mcp-auth exited before serving");
        assert!(Instant::now() < deadline, "mcp-auth did not start serving");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn terminate(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -TERM failed");
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_and_exits_cleanly() {
    let dir = std::env::temp_dir().join(format!("mcp-auth-shutdown-{}", mcp_auth::random::short_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join("auth.db");
    let address = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args(["serve", "--bind", &address, "--issuer", &format!("http://{address}")])
        .arg("--database-url")
        .arg(format!("sqlite://{}", database.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // A request whose body is still arriving when the signal comes.
    let mut stream = connect_when_ready(&address, &mut child).await;
    let body = "grant_type=refresh_token&refresh_token=unknown&client_id=unknown";
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    terminate(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(child.try_wait().unwrap().is_none(), "the server waits for the request in flight");
    // Nobody new gets in once the signal has arrived.
    assert!(TcpStream::connect(&address).await.is_err(), "the listener is closed");

    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("invalid_client"), "the request was handled in full: {response}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "mcp-auth did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    let wal = dir.join("auth.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the write-ahead log was checkpointed into the database"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
