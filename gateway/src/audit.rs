//! The audit trail: one durable record per decision on a tool call, in the gateway's own SQLite
//! database, and what `mcp-gateway audit` prints of them.
//!
//! A record says who (user, client) asked for what (upstream, tool, the SHA-256 of the arguments),
//! what the gateway decided, by which policies (their ids and the hash of the policy text) and on
//! which approval, and how long it took. It never holds argument values or tokens: the hash proves
//! which call was decided without the trail becoming a copy of what users sent.
//!
//! [`AuditLog::record`] hands the record to a writer task through a bounded channel, so a request
//! waits on the disk only when the writer is thousands of records behind; when the channel is
//! full the request waits (backpressure) rather than the record being dropped. The writer commits
//! what has queued up in batches, one transaction each, and [`AuditLog::flush`] returns once
//! everything sent before it is committed.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqlitePool};
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
/// Pause before the one retry of a batch that failed: long enough for a passing lock or a full
/// disk's neighbour to clear, short enough that requests do not pile up behind it.
const RETRY_AFTER: Duration = Duration::from_millis(200);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("no audit database at {}", .0.display())]
    Missing(PathBuf),
    #[error("{} is not an audit database: it has no decisions table", .0.display())]
    NotAnAuditDatabase(PathBuf),
    #[error(
        "unknown decision {0:?}: one of allow, deny, approval_required, approval_denied, approval_expired, error"
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
}

impl Outcome {
    /// Every outcome, in the order `mcp-gateway audit --help` lists them.
    pub const ALL: [Self; 6] = [
        Self::Allow,
        Self::Deny,
        Self::ApprovalRequired,
        Self::ApprovalDenied,
        Self::ApprovalExpired,
        Self::Error,
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

/// The audit database. Clones share one writer task and one pool.
#[derive(Debug, Clone)]
pub struct AuditLog {
    pool: SqlitePool,
    /// `None` when opened read-only (by `mcp-gateway audit`).
    writer: Option<mpsc::Sender<Message>>,
}

impl AuditLog {
    /// Opens (creating if needed) and migrates the database at `database_url` (`sqlite://FILE`
    /// or `sqlite::memory:`), and starts its writer task.
    pub async fn open(database_url: &str) -> Result<Self, AuditError> {
        let in_memory = is_in_memory(database_url);
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(if in_memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
            // A record is durable once committed, even across a power cut; batching pays for
            // the sync.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives as long as its one connection, and each connection
            // would otherwise see a database of its own.
            .max_connections(if in_memory { 1 } else { 4 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory { None } else { Some(Duration::from_secs(600)) })
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let (writer, inbox) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(pool.clone(), inbox));
        Ok(Self { pool, writer: Some(writer) })
    }

    /// Opens an existing database to read it, changing nothing: no file is created, no migration
    /// runs, and [`record`](Self::record) is refused. For `mcp-gateway audit`, which may run
    /// beside a gateway that is writing.
    pub async fn open_read_only(database_url: &str) -> Result<Self, AuditError> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(5));
        let path = options.get_filename().to_path_buf();
        if !is_in_memory(database_url) && !path.exists() {
            return Err(AuditError::Missing(path));
        }
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'decisions'",
        )
        .fetch_one(&pool)
        .await?;
        if tables == 0 {
            pool.close().await;
            return Err(AuditError::NotAnAuditDatabase(path));
        }
        Ok(Self { pool, writer: None })
    }

    /// Queues a record for the writer. Waits only when the queue is full, and never drops the
    /// record. The tool name and reason are cut to their maximum lengths here.
    pub async fn record(&self, mut decision: Decision) -> Result<(), AuditError> {
        let writer = self.writer.as_ref().ok_or(AuditError::ReadOnly)?;
        truncate_chars(&mut decision.tool, MAX_TOOL);
        if let Some(reason) = &mut decision.reason {
            truncate_chars(reason, MAX_REASON);
        }
        writer.send(Message::Record(Box::new(decision))).await.map_err(|_| AuditError::WriterStopped)
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

    /// Flushes, folds the write-ahead log into the file and closes the pool: called once the
    /// gateway has stopped taking calls (a clone recording after this fails, and says so in the log).
    pub async fn close(self) -> Result<(), AuditError> {
        let flushed = self.flush().await;
        if self.writer.is_some()
            && let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await
        {
            tracing::warn!(%error, "could not checkpoint the audit database at shutdown");
        }
        self.pool.close().await;
        flushed
    }

    /// The records that match, newest first.
    pub async fn query(&self, filter: &Filter) -> Result<Vec<(i64, Decision)>, AuditError> {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT id, at_ms, request_id, user, client_id, upstream, tool, arguments_sha256, decision, \
             reason, policy_ids, policy_hash, approval_id, latency_us FROM decisions WHERE 1 = 1",
        );
        if let Some(user) = &filter.user {
            sql.push(" AND user = ").push_bind(user.clone());
        }
        if let Some(tool) = &filter.tool {
            sql.push(" AND tool = ").push_bind(tool.clone());
        }
        if let Some(outcome) = filter.outcome {
            sql.push(" AND decision = ").push_bind(outcome.as_str());
        }
        if let Some(since_ms) = filter.since_ms {
            sql.push(" AND at_ms >= ").push_bind(since_ms);
        }
        sql.push(" ORDER BY at_ms DESC, id DESC LIMIT ").push_bind(i64::from(filter.limit.min(MAX_LIMIT)));
        let rows: Vec<Stored> = sql.build_query_as().fetch_all(&self.pool).await?;
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
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_in_memory(database_url: &str) -> bool {
    database_url.contains(":memory:") || database_url.contains("mode=memory")
}

/// Cuts `text` to at most `max` characters (not bytes, so a name is never cut inside a character).
fn truncate_chars(text: &mut String, max: usize) {
    if let Some((end, _)) = text.char_indices().nth(max) {
        text.truncate(end);
    }
}

/// The writer task: commits what has queued up in batches until every [`AuditLog`] is dropped.
/// It never panics; a batch that fails twice is logged and counted as lost.
async fn write_loop(pool: SqlitePool, mut inbox: mpsc::Receiver<Message>) {
    let mut lost = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Some(first) = inbox.recv().await {
        let mut next = Some(first);
        // Take what is already queued, without waiting for more: under load batches fill up,
        // and a lone record is committed at once.
        while let Some(message) = next {
            match message {
                Message::Record(decision) => batch.push(*decision),
                Message::Flush(done) => waiting.push(done),
            }
            next = if batch.len() < BATCH { inbox.try_recv().ok() } else { None };
        }
        if !batch.is_empty() {
            lost += write_with_retry(&pool, &batch).await;
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
async fn write_with_retry(pool: &SqlitePool, batch: &[Decision]) -> u64 {
    let Err(error) = insert(pool, batch).await else {
        return 0;
    };
    tracing::error!(%error, records = batch.len(), "could not write audit records; retrying once");
    tokio::time::sleep(RETRY_AFTER).await;
    let Err(error) = insert(pool, batch).await else {
        return 0;
    };
    // Only what identifies the records, never their arguments' hash or anything else.
    let request_ids: Vec<&str> = batch.iter().map(|d| d.request_id.as_str()).collect();
    tracing::error!(%error, records = batch.len(), ?request_ids, "audit records lost: the batch failed twice");
    u64::try_from(batch.len()).unwrap_or(u64::MAX)
}

/// One transaction for the whole batch: one sync to disk, and all or nothing, so a retry never
/// writes a record twice.
async fn insert(pool: &SqlitePool, batch: &[Decision]) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    for decision in batch {
        sqlx::query(
            "INSERT INTO decisions (at_ms, request_id, user, client_id, upstream, tool, arguments_sha256, \
             decision, reason, policy_ids, policy_hash, approval_id, latency_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(decision.at_ms)
        .bind(&decision.request_id)
        .bind(&decision.user)
        .bind(&decision.client_id)
        .bind(&decision.upstream)
        .bind(&decision.tool)
        .bind(&decision.arguments_sha256)
        .bind(decision.outcome.as_str())
        .bind(&decision.reason)
        .bind(serde_json::Value::from(decision.policy_ids.clone()).to_string())
        .bind(&decision.policy_hash)
        .bind(&decision.approval_id)
        .bind(decision.latency_us)
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await
}

/// A row as SQLite holds it, before its text columns are read back into types.
#[derive(FromRow)]
struct Stored {
    id: i64,
    at_ms: i64,
    request_id: String,
    user: String,
    client_id: String,
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

// What `mcp-gateway audit` prints.

/// The records as a table for people: a header, then one aligned line per record as given.
/// Text from the records is escaped so that a tool name cannot drive the terminal.
pub fn table(records: &[(i64, Decision)]) -> String {
    const HEADER: [&str; 10] = [
        "TIME", "DECISION", "USER", "CLIENT", "TOOL", "POLICIES", "APPROVAL", "LATENCY", "REQUEST", "REASON",
    ];
    let rows: Vec<[String; 10]> = records.iter().map(|(_, decision)| cells(decision)).collect();
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

fn cells(decision: &Decision) -> [String; 10] {
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

    use super::*;

    fn decision(user: &str, tool: &str, outcome: Outcome, at_ms: i64) -> Decision {
        Decision {
            at_ms,
            request_id: request_id(None),
            user: user.to_owned(),
            client_id: "agent".to_owned(),
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
    async fn records_from_concurrent_tasks_all_arrive_after_flush_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        records_from_concurrent_tasks_all_arrive_after_flush(&file_url(&dir)).await;
    }

    #[tokio::test]
    async fn filters_select_by_user_tool_decision_and_time_newest_first() {
        let log = AuditLog::open("sqlite::memory:").await.unwrap();
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
    }

    #[tokio::test]
    async fn a_record_reads_back_as_written_with_its_tool_name_bounded() {
        let log = AuditLog::open("sqlite::memory:").await.unwrap();
        let mut written = decision("alice", &"é".repeat(MAX_TOOL + 50), Outcome::ApprovalDenied, 7);
        written.upstream = None;
        written.arguments_sha256 = None;
        written.reason = Some("the person refused".into());
        written.policy_ids = vec!["a".into(), "b".into()];
        written.approval_id = Some("approval-1".into());
        log.record(written.clone()).await.unwrap();
        log.flush().await.unwrap();
        let [(_, read)] = log.query(&everything()).await.unwrap().try_into().unwrap();
        assert_eq!(read.tool.chars().count(), MAX_TOOL);
        written.tool = "é".repeat(MAX_TOOL);
        assert_eq!(read, written);
    }

    #[tokio::test]
    async fn records_survive_closing_and_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&file_url(&dir)).await.unwrap();
        log.record(decision("alice", "notes__list", Outcome::Allow, 1)).await.unwrap();
        log.record(decision("bob", "notes__delete", Outcome::Deny, 2)).await.unwrap();
        log.close().await.unwrap();

        let reopened = AuditLog::open(&file_url(&dir)).await.unwrap();
        let users: Vec<String> =
            reopened.query(&everything()).await.unwrap().into_iter().map(|(_, d)| d.user).collect();
        assert_eq!(users, ["bob", "alice"]);
        reopened.close().await.unwrap();

        let reader = AuditLog::open_read_only(&file_url(&dir)).await.unwrap();
        assert_eq!(reader.query(&everything()).await.unwrap().len(), 2);
        assert!(matches!(
            reader.record(decision("eve", "x", Outcome::Allow, 3)).await,
            Err(AuditError::ReadOnly)
        ));
        reader.close().await.unwrap();
    }

    #[tokio::test]
    async fn opening_a_missing_database_read_only_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let error = AuditLog::open_read_only(&file_url(&dir)).await.unwrap_err();
        assert!(matches!(error, AuditError::Missing(_)), "{error}");
        assert!(!dir.path().join("audit.db").exists());
    }

    #[tokio::test]
    async fn argument_values_never_reach_the_database() {
        const SECRET: &str = "hunter2-7f3a9c-DISTINCTIVE";
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&file_url(&dir)).await.unwrap();
        let arguments = json!({"title": SECRET, "body": {"nested": [SECRET]}});
        let mut call = decision("alice", "notes__add", Outcome::Allow, 1);
        call.arguments_sha256 = Some(protocol::authorization_details::arguments_sha256(&arguments));
        log.record(call).await.unwrap();
        log.flush().await.unwrap();

        // Every column of every row, whatever columns the table has now or later.
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('decisions')")
            .fetch_all(&log.pool)
            .await
            .unwrap();
        assert!(columns.len() >= 14, "{columns:?}");
        for column in &columns {
            let values = sqlx::query(&format!("SELECT CAST({column} AS TEXT) FROM decisions"))
                .fetch_all(&log.pool)
                .await
                .unwrap();
            assert_eq!(values.len(), 1);
            for row in values {
                let value: Option<String> = row.get(0);
                assert!(!value.unwrap_or_default().contains(SECRET), "{column} holds an argument value");
            }
        }
        log.close().await.unwrap();

        // Nor anywhere in the files SQLite keeps.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            // SQLite may remove its -wal and -shm files just after the listing: nothing to read.
            let Ok(bytes) = std::fs::read(entry.unwrap().path()) else { continue };
            assert!(!bytes.windows(SECRET.len()).any(|window| window == SECRET.as_bytes()));
        }
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
        assert!(lines[1].starts_with("2023-11-14T22:13:20.000Z  deny      bob "), "{table}");
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
        assert_eq!(line.as_object().unwrap().len(), 14);
    }
}
