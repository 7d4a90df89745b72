//! `mcp-agent login URL [--force]`: log in now, so later calls run without a browser.

use crate::access::Access;
use crate::error::Result;
use crate::mcp::McpClient;
use crate::store::Grant;

/// What `login` found or did.
#[derive(Debug)]
pub struct LoginReport {
    pub url: String,
    /// The grant held for `url` afterwards; `None` if the server needs no authorization.
    pub grant: Option<Grant>,
    /// Logins this run started (0: the stored tokens were good).
    pub logins: usize,
}

/// Makes sure a token is held for `url`: a request the server protects triggers the login.
/// With `force`, the tokens held are forgotten (and revoked) first.
pub async fn run(access: &mut Access, url: &str, version: &str, force: bool) -> Result<LoginReport> {
    if force {
        super::logout::forget(access, Some(url)).await?;
    }
    let mut client = McpClient::new(url, version)?;
    // `initialize` alone may be allowed without a token; listing tools is not, on a server that
    // protects its tools.
    let listed = client.list_tools(access).await;
    client.close(access).await;
    listed?;
    Ok(LoginReport {
        url: url.to_owned(),
        grant: access.store.grant_for(url)?,
        logins: access.authorizations(),
    })
}
