//! The audit trail: one durable record per decision on a tool call, in the gateway's own database,
//! and what `mcp-gateway audit` prints of them.
//!
//! A record says who (user, client, from which address) asked for what (upstream, tool, the
//! SHA-256 of the arguments), what the gateway decided, by which policies (their ids and the hash
//! of the policy text) and on which approval, and how long it took. It never holds argument values
//! or tokens: the hash proves which call was decided without the trail becoming a copy of what
//! users sent.
//!
//! [`AuditLog::record`] hands the record to a writer task through a bounded channel, so a request
//! waits on the database only when the writer is thousands of records behind; when the channel is
//! full the request waits (backpressure) rather than the record being dropped. The writer commits
//! what queues up within [`LINGER`] (5 ms) as one batch, one statement each, and
//! [`AuditLog::flush`] returns once everything sent before it is committed.
//!
//! # Backends
//! The URL picks the database, in one place (`Backend::open`): SQLite (`sqlite://FILE`, the
//! default, or `sqlite::memory:`; `sqlite.rs`) or PostgreSQL (`postgres://…`, for replicas that
//! keep one trail; `postgres.rs`). Each has its own SQL and its own migrations (`migrations/` and
//! `migrations/postgres/`), and `Backend` is an enum with one arm per backend: the log needs four
//! operations of its database, so a trait object would be more machinery than it saves. A database
//! migrated by a newer build is refused by every opener ([`AuditError::SchemaNewer`]).

mod postgres;
mod sqlite;
pub mod testing;

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::{FromRow, PgPool, QueryBuilder, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// Where the gateway keeps its database unless told otherwise.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://mcp-gateway.db";
/// Longest tool name kept, in characters: the name is the client's, so its length is bounded here.
pub const MAX_TOOL: usize = 200;
/// Longest reason kept, in characters.
pub const MAX_REASON: usize = 200;
/// Most records one query returns.
pub const MAX_LIMIT: u32 = 10_000;
/// Records a query returns unless told otherwise.
pub const DEFAULT_LIMIT: u32 = 50;

/// Records waiting for the writer before [`AuditLog::record`] makes its caller wait.
const QUEUE: usize = 4096;
/// Most records committed in one transaction.
const BATCH: usize = 256;
/// How long the first record of a batch waits for others before they are committed: what a crash
/// can lose beyond the queue, bought with one commit for many records under load.
const LINGER: Duration = Duration::from_millis(5);
/// Pause before the one retry of a batch that failed: long enough for a passing lock or a full
/// disk's neighbour to clear, short enough that requests do not pile up behind it.
const RETRY_AFTER: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// No such file (SQLite) or database (PostgreSQL); the location as [`display_url`] shows it.
    #[error("no audit database at {0}")]
    Missing(String),
    #[error("{0} is not an audit database: it has no decisions table")]
    NotAnAuditDatabase(String),
    /// The URL names no backend this build has. Only the scheme is shown: the rest of a URL may
    /// hold a password.
    #[error("no audit database backend for URLs starting with {0:?} (expected sqlite: or postgres:)")]
    UnsupportedUrl(String),
    /// A newer gateway migrated the database: this build does not know its schema and must
    /// neither write to it nor read it as if it did.
    #[error(
        "the audit database has migration {version}, newer than this build knows (up to {known}): \
         run the mcp-gateway that migrated it, or a newer one"
    )]
    SchemaNewer { version: i64, known: i64 },
    /// Opened to read (`mcp-gateway audit`), which never migrates, and the schema is behind.
    #[error("the audit database lacks migrations {0}: `mcp-gateway serve` applies them when it starts")]
    MigrationsPending(String),
    #[error(
        "unknown decision {0:?}: one of allow, deny, approval_required, approval_denied, approval_expired, error, \
         interrupted"
    )]
    UnknownOutcome(String),
    #[error("audit record {id} is damaged: {what}")]
    Damaged { id: i64, what: String },
    #[error("the audit log is open read-only")]
    ReadOnly,
    #[error("the audit writer has stopped")]
    WriterStopped,
    #[error("{0} audit records could not be written (the log says which batches)")]
    RecordsLost(u64),
}

/// What the gateway decided on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The call went to the upstream.
    Allow,
    /// A policy refused it.
    Deny,
    /// A policy allows it once the person approves; the client was sent to ask.
    ApprovalRequired,
    /// The person refused.
    ApprovalDenied,
    /// The approval was not given in time.
    ApprovalExpired,
    /// The gateway could not decide or carry out the call (the reason says which step failed).
    Error,
    /// A policy allowed it, but the request ended before the call did (the client went away, the
    /// request timed out, the gateway stopped): the reason says how far it got, and so whether the
    /// upstream may have acted.
    Interrupted,
}

impl Outcome {
    /// Every outcome, in the order `mcp-gateway audit --help` lists them.
    pub const ALL: [Self; 7] = [
        Self::Allow,
        Self::Deny,
        Self::ApprovalRequired,
        Self::ApprovalDenied,
        Self::ApprovalExpired,
        Self::Error,
        Self::Interrupted,
    ];

    /// The name stored in the `decision` column and accepted by `mcp-gateway audit --decision`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::ApprovalRequired => "approval_required",
            Self::ApprovalDenied => "approval_denied",
            Self::ApprovalExpired => "approval_expired",
            Self::Error => "error",
            Self::Interrupted => "interrupted",
        }
    }
}

impl FromStr for Outcome {
    type Err = AuditError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == name)
            .ok_or_else(|| AuditError::UnknownOutcome(name.to_owned()))
    }
}

/// One decision, as recorded: a field per column of `decisions` (but its `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The request's trace id or a random id (see [`request_id`]), never the JSON-RPC id alone.
    pub request_id: String,
    /// The token's `sub`.
    pub user: String,
    pub client_id: String,
    /// The client's IP address as the policy saw it (`serve::client_addr`: the peer, or behind a
    /// `--trusted-proxy` the address its forwarding header names). `None` only in records written
    /// before the gateway kept it.
    pub client_address: Option<String>,
    /// `None` when the tool is not in the catalog.
    pub upstream: Option<String>,
    /// The name the client asked for; [`AuditLog::record`] keeps at most [`MAX_TOOL`] characters.
    pub tool: String,
    /// `protocol::authorization_details::arguments_sha256` of the arguments; `None` when there
    /// were none to read. The arguments themselves are never recorded.
    pub arguments_sha256: Option<String>,
    /// The `decision` column.
    #[serde(rename = "decision")]
    pub outcome: Outcome,
    /// Short text the gateway writes ("no permit", "upstream refused the hop token"): never
    /// argument values or tokens. At most [`MAX_REASON`] characters are kept.
    pub reason: Option<String>,
    /// The determining policies' ids.
    pub policy_ids: Vec<String>,
    /// SHA-256 of the policy text in force.
    pub policy_hash: String,
    /// The consent or approval the decision rests on.
    pub approval_id: Option<String>,
    /// Microseconds the gateway spent on the call.
    pub latency_us: i64,
}

/// Which records [`AuditLog::query`] returns; every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub user: Option<String>,
    /// The tool name exactly as recorded.
    pub tool: Option<String>,
    pub outcome: Option<Outcome>,
    /// Only records at or after this Unix millisecond.
    pub since_ms: Option<i64>,
    /// At most this many, newest first; capped at [`MAX_LIMIT`].
    pub limit: u32,
}

impl Default for Filter {
    fn default() -> Self {
        Self { user: None, tool: None, outcome: None, since_ms: None, limit: DEFAULT_LIMIT }
    }
}

/// What travels to the writer task.
#[derive(Debug)]
enum Message {
    /// Boxed: a record is some thirty times the size of a flush marker, and the channel's slots are
    /// as large as the larger.
    Record(Box<Decision>),
    /// Answered, once everything before it is committed, with how many records the writer has
    /// lost since it started.
    Flush(oneshot::Sender<u64>),
}

/// How a database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// By the gateway: created if it is a missing SQLite file, migrated.
    Write,
    /// By `mcp-gateway audit`, beside a gateway that may be writing: nothing is created or
    /// migrated, and a schema other than this build's is refused.
    Read,
}

/// The database behind a log, one arm per backend. Clones share the pool.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Backend {
    /// The one place a URL picks the backend: `sqlite:` or `postgres:`/`postgresql:`.
    async fn open(url: &str, access: Access) -> Result<Self, AuditError> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Ok(Self::Sqlite(sqlite::open(url, access).await?)),
            "postgres" | "postgresql" => Ok(Self::Postgres(postgres::open(url, access).await?)),
            _ => Err(AuditError::UnsupportedUrl(format!("{scheme}:"))),
        }
    }

    /// Writes the batch, all or nothing, so that a retry never writes a record twice.
    async fn insert(&self, batch: &[Decision]) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(pool) => sqlite::insert(pool, batch).await,
            Self::Postgres(pool) => postgres::insert(pool, batch).await,
        }
    }

    /// The rows `filter` selects, newest first.
    async fn query(&self, filter: &Filter) -> Result<Vec<Stored>, sqlx::Error> {
        match self {
            Self::Sqlite(pool) => sqlite::query(pool, filter).await,
            Self::Postgres(pool) => postgres::query(pool, filter).await,
        }
    }

    /// Closes every connection, leaving a complete database behind (`wrote`: this process wrote).
    async fn close(&self, wrote: bool) {
        match self {
            Self::Sqlite(pool) => sqlite::close(pool, wrote).await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// Compares the migrations a database has applied with those this build carries: a version this
/// build does not know is [`AuditError::SchemaNewer`]; missing ones are what opening to write
/// applies, and [`AuditError::MigrationsPending`] when opening to read. Returns whether any are
/// missing.
fn check_schema(
    migrator: &sqlx::migrate::Migrator,
    applied: &[i64],
    access: Access,
) -> Result<bool, AuditError> {
    let known = || migrator.iter().map(|migration| migration.version);
    if let Some(version) = applied.iter().copied().find(|version| !known().any(|v| v == *version)) {
        return Err(AuditError::SchemaNewer { version, known: known().max().unwrap_or(0) });
    }
    let pending: Vec<String> = migrator
        .iter()
        .filter(|migration| !applied.contains(&migration.version))
        .map(|migration| format!("{} ({})", migration.version, migration.description))
        .collect();
    if access == Access::Read && !pending.is_empty() {
        return Err(AuditError::MigrationsPending(pending.join(", ")));
    }
    Ok(!pending.is_empty())
}

/// The conditions of `filter` and its order and limit, appended to a `SELECT … FROM decisions
/// WHERE 1 = 1`: the same SQL on both backends, but for the name of the user's column.
fn push_filter<'args, DB>(sql: &mut QueryBuilder<'args, DB>, filter: &Filter, user_column: &str)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    if let Some(user) = &filter.user {
        sql.push(format_args!(" AND {user_column} = ")).push_bind(user.clone());
    }
    if let Some(tool) = &filter.tool {
        sql.push(" AND tool = ").push_bind(tool.clone());
    }
    if let Some(outcome) = filter.outcome {
        sql.push(" AND decision = ").push_bind(outcome.as_str().to_owned());
    }
    if let Some(since_ms) = filter.since_ms {
        sql.push(" AND at_ms >= ").push_bind(since_ms);
    }
    sql.push(" ORDER BY at_ms DESC, id DESC LIMIT ").push_bind(i64::from(filter.limit.min(MAX_LIMIT)));
}

/// A database URL as it may be shown to a person or a log: a password in it becomes `***`
/// (`postgres://gateway:***@db/audit`). Anything that does not parse as a URL is shown from its
/// `@` on only, since it might hold credentials in a shape the parser did not recognise.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => match url.split_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_owned(),
        },
    }
}

/// The audit database. Clones share one writer task and one pool.
#[derive(Debug, Clone)]
pub struct AuditLog {
    backend: Backend,
    /// `None` when opened read-only (by `mcp-gateway audit`).
    writer: Option<mpsc::Sender<Message>>,
}

impl AuditLog {
    /// Opens and migrates the database at `database_url`, and starts its writer task:
    /// `sqlite://FILE` (created if missing), `sqlite::memory:`, or `postgres://…` (an existing
    /// database). A database a newer build migrated is refused.
    pub async fn open(database_url: &str) -> Result<Self, AuditError> {
        let backend = Backend::open(database_url, Access::Write).await?;
        let (writer, inbox) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(backend.clone(), inbox));
        Ok(Self { backend, writer: Some(writer) })
    }

    /// Opens an existing database to read it, changing nothing: no file, schema or table is
    /// created, no migration runs, and [`record`](Self::record) is refused. For `mcp-gateway
    /// audit`, which may run beside a gateway that is writing.
    pub async fn open_read_only(database_url: &str) -> Result<Self, AuditError> {
        let backend = Backend::open(database_url, Access::Read).await?;
        Ok(Self { backend, writer: None })
    }

    /// Queues a record for the writer. Waits only when the queue is full, and never drops the
    /// record. The tool name and reason are cut to their maximum lengths here, and a NUL in them
    /// becomes U+FFFD: PostgreSQL's text cannot hold one, and a tool name is the client's to choose,
    /// so one would otherwise fail the whole batch, other people's records with it.
    pub async fn record(&self, decision: Decision) -> Result<(), AuditError> {
        let writer = self.writer.as_ref().ok_or(AuditError::ReadOnly)?;
        writer.send(message_of(decision)).await.map_err(|_| AuditError::WriterStopped)
    }

    /// Queues a record without waiting, for code that cannot wait: a `Drop` (the record of a call
    /// whose request ended before the call did). When the queue is full, a task waits for room
    /// instead, so the record is still not dropped; it is lost (and logged as lost) only if the
    /// writer has stopped, or outside a Tokio runtime.
    pub fn record_without_waiting(&self, decision: Decision) {
        let Some(writer) = &self.writer else {
            tracing::error!(request_id = %decision.request_id, "an audit record was not written: the log is read-only");
            return;
        };
        let message = match writer.try_send(message_of(decision)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(message)) => message,
            Err(mpsc::error::TrySendError::Closed(message)) => return lost(&message),
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return lost(&message);
        };
        let writer = writer.clone();
        runtime.spawn(async move {
            if let Err(mpsc::error::SendError(message)) = writer.send(message).await {
                lost(&message);
            }
        });
    }

    /// Returns once every record queued before the call is committed; an error if the writer has
    /// ever failed to write a batch (the records are then lost, and the log says which).
    pub async fn flush(&self) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let (done, committed) = oneshot::channel();
        writer.send(Message::Flush(done)).await.map_err(|_| AuditError::WriterStopped)?;
        match committed.await.map_err(|_| AuditError::WriterStopped)? {
            0 => Ok(()),
            lost => Err(AuditError::RecordsLost(lost)),
        }
    }

    /// Flushes and closes the pool (a SQLite file has its write-ahead log folded in first): called
    /// once the gateway has stopped taking calls (a clone recording after this fails, and says so
    /// in the log).
    pub async fn close(self) -> Result<(), AuditError> {
        let flushed = self.flush().await;
        self.backend.close(self.writer.is_some()).await;
        flushed
    }

    /// The records that match, newest first.
    pub async fn query(&self, filter: &Filter) -> Result<Vec<(i64, Decision)>, AuditError> {
        let rows = self.backend.query(filter).await?;
        rows.into_iter().map(Stored::into_decision).collect()
    }
}

/// The id a record is filed under: the trace id of the request's W3C `traceparent` when it has a
/// valid one, so the record joins the traces and logs of the same request; otherwise a fresh
/// random id of the same shape. Never the JSON-RPC id: every client numbers its requests from 1.
pub fn request_id(traceparent: Option<&str>) -> String {
    if let Some(trace_id) = traceparent.and_then(protocol::trace::trace_id) {
        return trace_id.to_owned();
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes[0] |= 1; // never all zeros, which W3C Trace Context forbids
    protocol::hex(&bytes)
}

/// A record as it travels to the writer: its tool name and reason cut to their maximum lengths,
/// and a NUL in them replaced (see [`AuditLog::record`]).
fn message_of(mut decision: Decision) -> Message {
    storable(&mut decision.tool, MAX_TOOL);
    if let Some(reason) = &mut decision.reason {
        storable(reason, MAX_REASON);
    }
    Message::Record(Box::new(decision))
}

/// Logs a record that could not be queued, by what identifies it only.
fn lost(message: &Message) {
    if let Message::Record(decision) = message {
        tracing::error!(request_id = %decision.request_id, "an audit record was lost: the audit writer has stopped");
    }
}

/// Cuts `text` to at most `max` characters (not bytes, so a name is never cut inside a character)
/// and replaces each NUL, which no PostgreSQL text can hold, with U+FFFD.
fn storable(text: &mut String, max: usize) {
    if let Some((end, _)) = text.char_indices().nth(max) {
        text.truncate(end);
    }
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
    }
}

/// The writer task: commits what has queued up in batches until every [`AuditLog`] is dropped.
/// It never panics; a batch that fails twice is logged and counted as lost.
async fn write_loop(backend: Backend, mut inbox: mpsc::Receiver<Message>) {
    let mut lost = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Some(first) = inbox.recv().await {
        // A record waits up to [`LINGER`] for others to share its commit: each commit wakes the
        // database's thread and (on a file) syncs, and committing records one by one as they came
        // had made the audit log a sixth of the gateway's CPU under load. A flush does not wait.
        if matches!(first, Message::Record(_)) {
            tokio::time::sleep(LINGER).await;
        }
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Record(decision) => batch.push(*decision),
                Message::Flush(done) => waiting.push(done),
            }
            next = if batch.len() < BATCH { inbox.try_recv().ok() } else { None };
        }
        if !batch.is_empty() {
            lost += write_with_retry(&backend, &batch).await;
            batch.clear();
        }
        // Everything queued before these markers is now committed (or counted as lost).
        for done in waiting.drain(..) {
            // The caller may have stopped waiting; that is its business.
            let _ = done.send(lost);
        }
    }
}

/// Writes a batch, retrying once; returns how many records were lost.
async fn write_with_retry(backend: &Backend, batch: &[Decision]) -> u64 {
    let Err(error) = backend.insert(batch).await else {
        return 0;
    };
    tracing::error!(%error, records = batch.len(), "could not write audit records; retrying once");
    tokio::time::sleep(RETRY_AFTER).await;
    let Err(error) = backend.insert(batch).await else {
        return 0;
    };
    // Only what identifies the records, never their arguments' hash or anything else.
    let request_ids: Vec<&str> = batch.iter().map(|d| d.request_id.as_str()).collect();
    tracing::error!(%error, records = batch.len(), ?request_ids, "audit records lost: the batch failed twice");
    u64::try_from(batch.len()).unwrap_or(u64::MAX)
}

/// A row as either database holds it, before its text columns are read back into types. Each
/// backend selects its columns under these names.
#[derive(FromRow)]
struct Stored {
    id: i64,
    at_ms: i64,
    request_id: String,
    user: String,
    client_id: String,
    client_address: Option<String>,
    upstream: Option<String>,
    tool: String,
    arguments_sha256: Option<String>,
    decision: String,
    reason: Option<String>,
    policy_ids: String,
    policy_hash: String,
    approval_id: Option<String>,
    latency_us: i64,
}

impl Stored {
    fn into_decision(self) -> Result<(i64, Decision), AuditError> {
        let id = self.id;
        let outcome = self
            .decision
            .parse()
            .map_err(|_| AuditError::Damaged { id, what: format!("unknown decision {:?}", self.decision) })?;
        let policy_ids = serde_json::from_str(&self.policy_ids).map_err(|_| AuditError::Damaged {
            id,
            what: "policy_ids is not a JSON array of strings".into(),
        })?;
        let decision = Decision {
            at_ms: self.at_ms,
            request_id: self.request_id,
            user: self.user,
            client_id: self.client_id,
            client_address: self.client_address,
            upstream: self.upstream,
            tool: self.tool,
            arguments_sha256: self.arguments_sha256,
            outcome,
            reason: self.reason,
            policy_ids,
            policy_hash: self.policy_hash,
            approval_id: self.approval_id,
            latency_us: self.latency_us,
        };
        Ok((id, decision))
    }
}

/// The policy ids as stored: a JSON array of strings, in a text column on both backends.
fn policy_ids_json(decision: &Decision) -> String {
    serde_json::Value::from(decision.policy_ids.clone()).to_string()
}

// What `mcp-gateway audit` prints.

/// The records as a table for people: a header, then one aligned line per record as given.
/// Text from the records is escaped so that a tool name cannot drive the terminal.
pub fn table(records: &[(i64, Decision)]) -> String {
    const HEADER: [&str; 11] = [
        "TIME", "DECISION", "USER", "CLIENT", "ADDRESS", "TOOL", "POLICIES", "APPROVAL", "LATENCY",
        "REQUEST", "REASON",
    ];
    let rows: Vec<[String; 11]> = records.iter().map(|(_, decision)| cells(decision)).collect();
    let mut widths = HEADER.map(|title| title.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> =
            row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn cells(decision: &Decision) -> [String; 11] {
    let optional = |text: &Option<String>| text.as_deref().map_or_else(|| "-".to_owned(), printable);
    let policies = if decision.policy_ids.is_empty() {
        "-".to_owned()
    } else {
        printable(&decision.policy_ids.join(","))
    };
    [
        rfc3339(decision.at_ms),
        decision.outcome.as_str().to_owned(),
        printable(&decision.user),
        printable(&decision.client_id),
        optional(&decision.client_address),
        printable(&decision.tool),
        policies,
        optional(&decision.approval_id),
        format!("{:.3} ms", decision.latency_us as f64 / 1000.0),
        printable(&decision.request_id),
        optional(&decision.reason),
    ]
}

/// The records for programs: one JSON object per line, the record's fields and its `id`.
pub fn json_lines(records: &[(i64, Decision)]) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        id: i64,
        #[serde(flatten)]
        decision: &'a Decision,
    }
    records
        .iter()
        .map(|(id, decision)| {
            let line = serde_json::to_string(&Line { id: *id, decision })
                .expect("a record holds only strings, numbers and lists of strings, which always serialize");
            line + "\n"
        })
        .collect()
}

/// `text` with control and bidirectional-override characters escaped (`\u{1b}`), for a terminal.
fn printable(text: &str) -> String {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    text.chars()
        .map(|c| if unsafe_char(c) { c.escape_unicode().to_string() } else { c.to_string() })
        .collect()
}

/// Unix milliseconds as RFC 3339 in UTC, to the millisecond: `2023-11-14T22:13:20.123Z`.
pub fn rfc3339(at_ms: i64) -> String {
    let (seconds, millis) = (at_ms.div_euclid(1000), at_ms.rem_euclid(1000));
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (second_of_day / 3600, second_of_day % 3600 / 60, second_of_day % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, <https://howardhinnant.github.io/date_algorithms.html>): eras of 400 years
/// repeat exactly, and counting years from March puts the leap day last.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097); // [0, 146096]
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sqlx::Row;

    use super::testing::TestDatabase;
    use super::*;

    fn decision(user: &str, tool: &str, outcome: Outcome, at_ms: i64) -> Decision {
        Decision {
            at_ms,
            request_id: request_id(None),
            user: user.to_owned(),
            client_id: "agent".to_owned(),
            client_address: Some("203.0.113.7".to_owned()),
            upstream: Some("notes".to_owned()),
            tool: tool.to_owned(),
            arguments_sha256: Some(protocol::authorization_details::arguments_sha256(&json!({}))),
            outcome,
            reason: None,
            policy_ids: vec!["readers-read".to_owned()],
            policy_hash: "ab".repeat(32),
            approval_id: None,
            latency_us: 1234,
        }
    }

    fn file_url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}", dir.path().join("audit.db").display())
    }

    fn everything() -> Filter {
        Filter { limit: MAX_LIMIT, ..Filter::default() }
    }

    /// Runs `sql` on the log's own database, outside the log: what another program (or a later
    /// release) would do to it.
    async fn execute(log: &AuditLog, sql: &str) {
        match &log.backend {
            Backend::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Backend::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
        .unwrap();
    }

    async fn records_from_concurrent_tasks_all_arrive_after_flush(url: &str) {
        let log = AuditLog::open(url).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..100 {
                        let at_ms = task * 1000 + i;
                        log.record(decision(&format!("user{task}"), "notes__list", Outcome::Allow, at_ms))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        log.flush().await.unwrap();
        let records = log.query(&everything()).await.unwrap();
        assert_eq!(records.len(), 800);
        for task in 0..8 {
            let filter = Filter { user: Some(format!("user{task}")), ..everything() };
            assert_eq!(log.query(&filter).await.unwrap().len(), 100, "user{task}");
        }
        log.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_from_concurrent_tasks_all_arrive_after_flush_in_memory() {
        records_from_concurrent_tasks_all_arrive_after_flush("sqlite::memory:").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_from_concurrent_tasks_all_arrive_after_flush_in_the_test_database() {
        let database = TestDatabase::fresh().await;
        records_from_concurrent_tasks_all_arrive_after_flush(database.url()).await;
    }

    #[tokio::test]
    async fn filters_select_by_user_tool_decision_and_time_newest_first() {
        let database = TestDatabase::fresh().await;
        let log = AuditLog::open(database.url()).await.unwrap();
        log.record(decision("alice", "notes__list", Outcome::Allow, 1_000)).await.unwrap();
        log.record(decision("alice", "notes__delete", Outcome::Deny, 2_000)).await.unwrap();
        log.record(decision("bob", "notes__delete", Outcome::ApprovalRequired, 3_000)).await.unwrap();
        log.record(decision("bob", "notes__list", Outcome::Allow, 4_000)).await.unwrap();
        log.flush().await.unwrap();
        let times = |filter: Filter| {
            let log = log.clone();
            async move { log.query(&filter).await.unwrap().into_iter().map(|(_, d)| d.at_ms).collect::<Vec<_>>() }
        };
        assert_eq!(times(everything()).await, [4_000, 3_000, 2_000, 1_000]);
        assert_eq!(times(Filter { user: Some("alice".into()), ..everything() }).await, [2_000, 1_000]);
        assert_eq!(
            times(Filter { tool: Some("notes__delete".into()), ..everything() }).await,
            [3_000, 2_000]
        );
        assert_eq!(times(Filter { outcome: Some(Outcome::Allow), ..everything() }).await, [4_000, 1_000]);
        assert_eq!(times(Filter { since_ms: Some(2_000), ..everything() }).await, [4_000, 3_000, 2_000]);
        assert_eq!(times(Filter { limit: 1, ..everything() }).await, [4_000]);
        let both = Filter { user: Some("bob".into()), outcome: Some(Outcome::Allow), ..everything() };
        assert_eq!(times(both).await, [4_000]);
        // A value that would be SQL if it were spliced in is only a value.
        assert!(times(Filter { user: Some("' OR 1 = 1 --".into()), ..everything() }).await.is_empty());
        log.close().await.unwrap();
    }

    /// More records than one batch holds, sent in a burst, with text that JSON, SQL and PostgreSQL
    /// each treat specially: every one arrives, in the order sent, exactly as written (a NUL, which
    /// PostgreSQL cannot store, as U+FFFD).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_records_arrives_whole_in_order_whatever_its_text() {
        let database = TestDatabase::fresh().await;
        let log = AuditLog::open(database.url()).await.unwrap();
        let odd =
            "quote \" backslash \\ newline \n tab \t nul \0 crab 🦀 sql '; DROP TABLE decisions; -- \u{2028}";
        let written: Vec<Decision> = (0..(2 * BATCH + 10) as i64)
            .map(|i| {
                let mut record = decision(&format!("user{i}"), odd, Outcome::Allow, 5_000);
                record.reason = Some(odd.into());
                record.policy_ids = vec![odd.into(), format!("policy {i}")];
                record.approval_id = (i % 2 == 0).then(|| format!("approval-{i}"));
                record.client_address = (i % 3 == 0).then(|| "2001:db8::1".into());
                record.latency_us = i64::MAX - i;
                record
            })
            .collect();
        for record in &written {
            log.record(record.clone()).await.unwrap();
        }
        log.flush().await.unwrap();
        let mut read = log.query(&everything()).await.unwrap();
        read.reverse();
        assert_eq!(read.len(), written.len());
        assert!(read.windows(2).all(|pair| pair[0].0 < pair[1].0), "ids in the order sent");
        let stored = odd.replace('\0', "\u{FFFD}");
        for ((_, read), mut expected) in read.into_iter().zip(written) {
            expected.tool = stored.clone();
            expected.reason = Some(stored.clone());
            assert_eq!(read, expected);
        }
        log.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_record_reads_back_as_written_with_its_tool_name_bounded() {
        let database = TestDatabase::fresh().await;
        let log = AuditLog::open(database.url()).await.unwrap();
        let mut written = decision("alice", &"é".repeat(MAX_TOOL + 50), Outcome::ApprovalDenied, 7);
        written.upstream = None;
        written.arguments_sha256 = None;
        written.client_address = Some("2001:db8::7".into());
        written.reason = Some("the person refused".into());
        written.policy_ids = vec!["a".into(), "b".into()];
        written.approval_id = Some("approval-1".into());
        log.record(written.clone()).await.unwrap();
        let mut bare = decision("bob", "notes__list", Outcome::Allow, 8);
        bare.client_address = None;
        bare.policy_ids.clear();
        log.record(bare.clone()).await.unwrap();
        log.flush().await.unwrap();
        let [(_, read_bare), (_, read)] = log.query(&everything()).await.unwrap().try_into().unwrap();
        assert_eq!(read.tool.chars().count(), MAX_TOOL);
        written.tool = "é".repeat(MAX_TOOL);
        assert_eq!(read, written);
        assert_eq!(read_bare, bare);
        log.close().await.unwrap();
    }

    #[tokio::test]
    async fn records_survive_closing_and_reopening_and_a_reader_cannot_write() {
        let database = TestDatabase::fresh().await;
        let log = AuditLog::open(database.url()).await.unwrap();
        log.record(decision("alice", "notes__list", Outcome::Allow, 1)).await.unwrap();
        log.record(decision("bob", "notes__delete", Outcome::Deny, 2)).await.unwrap();
        log.close().await.unwrap();

        let reopened = AuditLog::open(database.url()).await.unwrap();
        let users: Vec<String> =
            reopened.query(&everything()).await.unwrap().into_iter().map(|(_, d)| d.user).collect();
        assert_eq!(users, ["bob", "alice"]);
        reopened.close().await.unwrap();

        let reader = AuditLog::open_read_only(database.url()).await.unwrap();
        assert_eq!(reader.query(&everything()).await.unwrap().len(), 2);
        assert!(matches!(
            reader.record(decision("eve", "x", Outcome::Allow, 3)).await,
            Err(AuditError::ReadOnly)
        ));
        reader.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_database_without_the_log_is_refused_by_the_reader_and_left_as_it_was() {
        let database = TestDatabase::fresh().await;
        let error = AuditLog::open_read_only(database.url()).await.unwrap_err();
        assert!(matches!(error, AuditError::Missing(_) | AuditError::NotAnAuditDatabase(_)), "{error}");
        if database.is_postgres() {
            let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
            let (schemas,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1")
                .bind(postgres::SCHEMA)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(schemas, 0, "reading created the gateway's schema");
            pool.close().await;
        }
    }

    #[tokio::test]
    async fn opening_a_missing_sqlite_file_read_only_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let error = AuditLog::open_read_only(&file_url(&dir)).await.unwrap_err();
        assert!(matches!(error, AuditError::Missing(_)), "{error}");
        assert!(!dir.path().join("audit.db").exists());
    }

    #[tokio::test]
    async fn a_database_a_newer_build_migrated_is_refused_by_the_writer_and_the_reader() {
        let database = TestDatabase::fresh().await;
        let log = AuditLog::open(database.url()).await.unwrap();
        log.record(decision("alice", "notes__list", Outcome::Allow, 1)).await.unwrap();
        execute(
            &log,
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (999999, 'from a later release', TRUE, '', 0)",
        )
        .await;
        log.close().await.unwrap();
        for error in [
            AuditLog::open(database.url()).await.unwrap_err(),
            AuditLog::open_read_only(database.url()).await.unwrap_err(),
        ] {
            assert!(matches!(error, AuditError::SchemaNewer { version: 999_999, .. }), "{error}");
            assert!(error.to_string().contains("newer than this build knows"), "{error}");
        }
    }

    #[tokio::test]
    async fn an_unknown_scheme_names_the_scheme_only() {
        for open in [
            AuditLog::open("mysql://root:hunter2@db/audit").await,
            AuditLog::open_read_only("audit.db").await,
        ] {
            let error = open.unwrap_err().to_string();
            assert!(error.contains("expected sqlite: or postgres:"), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn passwords_in_database_urls_are_not_shown() {
        assert_eq!(display_url("postgres://gw:s3cret@db:5432/audit"), "postgres://gw:***@db:5432/audit");
        assert_eq!(display_url("postgres://gw@db/audit"), "postgres://gw@db/audit");
        assert_eq!(display_url("sqlite://mcp-gateway.db"), "sqlite://mcp-gateway.db");
        assert_eq!(display_url("gw s3cret@db"), "***@db", "not a URL: nothing before the @");
    }

    /// A gateway upgraded in place: the records of a database at the first released schema are
    /// kept, the new column is added, and until then the reader says what is missing.
    #[tokio::test]
    async fn a_sqlite_database_of_the_first_release_is_migrated_and_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first");
        std::fs::create_dir(&first).unwrap();
        let released = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/0001_decisions.sql");
        std::fs::copy(released, first.join("0001_decisions.sql")).unwrap();
        let url = file_url(&dir);
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(first.as_path()).await.unwrap().run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO decisions (at_ms, request_id, user, client_id, upstream, tool, arguments_sha256, \
             decision, reason, policy_ids, policy_hash, approval_id, latency_us) \
             VALUES (1, 'r1', 'alice', 'agent', 'notes', 'notes__list', NULL, 'allow', NULL, '[]', 'ab', NULL, 5)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let error = AuditLog::open_read_only(&url).await.unwrap_err();
        assert!(matches!(error, AuditError::MigrationsPending(_)), "{error}");
        assert!(error.to_string().contains("2 (client address)"), "{error}");

        let log = AuditLog::open(&url).await.unwrap();
        log.record(decision("bob", "notes__list", Outcome::Allow, 2)).await.unwrap();
        log.flush().await.unwrap();
        let addresses: Vec<(String, Option<String>)> = log
            .query(&everything())
            .await
            .unwrap()
            .into_iter()
            .map(|(_, d)| (d.user, d.client_address))
            .collect();
        assert_eq!(addresses, [("bob".into(), Some("203.0.113.7".into())), ("alice".into(), None)]);
        log.close().await.unwrap();
    }

    /// Released migrations as they were released: (version, description, SHA-384 that sqlx records).
    const RELEASED_SQLITE: &[(i64, &str, &str)] = &[
        (
            1,
            "decisions",
            "a0d4b97fbc07a759207616606d5bc9bfd1db01f691ef68213aec5a2e1282116f1623d320732a9593fd448b491e5f2fde",
        ),
        (
            2,
            "client address",
            "075cdfd2f41d526df060b1f9442e068ec9621518a030c4dda39cffe2bb67064cea787dcb86ca840e82b740bc2fa55cf1",
        ),
    ];
    const RELEASED_POSTGRES: &[(i64, &str, &str)] = &[(
        1,
        "decisions",
        "87ca8a3b38cc75e05ed572ac207b9babfd9d1ca52ea16ddd3b342f91ea3d8abb3f7cb7c4e908c1fefbe60b921ab8cf2d",
    )];

    #[test]
    fn released_migrations_keep_their_versions_and_checksums() {
        for (migrator, released) in
            [(&sqlite::MIGRATOR, RELEASED_SQLITE), (&postgres::MIGRATOR, RELEASED_POSTGRES)]
        {
            let embedded: Vec<(i64, String, String)> = migrator
                .iter()
                .map(|m| (m.version, m.description.to_string(), protocol::hex(&m.checksum)))
                .collect();
            assert!(embedded.len() >= released.len(), "a released migration is missing");
            for ((version, description, checksum), released) in embedded.iter().zip(released) {
                assert_eq!((*version, description.as_str(), checksum.as_str()), *released);
            }
        }
    }

    /// On PostgreSQL the gateway keeps its tables and its record of migrations in a schema of its
    /// own, so mcp-auth's migrations (in `public`, here as a stand-in with a clashing version 1)
    /// and the gateway's never meet in one database. On SQLite each program has a file of its own.
    #[tokio::test]
    async fn on_postgres_the_log_shares_a_database_with_the_authorization_server() {
        let database = TestDatabase::fresh().await;
        if !database.is_postgres() {
            return;
        }
        let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
        for sql in [
            "CREATE TABLE public._sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, \
             execution_time BIGINT NOT NULL)",
            "INSERT INTO public._sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (1, 'initial', TRUE, '\\x00', 0), (6, 'later', TRUE, '\\x00', 0)",
            "CREATE TABLE public.decisions (something_else TEXT)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        let log = AuditLog::open(database.url()).await.unwrap();
        log.record(decision("alice", "notes__list", Outcome::Allow, 1)).await.unwrap();
        log.close().await.unwrap();
        let reader = AuditLog::open_read_only(database.url()).await.unwrap();
        assert_eq!(reader.query(&everything()).await.unwrap().len(), 1);
        reader.close().await.unwrap();
        let (theirs,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM public._sqlx_migrations").fetch_one(&pool).await.unwrap();
        assert_eq!(theirs, 2, "the authorization server's record of migrations is untouched");
        pool.close().await;
    }

    #[tokio::test]
    async fn argument_values_never_reach_the_database() {
        const SECRET: &str = "hunter2-7f3a9c-DISTINCTIVE";
        let database = TestDatabase::fresh().await;
        let log = AuditLog::open(database.url()).await.unwrap();
        let arguments = json!({"title": SECRET, "body": {"nested": [SECRET]}});
        let mut call = decision("alice", "notes__add", Outcome::Allow, 1);
        call.arguments_sha256 = Some(protocol::authorization_details::arguments_sha256(&arguments));
        log.record(call).await.unwrap();
        log.flush().await.unwrap();

        // Every column of every row, whatever columns the table has now or later.
        let (columns, values) = match &log.backend {
            Backend::Sqlite(pool) => {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info('decisions')")
                        .fetch_all(pool)
                        .await
                        .unwrap();
                let mut values = Vec::new();
                for column in &columns {
                    let sql = format!("SELECT CAST({column} AS TEXT) FROM decisions");
                    let rows = sqlx::query(&sql).fetch_all(pool).await.unwrap();
                    values.extend(rows.iter().map(|row| (column.clone(), row.get::<Option<String>, _>(0))));
                }
                (columns, values)
            }
            Backend::Postgres(pool) => {
                let columns: Vec<String> = sqlx::query_scalar(
                    "SELECT column_name::TEXT FROM information_schema.columns \
                     WHERE table_schema = $1 AND table_name = 'decisions'",
                )
                .bind(postgres::SCHEMA)
                .fetch_all(pool)
                .await
                .unwrap();
                let mut values = Vec::new();
                for column in &columns {
                    let sql = format!("SELECT CAST({column} AS TEXT) FROM decisions");
                    let rows = sqlx::query(&sql).fetch_all(pool).await.unwrap();
                    values.extend(rows.iter().map(|row| (column.clone(), row.get::<Option<String>, _>(0))));
                }
                (columns, values)
            }
        };
        assert!(columns.len() >= 15, "{columns:?}");
        assert_eq!(values.len(), columns.len(), "one row");
        for (column, value) in values {
            assert!(!value.unwrap_or_default().contains(SECRET), "{column} holds an argument value");
        }
        log.close().await.unwrap();
    }

    #[tokio::test]
    async fn argument_values_never_reach_the_files_sqlite_keeps() {
        const SECRET: &str = "hunter2-7f3a9c-DISTINCTIVE";
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&file_url(&dir)).await.unwrap();
        let arguments = json!({"title": SECRET, "body": {"nested": [SECRET]}});
        let mut call = decision("alice", "notes__add", Outcome::Allow, 1);
        call.arguments_sha256 = Some(protocol::authorization_details::arguments_sha256(&arguments));
        log.record(call).await.unwrap();
        log.close().await.unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            // SQLite may remove its -wal and -shm files just after the listing: nothing to read.
            let Ok(bytes) = std::fs::read(entry.unwrap().path()) else { continue };
            assert!(!bytes.windows(SECRET.len()).any(|window| window == SECRET.as_bytes()));
        }
    }

    /// Each backend's schema admits every outcome, `interrupted` (migrations 0003 and 0002)
    /// included, and a record queued without waiting (from a `Drop`) arrives like any other.
    #[tokio::test]
    async fn every_outcome_is_stored_and_a_record_queued_without_waiting_arrives() {
        let database = TestDatabase::fresh().await;
        let log = AuditLog::open(database.url()).await.unwrap();
        for (at_ms, outcome) in (0..).zip(Outcome::ALL) {
            log.record(decision("alice", "notes__list", outcome, at_ms)).await.unwrap();
        }
        log.record_without_waiting(decision("bob", "notes__delete", Outcome::Interrupted, 100));
        log.flush().await.unwrap();
        let mut stored: Vec<Outcome> =
            log.query(&everything()).await.unwrap().into_iter().map(|(_, d)| d.outcome).collect();
        stored.reverse();
        let mut expected = Outcome::ALL.to_vec();
        expected.push(Outcome::Interrupted);
        assert_eq!(stored, expected);
        log.close().await.unwrap();
    }

    #[test]
    fn outcomes_round_trip_through_their_names() {
        for outcome in Outcome::ALL {
            assert_eq!(outcome.as_str().parse::<Outcome>().unwrap(), outcome);
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
        assert!(matches!("permit".parse::<Outcome>(), Err(AuditError::UnknownOutcome(_))));
    }

    #[test]
    fn the_request_id_is_the_trace_id_when_the_traceparent_is_valid_else_a_new_one() {
        // What a valid `traceparent` is, is `protocol::trace`'s (and tested there).
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(request_id(Some(&format!("00-{trace}-00f067aa0ba902b7-01"))), trace);
        let fresh = request_id(Some("00-not-a-trace"));
        assert!(
            fresh.len() == 32
                && protocol::trace::trace_id(&format!("00-{fresh}-00f067aa0ba902b7-01")).is_some()
        );
        assert_ne!(request_id(None), request_id(None));
    }

    #[test]
    fn times_print_as_rfc_3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(253_402_300_799_000), "9999-12-31T23:59:59.000Z");
    }

    #[test]
    fn the_table_aligns_columns_and_escapes_control_characters() {
        let mut second = decision("bob", "notes__delete\u{1b}[2J", Outcome::Deny, 1_700_000_000_000);
        second.policy_ids.clear();
        second.reason = Some("no permit".into());
        let records = [(2, second), (1, decision("alice", "notes__list", Outcome::Allow, 0))];
        let table = table(&records);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("TIME                      DECISION  USER"), "{table}");
        assert!(lines[0].contains("CLIENT  ADDRESS"), "{table}");
        assert!(lines[1].starts_with("2023-11-14T22:13:20.000Z  deny      bob "), "{table}");
        assert!(lines[1].contains("agent   203.0.113.7"), "{table}");
        assert!(lines[1].contains(r"notes__delete\u{1b}[2J"), "{table}");
        assert!(!table.contains('\u{1b}'));
        assert!(lines[1].ends_with("no permit"));
        assert_eq!(lines[2].find("1.234 ms"), lines[1].find("1.234 ms"));
    }

    #[test]
    fn json_lines_carry_every_field_and_the_id() {
        let records = [(5, decision("alice", "notes__list", Outcome::ApprovalExpired, 9))];
        let text = json_lines(&records);
        assert_eq!(text.lines().count(), 1);
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["id"], 5);
        assert_eq!(line["decision"], "approval_expired");
        assert_eq!(line["policy_ids"], json!(["readers-read"]));
        assert_eq!(line["upstream"], "notes");
        assert_eq!(line["client_address"], "203.0.113.7");
        assert_eq!(line.as_object().unwrap().len(), 15);
    }
}
