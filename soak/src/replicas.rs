//! Three `mcp-auth` replicas on one PostgreSQL database behind a round-robin proxy, the way an
//! operator scales the authorization server out: flows and refreshes spread over the replicas
//! request by request (a flow's login, consent and code exchange land on different replicas, so its
//! browser session and code live in the database, not in a process); one code and one refresh
//! token redeemed at two replicas at the same moment; a key rotation from the command line that
//! every replica picks up before it signs with the new key; one replica `kill -9`'d mid-load and
//! restarted. Afterwards the books are kept as in `load` and `crash`: everything a client was
//! given is in the database, nothing was spent twice, and no grant was revoked but on purpose.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use mcp_auth::keyring::RELOAD_INTERVAL;
use mcp_auth::store::testing::postgres;
use serde_json::Value;
use sqlx::PgPool;

use crate::Options;
use crate::flows::{self, TokenOutcome, Tokens, User, jti_of, kid_of};
use crate::procs::{Auth, Binaries, free_port};
use crate::proxy::RoundRobin;
use crate::report::{Report, ms, percentile};

/// How many replicas run.
const REPLICAS: usize = 3;
/// The replica killed mid-load.
const KILLED: usize = 1;
/// How long it stays down before it is restarted.
const DOWN_FOR: Duration = Duration::from_secs(2);
/// Rounds of each race (one code, one refresh token at two replicas at once), cycling through the
/// pairs of replicas.
const RACE_ROUNDS: usize = 9;
/// Refreshes after each code exchange in the load.
const REFRESHES_PER_FLOW: usize = 3;
/// Every this many flows, a load worker spends one refresh token twice at once (through the proxy,
/// so at two replicas).
const DOUBLE_SPEND_EVERY: usize = 4;

/// The rotated key is published at once and signs after this: longer than the interval at which
/// running replicas reread the keys (with a margin for a loaded machine), so every replica
/// publishes it before any signs with it.
fn publish_delay() -> Duration {
    RELOAD_INTERVAL + Duration::from_secs(10)
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// What a client was given, and what it cannot know, for the books.
#[derive(Debug, Default)]
struct Ledger {
    /// The `jti` of every access token received from a code exchange.
    exchanged: Vec<String>,
    /// The `jti` of every access token received from a refresh.
    refreshed: Vec<String>,
    /// Code exchanges whose answer never came (cut by the kill): a grant may or may not exist.
    lost_exchanges: usize,
    /// Refresh tokens spent by a request whose answer never came, found out when they were tried
    /// again (the retry is reuse, and revokes the grant).
    spent_unseen: usize,
    /// Grants the harness had revoked on purpose: double spends, code races, retries of spent
    /// refresh tokens.
    revoked_on_purpose: usize,
}

impl Ledger {
    fn exchange(&mut self, tokens: &Tokens) {
        self.exchanged.push(jti_of(&tokens.access).unwrap_or_default());
    }

    fn refresh(&mut self, tokens: &Tokens) {
        self.refreshed.push(jti_of(&tokens.access).unwrap_or_default());
    }

    fn merge(&mut self, other: Ledger) {
        self.exchanged.extend(other.exchanged);
        self.refreshed.extend(other.refreshed);
        self.lost_exchanges += other.lost_exchanges;
        self.spent_unseen += other.spent_unseen;
        self.revoked_on_purpose += other.revoked_on_purpose;
    }
}

/// The scenario's own database on the PostgreSQL server.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).expect("the operating system's random generator");
        let name = format!("mcp_soak_replicas_{}", protocol::hex(&suffix));
        let created =
            tokio::time::timeout(Duration::from_secs(10), postgres::create_database(admin_url, &name))
                .await
                .map_err(|_| anyhow::anyhow!("no answer within 10 s"))
                .and_then(|created| created.map_err(anyhow::Error::from));
        let url = created.with_context(|| {
            format!(
                "PostgreSQL is not reachable at {admin_url}: the replicas scenario needs a server where it may \
                 create a database (start one, or name another with --postgres-url)"
            )
        })?;
        Ok(Self { admin_url: admin_url.to_owned(), name, url })
    }

    async fn drop_it(&self) -> anyhow::Result<()> {
        postgres::drop_database(&self.admin_url, &self.name).await?;
        Ok(())
    }
}

pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::new("replicas: three mcp-auth on one PostgreSQL behind a round-robin proxy");
    let database = Database::create(&options.postgres_url).await?;
    report.say(format!("a fresh database {} on {}", database.name, options.postgres_url));
    let outcome = scenario(options, &database.url, &mut report).await;
    if options.keep_db {
        report.say(format!("kept the database (--keep-db): {}", database.url));
    } else if let Err(e) = database.drop_it().await {
        report.say(format!("could not drop the database {}: {e:#}; drop it by hand", database.name));
    }
    outcome.map(|()| report)
}

/// The replicas, each on its own port, all naming the proxy as their issuer.
struct Cluster {
    binaries: Binaries,
    database_url: String,
    issuer: String,
    resource: String,
    ports: Vec<u16>,
    running: Vec<Option<Auth>>,
    /// Logs of replicas that were killed.
    dead_logs: Vec<String>,
}

impl Cluster {
    fn base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    fn bases(&self) -> Vec<String> {
        (0..self.ports.len()).map(|i| self.base(i)).collect()
    }

    /// Starts every replica at once: the migrations, the first signing key and the demo user are
    /// each made by one of them, whichever comes first.
    async fn start_all(&mut self) -> anyhow::Result<()> {
        let starts: Vec<_> = (0..self.ports.len()).map(|i| tokio::spawn(self.start(i))).collect();
        for (i, start) in starts.into_iter().enumerate() {
            self.running[i] = Some(start.await?.with_context(|| format!("replica {i}"))?);
        }
        Ok(())
    }

    fn start(&self, i: usize) -> impl Future<Output = anyhow::Result<Auth>> + Send + 'static {
        let (binaries, database_url, issuer, resource, port) = (
            self.binaries.clone(),
            self.database_url.clone(),
            self.issuer.clone(),
            self.resource.clone(),
            self.ports[i],
        );
        // No sweep while the scenario runs (the first would come after 60 s): it deletes the
        // tokens of revoked grants, and the books count every row.
        async move {
            binaries.auth_on(&database_url, port, &issuer, &resource, &["--sweep-interval", "3600"]).await
        }
    }

    async fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(mut auth) = self.running[i].take() {
            auth.proc.kill9().await?;
            self.dead_logs.push(auth.proc.log());
        }
        Ok(())
    }

    async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.running[i] = Some(self.start(i).await?);
        Ok(())
    }

    fn logs(&self) -> Vec<String> {
        self.running.iter().flatten().map(|a| a.proc.log()).chain(self.dead_logs.iter().cloned()).collect()
    }
}

async fn scenario(options: &Options, database_url: &str, report: &mut Report) -> anyhow::Result<()> {
    let server_port = free_port()?;
    let resource = format!("http://127.0.0.1:{server_port}");
    let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect::<Result<_, _>>()?;
    let bases: Vec<String> = ports.iter().map(|port| format!("http://127.0.0.1:{port}")).collect();
    let proxy = RoundRobin::start(bases.clone()).await?;
    let issuer = proxy.url.clone();
    let mut cluster = Cluster {
        binaries: options.binaries.clone(),
        database_url: database_url.to_owned(),
        issuer: issuer.clone(),
        resource: resource.clone(),
        ports,
        running: (0..REPLICAS).map(|_| None).collect(),
        dead_logs: Vec::new(),
    };
    cluster.start_all().await?;
    report.say(format!(
        "{REPLICAS} replicas started together on ports {:?}, issuer {issuer} (the proxy: every request to the \
         next replica, a refused connection tried on the next)",
        cluster.ports
    ));
    let pool = PgPool::connect(database_url).await?;
    setup_checks(&cluster, &pool, report).await?;
    let mut server = options.binaries.server(server_port, &issuer, &[]).await?;

    let race_client = flows::register(&issuer).await?;
    let load_client = flows::register(&issuer).await?;
    let racer = User::new(race_client.clone(), &issuer, &resource);
    let mut race_ledger = Ledger::default();
    let before = match racer.authorize().await? {
        TokenOutcome::Issued(tokens, _) => tokens,
        other => bail!("the first flow through the proxy failed: {other:?}"),
    };
    race_ledger.exchange(&before);

    // The rotation, as an operator does it while the replicas run.
    let old_kid = kid_of(&before.access).unwrap_or_default();
    cluster
        .binaries
        .auth_admin_on(
            database_url,
            &["keys", "rotate", "--publish-delay", &publish_delay().as_secs().to_string()],
        )
        .await?;
    let (new_kid, activates_at): (String, i64) =
        sqlx::query_as("SELECT kid, activates_at FROM signing_keys ORDER BY seq DESC LIMIT 1")
            .fetch_one(&pool)
            .await?;
    report.say(format!(
        "keys rotated with `mcp-auth keys rotate --publish-delay {}` (the replicas reread keys every {} s): \
         {old_kid} → {new_kid}",
        publish_delay().as_secs(),
        RELOAD_INTERVAL.as_secs()
    ));
    let watch_until = activates_at as f64 + 10.0;
    let watcher = tokio::spawn(watch_publication(bases.clone(), new_kid.clone(), watch_until));

    races(&racer, &bases, &mut race_ledger, report).await?;

    let work =
        load(options, &mut cluster, &proxy, &load_client, &server.resource, activates_at, report).await?;

    rotation_checks(
        &racer,
        &bases,
        &server.resource,
        (&before, &old_kid, &new_kid, activates_at),
        watcher.await?,
        &mut race_ledger,
        report,
    )
    .await?;

    // Every grant a client holds works, through any replica; a refresh token whose spend was cut by
    // the kill was either spent or not, and says which without breaking anything.
    let mut load_ledger = work.ledger;
    let user = User::new(load_client.clone(), &issuer, &resource);
    let (mut alive_ok, mut alive_bad) = (0, Vec::new());
    for token in &work.alive {
        match user.refresh(token).await {
            TokenOutcome::Issued(tokens, _) => {
                alive_ok += 1;
                load_ledger.refresh(&tokens);
            }
            other => alive_bad.push(format!("{other:?}")),
        }
    }
    report.check(
        alive_bad.is_empty(),
        format!(
            "every grant a client held at the end works: {alive_ok} refresh tokens, through the proxy \
             ({} refused: {:?})",
            alive_bad.len(),
            alive_bad.first()
        ),
    );
    let (mut cut_spent, mut cut_unspent, mut cut_bad) = (0, 0, Vec::new());
    for token in &work.in_flight {
        match user.refresh(token).await {
            TokenOutcome::Issued(tokens, _) => {
                cut_unspent += 1;
                load_ledger.refresh(&tokens);
            }
            outcome if outcome.is_invalid_grant() => {
                cut_spent += 1;
                load_ledger.spent_unseen += 1;
                load_ledger.revoked_on_purpose += 1;
            }
            other => cut_bad.push(format!("{other:?}")),
        }
    }
    report.check(
        cut_bad.is_empty(),
        format!(
            "the {} refresh tokens whose spend was cut by the kill were spent ({cut_spent}: now refused as reuse) \
             or not ({cut_unspent}: they work), nothing else ({cut_bad:?})",
            work.in_flight.len()
        ),
    );

    books(&pool, "race client", &race_client.id, &race_ledger, report).await?;
    books(&pool, "load client", &load_client.id, &load_ledger, report).await?;
    pool.close().await;

    server.proc.terminate(Duration::from_secs(10)).await?;
    let mut statuses = Vec::new();
    for auth in cluster.running.iter_mut().flatten() {
        statuses.push(auth.proc.terminate(Duration::from_secs(40)).await?);
    }
    report.check(
        statuses.iter().all(|s| s.success()),
        format!("every replica exits cleanly on SIGTERM ({statuses:?})"),
    );
    let logs = cluster.logs();
    let panics = logs.iter().map(|l| l.matches("panicked").count()).sum::<usize>();
    let errors: Vec<&str> =
        logs.iter().flat_map(|l| l.lines()).filter(|line| line.contains(" ERROR ")).collect();
    report.check(panics == 0, format!("no replica panicked ({panics})"));
    report.check(
        errors.is_empty(),
        format!("no replica logged an ERROR ({}: {:?})", errors.len(), errors.first()),
    );
    Ok(())
}

/// Right after the start: one schema, one key, one issuer.
async fn setup_checks(cluster: &Cluster, pool: &PgPool, report: &mut Report) -> anyhow::Result<()> {
    let migrated = cluster.logs().iter().filter(|log| log.contains("applied a database migration")).count();
    report.check(
        migrated == 1,
        format!(
            "the replicas started together; only the one that applied the migrations says so in its log \
             ({migrated} of {REPLICAS} say they applied them)"
        ),
    );
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys").fetch_one(pool).await?;
    let demo: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await?;
    report.check(
        keys == 1 && demo == 1,
        format!("one signing key and one demo user, though three replicas started at once ({keys}, {demo})"),
    );
    let http = reqwest::Client::new();
    let (mut issuers, mut kid_sets) = (Vec::new(), Vec::new());
    for base in cluster.bases() {
        let metadata: Value =
            http.get(format!("{base}/.well-known/oauth-authorization-server")).send().await?.json().await?;
        issuers.push(metadata["issuer"].as_str().unwrap_or_default().to_owned());
        let mut kids = flows::published_kids(&base).await?;
        kids.sort();
        kid_sets.push(kids);
    }
    report.check(
        issuers.iter().all(|i| *i == cluster.issuer) && kid_sets.windows(2).all(|w| w[0] == w[1]),
        format!("every replica names the proxy as issuer and publishes the same keys ({issuers:?})"),
    );
    Ok(())
}

#[derive(Debug, Default)]
struct Race {
    rounds: usize,
    one_winner: usize,
    revoked: usize,
    problems: Vec<String>,
}

/// Exactly one of two concurrent redemptions got tokens and the other `invalid_grant`.
fn one_winner<'a>(first: &'a TokenOutcome, second: &'a TokenOutcome) -> Option<&'a Tokens> {
    match (first, second) {
        (TokenOutcome::Issued(tokens, _), loser) | (loser, TokenOutcome::Issued(tokens, _))
            if loser.is_invalid_grant() =>
        {
            Some(tokens)
        }
        _ => None,
    }
}

/// One code, then one refresh token, each redeemed at two replicas at the same moment; then the
/// winner's refresh token at the third replica, which must refuse it: reuse revoked the grant.
async fn races(
    racer: &User,
    bases: &[String],
    ledger: &mut Ledger,
    report: &mut Report,
) -> anyhow::Result<()> {
    report.say(format!(
        "{RACE_ROUNDS} rounds each: one code, then one refresh token, sent to two replicas at once (directly, \
         cycling through the pairs); then the winner's refresh token at the third"
    ));
    let (mut code, mut refresh) = (Race::default(), Race::default());
    for round in 0..RACE_ROUNDS {
        let (a, b, c) = (round % REPLICAS, (round + 1) % REPLICAS, (round + 2) % REPLICAS);

        let pending = racer.code().await.context("the authorization pages through the proxy")?;
        let (first, second) =
            tokio::join!(racer.redeem_at(&bases[a], &pending), racer.redeem_at(&bases[b], &pending));
        for outcome in [&first, &second] {
            if let TokenOutcome::Issued(tokens, _) = outcome {
                ledger.exchange(tokens);
            }
        }
        ledger.revoked_on_purpose += 1;
        code.rounds += 1;
        match one_winner(&first, &second) {
            Some(winner) => {
                code.one_winner += 1;
                follow_up(racer, &bases[c], winner, ledger, &mut code, format!("code at {a} and {b}")).await;
            }
            None => code.problems.push(format!("code at replicas {a} and {b}: {first:?} / {second:?}")),
        }

        let tokens = match racer.authorize().await? {
            TokenOutcome::Issued(tokens, _) => tokens,
            other => bail!("a flow through the proxy failed: {other:?}"),
        };
        ledger.exchange(&tokens);
        let (first, second) = tokio::join!(
            racer.refresh_at(&bases[a], &tokens.refresh),
            racer.refresh_at(&bases[b], &tokens.refresh)
        );
        for outcome in [&first, &second] {
            if let TokenOutcome::Issued(tokens, _) = outcome {
                ledger.refresh(tokens);
            }
        }
        ledger.revoked_on_purpose += 1;
        refresh.rounds += 1;
        match one_winner(&first, &second) {
            Some(winner) => {
                refresh.one_winner += 1;
                follow_up(racer, &bases[c], winner, ledger, &mut refresh, format!("refresh at {a} and {b}"))
                    .await;
            }
            None => refresh
                .problems
                .push(format!("refresh token at replicas {a} and {b}: {first:?} / {second:?}")),
        }
    }
    for (what, race) in [("code", &code), ("refresh token", &refresh)] {
        report.check(
            race.one_winner == race.rounds,
            format!(
                "one {what} at two replicas at once: exactly one got tokens, the other invalid_grant ({}/{})",
                race.one_winner, race.rounds
            ),
        );
        report.check(
            race.revoked == race.one_winner,
            format!(
                "the {what}'s reuse revoked the grant: the winner's refresh token is refused at the third replica \
                 ({}/{}; {:?})",
                race.revoked,
                race.one_winner,
                race.problems.first()
            ),
        );
    }
    Ok(())
}

/// The winner's refresh token after a race, at another replica: `invalid_grant`, because the
/// loser's attempt was reuse and revoked the grant.
async fn follow_up(
    racer: &User,
    base: &str,
    winner: &Tokens,
    ledger: &mut Ledger,
    race: &mut Race,
    what: String,
) {
    match racer.refresh_at(base, &winner.refresh).await {
        outcome if outcome.is_invalid_grant() => race.revoked += 1,
        TokenOutcome::Issued(tokens, _) => {
            ledger.refresh(&tokens);
            race.problems.push(format!("{what}: the grant survived, {base} refreshed the winner's token"));
        }
        other => race.problems.push(format!("{what}: the winner's refresh token at {base}: {other:?}")),
    }
}

/// When each replica first published `kid` (Unix seconds), polling each one directly until
/// `until`; a replica that is down is polled again when it is back.
async fn watch_publication(bases: Vec<String>, kid: String, until: f64) -> Vec<Option<f64>> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().expect("static settings");
    let mut seen = vec![None; bases.len()];
    while seen.iter().any(Option::is_none) && unix_now() < until {
        for (i, base) in bases.iter().enumerate() {
            if seen[i].is_some() {
                continue;
            }
            let Ok(response) = http.get(format!("{base}/jwks.json")).send().await else { continue };
            let Ok(jwks) = response.json::<Value>().await else { continue };
            let published =
                jwks["keys"].as_array().is_some_and(|keys| keys.iter().any(|k| k["kid"] == kid.as_str()));
            if published {
                // At the latest when the answer came.
                seen[i] = Some(unix_now());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    seen
}

/// What the load workers did.
#[derive(Debug, Default)]
struct Work {
    ledger: Ledger,
    flows: usize,
    double_spends: usize,
    double_spend_problems: Vec<String>,
    /// 5xx, malformed answers, refusals of what should have worked.
    broken: Vec<String>,
    /// Requests that got no answer (the kill): token requests and authorization pages.
    lost: usize,
    echo_failures: usize,
    latencies: Vec<Duration>,
    /// The last refresh token of each grant still held.
    alive: Vec<String>,
    /// Refresh tokens sent in a request that got no answer: spent or not.
    in_flight: Vec<String>,
    /// The winners' new refresh tokens after a double spend whose check (the grant is revoked, so
    /// this token is refused) the kill cut: checked again after the load.
    unconfirmed_revocations: Vec<String>,
}

impl Work {
    fn merge(&mut self, other: Work) {
        self.ledger.merge(other.ledger);
        self.flows += other.flows;
        self.double_spends += other.double_spends;
        self.double_spend_problems.extend(other.double_spend_problems);
        self.broken.extend(other.broken);
        self.lost += other.lost;
        self.echo_failures += other.echo_failures;
        self.latencies.extend(other.latencies);
        self.alive.extend(other.alive);
        self.in_flight.extend(other.in_flight);
        self.unconfirmed_revocations.extend(other.unconfirmed_revocations);
    }
}

/// Workers through the proxy; one replica killed a third of the way in and restarted `DOWN_FOR`
/// later. Runs `--seconds`, and at least until a few seconds after the rotated key signs, so
/// tokens from every replica cross the switch.
async fn load(
    options: &Options,
    cluster: &mut Cluster,
    proxy: &RoundRobin,
    client: &flows::Client,
    server: &str,
    activates_at: i64,
    report: &mut Report,
) -> anyhow::Result<Work> {
    let started = Instant::now();
    let until_activation = Duration::from_secs_f64((activates_at as f64 - unix_now()).max(0.0));
    let end = started + Duration::from_secs(options.seconds).max(until_activation + Duration::from_secs(3));
    report.say(format!(
        "{} workers through the proxy for {:.0} s (at least until 3 s after the new key signs): login once, \
         then authorize + consent + code exchange, {REFRESHES_PER_FLOW} refreshes, /echo; every \
         {DOUBLE_SPEND_EVERY}th flow spends a refresh token twice at once; replica {KILLED} killed (-9) after \
         {} s and restarted {} s later",
        options.workers,
        (end - started).as_secs_f64(),
        options.seconds / 3,
        DOWN_FOR.as_secs()
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..options.workers)
        .map(|_| {
            let user = User::new(client.clone(), &cluster.issuer, &cluster.resource);
            let (server, stop) = (server.to_owned(), stop.clone());
            tokio::spawn(async move { worker(user, &server, &stop).await })
        })
        .collect();

    tokio::time::sleep_until((started + Duration::from_secs(options.seconds / 3)).into()).await;
    cluster.kill(KILLED).await?;
    // Answers read just before the kill are counted by now.
    let settle = Duration::from_millis(200);
    tokio::time::sleep(settle).await;
    let at_kill = proxy.counts();
    tokio::time::sleep(DOWN_FOR - settle).await;
    let while_down = proxy.counts();
    cluster.restart(KILLED).await?;
    let at_restart = proxy.counts();
    tokio::time::sleep_until(end.into()).await;
    stop.store(true, Ordering::SeqCst);
    let mut work = Work::default();
    for worker in workers {
        work.merge(worker.await?);
    }
    let at_end = proxy.counts();
    // Every replica is up again: a revocation whose check the kill cut is checked now. Refused is
    // the only right answer: a token of a revoked grant is refused without being spent. (Had the
    // grant survived and the cut request spent the token, this would be refused as reuse too; that
    // spend then shows in the books, one more refresh token spent than answered.)
    let checker = User::new(client.clone(), &cluster.issuer, &cluster.resource);
    for token in std::mem::take(&mut work.unconfirmed_revocations) {
        match checker.refresh(&token).await {
            outcome if outcome.is_invalid_grant() => {}
            other => work
                .double_spend_problems
                .push(format!("the grant survived reuse (checked after the load): {other:?}")),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();

    report.say(format!(
        "{} flows ({:.1}/s), {} code exchanges, {} refreshes ({:.1}/s), {} double spends; token endpoint \
         p50 {}, p99 {}",
        work.flows,
        work.flows as f64 / elapsed,
        work.ledger.exchanged.len(),
        work.ledger.refreshed.len(),
        work.ledger.refreshed.len() as f64 / elapsed,
        work.double_spends,
        ms(percentile(&mut work.latencies, 50)),
        ms(percentile(&mut work.latencies, 99)),
    ));
    report.say(format!(
        "proxy: requests answered per replica {:?}; {} connections refused by the dead replica and sent to the \
         next; {:?} requests cut by the kill",
        at_end.served, at_end.failovers, at_end.cut
    ));
    report.check(
        !work.ledger.exchanged.is_empty() && !work.ledger.refreshed.is_empty(),
        "the workers got tokens at all",
    );
    report.check(
        work.broken.is_empty(),
        format!(
            "no 5xx, malformed answer or refusal of a valid request ({}: {:?})",
            work.broken.len(),
            work.broken.first()
        ),
    );
    let served_while_down: Vec<usize> =
        while_down.served.iter().zip(&at_kill.served).map(|(after, before)| after - before).collect();
    report.check(
        served_while_down[KILLED] == 0
            && served_while_down.iter().enumerate().all(|(i, n)| i == KILLED || *n > 0)
            && while_down.failovers > at_kill.failovers,
        format!(
            "while replica {KILLED} was down the others answered everything ({served_while_down:?} requests), \
             the proxy skipping it ({} refused connections)",
            while_down.failovers - at_kill.failovers
        ),
    );
    report.check(
        at_end.served[KILLED] > at_restart.served[KILLED],
        format!(
            "the restarted replica serves again ({} requests after the restart)",
            at_end.served[KILLED] - at_restart.served[KILLED]
        ),
    );
    let cut_elsewhere: usize =
        at_end.cut.iter().enumerate().filter(|(i, _)| *i != KILLED).map(|(_, n)| n).sum();
    report.check(
        cut_elsewhere == 0 && work.lost <= at_end.cut[KILLED],
        format!(
            "every request a client saw go unanswered was one the kill cut ({} unanswered, {} cut at replica \
             {KILLED}, {cut_elsewhere} elsewhere)",
            work.lost, at_end.cut[KILLED]
        ),
    );
    report.check(
        work.double_spend_problems.is_empty(),
        format!(
            "each double spend through the proxy: exactly one got tokens and the grant was revoked ({} bad: {:?})",
            work.double_spend_problems.len(),
            work.double_spend_problems.first()
        ),
    );
    report.check(
        work.echo_failures == 0,
        format!(
            "every access token from a code exchange works at the resource server, across the key switch ({} did \
             not)",
            work.echo_failures
        ),
    );
    Ok(work)
}

/// Whether a failed authorization flow got no answer (rather than a wrong one).
fn unanswered(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<reqwest::Error>().is_some_and(|e| !e.is_status() && !e.is_builder())
    })
}

async fn worker(user: User, server: &str, stop: &AtomicBool) -> Work {
    let mut work = Work::default();
    while !stop.load(Ordering::SeqCst) {
        let tokens = match user.authorize().await {
            Ok(TokenOutcome::Issued(tokens, took)) => {
                work.ledger.exchange(&tokens);
                work.latencies.push(took);
                tokens
            }
            Ok(TokenOutcome::Unreachable(_)) => {
                work.ledger.lost_exchanges += 1;
                work.lost += 1;
                continue;
            }
            Ok(other) => {
                work.broken.push(format!("code exchange: {other:?}"));
                continue;
            }
            Err(e) if unanswered(&e) => {
                work.lost += 1;
                continue;
            }
            Err(e) => {
                work.broken.push(format!("authorization pages: {e:#}"));
                continue;
            }
        };
        match user.echo(server, &tokens.access).await {
            Ok(200) => {}
            _ => work.echo_failures += 1,
        }
        let mut refresh = Some(tokens.refresh);
        for _ in 0..REFRESHES_PER_FLOW {
            let Some(token) = refresh.take() else { break };
            match user.refresh(&token).await {
                TokenOutcome::Issued(next, took) => {
                    work.ledger.refresh(&next);
                    work.latencies.push(took);
                    refresh = Some(next.refresh);
                }
                TokenOutcome::Unreachable(_) => {
                    work.lost += 1;
                    work.in_flight.push(token);
                }
                other => work.broken.push(format!("refresh: {other:?}")),
            }
        }
        work.flows += 1;
        let Some(token) = refresh else { continue };
        if work.flows % DOUBLE_SPEND_EVERY == 0 {
            work.double_spends += 1;
            double_spend(&user, token, &mut work).await;
        } else {
            work.alive.push(token);
        }
    }
    work
}

/// Spends `token` twice at once through the proxy (so at two replicas). Exactly one may win; the
/// other is reuse, which revokes the grant, so the winner's new refresh token is refused. A request
/// the kill cut leaves less known, but never nothing: what the other answered, or a later try,
/// says whether it was spent.
async fn double_spend(user: &User, token: String, work: &mut Work) {
    let (a, b) = tokio::join!(user.refresh(&token), user.refresh(&token));
    let cut = |o: &TokenOutcome| matches!(o, TokenOutcome::Unreachable(_));
    work.lost += usize::from(cut(&a)) + usize::from(cut(&b));
    for outcome in [&a, &b] {
        if let TokenOutcome::Issued(tokens, _) = outcome {
            work.ledger.refresh(tokens);
        }
    }
    match (&a, &b) {
        // Both cut: find out later.
        (TokenOutcome::Unreachable(_), TokenOutcome::Unreachable(_)) => work.in_flight.push(token),
        // One cut, the other refused: the cut one had spent it, and the refused one was reuse.
        (TokenOutcome::Unreachable(_), other) | (other, TokenOutcome::Unreachable(_))
            if other.is_invalid_grant() =>
        {
            work.ledger.spent_unseen += 1;
            work.ledger.revoked_on_purpose += 1;
        }
        // One cut, the other won: the cut one never arrived (the grant lives) or was reuse (it
        // does not).
        (TokenOutcome::Unreachable(_), TokenOutcome::Issued(tokens, _))
        | (TokenOutcome::Issued(tokens, _), TokenOutcome::Unreachable(_)) => {
            match user.refresh(&tokens.refresh).await {
                TokenOutcome::Issued(next, _) => {
                    work.ledger.refresh(&next);
                    work.alive.push(next.refresh);
                }
                outcome if outcome.is_invalid_grant() => work.ledger.revoked_on_purpose += 1,
                TokenOutcome::Unreachable(_) => {
                    work.lost += 1;
                    work.in_flight.push(tokens.refresh.clone());
                }
                other => work.broken.push(format!("after a double spend half cut: {other:?}")),
            }
        }
        _ => {
            work.ledger.revoked_on_purpose += 1;
            let Some(winner) = one_winner(&a, &b) else {
                work.double_spend_problems.push(format!("{a:?} / {b:?}"));
                return;
            };
            match user.refresh(&winner.refresh).await {
                outcome if outcome.is_invalid_grant() => {}
                // The kill cut the check, not the double spend: made again after the load.
                TokenOutcome::Unreachable(_) => {
                    work.lost += 1;
                    work.unconfirmed_revocations.push(winner.refresh.clone());
                }
                other => work.double_spend_problems.push(format!("the grant survived reuse: {other:?}")),
            }
        }
    }
}

/// After the new key signs: what each replica publishes and signs, checked against the others.
async fn rotation_checks(
    racer: &User,
    bases: &[String],
    server: &str,
    (before, old_kid, new_kid, activates_at): (&Tokens, &str, &str, i64),
    first_published: Vec<Option<f64>>,
    ledger: &mut Ledger,
    report: &mut Report,
) -> anyhow::Result<()> {
    let published: Vec<String> = first_published
        .iter()
        .map(|seen| seen.map_or("never".to_owned(), |at| format!("{:.1} s before", activates_at as f64 - at)))
        .collect();
    report.check(
        first_published.iter().all(|seen| seen.is_some_and(|at| at < activates_at as f64)),
        format!("every replica published the new key before it signed anything ({published:?})"),
    );
    let wait = activates_at as f64 + 1.0 - unix_now();
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }

    let jwks: Vec<Vec<Value>> = {
        let mut all = Vec::new();
        for base in bases {
            let set: Value = reqwest::get(format!("{base}/jwks.json")).await?.json().await?;
            all.push(set["keys"].as_array().cloned().unwrap_or_default());
        }
        all
    };
    let mut chain = match racer.authorize().await? {
        TokenOutcome::Issued(tokens, _) => tokens,
        other => bail!("a flow after the rotation failed: {other:?}"),
    };
    ledger.exchange(&chain);
    let (mut signed_new, mut verified, mut failures) = (0, 0, Vec::new());
    for (i, base) in bases.iter().enumerate() {
        chain = match racer.refresh_at(base, &chain.refresh).await {
            TokenOutcome::Issued(tokens, _) => tokens,
            other => bail!("a refresh at replica {i} after the rotation failed: {other:?}"),
        };
        ledger.refresh(&chain);
        if kid_of(&chain.access).as_deref() == Some(new_kid) {
            signed_new += 1;
        }
        for (j, keys) in jwks.iter().enumerate() {
            match verify(&chain.access, keys, &racer.issuer, &racer.resource) {
                Ok(()) => verified += 1,
                Err(why) => failures.push(format!("replica {i}'s token with replica {j}'s keys: {why}")),
            }
        }
        let status = racer.echo(server, &chain.access).await?;
        if status != 200 {
            failures.push(format!("replica {i}'s token at the resource server: {status}"));
        }
    }
    report.check(
        signed_new == bases.len(),
        format!(
            "after the switch every replica signs with the new key {new_kid} ({signed_new}/{})",
            bases.len()
        ),
    );
    report.check(
        failures.is_empty() && verified == bases.len() * jwks.len(),
        format!(
            "each replica's token verifies against the JWKS of every replica, and at the resource server \
             ({verified}/{}; {failures:?})",
            bases.len() * jwks.len()
        ),
    );
    let old: Vec<Result<(), String>> =
        jwks.iter().map(|keys| verify(&before.access, keys, &racer.issuer, &racer.resource)).collect();
    let old_status = racer.echo(server, &before.access).await?;
    report.check(
        old.iter().all(Result::is_ok) && old_status == 200,
        format!(
            "a token signed before the rotation ({old_kid}) still verifies with every replica's keys and at the \
             resource server ({old:?}, {old_status})"
        ),
    );
    Ok(())
}

/// Checks an access token's ES256 signature with the key `keys` publishes under its `kid`, and its
/// issuer, audience and expiry.
fn verify(token: &str, keys: &[Value], issuer: &str, audience: &str) -> Result<(), String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let kid = kid_of(token).ok_or("no kid")?;
    let key = keys.iter().find(|k| k["kid"] == kid.as_str()).ok_or(format!("{kid} is not published"))?;
    let (Some(x), Some(y)) = (key["x"].as_str(), key["y"].as_str()) else {
        return Err(format!("{kid} is not an EC key"));
    };
    let decoding = DecodingKey::from_ec_components(x, y).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation).map(|_| ()).map_err(|e| e.to_string())
}

/// The books of one client: the database against what the client was given.
async fn books(
    pool: &PgPool,
    who: &str,
    client_id: &str,
    ledger: &Ledger,
    report: &mut Report,
) -> anyhow::Result<()> {
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql).bind(client_id).fetch_one(pool).await.map(|n| n as usize)
    };
    let grants = count("SELECT COUNT(*) FROM grants WHERE client_id = $1").await?;
    let revoked =
        count("SELECT COUNT(*) FROM grants WHERE client_id = $1 AND revoked_at IS NOT NULL").await?;
    let refresh_rows = count(
        "SELECT COUNT(*) FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE g.client_id = $1",
    )
    .await?;
    let spent = count(
        "SELECT COUNT(*) FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id
         WHERE g.client_id = $1 AND r.used_at IS NOT NULL",
    )
    .await?;
    let access_rows = count(
        "SELECT COUNT(*) FROM access_tokens a JOIN grants g ON g.id = a.grant_id WHERE g.client_id = $1",
    )
    .await?;
    let (exchanged, refreshed) = (ledger.exchanged.len(), ledger.refreshed.len());
    let given: Vec<String> = ledger.exchanged.iter().chain(&ledger.refreshed).cloned().collect();
    let recorded: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM access_tokens a JOIN grants g ON g.id = a.grant_id WHERE a.jti = ANY($1) AND g.client_id = $2",
    )
    .bind(&given)
    .bind(client_id)
    .fetch_one(pool)
    .await?;
    let own_grants: i64 =
        sqlx::query_scalar("SELECT COUNT(DISTINCT grant_id) FROM access_tokens WHERE jti = ANY($1)")
            .bind(&ledger.exchanged)
            .fetch_one(pool)
            .await?;

    report.say(format!(
        "{who}: {exchanged} code exchanges and {refreshed} refreshes answered; the database holds {grants} grants \
         ({revoked} revoked), {refresh_rows} refresh tokens ({spent} spent), {access_rows} access tokens"
    ));
    let lost = ledger.lost_exchanges;
    report.check(
        recorded as usize == given.len() && own_grants as usize == exchanged,
        format!(
            "{who}: every token a client received is recorded under its grant ({recorded}/{}), each code \
             exchange under a grant of its own ({own_grants}/{exchanged}): no grant lost",
            given.len()
        ),
    );
    report.check(
        exchanged <= grants && grants <= exchanged + lost,
        format!("{who}: grants = code exchanges answered, plus at most the {lost} whose answer the kill cut ({grants})"),
    );
    report.check(
        spent == refreshed + ledger.spent_unseen,
        format!(
            "{who}: refresh tokens spent = refreshes answered + spends whose answer was cut ({spent} = {refreshed} + {})",
            ledger.spent_unseen
        ),
    );
    report.check(
        refresh_rows == grants + spent,
        format!(
            "{who}: refresh tokens stored = one per grant + one per spend ({refresh_rows} = {grants} + {spent}): \
             none lost, none spent twice"
        ),
    );
    report.check(
        access_rows == refresh_rows,
        format!("{who}: one access token record per refresh token ({access_rows} = {refresh_rows})"),
    );
    report.check(
        revoked == ledger.revoked_on_purpose,
        format!(
            "{who}: grants revoked = reuses the harness made on purpose ({revoked} = {}): none revoked by mistake, \
             none left alive after reuse",
            ledger.revoked_on_purpose
        ),
    );
    Ok(())
}
