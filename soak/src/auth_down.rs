//! The authorization server down: the resource server keeps validating with its cached keys and
//! says so; when the AS comes back with a rotated key, the resource server picks it up.

use std::time::{Duration, Instant};

use crate::Options;
use crate::flows::{self, TokenOutcome, User, kid_of};
use crate::procs::Site;
use crate::report::Report;

/// Seconds between publishing the rotated key and signing with it (the resource server refreshes
/// its keys every second here).
const PUBLISH_DELAY_SECS: u64 = 3;
/// What the resource server logs while the AS is unreachable (`Validator::refresh_keys_every` in bearer/src/validator.rs).
const DOWN_LOG: &str = "still validating tokens with the cached keys";
/// And when it answers again.
const BACK_LOG: &str = "the authorization server answers again";

pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::new("auth down: cached keys, then a rotated key");
    let site = Site::new()?;
    let (db, auth_port, server_port, resource) = (&site.db, site.auth_port, site.server_port, &site.resource);
    let mut auth = options.binaries.auth(db, auth_port, resource, &[]).await?;
    let mut server =
        options.binaries.server(server_port, &auth.issuer, &["--jwks-refresh-interval", "1"]).await?;
    let client = flows::register(&auth.issuer).await?;
    let user = User::new(client.clone(), &auth.issuer, resource);
    let Ok(TokenOutcome::Issued(before, _)) = user.authorize().await else {
        anyhow::bail!("the first flow failed");
    };
    let first_status = user.echo(&server.resource, &before.access).await?;
    report.check(first_status == 200, format!("a token works while everything is up ({first_status})"));

    auth.proc.kill9().await?;
    report.say("mcp-auth killed; calling /echo every 100 ms for 3 s");
    let (mut ok, mut calls) = (0, 0);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        calls += 1;
        if user.echo(&server.resource, &before.access).await? == 200 {
            ok += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report.check(
        ok == calls,
        format!("the resource server keeps validating with its cached keys ({ok}/{calls} calls)"),
    );
    report.check(
        server.proc.log().contains(DOWN_LOG),
        format!("its log says the authorization server is unreachable (\"{DOWN_LOG}\")"),
    );

    // While the AS is down, an operator rotates the key the way it is meant to be done: the new
    // key is published at once and signs only after a delay longer than the resource server's
    // refresh interval, so resource servers know it before the first token signed with it.
    options
        .binaries
        .auth_admin(db, &["keys", "rotate", "--publish-delay", &PUBLISH_DELAY_SECS.to_string()])
        .await?;
    auth = options.binaries.auth(db, auth_port, resource, &[]).await?;
    report.say(format!(
        "rotated the key while mcp-auth was down (publish now, sign in {PUBLISH_DELAY_SECS} s); restarted it"
    ));
    tokio::time::sleep(Duration::from_secs(PUBLISH_DELAY_SECS) + Duration::from_millis(500)).await;
    let newcomer = User::new(client, &auth.issuer, resource);
    let Ok(TokenOutcome::Issued(after, _)) = newcomer.authorize().await else {
        anyhow::bail!("a flow after the restart failed");
    };
    let (old_kid, new_kid) = (kid_of(&before.access), kid_of(&after.access));
    report.check(
        old_kid != new_kid,
        format!("the restarted AS signs with the rotated key ({old_kid:?} → {new_kid:?})"),
    );
    let new_status = user.echo(&server.resource, &after.access).await?;
    report.check(new_status == 200, format!("the resource server picks up the rotated key ({new_status})"));
    let old_status = user.echo(&server.resource, &before.access).await?;
    report.check(
        old_status == 200,
        format!("tokens signed with the old key still validate until they expire ({old_status})"),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    report.check(
        server.proc.log().contains(BACK_LOG),
        format!("its log says the AS answers again (\"{BACK_LOG}\")"),
    );

    server.proc.terminate(Duration::from_secs(10)).await?;
    auth.proc.terminate(Duration::from_secs(10)).await?;
    Ok(report)
}
