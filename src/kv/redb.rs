//! The embedded backend: every grantdb table is a redb table of byte keys and
//! byte values. This is the only module that names redb types.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use std::ops::ControlFlow;
use std::path::Path;

use redb::{
    Database, DatabaseError, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition,
    TableError,
};

use super::{Backend, CommitMode, KeyRange, KvRead, KvWrite, Table, TxEnd};
use crate::error::{Error, Result};

type Bytes = &'static [u8];

/// The redb table behind each [`Table`], in [`Table::ALL`] order.
const DEFINITIONS: [TableDefinition<Bytes, Bytes>; 10] = [
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
pub struct RedbBackend {
    db: Database,
    path: Option<std::path::PathBuf>,
    /// Sequence number of the last committed write transaction.
    commits: AtomicU64,
    /// `None` until the first read, and while compacting.
    snapshot: RwLock<Option<Arc<Snapshot>>>,
}

/// A read transaction as of commit `seq`, shared by concurrent readers.
struct Snapshot {
    seq: u64,
    read: RedbRead,
}

/// How the database file's space is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
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
#[derive(Debug, Clone, Copy)]
pub(crate) enum Location<'a> {
    File(&'a Path),
    Memory,
}

impl RedbBackend {
    /// Opens (or creates) the database and makes sure every table exists.
    pub(crate) fn open(
        location: Location<'_>,
        cache_bytes: usize,
        check_integrity: bool,
    ) -> Result<RedbBackend> {
        let mut builder = Database::builder();
        builder.set_cache_size(cache_bytes);
        // Without this, redb trusts a file that was closed cleanly and may
        // panic on damage done outside it; with it, every page checksum is
        // verified at open and damage is an error.
        builder.set_check_integrity_on_open(check_integrity);
        let db = match location {
            Location::File(path) => builder.create(path),
            Location::Memory => builder.create_with_backend(redb::backends::InMemoryBackend::new()),
        }
        .map_err(database_error)?;
        let path = match location {
            Location::File(path) => Some(path.to_path_buf()),
            Location::Memory => None,
        };
        Ok(RedbBackend {
            db,
            path,
            commits: AtomicU64::new(0),
            snapshot: RwLock::new(None),
        })
    }

    /// Publishes a snapshot taken after commit `seq` has completed, unless one
    /// taken after a later commit is already published. (A snapshot a reader
    /// published with the same number may predate the commit, so it is
    /// replaced.)
    fn publish_after_commit(&self, seq: u64) -> Result<()> {
        let read = RedbRead::begin(&self.db)?;
        let mut current = self.snapshot.write();
        if current.as_ref().is_none_or(|current| current.seq <= seq) {
            *current = Some(Arc::new(Snapshot { seq, read }));
        }
        Ok(())
    }

    /// The published snapshot, taking one if none is.
    fn snapshot(&self) -> Result<Arc<Snapshot>> {
        if let Some(snapshot) = self.snapshot.read().as_ref() {
            return Ok(Arc::clone(snapshot));
        }
        let seq = self.commits.load(Ordering::SeqCst);
        let fresh = Arc::new(Snapshot {
            seq,
            read: RedbRead::begin(&self.db)?,
        });
        let mut current = self.snapshot.write();
        Ok(Arc::clone(current.get_or_insert(fresh)))
    }

    /// How the file's space is used.
    pub fn space(&self) -> Result<SpaceStats> {
        let txn = self.db.begin_write().map_err(engine_error)?;
        let stats = txn.stats().map_err(engine_error)?;
        txn.abort().map_err(engine_error)?;
        let page = stats.page_size() as u64;
        let file_bytes = match &self.path {
            Some(path) => std::fs::metadata(path).map_err(engine_error)?.len(),
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
        *self.snapshot.get_mut() = None;
        while self.db.compact().map_err(engine_error)? {}
        Ok(())
    }

    /// Whether the file holds tables that grantdb did not create, and no grantdb
    /// meta table: then another program wrote it.
    pub(crate) fn is_foreign(&self) -> Result<bool> {
        let txn = self.db.begin_read().map_err(engine_error)?;
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
    }

    /// Creates any missing grantdb table.
    pub(crate) fn create_tables(&self) -> Result<()> {
        let txn = self.db.begin_write().map_err(engine_error)?;
        for table in Table::ALL {
            txn.open_table(definition(table)).map_err(table_error)?;
        }
        txn.commit().map_err(engine_error)
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
    tables: [OnceLock<ReadOnlyTable<Bytes, Bytes>>; 10],
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
    tables: [OnceCell<redb::Table<'t, Bytes, Bytes>>; 10],
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
        self.table_mut(table)?
            .insert(key, value)
            .map_err(engine_error)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.table_mut(table)?.remove(key).map_err(engine_error)?;
        Ok(())
    }
}

impl Backend for RedbBackend {
    type Read<'a> = RedbRead;
    type Write<'a> = RedbWrite<'a>;

    fn read<R>(&self, f: impl FnOnce(&RedbRead) -> Result<R>) -> Result<R> {
        f(&self.snapshot()?.read)
    }

    fn write<R>(
        &self,
        mode: CommitMode,
        mut f: impl FnMut(&mut RedbWrite<'_>) -> Result<(R, TxEnd)>,
    ) -> Result<R> {
        let mut txn = self.db.begin_write().map_err(engine_error)?;
        if mode == CommitMode::Lazy {
            txn.set_durability(redb::Durability::None)
                .map_err(engine_error)?;
        }
        let (result, end) = {
            let mut write = RedbWrite {
                txn: &txn,
                tables: Default::default(),
            };
            // On error the transaction is dropped here, which aborts it.
            f(&mut write)?
        };
        match end {
            TxEnd::Commit => {
                // Write transactions are serialised, so this orders commits.
                let seq = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
                txn.commit().map_err(engine_error)?;
                self.publish_after_commit(seq)?;
            }
            TxEnd::Abort => txn.abort().map_err(engine_error)?,
        }
        Ok(result)
    }
}
