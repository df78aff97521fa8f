//! Group commit: concurrent writers share one transaction and one fsync.
//!
//! A writer queues its operation. If no batch is being led, it becomes the
//! leader: it takes every queued operation, runs each in the same write
//! transaction, commits once, and wakes every caller with its own result. If a
//! batch is under way, the writer waits; when the leader finishes, it hands the
//! lead to the first writer still queued, so nobody waits for more than the
//! batch in flight and its own.
//!
//! Each operation keeps its own atomicity: in a batch of several, it runs on a
//! buffered [`Overlay`] whose writes reach the transaction only if it succeeds
//! (or fails with a revocation, R05/R08); a failing operation changes nothing
//! and does not fail its neighbours. Alone, it runs directly on the
//! transaction, which is aborted if it fails: a single caller pays exactly one
//! plain commit. Operations that may write a great deal (bulk revocation,
//! purge, client deletion) always get a transaction of their own.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex};

use crate::engine::ctx::Ctx;
use crate::engine::keyring::KeySet;
use crate::engine::meta;
use crate::engine::time::Timekeeper;
use crate::error::{Error, Result};
use crate::kv::overlay::Overlay;
use crate::kv::{Backend, CommitMode, Isolation, KvRead as _, TxEnd};
use crate::model::config::Config;

/// What becomes of an operation's writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Keep,
    Drop,
}

/// Success keeps the writes, so do the errors whose answer is a revocation;
/// every other error drops them.
fn disposition<T>(result: &Result<T>) -> Disposition {
    match result {
        Ok(_) => Disposition::Keep,
        Err(error) if error.committed_changes() => Disposition::Keep,
        Err(_) => Disposition::Drop,
    }
}

/// A queued operation, type-erased so that one queue holds every kind.
trait Job<B: Backend>: Send {
    /// Runs the operation; returns whether it wants its writes kept, or a
    /// storage error that fails the whole transaction.
    fn run(&mut self, kv: &mut Overlay<&mut B::Write<'_>>, ctx: &Ctx<'_>) -> Result<Disposition>;
    /// Delivers the result after the commit (or the commit's failure), with
    /// the number of operations the transaction carried.
    fn finish(&mut self, commit: &Result<()>, batch: usize);
    /// Hands this job's caller the lead.
    fn lead(&self);
    /// Whether the job needs a transaction of its own.
    fn exclusive(&self) -> bool;
    /// How its transaction must be isolated on a shared backend.
    fn isolation(&self) -> Isolation;
}

enum State<T> {
    Queued,
    Lead,
    Done(Result<T>, usize),
}

struct Waiter<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
}

struct TypedJob<T, F> {
    op: F,
    staged: Option<Result<T>>,
    waiter: Arc<Waiter<T>>,
    exclusive: bool,
    isolation: Isolation,
}

impl<B, T, F> Job<B> for TypedJob<T, F>
where
    B: Backend,
    T: Send,
    F: for<'a, 'b, 'c> FnMut(&mut Overlay<&'a mut B::Write<'b>>, &Ctx<'c>) -> Result<T> + Send,
{
    fn run(&mut self, kv: &mut Overlay<&mut B::Write<'_>>, ctx: &Ctx<'_>) -> Result<Disposition> {
        match (self.op)(kv, ctx) {
            // The engine's own error, as it is: the backend may retry the
            // transaction on it (a PostgreSQL serialization failure).
            Err(error) if error.is_storage_failure() => Err(error),
            result => {
                let disposition = disposition(&result);
                self.staged = Some(result);
                Ok(disposition)
            }
        }
    }

    fn finish(&mut self, commit: &Result<()>, batch: usize) {
        let result = match (commit, self.staged.take()) {
            (Ok(()), Some(result)) => result,
            (Err(error), _) => Err(error.duplicate()),
            (Ok(()), None) => Err(Error::Storage {
                source: "the operation did not run".into(),
            }),
        };
        *self.waiter.state.lock() = State::Done(result, batch);
        self.waiter.wake.notify_one();
    }

    fn lead(&self) {
        *self.waiter.state.lock() = State::Lead;
        self.waiter.wake.notify_one();
    }

    fn exclusive(&self) -> bool {
        self.exclusive
    }

    fn isolation(&self) -> Isolation {
        self.isolation
    }
}

struct Queue<B: Backend> {
    jobs: Vec<Box<dyn Job<B>>>,
    leading: bool,
}

/// The group-commit queue of one store.
pub(crate) struct GroupCommit<B: Backend> {
    queue: Mutex<Queue<B>>,
    transactions: AtomicU64,
    operations: AtomicU64,
    running_nanos: AtomicU64,
    committing_nanos: AtomicU64,
}

impl<B: Backend> Default for GroupCommit<B> {
    fn default() -> Self {
        GroupCommit {
            queue: Mutex::new(Queue {
                jobs: Vec::new(),
                leading: false,
            }),
            transactions: AtomicU64::new(0),
            operations: AtomicU64::new(0),
            running_nanos: AtomicU64::new(0),
            committing_nanos: AtomicU64::new(0),
        }
    }
}

/// How writes were grouped into transactions since the store opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WriteStats {
    /// Write transactions run (committed or aborted).
    pub transactions: u64,
    /// Operations run in them.
    pub operations: u64,
    /// Nanoseconds the batches' leaders spent inside their transactions
    /// running the operations, before committing: the serial part of group
    /// commit that the operations' own work makes longer.
    pub running_nanos: u64,
    /// Nanoseconds spent committing (writing the pages and, for a durable
    /// commit, the `fsync`), and aborting when nothing was kept.
    pub committing_nanos: u64,
}

/// What the leader needs to run a batch.
pub(crate) struct Runner<'s, B: Backend> {
    pub backend: &'s B,
    /// The store's time, read once per transaction.
    pub time: &'s Timekeeper,
    /// The store's configuration.
    pub config: &'s Config,
    /// The key ring: each transaction works with the set current when it
    /// starts (loaded under the backend's write lock, so a transaction that
    /// starts after a ring change committed and was published sees it).
    pub keys: &'s ArcSwap<KeySet>,
    /// Chooses durable or lazy commit for each transaction.
    pub mode: &'s dyn Fn() -> CommitMode,
}

impl<B: Backend> GroupCommit<B> {
    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            transactions: self.transactions.load(Ordering::Relaxed),
            operations: self.operations.load(Ordering::Relaxed),
            running_nanos: self.running_nanos.load(Ordering::Relaxed),
            committing_nanos: self.committing_nanos.load(Ordering::Relaxed),
        }
    }

    /// Runs `op` in a write transaction, shared with concurrent writers unless
    /// `exclusive` and isolated at least as `isolation` asks, and returns its
    /// result once the transaction committed, with the number of operations
    /// the transaction carried.
    pub(crate) fn submit<T, F>(
        &self,
        runner: &Runner<'_, B>,
        (exclusive, isolation): (bool, Isolation),
        op: F,
    ) -> (Result<T>, usize)
    where
        T: Send + 'static,
        F: for<'a, 'b, 'c> FnMut(&mut Overlay<&'a mut B::Write<'b>>, &Ctx<'c>) -> Result<T>
            + Send
            + 'static,
    {
        let waiter = Arc::new(Waiter {
            state: Mutex::new(State::Queued),
            wake: Condvar::new(),
        });
        let job = TypedJob {
            op,
            staged: None,
            waiter: Arc::clone(&waiter),
            exclusive,
            isolation,
        };
        let lead_now = {
            let mut queue = self.queue.lock();
            queue.jobs.push(Box::new(job));
            !std::mem::replace(&mut queue.leading, true)
        };
        if lead_now {
            self.lead(runner);
        }
        loop {
            let mut state = waiter.state.lock();
            match std::mem::replace(&mut *state, State::Queued) {
                State::Done(result, batch) => return (result, batch),
                State::Lead => {
                    drop(state);
                    self.lead(runner);
                }
                State::Queued => waiter.wake.wait(&mut state),
            }
        }
    }

    /// Runs one batch of what is queued, then hands the lead on or gives it up.
    fn lead(&self, runner: &Runner<'_, B>) {
        let jobs = std::mem::take(&mut self.queue.lock().jobs);
        self.operations
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        let (exclusive, shared): (Vec<_>, Vec<_>) =
            jobs.into_iter().partition(|job| job.exclusive());
        let transactions = exclusive.len() + usize::from(!shared.is_empty());
        self.transactions
            .fetch_add(transactions as u64, Ordering::Relaxed);
        for job in exclusive {
            self.run_batch(runner, vec![job]);
        }
        if !shared.is_empty() {
            self.run_batch(runner, shared);
        }
        let mut queue = self.queue.lock();
        match queue.jobs.first() {
            // Still `leading`: the lead passes to the first writer waiting.
            Some(next) => next.lead(),
            None => queue.leading = false,
        }
    }
}

impl<B: Backend> GroupCommit<B> {
    /// Runs `jobs` in one transaction and delivers every result.
    fn run_batch(&self, runner: &Runner<'_, B>, mut jobs: Vec<Box<dyn Job<B>>>) {
        let batch = jobs.len();
        let alone = batch == 1;
        let started = Instant::now();
        // When the last run of the operations ended (a backend may run the
        // transaction again): what follows is the commit.
        let mut ran = started;
        let mode = (runner.mode)();
        let isolation = Isolation::of_all(jobs.iter().map(|job| job.isolation()));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            runner.backend.write_isolated(mode, isolation, |kv| {
                // Read inside the transaction: a backend may take the time from
                // the database server.
                let now = runner.time.now(kv.database_time());
                let keys = runner.keys.load();
                let ctx = Ctx {
                    config: runner.config,
                    minter: &keys.minter,
                    seal: &keys.seal,
                    now,
                    premints: None,
                };
                let keep = if alone {
                    let mut direct = Overlay::direct(&mut *kv);
                    let mut keep = false;
                    for job in &mut jobs {
                        keep = job.run(&mut direct, &ctx)? == Disposition::Keep;
                    }
                    keep
                } else {
                    let mut kept_any = false;
                    for job in &mut jobs {
                        let mut buffered = Overlay::buffered(&mut *kv);
                        if job.run(&mut buffered, &ctx)? == Disposition::Keep {
                            buffered.apply()?;
                            kept_any = true;
                        }
                    }
                    kept_any
                };
                ran = Instant::now();
                if !keep {
                    // Nothing to keep: no commit, and no fsync.
                    return Ok((None, TxEnd::Abort));
                }
                let high_water = runner.time.high_water_to_record(now);
                if let Some(time) = high_water {
                    meta::record_high_water(kv, time)?;
                }
                Ok((high_water, TxEnd::Commit))
            })
        }));
        let commit = match outcome {
            Ok(Ok(high_water)) => {
                if let Some(time) = high_water {
                    runner.time.high_water_recorded(time);
                }
                Ok(())
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(Error::Storage {
                source: "an operation panicked; its transaction was aborted".into(),
            }),
        };
        let finished = Instant::now();
        let nanos = |span: std::time::Duration| u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        self.running_nanos
            .fetch_add(nanos(ran - started), Ordering::Relaxed);
        self.committing_nanos
            .fetch_add(nanos(finished - ran), Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        {
            metrics::histogram!("grantdb_commit_seconds")
                .record((finished - started).as_secs_f64());
            metrics::histogram!("grantdb_batch_size").record(batch as f64);
        }
        for job in &mut jobs {
            job.finish(&commit, batch);
        }
    }
}
