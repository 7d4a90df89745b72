//! Group commit: every write of the SQLite backend runs on one connection, and the writes that
//! arrive while a commit is on its way to disk share the next commit.
//!
//! Why: with `synchronous=FULL` (the default, kept so that a write the server has answered
//! survives a power cut) every commit waits for an fsync of the write-ahead log, and SQLite has a
//! single writer anyway. One commit per request made the disk, not the CPU, the limit of every
//! writing endpoint (token, register, authorize). Sharing the fsync among the requests waiting
//! for it keeps full durability and multiplies what the disk allows.
//!
//! How: a task owns the writer connection and a queue of jobs. It takes every job waiting (up to
//! [`MAX_BATCH`]), opens `BEGIN IMMEDIATE`, runs each job inside its own `SAVEPOINT`, and
//! commits once. A job that fails is rolled back to its savepoint and gets its error; the others
//! are untouched. Nobody is answered before the commit: a caller that hears "done" can rely on it
//! being on disk, and a failed commit fails every job of the batch. At low load a batch is one
//! job and nothing waits for company; batches grow only while the disk is busy.
//!
//! SQLite rolls back the *whole* transaction on a few errors (disk full, I/O error), silently
//! dropping the savepoints. The writer notices, because releasing or rolling back to the job's
//! savepoint then fails, and fails every job of the batch so far instead of answering "done" for
//! work that is gone. Jobs must therefore pass every database error up (`?`), never swallow one.
//!
//! An in-memory database has a single connection, shared by reads and writes; there the same jobs
//! run one per transaction on that connection ([`Writer::Direct`]).

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::store::{StoreError, StoreFuture};

/// The most jobs one commit carries, so one batch cannot hold the write lock for long.
const MAX_BATCH: usize = 128;

/// How many jobs may wait for the writer before callers wait to queue theirs.
const QUEUE: usize = 4096;

/// Where the SQLite backend's writes go.
#[derive(Debug)]
pub(super) enum Writer {
    /// To the writer task, which batches them.
    Batched { inbox: mpsc::Sender<Message>, counts: Arc<Counts> },
    /// One transaction per job on a connection of the pool (in-memory databases).
    Direct(SqlitePool),
}

/// What the writer has done, for tests and for the curious.
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) commits: AtomicU64,
    pub(super) jobs: AtomicU64,
}

pub(super) enum Message {
    Job(Box<dyn Job>),
    /// Finish what is queued before this, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Job(_) => "Job",
            Message::Close(_) => "Close",
        })
    }
}

impl Writer {
    /// Starts the writer task on `connection`, which it owns from now on.
    pub(super) fn spawn(connection: SqliteConnection) -> Self {
        let (inbox, queue) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        tokio::spawn(run(connection, queue, Arc::clone(&counts)));
        Writer::Batched { inbox, counts }
    }

    /// Runs `work` on the writer's connection inside a transaction that holds SQLite's write lock
    /// from its first statement (so read-then-write work acts on what it read), and answers once
    /// that transaction is committed. `work` is undone alone if it fails; it must pass every
    /// database error up.
    pub(super) fn write<T, F>(&self, work: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Typed { work, reply });
        match self {
            Writer::Batched { inbox, .. } => {
                let inbox = inbox.clone();
                Box::pin(async move {
                    inbox.send(Message::Job(job)).await.map_err(|_| closed())?;
                    answer.await.map_err(|_| lost())?
                })
            }
            Writer::Direct(pool) => {
                let pool = pool.clone();
                Box::pin(async move {
                    let mut connection = pool.acquire().await?;
                    write_batch(&mut connection, vec![job]).await;
                    answer.await.map_err(|_| lost())?
                })
            }
        }
    }

    /// Lets the queued jobs finish and closes the writer's connection; later writes fail.
    pub(super) async fn close(&self) {
        if let Writer::Batched { inbox, counts } = self {
            let (done, closed) = oneshot::channel();
            if inbox.send(Message::Close(done)).await.is_ok() {
                let _ = closed.await;
            }
            // How well writes shared commits over the server's life.
            tracing::debug!(
                writes = counts.jobs.load(Ordering::Relaxed),
                commits = counts.commits.load(Ordering::Relaxed),
                "database writer closed"
            );
        }
    }

    #[cfg(test)]
    pub(super) fn counts(&self) -> Option<&Counts> {
        match self {
            Writer::Batched { counts, .. } => Some(counts),
            Writer::Direct(_) => None,
        }
    }
}

fn closed() -> StoreError {
    StoreError::NotWritten("the database is closed".into())
}

/// A job's reply was dropped unanswered: only if the job panicked or the writer stopped.
fn lost() -> StoreError {
    StoreError::NotWritten("the write was lost".into())
}

/// The writer task: a batch per turn, until closed or every sender is gone.
async fn run(mut connection: SqliteConnection, mut queue: mpsc::Receiver<Message>, counts: Arc<Counts>) {
    let mut close = None;
    while close.is_none() {
        let mut jobs = Vec::new();
        match queue.recv().await {
            None => break,
            Some(Message::Close(done)) => close = Some(done),
            Some(Message::Job(job)) => jobs.push(job),
        }
        while close.is_none() && jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Message::Job(job)) => jobs.push(job),
                Ok(Message::Close(done)) => close = Some(done),
                Err(_) => break,
            }
        }
        if !jobs.is_empty() {
            counts.jobs.fetch_add(jobs.len() as u64, Ordering::Relaxed);
            let commits = write_batch(&mut connection, jobs).await;
            counts.commits.fetch_add(commits, Ordering::Relaxed);
        }
    }
    // Anything sent after the close is refused.
    queue.close();
    while let Ok(message) = queue.try_recv() {
        if let Message::Job(job) = message {
            job.refuse("the database is closed");
        }
    }
    if let Err(error) = connection.close().await {
        tracing::warn!(%error, "could not close the writer's database connection");
    }
    if let Some(done) = close {
        let _ = done.send(());
    }
}

/// Runs `jobs` in as few transactions as possible (one, unless SQLite drops a transaction under
/// us) and answers each job once its transaction's fate is known. Returns how many transactions
/// it committed or tried to.
///
/// The writer's own statements travel together: the end of one job's savepoint with the start of
/// the next one's (or with `BEGIN` and `COMMIT`), one round trip between jobs instead of two.
async fn write_batch(connection: &mut SqliteConnection, jobs: Vec<Box<dyn Job>>) -> u64 {
    let mut waiting: VecDeque<Box<dyn Job>> = jobs.into();
    let mut transactions = 0;
    while !waiting.is_empty() {
        transactions += 1;
        let mut ran: Vec<Answer> = Vec::new();
        let mut lost: Option<String> = None;
        // How the last job ended; `None` before the first.
        let mut last: Option<bool> = None;
        while let Some(job) = waiting.pop_front() {
            // IMMEDIATE takes the write lock now, so a read-then-write job works on what it read.
            let opening = match last {
                None => "BEGIN IMMEDIATE;\nSAVEPOINT job",
                Some(true) => "RELEASE job;\nSAVEPOINT job",
                Some(false) => "ROLLBACK TO job;\nRELEASE job;\nSAVEPOINT job",
            };
            if let Err(error) = exec(connection, opening).await {
                let why = error.to_string();
                if last.is_none() {
                    // No transaction to work in: every job waiting is refused, none retried. If
                    // `BEGIN` went through, the transaction it opened is closed again.
                    let _ = exec(connection, "ROLLBACK").await;
                    job.refuse(&why);
                    waiting.drain(..).for_each(|job| job.refuse(&why));
                    return transactions;
                }
                // The savepoint before is gone (SQLite rolled back the whole transaction) or this
                // one could not be taken: the transaction fails, and this job, not yet run, waits
                // for the next one.
                waiting.push_front(job);
                lost = Some(why);
                break;
            }
            // A panicking job drops its reply (its caller hears "lost") and is undone like a
            // failed one; the writer carries on with the others.
            let outcome = AssertUnwindSafe(job.run(connection)).catch_unwind().await;
            let (succeeded, answer) = match outcome {
                Ok(Ran { succeeded, answer }) => (succeeded, Some(answer)),
                Err(_) => (false, None),
            };
            ran.extend(answer);
            last = Some(succeeded);
        }
        let failure = match (lost, last) {
            (Some(why), _) => Some(why),
            (None, closing) => {
                let closing = match closing {
                    Some(false) => "ROLLBACK TO job;\nRELEASE job;\nCOMMIT",
                    _ => "RELEASE job;\nCOMMIT",
                };
                exec(connection, closing).await.err().map(|error| error.to_string())
            }
        };
        if failure.is_some() {
            // Leave no transaction open behind; an error here only says there was none left.
            let _ = exec(connection, "ROLLBACK").await;
        }
        for answer in ran {
            answer(failure.as_deref());
        }
    }
    transactions
}

/// Runs one statement of the writer's own (transaction control).
async fn exec(connection: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(connection).await.map(|_| ())
}

/// How a job answers its caller once its transaction committed (`None`) or failed (`Some(why)`).
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// What running a job left: whether its work succeeded (else it is rolled back) and its answer.
pub(super) struct Ran {
    succeeded: bool,
    answer: Answer,
}

/// A write as the writer task sees it, whatever its result type.
pub(super) trait Job: Send {
    fn run<'c>(self: Box<Self>, connection: &'c mut SqliteConnection) -> BoxFuture<'c, Ran>;
    /// Answers without running: the transaction could not even begin.
    fn refuse(self: Box<Self>, why: &str);
}

struct Typed<T, F> {
    work: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
{
    fn run<'c>(self: Box<Self>, connection: &'c mut SqliteConnection) -> BoxFuture<'c, Ran> {
        let Typed { work, reply } = *self;
        Box::pin(async move {
            let result = work(connection).await;
            Ran {
                succeeded: result.is_ok(),
                answer: Box::new(move |failure: Option<&str>| {
                    let result = match (failure, result) {
                        (Some(why), Ok(_)) => Err(StoreError::NotWritten(why.to_owned())),
                        (_, result) => result,
                    };
                    // The caller may have gone (its request was cancelled); the write stands.
                    let _ = reply.send(result);
                }),
            }
        })
    }

    fn refuse(self: Box<Self>, why: &str) {
        let _ = self.reply.send(Err(StoreError::NotWritten(why.to_owned())));
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Executor, Row};

    use super::*;

    struct Scratch {
        path: std::path::PathBuf,
        options: SqliteConnectOptions,
    }

    impl Scratch {
        async fn new() -> (Self, Writer) {
            let path = std::env::temp_dir().join(format!("mcp-auth-writer-{}.db", crate::random::short_id()));
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
                .unwrap()
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5));
            let mut setup = options.connect().await.unwrap();
            setup.execute("CREATE TABLE t (k TEXT PRIMARY KEY)").await.unwrap();
            let writer = Writer::spawn(options.connect().await.unwrap());
            (Self { path, options }, writer)
        }

        async fn keys(&self) -> Vec<String> {
            let mut reader = self.options.connect().await.unwrap();
            sqlx::query("SELECT k FROM t ORDER BY k")
                .fetch_all(&mut reader)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect()
        }

        /// Holds SQLite's write lock from another connection until the returned one rolls back,
        /// so that jobs pile up behind the writer's next `BEGIN IMMEDIATE`.
        async fn hold_write_lock(&self) -> SqliteConnection {
            let mut other = self.options.connect().await.unwrap();
            other.execute("BEGIN IMMEDIATE").await.unwrap();
            other
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
            }
        }
    }

    fn insert(writer: &Writer, key: &str) -> StoreFuture<'static, ()> {
        let key = key.to_owned();
        writer.write(move |c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (k) VALUES (?)").bind(key).execute(&mut *c).await?;
                Ok(())
            })
        })
    }

    /// Queues `jobs` while the write lock is held elsewhere, waits until the writer holds all but
    /// the one it took first, then lets the lock go and awaits the jobs' answers.
    async fn in_one_batch<T: Send + 'static>(
        scratch: &Scratch,
        writer: &Writer,
        first: StoreFuture<'static, ()>,
        jobs: Vec<StoreFuture<'static, T>>,
    ) -> Vec<Result<T, StoreError>> {
        let mut lock = scratch.hold_write_lock().await;
        let Writer::Batched { inbox, counts } = writer else { panic!("a file database has a writer task") };
        let taken = counts.jobs.load(Ordering::Relaxed);
        let first = tokio::spawn(first);
        // The writer has taken the first job and waits for the lock with it.
        while counts.jobs.load(Ordering::Relaxed) == taken {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let expected = jobs.len();
        let handles: Vec<_> = jobs.into_iter().map(tokio::spawn).collect();
        while inbox.max_capacity() - inbox.capacity() < expected {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lock.execute("ROLLBACK").await.unwrap();
        first.await.unwrap().unwrap();
        let mut results = Vec::new();
        for handle in handles {
            results.push(handle.await.unwrap());
        }
        results
    }

    #[tokio::test]
    async fn writes_waiting_for_the_disk_share_one_commit() {
        let (scratch, writer) = Scratch::new().await;
        let jobs = (0..20).map(|i| insert(&writer, &format!("k{i:02}"))).collect();
        let results = in_one_batch(&scratch, &writer, insert(&writer, "first"), jobs).await;
        assert!(results.iter().all(Result::is_ok));
        let counts = writer.counts().unwrap();
        assert_eq!(counts.jobs.load(Ordering::Relaxed), 21);
        assert_eq!(counts.commits.load(Ordering::Relaxed), 2, "the first job, then the twenty that queued");
        assert_eq!(scratch.keys().await.len(), 21);
    }

    #[tokio::test]
    async fn a_failing_job_is_undone_alone() {
        let (scratch, writer) = Scratch::new().await;
        let half_done = writer.write(|c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (k) VALUES ('half')").execute(&mut *c).await?;
                // A duplicate key: this job fails after its first statement took effect.
                sqlx::query("INSERT INTO t (k) VALUES ('a')").execute(&mut *c).await?;
                Ok(())
            })
        });
        let jobs = vec![insert(&writer, "a"), half_done, insert(&writer, "b")];
        let results = in_one_batch(&scratch, &writer, insert(&writer, "first"), jobs).await;
        assert!(results[0].is_ok() && results[2].is_ok());
        assert!(matches!(results[1], Err(StoreError::Database(_))), "{:?}", results[1]);
        assert_eq!(scratch.keys().await, ["a", "b", "first"], "nothing of the failed job stays");
        assert_eq!(writer.counts().unwrap().commits.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_panicking_job_is_undone_and_the_writer_goes_on() {
        let (scratch, writer) = Scratch::new().await;
        let panics = writer.write(|c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (k) VALUES ('p')").execute(&mut *c).await?;
                panic!("a bug in a job");
            })
        });
        let jobs: Vec<StoreFuture<'static, ()>> = vec![panics, insert(&writer, "a")];
        let results = in_one_batch(&scratch, &writer, insert(&writer, "first"), jobs).await;
        assert!(matches!(&results[0], Err(StoreError::NotWritten(_))));
        assert!(results[1].is_ok());
        insert(&writer, "after").await.unwrap();
        assert_eq!(scratch.keys().await, ["a", "after", "first"]);
    }

    /// SQLite rolls back a whole transaction on some errors; a job that caused one must not let
    /// the jobs before it in the batch hear "done".
    #[tokio::test]
    async fn a_transaction_lost_under_the_batch_fails_every_job_in_it() {
        let (scratch, writer) = Scratch::new().await;
        let ends_transaction = writer.write(|c| {
            Box::pin(async move {
                // Stands for what SQLite does on disk full or an I/O error.
                c.execute("ROLLBACK").await?;
                Ok(())
            })
        });
        let jobs = vec![insert(&writer, "a"), ends_transaction, insert(&writer, "b")];
        let results = in_one_batch(&scratch, &writer, insert(&writer, "first"), jobs).await;
        assert!(matches!(&results[0], Err(StoreError::NotWritten(_))), "{:?}", results[0]);
        assert!(matches!(&results[1], Err(StoreError::NotWritten(_))), "{:?}", results[1]);
        assert!(results[2].is_ok(), "the job after it runs in a new transaction");
        assert_eq!(scratch.keys().await, ["b", "first"]);
    }

    /// When no transaction can be opened (here: another process holds the write lock past the
    /// busy timeout), the jobs waiting are refused, and the writer is left ready for the next.
    #[tokio::test]
    async fn a_batch_that_cannot_begin_is_refused_and_the_writer_goes_on() {
        let (scratch, _) = Scratch::new().await;
        let writer = Writer::spawn(
            scratch.options.clone().busy_timeout(Duration::from_millis(50)).connect().await.unwrap(),
        );
        let mut lock = scratch.hold_write_lock().await;
        let refused = insert(&writer, "refused").await;
        assert!(
            matches!(&refused, Err(StoreError::NotWritten(why)) if why.contains("locked")),
            "{refused:?}"
        );
        lock.execute("ROLLBACK").await.unwrap();
        insert(&writer, "after").await.unwrap();
        assert_eq!(scratch.keys().await, ["after"]);
    }

    #[tokio::test]
    async fn closing_finishes_what_is_queued_and_refuses_what_comes_after() {
        let (scratch, writer) = Scratch::new().await;
        // Polled in order in one task: the job is queued before the close.
        let (queued, ()) = futures::join!(insert(&writer, "queued"), writer.close());
        queued.unwrap();
        assert!(matches!(insert(&writer, "late").await, Err(StoreError::NotWritten(_))));
        assert_eq!(scratch.keys().await, ["queued"]);
    }
}
