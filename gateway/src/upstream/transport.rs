//! How the gateway's requests to its upstreams travel: `http://` upstreams on hyper's pooled
//! client, `https://` ones on reqwest (rustls, the web's root certificates).
//!
//! Why two: on every tool call the gateway makes one upstream request, and reqwest's layers
//! (redirect, cookie and retry services, its request and URL types) around the same hyper client
//! cost a measured share of a call's CPU (ARCHITECTURE.md, "The upstream transport"). Upstreams
//! reached over plain HTTP are the ones beside the gateway (same host, same network), where that
//! share matters; TLS stays with reqwest, which knows how to set it up. Both paths send the same
//! request and read the answer by the same rules: at most [`MAX_ANSWER`] bytes, within
//! [`TIMEOUT`], no redirects followed. Plain-HTTP upstreams are reached directly, never through
//! `HTTP_PROXY`; reqwest's proxy settings (`HTTPS_PROXY`, `NO_PROXY`) apply to HTTPS ones.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use axum::http::{self, HeaderMap, Method, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The largest answer read from an upstream.
pub const MAX_ANSWER: usize = 4 * 1024 * 1024;
/// How long one upstream request may take, answer included.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled connection is kept.
const IDLE: Duration = Duration::from_secs(90);

/// Where a request goes, parsed once per upstream.
#[derive(Debug, Clone)]
pub struct Target {
    uri: Uri,
    tls: bool,
}

impl Target {
    /// An upstream's endpoint URL: `http` or `https`, with a host.
    pub fn parse(url: &str) -> Result<Self, String> {
        // Through `url` first, as reqwest does: the scheme and host in their normal form.
        let url = url::Url::parse(url).map_err(|e| format!("the upstream URL does not parse: {e}"))?;
        let uri: Uri = url.as_str().parse().map_err(|e| format!("the upstream URL does not parse: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err("the upstream URL must be http or https".into()),
        };
        if uri.host().is_none_or(str::is_empty) {
            return Err("the upstream URL has no host".into());
        }
        Ok(Self { uri, tls })
    }
}

/// The head of an upstream's answer and, unless it was a `401` or `403`, its body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The two clients, each with its own pool of connections.
pub struct Transport {
    plain: Client<HttpConnector, Full<Bytes>>,
    tls: reqwest::Client,
}

impl Default for Transport {
    fn default() -> Self {
        Self::new()
    }
}

/// The pooled client `http://` upstreams are reached with (also the bench's bare hop, so that it
/// measures the same parts).
pub fn plain_client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    // Requests are small and answered at once: never wait to fill a segment (reqwest's default).
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(IDLE)
        .build(connector)
}

impl Transport {
    pub fn new() -> Self {
        let plain = plain_client();
        let tls = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self { plain, tls }
    }

    /// Sends `method` to `target` with the bearer `token`, `headers` and `body`, and reads the
    /// answer: its body only when the status is not `401` or `403` (those end the call on their
    /// headers alone). An error says what went wrong, for the log.
    pub async fn send(
        &self,
        method: Method,
        target: &Target,
        token: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Reply, String> {
        let mut head = HeaderMap::with_capacity(headers.len() + 2);
        let mut authorization = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| "the token cannot be sent in a header".to_owned())?;
        authorization.set_sensitive(true);
        head.insert(AUTHORIZATION, authorization);
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name}: {e}"))?;
            let value = HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?;
            head.append(name, value);
        }
        // The same request for either client; only the body's type differs.
        let mut request = http::Request::new(());
        *request.method_mut() = method;
        *request.uri_mut() = target.uri.clone();
        *request.headers_mut() = head;
        let exchange = async {
            if target.tls {
                let request = reqwest::Request::try_from(request.map(|()| body)).map_err(|e| describe(&e))?;
                let response = self.tls.execute(request).await.map_err(|e| describe(&e))?;
                read(http::Response::from(response)).await
            } else {
                let response =
                    self.plain.request(request.map(|()| Full::new(body))).await.map_err(|e| describe(&e))?;
                read(response).await
            }
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
    }
}

/// An error with its causes, for the log: hyper's own text ("client error (Connect)") leaves out
/// what an operator needs ("Connection refused").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

/// The answer's head, and its body up to [`MAX_ANSWER`] unless the status ends the call.
async fn read<B>(response: http::Response<B>) -> Result<Reply, String>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = response.into_parts();
    let body = if matches!(parts.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        Bytes::new()
    } else {
        Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    format!("the answer is larger than {MAX_ANSWER} bytes")
                } else {
                    describe(&*e)
                }
            })?
            .to_bytes()
    };
    Ok(Reply { status: parts.status, headers: parts.headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_http_or_https_urls_with_a_host() {
        let plain = Target::parse("http://localhost:9090/mcp").unwrap();
        assert!(!plain.tls);
        assert_eq!(plain.uri, "http://localhost:9090/mcp");
        assert!(Target::parse("https://mcp.example/mcp").unwrap().tls);
        assert_eq!(Target::parse("HTTP://LocalHost:9090/mcp").unwrap().uri, "http://localhost:9090/mcp");
        for bad in ["ftp://mcp.example/", "file:///etc/passwd", "not a url", "unix:/tmp/socket"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    /// A server answering each path as its name says, and echoing what it was sent.
    async fn upstream() -> String {
        use axum::routing::post;
        let app = axum::Router::new()
            .route(
                "/echo",
                post(|headers: HeaderMap, body: Bytes| async move {
                    let seen = |name: &str| {
                        headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned()
                    };
                    format!(
                        "{} {} {}",
                        seen("authorization"),
                        seen("mcp-method"),
                        String::from_utf8_lossy(&body)
                    )
                }),
            )
            .route("/huge", post(|| async { vec![b'x'; MAX_ANSWER + 1] }))
            .route(
                "/refused",
                post(|| async {
                    (
                        StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Bearer error=\"invalid_token\"")],
                        "a body nobody reads",
                    )
                }),
            )
            .route("/moved", post(|| async { (StatusCode::FOUND, [("location", "/echo")], "") }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn a_plain_http_upstream_gets_the_token_and_headers_and_its_answer_is_read_by_the_rules() {
        let base = upstream().await;
        let transport = Transport::new();
        let send = |path: &str| {
            let target = Target::parse(&format!("{base}{path}")).unwrap();
            let transport = &transport;
            async move {
                transport
                    .send(
                        Method::POST,
                        &target,
                        "tok-123",
                        &[("Mcp-Method", "tools/call")],
                        Bytes::from("{}"),
                    )
                    .await
            }
        };
        let echoed = send("/echo").await.unwrap();
        assert_eq!(echoed.status, StatusCode::OK);
        assert_eq!(echoed.body, "Bearer tok-123 tools/call {}");

        let error = send("/huge").await.err().unwrap();
        assert!(error.contains("larger than"), "{error}");

        // A refusal ends the call on its headers: the body is not read.
        let refused = send("/refused").await.unwrap();
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert!(refused.body.is_empty());
        assert_eq!(refused.headers["www-authenticate"], "Bearer error=\"invalid_token\"");

        // Redirects are answers, never followed: a token goes only where it was meant to go.
        let moved = send("/moved").await.unwrap();
        assert_eq!(moved.status, StatusCode::FOUND);

        // A header that cannot be sent is an error, not a panic.
        let target = Target::parse(&format!("{base}/echo")).unwrap();
        let bad = transport.send(Method::POST, &target, "tok", &[("mcp-name", "a\nb")], Bytes::new()).await;
        assert!(bad.is_err());
        let bad = transport.send(Method::POST, &target, "tok\r\n", &[], Bytes::new()).await;
        assert!(bad.is_err());

        // Nobody listening: the error says why, for the log.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let gone = Target::parse(&format!("http://{closed}/mcp")).unwrap();
        let error = transport.send(Method::POST, &gone, "tok", &[], Bytes::new()).await.err().unwrap();
        assert!(error.to_ascii_lowercase().contains("refused"), "{error}");
    }
}
