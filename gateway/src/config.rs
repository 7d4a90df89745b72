//! Typed settings of `mcp-gateway serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderValue;
use protocol::resource::check_resource;

use crate::hop::ClientCredentials;
use crate::upstream::{SessionLimits, Upstream};

/// Where the gateway listens and what it calls itself without `--resource`.
pub const DEFAULT_RESOURCE: &str = "http://localhost:9100";

/// Everything the gateway needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen. Port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// The gateway's resource identifier: the audience of the tokens clients bring. `None`
    /// derives `http://<bound address>`.
    pub resource: Option<String>,
    /// The issuer whose tokens are accepted, and where hop tokens and approvals come from.
    pub authorization_server: String,
    /// Browser origins allowed to call the gateway (CORS and the `Origin` check).
    pub allowed_origins: Vec<HeaderValue>,
    /// The upstream MCP servers, by the name their tools are prefixed with.
    pub upstreams: Vec<Upstream>,
    /// The catalog (the upstreams' tools as configured) and the Cedar policy file.
    pub catalog: PathBuf,
    pub policy: PathBuf,
    /// How the gateway authenticates to the AS (it is registered there `--acts-for` its resource,
    /// `--exchange-to` its upstreams').
    pub credentials: ClientCredentials,
    /// The decision log: `sqlite://file.db` (created if missing), `sqlite::memory:`, or
    /// `postgres://…` (an existing database; the gateway's tables go in its schema `mcp_gateway`).
    pub audit_database_url: String,
    /// How long an approval request may wait for the person.
    pub approval_expiry: Duration,
    /// How many sessions with session-form upstreams are kept open between calls.
    pub upstream_sessions: SessionLimits,
    /// How many MCP sessions one user may hold with the gateway at once, all their clients
    /// together ([`mcp_endpoint::sessions::MAX_SESSIONS_PER_USER`] by default).
    pub sessions_per_user: usize,
}

/// Parses `NAME=URL[,resource=RESOURCE][,version=VERSION]`, the form of `--upstream`. Without
/// `resource`, the upstream's resource identifier is its URL's origin (`http://host:port`), as
/// `mcp-server` names itself.
pub fn parse_upstream(value: &str) -> Result<Upstream, String> {
    let mut parts = value.split(',');
    let (name, url) = parts
        .next()
        .and_then(|first| first.split_once('='))
        .ok_or("expected NAME=URL[,resource=RESOURCE][,version=VERSION]")?;
    if !crate::catalog::is_upstream_name(name) {
        return Err(format!("upstream name {name:?}: 1 to 32 of a-z 0-9 -"));
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("upstream URL {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("upstream URL {url:?} is not http(s)"));
    }
    let mut upstream = Upstream {
        name: name.to_owned(),
        url: url.to_owned(),
        resource: parsed.origin().ascii_serialization(),
        version: protocol::mcp::LATEST_SESSION_VERSION.to_owned(),
    };
    for part in parts {
        match part.split_once('=') {
            Some(("resource", resource)) => upstream.resource = resource.to_owned(),
            Some(("version", version)) => upstream.version = version.to_owned(),
            _ => return Err(format!("unknown upstream option {part:?} (resource=…, version=…)")),
        }
    }
    check_resource(&upstream.resource)
        .map_err(|e| format!("upstream resource {:?}: {e}", upstream.resource))?;
    Ok(upstream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_is_named_and_its_resource_defaults_to_its_origin() {
        let upstream = parse_upstream("notes=http://localhost:9090/mcp").unwrap();
        assert_eq!(upstream.name, "notes");
        assert_eq!(upstream.url, "http://localhost:9090/mcp");
        assert_eq!(upstream.resource, "http://localhost:9090");
        let explicit =
            parse_upstream("notes=http://10.0.0.1/mcp,resource=https://notes.example,version=2026-07-28")
                .unwrap();
        assert_eq!(explicit.resource, "https://notes.example");
        assert_eq!(explicit.version, "2026-07-28");
        for bad in [
            "notes",
            "Notes=http://x/mcp",
            "n=ftp://x/",
            "n=http://x/mcp,color=red",
            "n=http://x/,resource=x",
        ] {
            assert!(parse_upstream(bad).is_err(), "{bad}");
        }
    }
}
