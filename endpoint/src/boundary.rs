//! The API's boundary against browsers it does not serve: the `Host` and `Origin` checks, as one
//! tower layer.
//!
//! * `Origin`: only the configured browser origins; any other is refused with 403 (protection
//!   against DNS rebinding, required by the MCP Streamable HTTP transport). Requests without
//!   `Origin` come from non-browser clients and pass.
//! * `Host`: this server's own name and port, and, for a loopback resource, any loopback name with
//!   that port. Together with the `Origin` check this keeps a DNS-rebinding page (a foreign name
//!   resolving to 127.0.0.1) out even if a browser omits `Origin`. Requests without `Host`
//!   (HTTP/1.0 tools) pass.
//!
//! Written as a plain `tower::Service` rather than two `axum::middleware::from_fn` layers: the
//! checks are two header lookups, and the boxed futures and cloned services of `from_fn` cost more
//! than the checks themselves on every request.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::Either;
use protocol::error::{ErrorCode, ErrorResponse};
use url::Url;

/// The `Host` values the API answers to.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    host: String,
    port: u16,
    /// The port a `Host` without one means: the resource scheme's default.
    default_port: u16,
    loopback: bool,
    /// The spellings clients actually send (`localhost:9090`, `127.0.0.1:9090`, …), accepted by
    /// one comparison each before any parsing: every request carries a `Host`, and parsing it
    /// (IDNA included) costs more than the rest of this layer.
    common: Vec<String>,
}

impl AllowedHosts {
    /// Accepts `host[:port]` (the `Host` header's form).
    pub fn allows(&self, authority: &str) -> bool {
        self.common.iter().any(|c| c.eq_ignore_ascii_case(authority)) || self.allows_parsed(authority)
    }

    /// The general rule: any spelling of this host, or of loopback for a loopback resource.
    fn allows_parsed(&self, authority: &str) -> bool {
        // `[v6]:port`, `[v6]`, `name:port`, `name`.
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, port.parse::<u16>().ok()),
            _ => (authority, Some(self.default_port)),
        };
        if port != Some(self.port) {
            return false;
        }
        let Ok(parsed) = url::Host::parse(host) else {
            return false;
        };
        let name = parsed.to_string();
        name.eq_ignore_ascii_case(&self.host)
            || (self.loopback
                && match parsed {
                    url::Host::Domain(domain) => domain.eq_ignore_ascii_case("localhost"),
                    url::Host::Ipv4(ip) => ip.is_loopback(),
                    url::Host::Ipv6(ip) => ip.is_loopback(),
                })
    }
}

/// The hosts allowed for a server whose resource identifier is `resource`.
pub fn allowed_hosts(resource: &str) -> AllowedHosts {
    let url = Url::parse(resource).ok();
    let default_port = if url.as_ref().is_some_and(|u| u.scheme() == "https") { 443 } else { 80 };
    let port = url.as_ref().and_then(Url::port_or_known_default).unwrap_or(default_port);
    let host = url.as_ref().and_then(|u| u.host().map(|h| h.to_string())).unwrap_or_default();
    let loopback = url.as_ref().is_some_and(protocol::resource::is_loopback);
    let mut names = vec![host.clone()];
    if loopback {
        names.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
    }
    let mut common: Vec<String> = names.iter().map(|name| format!("{name}:{port}")).collect();
    if port == default_port {
        common.extend(names);
    }
    AllowedHosts { host, port, default_port, loopback, common }
}

/// Both rules.
#[derive(Debug)]
pub struct Boundary {
    hosts: AllowedHosts,
    /// Shared with the CORS layer's predicate: one list decides both.
    origins: Arc<Vec<HeaderValue>>,
}

impl Boundary {
    pub fn new(hosts: AllowedHosts, origins: Arc<Vec<HeaderValue>>) -> Self {
        Self { hosts, origins }
    }

    pub fn into_layer(self) -> BoundaryLayer {
        BoundaryLayer(Arc::new(self))
    }

    /// The refusal for a request with these headers, if it must be refused. Logged at DEBUG only:
    /// anyone can send a foreign `Host` or `Origin`, and a line per request at INFO would let them
    /// fill the disk. The `403` body names the rule, which is what a developer with a wrong
    /// `--allowed-origin` sees in the browser's console.
    fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        if let Some(host) = headers.get(header::HOST) {
            let host = host.to_str().unwrap_or_default();
            if !self.hosts.allows(host) {
                tracing::debug!(%host, "request for a foreign Host refused");
                return Some(forbidden("forbidden_host", "this host name is not served here"));
            }
        }
        match headers.get(header::ORIGIN) {
            Some(origin) if !self.origins.contains(origin) => {
                tracing::debug!(origin = ?origin, "request from a foreign origin refused");
                Some(forbidden("forbidden_origin", "this origin is not allowed"))
            }
            _ => None,
        }
    }
}

fn forbidden(code: &str, description: &str) -> Response {
    let body = ErrorResponse::new(ErrorCode::Other(code.into()), description);
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

#[derive(Debug, Clone)]
pub struct BoundaryLayer(Arc<Boundary>);

impl<S> tower::Layer<S> for BoundaryLayer {
    type Service = BoundaryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BoundaryService { inner, boundary: self.0.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct BoundaryService<S> {
    inner: S,
    boundary: Arc<Boundary>,
}

impl<S> tower::Service<Request> for BoundaryService<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<std::future::Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.boundary.refusal(request.headers()) {
            Some(refusal) => Either::Left(std::future::ready(Ok(refusal))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_the_resource_or_any_loopback_name_on_its_port() {
        let local = allowed_hosts("http://localhost:9090");
        for ok in ["localhost:9090", "127.0.0.1:9090", "[::1]:9090", "LOCALHOST:9090"] {
            assert!(local.allows(ok), "{ok}");
        }
        for bad in ["evil.example:9090", "localhost:9091", "localhost", "127.0.0.1.evil.example:9090", ""] {
            assert!(!local.allows(bad), "{bad}");
        }
        // The fast path and the general rule agree.
        for authority in
            ["localhost:9090", "127.0.0.1:9090", "[::1]:9090", "127.0.0.2:9090", "localhost:9091"]
        {
            assert_eq!(local.allows(authority), local.allows_parsed(authority), "{authority}");
        }
        let public = allowed_hosts("https://mcp.example.com");
        assert!(public.allows("mcp.example.com") && public.allows("mcp.example.com:443"));
        assert!(!public.allows("localhost:443") && !public.allows("evil.example"));
        assert!(!public.allows("mcp.example.com:80"));
    }
}
