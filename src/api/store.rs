//! The [`Store`] handle: opens the database, runs every operation in one
//! transaction (R19), and is the crate's public API.

use crate::api::request_id;
use crate::engine::commit::{GroupCommit, Runner, WriteStats};
use crate::engine::ctx::Ctx;
use crate::engine::keyring::KeySet;
use crate::engine::meta;
use crate::engine::observe::Observation;
use crate::engine::op::{Grouping, Op};
use crate::engine::periodic::Periodic;
use crate::engine::premint::Premints;
use crate::engine::time::Timekeeper;
use crate::error::{Error, Result};
use crate::kv::files;
use crate::kv::overlay::Overlay;
use crate::kv::redb::{Location, RedbBackend, Settings, SpaceStats};
use crate::kv::{Backend, CommitMode, KvRead as _, TxEnd};
use crate::model::config::{Config, Durability};
use crate::model::event::Event;
use crate::model::ids::ClientId;
use crate::model::response::PurgeReport;
use crate::record::Sealed;
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The token store. Cheap to clone and share across threads (`Send + Sync`);
/// every clone is the same store.
///
/// Every operation is one transaction (R19): it commits all of its effects or
/// none. Writes are serialised; reads run in parallel with each other and with
/// writes, each on a consistent snapshot.
///
/// # From async code
///
/// Every method blocks: writes wait for an fsync (or a database round trip),
/// reads may read the file. On tokio, use [`AsyncStore`](crate::AsyncStore)
/// (feature `tokio`): the same methods as `async fn`s, run off the runtime's
/// workers, and required for the PostgreSQL backend, whose client cannot run
/// on a worker at all. Elsewhere, call the store from
/// `tokio::task::spawn_blocking` or a thread of your own.
pub struct Store<B: Backend = RedbBackend> {
    /// The facade's plumbing, shared by the files of `api/`.
    pub(super) inner: Arc<Inner<B>>,
}

impl<B: Backend> Clone for Store<B> {
    fn clone(&self) -> Self {
        self.inner.handles.fetch_add(1, Ordering::SeqCst);
        Store {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<B: Backend> Drop for Store<B> {
    fn drop(&mut self) {
        // The last handle stops the flush thread and waits for it, so that the
        // database is closed when this drop returns (and can be reopened at
        // once), not whenever a flush in progress lets go of it.
        if self.inner.handles.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.stop_background();
        }
    }
}

impl<B: Backend> std::fmt::Debug for Store<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner<B: Backend> {
    pub(super) backend: B,
    pub(super) config: Config,
    /// The key ring as this store works with it: minting, accepted keys and
    /// the seal. Replaced whole when the ring changes; each transaction
    /// works with the set it loaded first.
    pub(super) keys: ArcSwap<KeySet>,
    /// Held while the key ring changes and the new set is published, so
    /// that sets are published in the order their changes committed.
    pub(super) key_changes: Mutex<()>,
    /// When a miss last made the store read the key ring again (R28), so
    /// that a flood of strings naming unknown keys reads it at most once per
    /// [`CATCH_UP_EVERY`](crate::api::keyring::CATCH_UP_EVERY).
    /// Nanoseconds since `keyring::EPOCH`, plus one; 0: never.
    pub(super) caught_up_at: std::sync::atomic::AtomicU64,
    /// The store's time: never runs backwards (see `docs/design.md`, "Time").
    pub(super) time: Timekeeper,
    /// [`Durability::Fast`]: lazy commits not yet made durable.
    pub(super) unflushed: AtomicBool,
    /// [`Durability::Fast`]: the last background flush failed, so commits are
    /// made durable one by one until one succeeds.
    pub(super) flush_failed: AtomicBool,
    /// [`Durability::Fast`]: the background flush thread.
    pub(super) flusher: OnceLock<Periodic>,
    /// The backend's checkpoint thread, for an engine with a commit log.
    pub(super) checkpointer: OnceLock<Periodic>,
    /// `Store` handles alive (clones of one store).
    pub(super) handles: AtomicUsize,
    pub(super) commits: GroupCommit<B>,
    /// Moves on when a commit appended to the change feed (R33).
    pub(super) feed_wakeup: Arc<crate::engine::wakeup::Wakeup>,
    /// Decoded token records of recent validations (embedded backend only).
    pub(super) hot: Option<Arc<crate::engine::hot::HotTokens>>,
}

impl<B: Backend> Inner<B> {
    /// Makes the lazy commits durable, if there are any.
    fn flush_unflushed(&self) -> Result<()> {
        if !self.unflushed.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let flushed = self
            .backend
            .write(CommitMode::Durable, |_| Ok(((), TxEnd::Commit)));
        // Until a flush succeeds, nothing more is acknowledged lazily.
        self.flush_failed.store(flushed.is_err(), Ordering::SeqCst);
        if flushed.is_err() {
            self.unflushed.store(true, Ordering::SeqCst);
        }
        flushed
    }
}

impl Store<RedbBackend> {
    /// Opens the database file at `path`, creating it if it does not exist
    /// (readable and writable by its owner only, on Unix: with a generated
    /// hashing key, the file holds the key). A reserve of disk space is kept
    /// beside it (see [`ConfigBuilder::disk_reserve`](crate::ConfigBuilder::disk_reserve)).
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Store> {
        let path = path.as_ref();
        let reserve = (config.disk_reserve > 0).then(|| {
            let mut name = path.as_os_str().to_owned();
            name.push(".reserve");
            (name.into(), config.disk_reserve)
        });
        Store::open_redb(Location::File(path), None, reserve, config)
    }

    /// A store that lives in memory only, for tests and examples.
    ///
    /// ```
    /// use grantdb::{Config, Store};
    /// let store = Store::in_memory(Config::default())?;
    /// assert_eq!(store.stats()?.clients, 0);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn in_memory(config: Config) -> Result<Store> {
        Store::open_redb(Location::Memory, None, None, config)
    }

    /// Opens a store on storage of the host's choosing: `open` returns a redb
    /// [`StorageBackend`](redb::StorageBackend) (an encrypting layer, a test
    /// double that injects I/O errors, ...). It is called again to reopen the
    /// database after an I/O error. `reserve`: a file for the disk reserve,
    /// and its size in bytes.
    pub fn open_on_storage<S: redb::StorageBackend>(
        open: impl Fn() -> std::io::Result<S> + Send + Sync + 'static,
        reserve: Option<(std::path::PathBuf, u64)>,
        config: Config,
    ) -> Result<Store> {
        let open = move || open().map(|storage| Box::new(storage) as Box<dyn redb::StorageBackend>);
        Store::open_redb(Location::Storage(Box::new(open)), None, reserve, config)
    }

    /// [`Store::open_on_storage`] with a commit log (see
    /// [`ConfigBuilder::commit_log`](crate::ConfigBuilder::commit_log)) on
    /// storage of the host's choosing too: `open_log` returns it, and is
    /// called again when the store reopens after an I/O error.
    pub fn open_on_storage_with_log<S: redb::StorageBackend, L: redb::StorageBackend>(
        open: impl Fn() -> std::io::Result<S> + Send + Sync + 'static,
        open_log: impl Fn() -> std::io::Result<L> + Send + Sync + 'static,
        reserve: Option<(std::path::PathBuf, u64)>,
        config: Config,
    ) -> Result<Store> {
        let open = move || open().map(|storage| Box::new(storage) as Box<dyn redb::StorageBackend>);
        let open_log: crate::kv::redb::LogOpener = Box::new(move || {
            open_log()
                .map(|storage| Box::new(storage) as Box<dyn redb::StorageBackend>)
                .map_err(Error::io)
        });
        Store::open_redb(
            Location::Storage(Box::new(open)),
            Some(open_log),
            reserve,
            config,
        )
    }

    fn open_redb(
        location: Location<'_>,
        log_storage: Option<crate::kv::redb::LogOpener>,
        reserve: Option<(std::path::PathBuf, u64)>,
        config: Config,
    ) -> Result<Store> {
        // redb may panic on a file damaged outside redb; report it as an error.
        let opened = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let backend = RedbBackend::open(Settings {
                location,
                cache_bytes: config.cache_bytes,
                check_integrity: config.check_file_on_open,
                reserve,
                // Without a configured key the store generates one and keeps
                // it in the file.
                holds_key: config.hashing_keys.is_empty(),
                commit_log: config.commit_log,
                log_storage,
                checkpoint_interval: config.checkpoint_interval,
            })?;
            if backend.is_foreign()? {
                return Err(Error::NotAGrantdbDatabase);
            }
            backend.create_tables()?;
            // A grantdb database whose generated key others can read: not
            // kept in use (`kv/files.rs`).
            if let (Some(mode), Some(path)) = (backend.shared_mode(), backend.file_path()) {
                return Err(files::refuse_shared(path, mode));
            }
            // Replays what the log holds since the last checkpoint.
            backend.start_commit_log()?;
            Ok(backend)
        }))
        .unwrap_or(Err(Error::NotAGrantdbDatabase))?;
        Store::with_backend(opened, config)
    }

    /// How the database file's space is used (see [`SpaceStats`]).
    pub fn space(&self) -> Result<SpaceStats> {
        self.inner.backend.space()
    }

    /// Compacts the file, giving free pages back to the file system, and
    /// returns the space before and after. Needs the only handle on the store
    /// (no clones alive), since no transaction may run meanwhile.
    pub fn compact(&mut self) -> Result<(SpaceStats, SpaceStats)> {
        if Arc::strong_count(&self.inner) != 1 {
            return Err(Error::StoreShared);
        }
        // The background threads hold the store weakly: stopped (and
        // joined) for the compaction, started again after it.
        self.stop_background();
        let compacted = match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                inner.flusher = OnceLock::new();
                inner.checkpointer = OnceLock::new();
                inner.backend.space().and_then(|before| {
                    inner.backend.compact()?;
                    Ok((before, inner.backend.space()?))
                })
            }
            None => Err(Error::StoreShared),
        };
        self.start_background();
        compacted
    }
}

/// The hot-token cache of `entries` records, if the backend reports its
/// token writes (an embedded one does).
fn hot_tokens<B: Backend>(
    backend: &B,
    entries: usize,
) -> Option<Arc<crate::engine::hot::HotTokens>> {
    if entries == 0 {
        return None;
    }
    let hot = Arc::new(crate::engine::hot::HotTokens::new(entries));
    let told = Arc::clone(&hot);
    backend
        .watch_token_writes(Arc::new(move |written| match written {
            Some(ids) => told.invalidate(ids),
            None => told.clear(),
        }))
        .then_some(hot)
}

impl<B: Backend> Store<B> {
    /// A store on any [`Backend`]: checks the format version and hashing key,
    /// initialising a new database.
    pub fn with_backend(backend: B, config: Config) -> Result<Store<B>> {
        let opened = meta::init_or_check(&backend, &config.hashing_keys, &config.prefixes)?;
        let hot = hot_tokens(&backend, config.hot_tokens);
        let time = Timekeeper::new(
            Arc::clone(&config.clock),
            opened.high_water,
            backend.records_time_high_water(),
        );
        let store = Store {
            inner: Arc::new(Inner {
                backend,
                config,
                keys: ArcSwap::from_pointee(opened.keys),
                key_changes: Mutex::new(()),
                caught_up_at: std::sync::atomic::AtomicU64::new(0),
                time,
                unflushed: AtomicBool::new(false),
                flush_failed: AtomicBool::new(false),
                flusher: OnceLock::new(),
                checkpointer: OnceLock::new(),
                handles: AtomicUsize::new(1),
                commits: GroupCommit::default(),
                feed_wakeup: Arc::default(),
                hot,
            }),
        };
        store.start_background();
        Ok(store)
    }

    /// Stops the background threads (the fast flush, the checkpoints) and
    /// waits for them.
    fn stop_background(&self) {
        for thread in [&self.inner.flusher, &self.inner.checkpointer] {
            if let Some(thread) = thread.get() {
                thread.stop();
            }
        }
    }

    /// Starts the background threads the configuration and the backend call
    /// for: the fast flush, the commit log's checkpoints.
    fn start_background(&self) {
        let store = self;
        if store.inner.config.durability == Durability::Fast {
            let weak = Arc::downgrade(&store.inner);
            let interval = store.inner.config.fast_flush_interval;
            let flusher = Periodic::start("gdbflush", interval, move || {
                let Some(inner) = weak.upgrade() else {
                    return false;
                };
                // A failure is remembered (`flush_failed`) and retried next tick.
                let _ = inner.flush_unflushed();
                true
            });
            let _ = store.inner.flusher.set(flusher);
        }
        if let Some(every) = store.inner.backend.checkpoint_every() {
            let weak = Arc::downgrade(&store.inner);
            let checkpointer = Periodic::start("gdbckpt", every, move || {
                let Some(inner) = weak.upgrade() else {
                    return false;
                };
                // A failure leaves the log as it is: the next tick (or the
                // writer that finds the log full) tries again.
                let _ = inner.backend.checkpoint();
                true
            });
            let _ = store.inner.checkpointer.set(checkpointer);
        }
    }

    /// The configuration the store runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store's current time (R18): the configured clock, raised to the
    /// latest time the store has already used, so that it never runs
    /// backwards (see `docs/design.md`, "Time").
    pub fn now(&self) -> u64 {
        self.inner.time.now(None)
    }

    /// The storage backend.
    pub fn backend(&self) -> &B {
        &self.inner.backend
    }

    /// The key set operations start with now.
    pub(crate) fn keys(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.inner.keys.load()
    }

    /// Runs a change of the key ring, then publishes the key set read back
    /// from the database, built from `host_keys` (see [`crate::engine::keyring`]).
    /// Ring changes on one store run one at a time.
    pub(crate) fn change_keys<T>(
        &self,
        change: impl FnOnce() -> Result<T>,
        host_keys: impl FnOnce(&KeySet) -> Vec<crate::HashingKey>,
    ) -> Result<T> {
        let _one_at_a_time = self.inner.key_changes.lock();
        let changed = change()?;
        let host_keys = host_keys(&self.keys());
        let entries = self
            .inner
            .backend
            .read(|kv| crate::engine::keyring::read_entries(kv))?;
        let set = KeySet::build(entries, &host_keys, &self.inner.config.prefixes)?;
        self.inner.keys.store(Arc::new(set));
        Ok(changed)
    }

    /// The context of an operation running at `now` with `keys`.
    pub(super) fn ctx_at<'a>(&'a self, keys: &'a KeySet, now: u64) -> Ctx<'a> {
        Ctx {
            config: &self.inner.config,
            minter: &keys.minter,
            seal: &keys.seal,
            now,
            premints: None,
        }
    }

    fn commit_mode(&self) -> CommitMode {
        let inner = &self.inner;
        match inner.config.durability {
            Durability::Durable => CommitMode::Durable,
            Durability::Fast if inner.flush_failed.load(Ordering::SeqCst) => CommitMode::Durable,
            Durability::Fast => {
                // Set before the commit: the flush thread may find nothing
                // new (an aborted batch), never miss a commit.
                inner.unflushed.store(true, Ordering::SeqCst);
                CommitMode::Lazy
            }
        }
    }

    /// Runs one rule in a write transaction, through group commit: it may
    /// share the transaction (and its fsync) with concurrent writers unless
    /// its kind says otherwise. Its writes are kept on success and on the
    /// errors whose answer is a revocation (R05, R08); any other error drops
    /// them, so a failed check changes nothing (R19). After a full disk, an
    /// operation that grows the database is refused until there is room
    /// again; revocation and purge go on (see `docs/design.md`, "Failures").
    ///
    /// The operation is observed (span, metrics), and the events it noted
    /// are told to the host's listener once its transaction committed.
    pub(crate) fn write<T, F>(&self, op: &Op, client: Option<&ClientId>, mut run: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a, 'b, 'c, 'd, 'e> FnMut(
                &'e mut Sealed<'c, &'d mut Overlay<&'a mut B::Write<'b>>>,
                &Ctx<'c>,
            ) -> Result<T>
            + Send
            + 'static,
    {
        debug_assert_ne!(op.grouping, Grouping::Read, "{} is a read", op.name);
        let observation = Observation::start(op.name, client);
        if op.grouping == Grouping::Grows && !self.inner.backend.may_grow() {
            let refused = Err(Error::DiskFull);
            observation.finish(&refused, None);
            return refused;
        }
        let mode = || self.commit_mode();
        let runner = Runner {
            backend: &self.inner.backend,
            time: &self.inner.time,
            config: &self.inner.config,
            keys: &self.inner.keys,
            mode: &mode,
        };
        let exclusive = op.grouping == Grouping::FreesAlone;
        let listener = self.inner.config.on_event.clone();
        let feeding = self.inner.config.feed.records_anything();
        // The events of the last run of the operation (a backend may run a
        // conflicting transaction again), and whether it appended to the feed.
        let noted: Arc<Mutex<(Vec<Event>, bool)>> = Arc::default();
        let slot = Arc::clone(&noted);
        let listening = listener.is_some();
        // Only an event or a feed entry carries it.
        let request_id = (listening || feeding).then(request_id::current).flatten();
        let feed_request_id = request_id.clone();
        // Minted here, on the caller's thread, not by the batch's leader.
        let premints = Premints::new(self.inner.keys.load_full(), op.mints);
        let (result, batch) =
            self.inner
                .commits
                .submit(&runner, (exclusive, op.isolation), move |kv, ctx| {
                    let ctx = ctx.with_premints(&premints);
                    if !listening && !feeding {
                        return run(&mut Sealed::new(kv, ctx.seal), &ctx);
                    }
                    let mut sealed = if listening {
                        Sealed::noting_events(kv, ctx.seal)
                    } else {
                        Sealed::new(kv, ctx.seal)
                    };
                    if feeding {
                        sealed = sealed.noting_changes();
                    }
                    let mut result = run(&mut sealed, &ctx);
                    let keeps = match &result {
                        Ok(_) => true,
                        Err(error) => error.committed_changes(),
                    };
                    // The feed's entries go in the operation's own writes, so
                    // they commit with it or not at all (R33).
                    let mut appended = false;
                    let changes = sealed.take_changes();
                    if keeps && !changes.is_empty() {
                        match crate::ops::feed::append(
                            &mut sealed,
                            &ctx,
                            changes,
                            feed_request_id.as_deref(),
                        ) {
                            Ok(last) => appended = last.is_some(),
                            Err(error) => result = Err(error),
                        }
                    }
                    *slot.lock() = (sealed.take_events(), appended);
                    result
                });
        observation.finish(&result, Some(batch));
        let committed = match &result {
            Ok(_) => true,
            Err(error) => error.committed_changes(),
        };
        let (events, appended) = std::mem::take(&mut *noted.lock());
        if committed && appended {
            self.inner.feed_wakeup.bump();
        }
        if let (Some(listener), true) = (listener, committed) {
            for mut event in events {
                event.request_id = request_id.as_deref().map(str::to_owned);
                listener(&event);
            }
        }
        result
    }

    /// Runs a pure read in one read transaction.
    pub(crate) fn read<T>(
        &self,
        op: &Op,
        client: Option<&ClientId>,
        run: impl FnOnce(&Sealed<'_, &B::Read<'_>>, &Ctx<'_>) -> Result<T>,
    ) -> Result<T> {
        let observation = Observation::start(op.name, client);
        let keys = self.keys();
        let result = self.inner.backend.read(|kv| {
            let ctx = self.ctx_at(&keys, self.inner.time.now(kv.database_time()));
            run(&Sealed::new(kv, ctx.seal), &ctx)
        });
        observation.finish(&result, None);
        result
    }

    /// Starts purging expired entries in this process every `interval`, on a
    /// thread of its own, in bounded batches (each one transaction of at most
    /// `purge_batch_size` entries, holding the write lock at most
    /// `purge_batch_time`): the in-process counterpart of `grantdb purge`.
    /// Purging stops when the handle is dropped; the handle keeps the store
    /// open meanwhile.
    ///
    /// ```
    /// # use grantdb::{Config, Store};
    /// let store = Store::in_memory(Config::default())?;
    /// let maintenance = store.start_maintenance(std::time::Duration::from_secs(60));
    /// // ... serve requests ...
    /// drop(maintenance); // stops purging
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn start_maintenance(&self, interval: std::time::Duration) -> Maintenance {
        let state = Arc::new(Mutex::new(MaintenanceState::default()));
        let store = self.clone();
        let seen = Arc::clone(&state);
        let thread = Periodic::start("gdbpurge", interval, move || {
            // Key-ring changes another node of a fleet made are learnt here
            // too; a ring this node cannot follow (a key it lacks) keeps
            // the set it has, and says so in the state.
            let reloaded = store.reload_hashing_keys();
            let outcome = store.purge_expired();
            let mut state = seen.lock();
            state.runs += 1;
            match outcome {
                Ok(report) => {
                    state.last_report = Some(report);
                    state.last_error = None;
                }
                Err(error) => state.last_error = Some(error.to_string()),
            }
            if let Err(error) = reloaded {
                state.last_error = Some(error.to_string());
            }
            true
        });
        Maintenance {
            state,
            _thread: thread,
        }
    }

    /// How many write transactions carried how many operations (group commit).
    pub fn write_stats(&self) -> WriteStats {
        self.inner.commits.stats()
    }

    /// Makes every committed operation durable now (useful in
    /// [`Durability::Fast`] mode; a no-op cost in durable mode).
    pub fn flush(&self) -> Result<()> {
        self.inner.unflushed.store(true, Ordering::SeqCst);
        self.inner.flush_unflushed()
    }
}

/// The in-process purge started by [`Store::start_maintenance`]; dropping it
/// stops it (and waits for a purge in progress).
pub struct Maintenance {
    state: Arc<Mutex<MaintenanceState>>,
    _thread: Periodic,
}

#[derive(Default)]
struct MaintenanceState {
    runs: u64,
    last_report: Option<PurgeReport>,
    last_error: Option<String>,
}

impl Maintenance {
    /// Purges run so far.
    pub fn runs(&self) -> u64 {
        self.state.lock().runs
    }

    /// What the last successful purge removed.
    pub fn last_report(&self) -> Option<PurgeReport> {
        self.state.lock().last_report
    }

    /// Why the last purge failed, if it did (the next one tries again).
    pub fn last_error(&self) -> Option<String> {
        self.state.lock().last_error.clone()
    }
}

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance")
            .field("runs", &self.runs())
            .finish_non_exhaustive()
    }
}
