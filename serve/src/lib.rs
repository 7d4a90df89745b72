//! The accept loop both servers run: HTTP/1.1 through hyper, with the limits `axum::serve` has no
//! settings for.
//!
//! `axum::serve` gives every connection hyper's defaults: a request head may grow to about 400 KB,
//! and with no timer configured a client may take forever to send it (slowloris). Here every limit
//! is ours and named:
//!
//! | limit | value | answer when exceeded |
//! |---|---|---|
//! | request line + headers | [`MAX_HEAD_BYTES`] | `431`, then the connection is closed (hyper) |
//! | number of headers | [`MAX_HEADERS`] | `431`, then the connection is closed (hyper) |
//! | request target (path + query) | [`MAX_URI_BYTES`] | `414` |
//! | time to send the head, and idle time between requests | [`HEADER_READ_TIMEOUT`] | connection closed |
//! | time from the head to the response head (body included) | [`REQUEST_TIMEOUT`] | `408` |
//!
//! Body sizes are each router's business (`DefaultBodyLimit`), because only the router knows what
//! its endpoints accept. Plain HTTP/1.1 only: both servers sit behind a TLS-terminating proxy in
//! production, and nothing here speaks HTTP/2. Behind such a proxy, [`client_addr`] says which
//! address is the client's. [`turns`] lets requests with the same key take turns at outbound
//! work, which both servers do.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutLayer;

pub mod client_addr;
pub mod turns;

/// The request line and all headers together. Room for a JWT, a full set of cookies and the rest
/// of what browsers send, far below what would make many connections expensive.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Headers per request (hyper's default, stated here so it is a decision).
pub const MAX_HEADERS: usize = 100;
/// The request target. The longest legitimate one is an authorization request with a metadata
/// document URL as `client_id`, well under 2 KB.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// How long a client may take to send a request head; also how long an idle keep-alive
/// connection is kept, since hyper starts the same timer when it waits for the next request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// From the request head to the response head: a body sent a byte at a time cannot hold a task
/// longer than this. Every outbound fetch a handler makes is bounded well below it (5 s).
/// Response bodies are not timed, so a streamed answer is never cut.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// After the shutdown signal, how long in-flight requests get to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(35);

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets in-flight
/// requests finish (at most [`SHUTDOWN_GRACE`]), and returns. Handlers can extract
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router.layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // The read buffer bounds an unfinished head, `max_header_size` a finished one; either way
        // hyper answers 431 itself.
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            handle(router.clone(), peer, request)
        });
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Timeouts, resets, 431s: the client's problem, not worth more than debug.
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }

    drop(listener);
    tokio::select! {
        () = connections.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still running after the shutdown grace period; stopping anyway");
        }
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (what a terminal, `docker stop` and systemd send), for
/// [`serve`]'s `shutdown`: both servers stop the same way, finishing what is in flight. A signal
/// that cannot be listened for (SIGTERM off Unix, or a failed registration) is simply never
/// awaited, so the other still works.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

async fn handle(
    router: Router,
    peer: SocketAddr,
    mut request: Request<Incoming>,
) -> Result<Response<axum::body::Body>, std::convert::Infallible> {
    if request.uri().path_and_query().map_or(0, |target| target.as_str().len()) > MAX_URI_BYTES {
        return Ok(StatusCode::URI_TOO_LONG.into_response());
    }
    request.extensions_mut().insert(ConnectInfo(peer));
    router.oneshot(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn a_request_in_flight_at_shutdown_is_answered_before_serve_returns() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));

        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();

        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("done"), "{response}");
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn shutdown_signal_completes_on_sigterm() {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered first, so that a SIGTERM arriving before `shutdown_signal` listens is caught
        // by tokio rather than ending the test process.
        let _guard = signal(SignalKind::terminate()).unwrap();
        let stopped = tokio::spawn(shutdown_signal());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!stopped.is_finished(), "nothing was sent yet");
        let pid = std::process::id().to_string();
        let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        tokio::time::timeout(Duration::from_secs(5), stopped).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn the_peer_address_reaches_the_handlers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        tokio::spawn(serve(listener, router, std::future::pending()));
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        assert!(String::from_utf8_lossy(&response).ends_with("127.0.0.1"));
    }
}
