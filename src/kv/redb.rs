//! The embedded backend: every grantdb table is a redb table of byte keys and
//! byte values. This is the only module that names redb types.

use std::cell::OnceCell;
use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use parking_lot::{Mutex, RwLock};
use redb::{
    BackendError, Database, DatabaseError, ReadOnlyTable, ReadableDatabase, ReadableTable,
    StorageBackend, TableDefinition, TableError,
};

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
        let on_file = move |file: std::fs::File| {
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

    /// One write transaction on the open database.
    fn write_once<R>(
        &self,
        mode: CommitMode,
        f: impl FnOnce(&mut RedbWrite<'_>) -> Result<(R, TxEnd)>,
    ) -> Result<R> {
        let mut txn = self.with_db(|db| db.begin_write().map_err(engine_error))?;
        if mode == CommitMode::Lazy {
            txn.set_durability(redb::Durability::None)
                .map_err(engine_error)?;
        }
        let (result, end, tokens_written) = {
            let mut write = RedbWrite {
                txn: &txn,
                tables: Default::default(),
                tokens_written: Vec::new(),
            };
            // On error the transaction is dropped here, which aborts it.
            let (result, end) = f(&mut write)?;
            (result, end, write.tokens_written)
        };
        match end {
            TxEnd::Commit => {
                // Write transactions are serialised, so this orders commits.
                let seq = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
                txn.commit().map_err(engine_error)?;
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
        self.table_mut(table)?
            .insert(key, value)
            .map_err(engine_error)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.note_token(table, key);
        self.table_mut(table)?.remove(key).map_err(engine_error)?;
        Ok(())
    }
}

impl RedbWrite<'_> {
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
}
