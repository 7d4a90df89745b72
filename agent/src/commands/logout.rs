//! `mcp-agent logout [URL]`: forget tokens, revoking refresh tokens where the server offers it.

use crate::access::Access;
use crate::error::Result;
use crate::store::Grant;

/// What `logout` forgot.
#[derive(Debug)]
pub struct LogoutReport {
    /// The URL asked for; `None` for all.
    pub url: Option<String>,
    /// The resources whose tokens were forgotten.
    pub forgotten: Vec<String>,
}

pub async fn run(access: &Access, url: Option<String>) -> Result<LogoutReport> {
    let forgotten = forget(access, url.as_deref()).await?;
    Ok(LogoutReport { url, forgotten })
}

/// Forgets the grants for `url` (or all), revoking their refresh tokens first (RFC 7009, best
/// effort: a token that cannot be revoked is forgotten anyway). Returns the resources forgotten.
pub async fn forget(access: &Access, url: Option<&str>) -> Result<Vec<String>> {
    let grants: Vec<Grant> = match url {
        Some(url) => access.store.grant_for(url)?.into_iter().collect(),
        None => access.store.all()?.into_iter().flat_map(|f| f.grants.into_values()).collect(),
    };
    let mut forgotten = Vec::new();
    for grant in grants {
        let misplaced = access.misplaced_secret(&grant);
        if misplaced {
            access.progress.step(format!(
                "not revoking at {}: that would send the pre-registered client's secret to a server \
                 other than its --client-issuer",
                grant.issuer
            ));
        }
        if let (false, Some(endpoint), Some(refresh)) =
            (misplaced, &grant.revocation_endpoint, &grant.refresh_token)
        {
            match crate::tokens::revoke(&access.http, endpoint, &grant.client, refresh).await {
                Ok(()) => access.progress.detail(format!("revoked the refresh token at {endpoint}")),
                Err(e) => access
                    .progress
                    .step(format!("could not revoke at {endpoint} ({e}); forgetting the tokens anyway")),
            }
        }
        access.store.update(&grant.issuer, |file| file.grants.remove(&grant.resource)).await?;
        forgotten.push(grant.resource);
    }
    Ok(forgotten)
}
