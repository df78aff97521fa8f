//! The embedded backend: every grantdb table is a redb table of byte keys and
//! byte values, and a durable commit is one entry of the commit log beside
//! the file (`kv/commit_log.rs`, see `docs/design.md`, "The commit log").
//! This module and the log's are the only ones that name redb types.

use std::cell::OnceCell;
use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use parking_lot::{Mutex, RwLock};
use redb::{
    BackendError, Database, DatabaseError, ReadOnlyTable, ReadableDatabase, ReadableTable,
    StorageBackend, TableDefinition, TableError,
};

use super::commit_log::{self, Anchor, Changes, CommitLog};
use super::files;
use super::reserve::Reserve;
use super::{Backend, CommitMode, KeyRange, KvRead, KvWrite, Table, TxEnd};
use crate::error::{Error, Result};

type Bytes = &'static [u8];

/// The redb table behind each [`Table`], in [`Table::ALL`] order.
const DEFINITIONS: [TableDefinition<Bytes, Bytes>; Table::COUNT] = [
    TableDefinition::new("grantdb_meta"),
    TableDefinition::new("clients"),
    TableDefinition::new("codes"),
    TableDefinition::new("grants"),
    TableDefinition::new("tokens"),
    TableDefinition::new("expiry"),
    TableDefinition::new("consumed_refresh"),
    TableDefinition::new("by_subject"),
    TableDefinition::new("client_codes"),
    TableDefinition::new("consents"),
    TableDefinition::new("by_session"),
    TableDefinition::new("proof_jtis"),
    TableDefinition::new("pushed_requests"),
    TableDefinition::new("device_codes"),
    TableDefinition::new("user_codes"),
    TableDefinition::new("device_attempts"),
    TableDefinition::new("feed"),
    TableDefinition::new("feed_consumers"),
    TableDefinition::new("feed_subjects"),
];

fn definition(table: Table) -> TableDefinition<'static, Bytes, Bytes> {
    DEFINITIONS[table.index()]
}

/// grantdb's tables in one redb database.
///
/// Reads share a published snapshot instead of opening a read transaction
/// each: every committed write transaction publishes a fresh one before its
/// caller hears back, so a read that starts after a write returned sees it
/// (a revoked token never validates once `revoke` has returned), and a
/// validation costs one lookup, not a transaction begin.
///
/// After an I/O error (a full disk, a failing device) redb refuses every
/// later operation until the database is reopened; the backend reopens it by
/// itself, under the write lock, before the next operation (see
/// `docs/design.md`, "Failures").
pub struct RedbBackend {
    /// `None` only while being reopened, or if reopening failed.
    db: RwLock<Option<Database>>,
    /// Opens the database again; `None` for an in-memory one.
    reopen: Option<Opener>,
    path: Option<PathBuf>,
    /// Sequence number of the last committed write transaction.
    commits: AtomicU64,
    /// `None` until the first read, while compacting, and after an I/O error.
    /// Readers load it without a lock or a reference count of their own, so
    /// threads validating at once write no shared cache line.
    snapshot: ArcSwapOption<Snapshot>,
    /// Serialises replacing the snapshot (after a commit, on first read).
    publishing: Mutex<()>,
    /// Serialises write transactions with reopening.
    writer: Mutex<()>,
    /// An I/O error happened: reopen before the next operation.
    broken: AtomicBool,
    /// Space held back for the way out of a full disk.
    reserve: Option<Reserve>,
    /// The file's mode when others may read it and it holds the key; 0 when
    /// not.
    shared_mode: Arc<AtomicU32>,
    /// Told the token keys each commit wrote (the store's hot-token cache).
    token_writes: std::sync::OnceLock<super::TokenWrites>,
    /// Opens the commit log; `None`: durable commits are redb's own.
    log_opener: Option<LogOpener>,
    /// The commit log, once started (`start_commit_log`); taken only under
    /// the write lock (`writer`).
    log: Mutex<Option<LogState>>,
    /// A handle on the database file, for the checkpoint's `fdatasync`
    /// before it takes the write lock.
    file_handle: Arc<Mutex<Option<std::fs::File>>>,
    /// How old the oldest entry of the log may get before a checkpoint.
    checkpoint_interval: Duration,
}

/// Opens the commit log's storage (again).
pub(crate) type LogOpener = Box<dyn Fn() -> Result<Box<dyn StorageBackend>> + Send + Sync>;

use super::COMMIT_LOG_KEY;

/// Log bytes past which the checkpoint thread checkpoints.
const CHECKPOINT_BYTES: u64 = 16 << 20;
/// Log bytes past which a writer checkpoints itself (the thread starved).
const MAX_LOG_BYTES: u64 = 64 << 20;

/// The commit log and what the write path knows about it.
struct LogState {
    log: CommitLog,
    /// A lazy commit since the last checkpoint: the next durable commit is a
    /// checkpoint (an entry must not depend on a change the log lacks).
    lazy_since_checkpoint: bool,
    /// When the oldest entry since the last checkpoint was made durable.
    oldest_entry: Option<Instant>,
    /// The entry buffer, kept between transactions.
    buffer: Vec<u8>,
    /// Checkpoints since the store opened.
    checkpoints: u64,
    /// Entries the last recovery replayed.
    replayed: u64,
}

/// Opens the redb database (again).
type Opener = Box<dyn Fn() -> Result<Database> + Send + Sync>;

/// A read transaction as of commit `seq`, shared by concurrent readers.
struct Snapshot {
    seq: u64,
    read: RedbRead,
}

/// How the database file's space is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct SpaceStats {
    /// Size of the file on disk (0 for an in-memory database).
    pub file_bytes: u64,
    /// Bytes in pages allocated to data and metadata.
    pub allocated_bytes: u64,
    /// Bytes of keys and values stored.
    pub stored_bytes: u64,
    /// Bytes of branch keys and other metadata.
    pub metadata_bytes: u64,
    /// Bytes lost to fragmentation inside allocated pages.
    pub fragmented_bytes: u64,
}

impl SpaceStats {
    /// Bytes of the file not allocated to any page: what `compact` can give back.
    pub fn free_bytes(&self) -> u64 {
        self.file_bytes.saturating_sub(self.allocated_bytes)
    }
}

impl std::fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbBackend")
    }
}

/// Where a [`RedbBackend`] keeps its data.
pub(crate) enum Location<'a> {
    /// A file, created readable by its owner only.
    File(&'a Path),
    /// Memory only.
    Memory,
    /// Storage of the host's choosing, opened (and reopened after an I/O
    /// error) by the function given.
    Storage(Box<dyn Fn() -> std::io::Result<Box<dyn StorageBackend>> + Send + Sync>),
    /// A file this process created and holds open (an import's staging
    /// file): used through its handle, never by its path.
    Opened(std::fs::File),
}

/// How a [`RedbBackend`] is opened.
pub(crate) struct Settings<'a> {
    pub location: Location<'a>,
    pub cache_bytes: usize,
    pub check_integrity: bool,
    /// A reserve file and its size (see [`Reserve`]).
    pub reserve: Option<(PathBuf, u64)>,
    /// The file will hold the store's hashing key (none was configured): it
    /// must not be readable by others (see `files::open_database`).
    pub holds_key: bool,
    /// Durable commits go through a commit log: beside a file
    /// (`<file>.commitlog`), or on the storage given for a host's storage.
    pub commit_log: bool,
    /// The commit log's storage, for [`Location::Storage`].
    pub log_storage: Option<LogOpener>,
    /// See [`RedbBackend::checkpoint_interval`].
    pub checkpoint_interval: Duration,
}

impl RedbBackend {
    /// Opens (or creates) the database.
    pub(crate) fn open(settings: Settings<'_>) -> Result<RedbBackend> {
        let (cache_bytes, check_integrity) = (settings.cache_bytes, settings.check_integrity);
        let builder = move || {
            let mut builder = Database::builder();
            builder.set_cache_size(cache_bytes);
            // Without this, redb trusts a file that was closed cleanly and may
            // panic on damage done outside it; with it, every page checksum is
            // verified at open and damage is an error.
            builder.set_check_integrity_on_open(check_integrity);
            builder
        };
        let path = match &settings.location {
            Location::File(path) => Some(path.to_path_buf()),
            Location::Memory | Location::Storage(_) | Location::Opened(_) => None,
        };
        let holds_key = settings.holds_key;
        let shared_mode = Arc::new(AtomicU32::new(0));
        let file_handle: Arc<Mutex<Option<std::fs::File>>> = Arc::default();
        let log_opener: Option<LogOpener> = match (&settings.location, settings.commit_log) {
            (_, false) | (Location::Memory | Location::Opened(_), true) => None,
            (Location::File(path), true) => {
                let mut name = path.as_os_str().to_owned();
                name.push(".commitlog");
                let log_path = PathBuf::from(name);
                Some(Box::new(move || {
                    let (file, _) = files::open_database(&log_path, false)?;
                    let storage = redb::backends::FileBackend::new(file).map_err(database_error)?;
                    Ok(Box::new(storage) as Box<dyn StorageBackend>)
                }))
            }
            (Location::Storage(_), true) => settings.log_storage,
        };
        let handle = Arc::clone(&file_handle);
        let on_file = move |file: std::fs::File| {
            *handle.lock() = file.try_clone().ok();
            let backend = redb::backends::FileBackend::new(file).map_err(database_error)?;
            builder()
                .create_with_backend(backend)
                .map_err(database_error)
        };
        let reopen: Option<Opener> = match settings.location {
            Location::Memory => None,
            Location::File(path) => {
                let path = path.to_path_buf();
                let shared = Arc::clone(&shared_mode);
                Some(Box::new(move || {
                    let (file, mode) = files::open_database(&path, holds_key)?;
                    shared.store(mode.unwrap_or(0), Ordering::Relaxed);
                    on_file(file)
                }))
            }
            Location::Opened(file) => Some(Box::new(move || {
                on_file(file.try_clone().map_err(Error::io)?)
            })),
            Location::Storage(open) => Some(Box::new(move || {
                let storage = open().map_err(Error::io)?;
                builder()
                    .create_with_backend(BoxedStorage(storage))
                    .map_err(database_error)
            })),
        };
        let db = match &reopen {
            Some(open) => open()?,
            None => builder()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(database_error)?,
        };
        Ok(RedbBackend {
            db: RwLock::new(Some(db)),
            reopen,
            path,
            commits: AtomicU64::new(0),
            snapshot: ArcSwapOption::empty(),
            publishing: Mutex::new(()),
            writer: Mutex::new(()),
            broken: AtomicBool::new(false),
            reserve: settings
                .reserve
                .map(|(path, bytes)| Reserve::new(path, bytes)),
            shared_mode,
            token_writes: std::sync::OnceLock::new(),
            log_opener,
            log: Mutex::new(None),
            file_handle,
            checkpoint_interval: settings.checkpoint_interval,
        })
    }

    /// The mode of a database file others may read while it holds the
    /// store's hashing key (see `files::open_database`), as found when it
    /// was last opened.
    pub(crate) fn shared_mode(&self) -> Option<u32> {
        Some(self.shared_mode.load(Ordering::Relaxed)).filter(|mode| *mode != 0)
    }

    /// The database file's path, for a file-backed store.
    pub(crate) fn file_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` on the open database.
    fn with_db<R>(&self, f: impl FnOnce(&Database) -> Result<R>) -> Result<R> {
        match self.db.read().as_ref() {
            Some(db) => f(db),
            None => Err(Error::Io {
                kind: std::io::ErrorKind::Other,
                source: "the database could not be reopened after an I/O error".into(),
            }),
        }
    }

    /// After an I/O error: closes the database and opens it again, so that
    /// the next operation finds it usable (redb refuses every operation after
    /// an I/O error until then). Needs the write lock (`writer`) held.
    fn reopen_if_broken(&self) -> Result<()> {
        let Some(open) = &self.reopen else {
            return Ok(());
        };
        if !self.broken.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.snapshot.store(None);
        let mut db = self.db.write();
        // The old handle must be closed first: it holds the file's lock.
        drop(db.take());
        *db = Some(open()?);
        drop(db);
        // The file went back to its last checkpoint: the log has the rest.
        if self.log_opener.is_some() {
            self.recover_log()?;
        }
        self.broken.store(false, Ordering::SeqCst);
        // What was cached may be newer than what the file kept.
        if let Some(told) = self.token_writes.get() {
            told(None);
        }
        Ok(())
    }

    /// Notes an error met by an operation: an I/O error means a reopen, and a
    /// full disk releases the reserve.
    fn note_failure(&self, error: &Error) {
        if matches!(error, Error::DiskFull | Error::Io { .. }) {
            self.broken.store(true, Ordering::SeqCst);
            self.snapshot.store(None);
        }
        if matches!(error, Error::DiskFull)
            && let Some(reserve) = &self.reserve
        {
            reserve.release();
        }
    }

    /// Publishes a snapshot taken after commit `seq` has completed, unless one
    /// taken after a later commit is already published. (A snapshot a reader
    /// published with the same number may predate the commit, so it is
    /// replaced.)
    fn publish_after_commit(&self, seq: u64) -> Result<()> {
        let read = self.with_db(RedbRead::begin)?;
        let _publishing = self.publishing.lock();
        if self
            .snapshot
            .load()
            .as_ref()
            .is_none_or(|current| current.seq <= seq)
        {
            self.snapshot.store(Some(Arc::new(Snapshot { seq, read })));
        }
        Ok(())
    }

    /// Runs `f` on the published snapshot, taking one if none is (reopening
    /// the database first if an I/O error left it unusable).
    fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> Result<R> {
        if let Some(snapshot) = self.snapshot.load().as_ref() {
            return Ok(f(snapshot));
        }
        if self.broken.load(Ordering::SeqCst) {
            let _writer = self.writer.lock();
            self.reopen_if_broken()?;
        }
        let seq = self.commits.load(Ordering::SeqCst);
        let fresh = Snapshot {
            seq,
            read: self.with_db(RedbRead::begin)?,
        };
        let snapshot = {
            let _publishing = self.publishing.lock();
            // Another reader or a commit may have published one meanwhile.
            self.snapshot.load_full().unwrap_or_else(|| {
                let fresh = Arc::new(fresh);
                self.snapshot.store(Some(Arc::clone(&fresh)));
                fresh
            })
        };
        Ok(f(&snapshot))
    }

    /// How the file's space is used.
    pub fn space(&self) -> Result<SpaceStats> {
        let stats = self.with_db(|db| {
            let txn = db.begin_write().map_err(engine_error)?;
            let stats = txn.stats().map_err(engine_error)?;
            txn.abort().map_err(engine_error)?;
            Ok(stats)
        })?;
        let page = stats.page_size() as u64;
        let file_bytes = match &self.path {
            Some(path) => std::fs::metadata(path).map_err(Error::io)?.len(),
            None => 0,
        };
        Ok(SpaceStats {
            file_bytes,
            allocated_bytes: stats.allocated_pages() * page,
            stored_bytes: stats.stored_bytes(),
            metadata_bytes: stats.metadata_bytes(),
            fragmented_bytes: stats.fragmented_bytes(),
        })
    }

    /// Rewrites the file to give free pages back; needs no transaction open,
    /// so the shared read snapshot is dropped first.
    pub(crate) fn compact(&mut self) -> Result<()> {
        // Everything in the file first, so that the log is empty.
        self.checkpoint_now()?;
        self.snapshot.store(None);
        let Some(db) = self.db.get_mut().as_mut() else {
            return Ok(());
        };
        loop {
            match db.compact() {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(error) => {
                    let error = engine_error(error);
                    self.note_failure(&error);
                    return Err(error);
                }
            }
        }
    }

    /// Whether the file holds tables that grantdb did not create, and no grantdb
    /// meta table: then another program wrote it.
    pub(crate) fn is_foreign(&self) -> Result<bool> {
        self.with_db(|db| {
            let txn = db.begin_read().map_err(engine_error)?;
            let mut has_meta = false;
            let mut has_other = false;
            for handle in txn.list_tables().map_err(engine_error)? {
                let name = redb::TableHandle::name(&handle).to_owned();
                if name == Table::Meta.name() {
                    has_meta = true;
                } else if !Table::ALL.iter().any(|t| t.name() == name) {
                    has_other = true;
                }
            }
            Ok(has_other && !has_meta)
        })
    }

    /// Creates any missing grantdb table.
    pub(crate) fn create_tables(&self) -> Result<()> {
        self.with_db(|db| {
            let txn = db.begin_write().map_err(engine_error)?;
            for table in Table::ALL {
                txn.open_table(definition(table)).map_err(table_error)?;
            }
            txn.commit().map_err(engine_error)
        })
    }

    /// One write transaction on the open database. With the commit log,
    /// a durable commit is a redb commit without `fsync`, then its log
    /// entry made durable, then the snapshot published (see
    /// `docs/design.md`, "The commit log"), or a checkpoint.
    fn write_once<R>(
        &self,
        mode: CommitMode,
        f: impl FnOnce(&mut RedbWrite<'_>) -> Result<(R, TxEnd)>,
    ) -> Result<R> {
        let mut log = self.log.lock();
        let logging = mode == CommitMode::Durable && log.is_some();
        let mut txn = self.with_db(|db| db.begin_write().map_err(engine_error))?;
        if mode == CommitMode::Lazy || logging {
            txn.set_durability(redb::Durability::None)
                .map_err(engine_error)?;
        }
        if mode == CommitMode::Lazy
            && let Some(state) = log.as_mut()
        {
            state.lazy_since_checkpoint = true;
        }
        let changes = log
            .as_mut()
            .filter(|_| logging)
            .map(|state| Changes::reusing(std::mem::take(&mut state.buffer)));
        let (result, end, tokens_written, changes, checkpoint_to) = {
            let mut write = RedbWrite {
                txn: &txn,
                tables: Default::default(),
                tokens_written: Vec::new(),
                changes,
            };
            // On error the transaction is dropped here, which aborts it.
            let (result, end) = f(&mut write)?;
            let checkpoint_to = match (end, log.as_ref(), &write.changes) {
                (TxEnd::Commit, Some(state), Some(changes)) if state.needs_checkpoint(changes) => {
                    Some(state.log.anchor().next())
                }
                _ => None,
            };
            if let Some(anchor) = checkpoint_to {
                write.put_unlogged(Table::Meta, COMMIT_LOG_KEY, &anchor.encode())?;
            }
            (
                result,
                end,
                write.tokens_written,
                write.changes,
                checkpoint_to,
            )
        };
        match end {
            TxEnd::Commit => {
                // Write transactions are serialised, so this orders commits.
                let seq = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
                if checkpoint_to.is_some() {
                    txn.set_durability(redb::Durability::Immediate)
                        .map_err(engine_error)?;
                }
                match (log.as_mut(), changes) {
                    (Some(state), Some(changes)) => {
                        self.logged_commit(txn, state, changes, checkpoint_to)?;
                    }
                    _ => txn.commit().map_err(engine_error)?,
                }
                drop(log);
                let published = self.publish_after_commit(seq);
                // After the snapshot that no longer has them, before the
                // caller hears back (R13).
                if let (Some(told), false) = (self.token_writes.get(), tokens_written.is_empty()) {
                    told(Some(&tokens_written));
                }
                published?;
            }
            TxEnd::Abort => txn.abort().map_err(engine_error)?,
        }
        Ok(result)
    }

    /// A logged durable commit: the entry written and made durable, then
    /// redb's commit (without `fsync`), then the entry counted as part of
    /// the log. Or, for a checkpoint, redb's durable commit, then the log
    /// started again under the next epoch. A failure before redb's commit
    /// aborts it (the entry is not part of the log, and is overwritten by
    /// the next); a failed redb commit retracts the entry it wrote.
    fn logged_commit(
        &self,
        txn: redb::WriteTransaction,
        state: &mut LogState,
        mut changes: Changes,
        checkpoint_to: Option<Anchor>,
    ) -> Result<()> {
        if let Some(anchor) = checkpoint_to {
            state.buffer = changes.into_buffer();
            txn.commit().map_err(engine_error)?;
            state.lazy_since_checkpoint = false;
            state.oldest_entry = None;
            state.checkpoints += 1;
            // The commit is durable whatever happens to the header: a
            // reopen finds the file one epoch ahead of the log and starts it
            // again (see the table in design.md).
            if state.log.restart(anchor).is_err() {
                self.broken.store(true, Ordering::SeqCst);
            }
            return Ok(());
        }
        let written = state.log.write_next(&mut changes);
        state.buffer = changes.into_buffer();
        let len = match written {
            Ok(len) => len,
            Err(error) => {
                // Dropping `txn` aborts it. An entry whose `fsync` failed
                // may be on the disk whole: made no entry, if the disk lets.
                let _ = state.log.retract();
                return Err(error);
            }
        };
        if let Err(error) = txn.commit().map_err(engine_error) {
            if state.log.retract().is_ok() {
                return Err(error);
            }
            // The entry stays, durable: a crash before this process recovers
            // replays it; recovery here does not (it stops at the end this
            // process knows).
            self.broken.store(true, Ordering::SeqCst);
            return Err(Error::CommitOutcomeUnknown {
                source: Box::new(error),
            });
        }
        state.log.advance(len);
        state.oldest_entry.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Starts the commit log (for a file store, once its tables exist):
    /// replays what it holds since the last checkpoint, then checkpoints.
    pub(crate) fn start_commit_log(&self) -> Result<()> {
        let _writer = self.writer.lock();
        self.recover_log()
    }

    /// Recovery (see the table in `docs/design.md`, "Opening (recovery)"),
    /// under the write lock: the file's anchor and the log's header say
    /// whether the log's entries are to be replayed; then one durable redb
    /// commit applies them and names the next epoch, and the log starts
    /// again under it.
    fn recover_log(&self) -> Result<()> {
        let Some(open) = &self.log_opener else {
            return Ok(());
        };
        let mut slot = self.log.lock();
        let checkpoints = slot.as_ref().map_or(0, |state| state.checkpoints);
        // After a failure in this process: its entries end where the last
        // one made durable ended; one written after it that failed (which
        // may have reached the disk whole) is not part of the log.
        let known_end = slot
            .as_ref()
            .map(|state| (state.log.anchor(), state.log.end()));
        // The old handle goes first.
        *slot = None;
        let storage = open()?;
        let recorded = self.with_db(read_anchor)?;
        let header = commit_log::read_header(&*storage)?;
        let refuse = |reason: &str| Error::UnsafeFile {
            path: self.log_path(),
            reason: format!(
                "{reason}; move the commit log away to open the database file as it is \
                 (what it held at its last checkpoint)"
            ),
        };
        let replay = match (recorded, header) {
            // No durable commit named this log: nothing in it counts.
            (None, None) => None,
            (None, Some(_)) => return Err(refuse("belongs to another database")),
            (Some(file), Some(log)) if log == file => Some(file),
            (Some(file), Some(log)) if log.id == file.id && log.epoch + 1 == file.epoch => None,
            (Some(_), Some(_)) => {
                return Err(refuse(
                    "does not match the database file (an older copy of the file beside a \
                     newer log, or another database's log)",
                ));
            }
            (Some(_), None) => {
                #[cfg(feature = "tracing")]
                if storage.len().is_ok_and(|len| len == 0) {
                    tracing::warn!(
                        path = %self.log_path().display(),
                        "the commit log is missing; the database opens as of its last checkpoint"
                    );
                }
                None
            }
        };
        let next = if let Some(anchor) = recorded {
            anchor.next()
        } else {
            let mut id = [0u8; 16];
            crate::crypto::random::fill(&mut id)?;
            Anchor { id, epoch: 1 }
        };
        let mut replayed = 0u64;
        self.with_db(|db| {
            let txn = db.begin_write().map_err(engine_error)?;
            {
                let mut write = RedbWrite {
                    txn: &txn,
                    tables: Default::default(),
                    tokens_written: Vec::new(),
                    changes: None,
                };
                if let Some(anchor) = replay {
                    let limit = known_end
                        .filter(|(known, _)| *known == anchor)
                        .map(|(_, end)| end);
                    let (_, next_seq) =
                        commit_log::read_entries(&*storage, anchor.epoch, limit, |change| {
                            match change {
                                commit_log::Change::Put { table, key, value } => {
                                    write.put(table, key, value)
                                }
                                commit_log::Change::Delete { table, key } => {
                                    write.delete(table, key)
                                }
                            }
                        })?;
                    replayed = next_seq - 1;
                }
                write.put_unlogged(Table::Meta, COMMIT_LOG_KEY, &next.encode())?;
            }
            txn.commit().map_err(engine_error)
        })?;
        let log = CommitLog::start(storage, next)?;
        *slot = Some(LogState {
            log,
            lazy_since_checkpoint: false,
            oldest_entry: None,
            buffer: Vec::new(),
            checkpoints: checkpoints + 1,
            replayed,
        });
        drop(slot);
        self.snapshot.store(None);
        Ok(())
    }

    /// The commit log's path, for messages.
    fn log_path(&self) -> PathBuf {
        let mut name = self
            .path
            .as_deref()
            .map_or_else(|| "host storage".into(), |path| path.as_os_str().to_owned());
        name.push(".commitlog");
        name.into()
    }

    /// Makes what the log holds durable in the file now, if there is a log:
    /// an empty durable commit is a checkpoint.
    fn checkpoint_now(&self) -> Result<()> {
        if self.log.lock().is_none() {
            return Ok(());
        }
        self.write(CommitMode::Durable, |_| Ok(((), TxEnd::Commit)))
    }

    /// What the commit log did since the store opened; `None` without one.
    pub fn commit_log_stats(&self) -> Option<CommitLogStats> {
        self.log.lock().as_ref().map(|state| CommitLogStats {
            entry_bytes: state.log.entry_bytes(),
            checkpoints: state.checkpoints,
            replayed_at_open: state.replayed,
        })
    }
}

/// What the commit log did (see [`RedbBackend::commit_log_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CommitLogStats {
    /// Bytes of entries written since the last checkpoint.
    pub entry_bytes: u64,
    /// Checkpoints made since the store opened (the one at open included).
    pub checkpoints: u64,
    /// Entries the last opening (or reopening after an I/O error) replayed.
    pub replayed_at_open: u64,
}

impl LogState {
    /// Whether a durable commit of `changes` must be a checkpoint rather
    /// than a log entry.
    fn needs_checkpoint(&self, changes: &Changes) -> bool {
        changes.is_empty()
            || changes.overflowed()
            || self.lazy_since_checkpoint
            || self.log.entry_bytes() >= MAX_LOG_BYTES
    }

    /// Whether the checkpoint thread should checkpoint.
    fn checkpoint_due(&self, interval: Duration) -> bool {
        self.log.entry_bytes() >= CHECKPOINT_BYTES
            || self
                .oldest_entry
                .is_some_and(|oldest| oldest.elapsed() >= interval)
    }
}

/// The commit log's anchor the database file records, if any.
fn read_anchor(db: &Database) -> Result<Option<Anchor>> {
    let txn = db.begin_read().map_err(engine_error)?;
    let table = match txn.open_table(definition(Table::Meta)) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(other) => return Err(table_error(other)),
    };
    let Some(value) = table.get(COMMIT_LOG_KEY).map_err(engine_error)? else {
        return Ok(None);
    };
    Anchor::decode(value.value())
        .map(Some)
        .ok_or_else(|| Error::Storage {
            source: "the database file's commit log anchor is damaged".into(),
        })
}

/// A boxed [`StorageBackend`] handed to redb, which wants a sized one.
#[derive(Debug)]
struct BoxedStorage(Box<dyn StorageBackend>);

impl StorageBackend for BoxedStorage {
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.write(offset, data)
    }
    fn close(&self) -> std::io::Result<()> {
        self.0.close()
    }
    fn try_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<bool, BackendError> {
        self.0.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<bool, BackendError> {
        self.0.try_lock_shared_range(start, end)
    }
    fn lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<(), BackendError> {
        self.0.lock_range(start, end)
    }
    fn lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<(), BackendError> {
        self.0.lock_shared_range(start, end)
    }
    fn unlock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<(), BackendError> {
        self.0.unlock_range(start, end)
    }
    fn query_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> std::result::Result<bool, BackendError> {
        self.0.query_lock_range(start, end)
    }
}

/// A redb error, typed: an I/O error by its kind (a full disk is
/// [`Error::DiskFull`]), anything else as the engine's own error.
fn engine_error(error: impl Into<redb::Error>) -> Error {
    match error.into() {
        redb::Error::Io(io) => Error::io(io),
        redb::Error::PreviousIo => Error::Io {
            kind: std::io::ErrorKind::Other,
            source: "an earlier I/O error; the database must be reopened".into(),
        },
        other => Error::storage(other),
    }
}

fn database_error(error: DatabaseError) -> Error {
    match error {
        DatabaseError::DatabaseAlreadyOpen => Error::DatabaseInUse,
        DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            Error::NotAGrantdbDatabase
        }
        other => engine_error(other),
    }
}

fn table_error(error: TableError) -> Error {
    match error {
        // A table of ours with other key or value types: another program's file.
        TableError::TableTypeMismatch { .. } | TableError::TableIsMultimap(_) => {
            Error::NotAGrantdbDatabase
        }
        TableError::TableDoesNotExist(_) => Error::NotAGrantdbDatabase,
        other => engine_error(other),
    }
}

/// A read snapshot; tables are opened on first use and kept for the transaction.
pub struct RedbRead {
    txn: redb::ReadTransaction,
    tables: [OnceLock<ReadOnlyTable<Bytes, Bytes>>; Table::COUNT],
}

impl RedbRead {
    fn begin(db: &Database) -> Result<RedbRead> {
        Ok(RedbRead {
            txn: db.begin_read().map_err(engine_error)?,
            tables: Default::default(),
        })
    }

    fn table(&self, table: Table) -> Result<&ReadOnlyTable<Bytes, Bytes>> {
        let cell = &self.tables[table.index()];
        if cell.get().is_none() {
            let opened = self
                .txn
                .open_table(definition(table))
                .map_err(table_error)?;
            // The cell is empty (checked above) and only this thread holds it.
            let _ = cell.set(opened);
        }
        cell.get().ok_or(Error::NotAGrantdbDatabase)
    }
}

/// A write transaction; tables are opened on first use.
pub struct RedbWrite<'t> {
    txn: &'t redb::WriteTransaction,
    tables: [OnceCell<redb::Table<'t, Bytes, Bytes>>; Table::COUNT],
    /// The token records this transaction wrote or removed.
    tokens_written: Vec<[u8; 16]>,
    /// The changes, for the commit log's entry (a logged durable commit).
    changes: Option<Changes>,
}

impl<'t> RedbWrite<'t> {
    fn open(&self, table: Table) -> Result<()> {
        let cell = &self.tables[table.index()];
        if cell.get().is_none() {
            let opened = self
                .txn
                .open_table(definition(table))
                .map_err(table_error)?;
            let _ = cell.set(opened);
        }
        Ok(())
    }

    fn table(&self, table: Table) -> Result<&redb::Table<'t, Bytes, Bytes>> {
        self.open(table)?;
        self.tables[table.index()]
            .get()
            .ok_or(Error::NotAGrantdbDatabase)
    }

    fn table_mut(&mut self, table: Table) -> Result<&mut redb::Table<'t, Bytes, Bytes>> {
        self.open(table)?;
        self.tables[table.index()]
            .get_mut()
            .ok_or(Error::NotAGrantdbDatabase)
    }
}

fn get_in<R, T: ReadableTable<Bytes, Bytes>>(
    table: &T,
    key: &[u8],
    read: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>> {
    let guard = table.get(key).map_err(engine_error)?;
    Ok(guard.map(|value| read(value.value())))
}

fn scan_in<T: ReadableTable<Bytes, Bytes>>(
    table: &T,
    range: &KeyRange,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let bounds = range.as_slices();
    for entry in table.range::<&[u8]>(bounds).map_err(engine_error)? {
        let (key, value) = entry.map_err(engine_error)?;
        if visit(key.value(), value.value())?.is_break() {
            break;
        }
    }
    Ok(())
}

impl KvRead for RedbRead {
    fn get<R>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        get_in(self.table(table)?, key, read)
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        scan_in(self.table(table)?, range, visit)
    }
}

impl KvRead for RedbWrite<'_> {
    fn get<R>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        get_in(self.table(table)?, key, read)
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        scan_in(self.table(table)?, range, visit)
    }
}

impl KvWrite for RedbWrite<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.note_token(table, key);
        if let Some(changes) = &mut self.changes {
            changes.put(table, key, value);
        }
        self.put_unlogged(table, key, value)
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.note_token(table, key);
        if let Some(changes) = &mut self.changes {
            changes.delete(table, key);
        }
        self.table_mut(table)?.remove(key).map_err(engine_error)?;
        Ok(())
    }
}

impl RedbWrite<'_> {
    /// A put the commit log does not record (the log's own anchor).
    fn put_unlogged(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.table_mut(table)?
            .insert(key, value)
            .map_err(engine_error)?;
        Ok(())
    }

    /// Notes a write of a token record, for the hot-token cache.
    fn note_token(&mut self, table: Table, key: &[u8]) {
        if table == Table::Tokens
            && let Ok(id) = <[u8; 16]>::try_from(key)
        {
            self.tokens_written.push(id);
        }
    }
}

impl Backend for RedbBackend {
    type Read<'a> = RedbRead;
    type Write<'a> = RedbWrite<'a>;

    fn watch_token_writes(&self, told: super::TokenWrites) -> bool {
        self.token_writes.set(told).is_ok()
    }

    fn read<R>(&self, f: impl FnOnce(&RedbRead) -> Result<R>) -> Result<R> {
        let result = self.with_snapshot(|snapshot| f(&snapshot.read))?;
        if let Err(error) = &result {
            self.note_failure(error);
        }
        result
    }

    fn write<R>(
        &self,
        mode: CommitMode,
        f: impl FnMut(&mut RedbWrite<'_>) -> Result<(R, TxEnd)>,
    ) -> Result<R> {
        let _writer = self.writer.lock();
        self.reopen_if_broken()?;
        let result = self.write_once(mode, f);
        if let Err(error) = &result {
            self.note_failure(error);
        }
        result
    }

    fn local_lookups(&self) -> bool {
        true
    }

    fn may_grow(&self) -> bool {
        self.reserve.as_ref().is_none_or(Reserve::restore)
    }

    fn storage_warning(&self) -> Option<crate::model::operator::StorageWarning> {
        self.reserve.as_ref().and_then(Reserve::warning)
    }

    fn verify_own_files(&self) -> Result<Vec<crate::model::operator::Problem>> {
        let _writer = self.writer.lock();
        let log = self.log.lock();
        let Some(state) = log.as_ref() else {
            return Ok(Vec::new());
        };
        let mut problems = Vec::new();
        let mut problem = |what: String| {
            problems.push(crate::model::operator::Problem {
                table: Table::Meta,
                key: base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    COMMIT_LOG_KEY,
                ),
                what,
            });
        };
        let anchor = state.log.anchor();
        if state.log.header()? != Some(anchor) {
            problem("the commit log's header does not name its epoch".to_owned());
        }
        if self.with_db(read_anchor)? != Some(anchor) {
            problem("the database file names another commit log or epoch".to_owned());
        }
        // The value the last entry wrote for each key it names.
        let mut latest: std::collections::BTreeMap<(usize, Vec<u8>), Option<Vec<u8>>> =
            std::collections::BTreeMap::new();
        let (end, _) = state.log.entries(|change| {
            let (table, key, value) = match change {
                commit_log::Change::Put { table, key, value } => (table, key, Some(value.to_vec())),
                commit_log::Change::Delete { table, key } => (table, key, None),
            };
            latest.insert((table.index(), key.to_vec()), value);
            Ok(())
        })?;
        if end != commit_log::HEADER_BYTES + state.log.entry_bytes() {
            problem(format!(
                "the commit log's entries end at byte {end}, not where its last entry was written"
            ));
        }
        // A lazy commit since the checkpoint may have changed what an entry
        // wrote: then the file is ahead of the log, as it may be.
        if !state.lazy_since_checkpoint {
            let read = self.with_db(RedbRead::begin)?;
            for ((table, key), value) in &latest {
                let table = Table::ALL[*table];
                let stored = read.get(table, key, <[u8]>::to_vec)?;
                if stored != *value {
                    problem(format!(
                        "the file's {} entry differs from what the commit log's last entry wrote",
                        table.name()
                    ));
                }
            }
        }
        Ok(problems)
    }

    fn checkpoint_every(&self) -> Option<Duration> {
        self.log_opener
            .is_some()
            .then(|| (self.checkpoint_interval / 4).max(Duration::from_millis(1)))
    }

    fn checkpoint(&self) -> Result<()> {
        let due = self
            .log
            .lock()
            .as_ref()
            .is_some_and(|state| state.checkpoint_due(self.checkpoint_interval));
        if !due {
            return Ok(());
        }
        // The pages the checkpoint makes durable are mostly in the page
        // cache: write them out before taking the write lock, so that the
        // checkpoint's own `fsync` (under it) has little left to do. A
        // failure here is met again, and reported, by the commit.
        if let Some(file) = self.file_handle.lock().as_ref() {
            let _ = file.sync_data();
        }
        self.checkpoint_now()
    }
}

impl Drop for RedbBackend {
    fn drop(&mut self) {
        // A clean close leaves the database complete in its file alone.
        if !self.broken.load(Ordering::SeqCst) {
            let _ = self.checkpoint_now();
        }
    }
}
