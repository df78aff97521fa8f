//! The narrow transactional key-value seam between the lifecycle rules and the
//! storage engine.
//!
//! The lifecycle rules (`src/ops/`) see only byte keys and byte values in a fixed set
//! of [`Table`]s, read through [`KvRead`] and written through [`KvWrite`] inside
//! one transaction. A [`Backend`] opens those transactions. Everything is
//! generic, not dynamic: the embedded redb path is monomorphised and pays
//! nothing for the seam, and another engine (for a fleet of servers sharing one
//! store) can be added by implementing three traits.

use std::ops::{Bound, ControlFlow};

use crate::error::Result;

pub(crate) mod commit_log;
pub(crate) mod files;
pub mod overlay;
#[cfg(feature = "postgres")]
mod pg_tls;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
pub mod redb;
mod reserve;
pub(crate) mod table;

pub use table::Table;

/// The meta key of an embedded file's commit log anchor, written by every
/// checkpoint (`kv/redb.rs`): the backend's own, neither exported nor
/// imported (a copy elsewhere has a log of its own).
pub(crate) const COMMIT_LOG_KEY: &[u8] = b"commit_log";

/// A range of keys: `[start, end)` style bounds over byte strings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRange {
    /// Lower bound.
    pub start: Bound<Vec<u8>>,
    /// Upper bound.
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange {
            start: Bound::Included(prefix.to_vec()),
            end: prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded),
        }
    }

    /// Keys that start with `prefix` and sort after `after` (for paging).
    pub fn prefix_after(prefix: &[u8], after: &[u8]) -> KeyRange {
        KeyRange {
            start: Bound::Excluded(after.to_vec()),
            end: prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded),
        }
    }

    /// Keys strictly below `end`.
    pub fn below(end: &[u8]) -> KeyRange {
        KeyRange {
            start: Bound::Unbounded,
            end: Bound::Excluded(end.to_vec()),
        }
    }

    /// Keys at or above `start`.
    pub fn at_or_after(start: &[u8]) -> KeyRange {
        KeyRange {
            start: Bound::Included(start.to_vec()),
            end: Bound::Unbounded,
        }
    }

    /// Every key.
    pub fn all() -> KeyRange {
        KeyRange {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let above_start = match &self.start {
            Bound::Included(start) => key >= start.as_slice(),
            Bound::Excluded(start) => key > start.as_slice(),
            Bound::Unbounded => true,
        };
        let below_end = match &self.end {
            Bound::Included(end) => key <= end.as_slice(),
            Bound::Excluded(end) => key < end.as_slice(),
            Bound::Unbounded => true,
        };
        above_start && below_end
    }

    /// The bounds as borrowed slices.
    pub fn as_slices(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (as_slice_bound(&self.start), as_slice_bound(&self.end))
    }
}

fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The smallest key greater than every key starting with `prefix`, if any.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Reads inside one transaction.
pub trait KvRead {
    /// Looks up `key` and hands its value to `read`; `None` when absent.
    fn get<R>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>>;

    /// Visits the entries of `range` in key order until `visit` breaks.
    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
    ) -> Result<()>;

    /// A hint that `keys` of `table` will be read soon: a networked backend
    /// fetches them in one round trip. Embedded backends ignore it.
    fn prefetch(&self, table: Table, keys: &[Vec<u8>]) -> Result<()> {
        let _ = (table, keys);
        Ok(())
    }

    /// A hint that the keys of `table` starting with each of `prefixes`
    /// will be scanned soon (`KeyRange::prefix`): a networked backend
    /// fetches them all in one round trip. Embedded backends ignore it.
    fn prefetch_prefixes(&self, table: Table, prefixes: &[Vec<u8>]) -> Result<()> {
        let _ = (table, prefixes);
        Ok(())
    }

    /// Whether [`KvRead::prefetch`] saves anything, so that callers know a
    /// pre-pass to gather keys is worth its reads.
    fn batches_reads(&self) -> bool {
        false
    }

    /// The database server's clock (Unix seconds) as this transaction saw it,
    /// for a backend whose nodes take their time from the database; `None`
    /// (the store uses its configured clock) otherwise.
    fn database_time(&self) -> Option<u64> {
        None
    }
}

/// Writes inside one transaction; reads see the transaction's own writes.
pub trait KvWrite: KvRead {
    /// Inserts or replaces `key`.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key` if present.
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()>;
}

impl<R: KvRead> KvRead for &R {
    fn get<T>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> T) -> Result<Option<T>> {
        (**self).get(table, key, read)
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        (**self).scan(table, range, visit)
    }

    fn prefetch(&self, table: Table, keys: &[Vec<u8>]) -> Result<()> {
        (**self).prefetch(table, keys)
    }

    fn prefetch_prefixes(&self, table: Table, prefixes: &[Vec<u8>]) -> Result<()> {
        (**self).prefetch_prefixes(table, prefixes)
    }

    fn batches_reads(&self) -> bool {
        (**self).batches_reads()
    }

    fn database_time(&self) -> Option<u64> {
        (**self).database_time()
    }
}

impl<R: KvRead> KvRead for &mut R {
    fn get<T>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> T) -> Result<Option<T>> {
        (**self).get(table, key, read)
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        (**self).scan(table, range, visit)
    }

    fn prefetch(&self, table: Table, keys: &[Vec<u8>]) -> Result<()> {
        (**self).prefetch(table, keys)
    }

    fn prefetch_prefixes(&self, table: Table, prefixes: &[Vec<u8>]) -> Result<()> {
        (**self).prefetch_prefixes(table, prefixes)
    }

    fn batches_reads(&self) -> bool {
        (**self).batches_reads()
    }

    fn database_time(&self) -> Option<u64> {
        (**self).database_time()
    }
}

impl<W: KvWrite> KvWrite for &mut W {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        (**self).put(table, key, value)
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        (**self).delete(table, key)
    }
}

/// How a write transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxEnd {
    /// Make the writes permanent.
    Commit,
    /// Discard every write.
    Abort,
}

/// Whether a commit must reach stable storage before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitMode {
    /// fsync before returning.
    Durable,
    /// Visible at once, made durable by a later durable commit or a clean close.
    Lazy,
}

/// How a write transaction is isolated from concurrent writers, on an engine
/// that several processes or nodes write to at once. (An embedded engine
/// runs one write transaction at a time: every transaction is serial there,
/// whatever it asks for.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Isolation {
    /// As if the transactions ran alone, one after another.
    #[default]
    Serializable,
    /// Every row whose value decides the transaction's outcome is a row it
    /// also writes, and every writer that could change that outcome writes
    /// one of those rows too: an engine may run it on row locks alone (first
    /// updater wins: a row changed since its snapshot aborts it, to be run
    /// again) instead of predicate locks, so that transactions writing
    /// disjoint rows never conflict.
    RowLocks,
}

impl Isolation {
    /// The isolation a transaction carrying operations that ask for each of
    /// `asked` needs: row locks only when every one of them is content with
    /// them.
    pub fn of_all(asked: impl IntoIterator<Item = Isolation>) -> Isolation {
        if asked.into_iter().all(|i| i == Isolation::RowLocks) {
            Isolation::RowLocks
        } else {
            Isolation::Serializable
        }
    }
}

/// What a backend calls after each commit with the token keys it wrote
/// (`None`: anything may have changed, the database was reopened).
pub type TokenWrites = std::sync::Arc<dyn Fn(Option<&[[u8; 16]]>) + Send + Sync>;

/// What a backend calls when the change feed grew elsewhere.
pub type FeedWatcher = std::sync::Arc<dyn Fn() + Send + Sync>;

/// A storage engine: hands out read and write transactions.
pub trait Backend: Send + Sync + 'static {
    /// A read transaction: one consistent snapshot.
    type Read<'a>: KvRead
    where
        Self: 'a;
    /// A write transaction: serialised with every other writer.
    type Write<'a>: KvWrite
    where
        Self: 'a;

    /// Runs `f` in a read transaction.
    fn read<R>(&self, f: impl FnOnce(&Self::Read<'_>) -> Result<R>) -> Result<R>;

    /// Runs `f`, which reads one key, as cheaply as the engine allows (a
    /// networked engine: one round trip, no transaction).
    fn read_single<R>(&self, f: impl FnOnce(&Self::Read<'_>) -> Result<R>) -> Result<R> {
        self.read(f)
    }

    /// Whether a single-key read ([`Backend::read_single`]) is a lookup in
    /// this process (an embedded engine's page cache, at worst one page read
    /// from the file), not a round trip to a server: an async host may then
    /// run it on the task that asks. Default false.
    fn local_lookups(&self) -> bool {
        false
    }

    /// Whether the store may keep a generated hashing key in this engine. A
    /// shared database should not, unless its operator opted in.
    fn allows_generated_key(&self) -> bool {
        true
    }

    /// Whether the store records its time high-water mark in this database,
    /// so that its time never runs backwards across restarts (see
    /// `docs/design.md`, "Time"). An embedded database does; a shared one,
    /// whose nodes take the database server's clock, does not.
    fn records_time_high_water(&self) -> bool {
        true
    }

    /// Whether operations that grow the database may run. After a full disk
    /// an embedded store keeps the space it freed (its reserve) for the
    /// operations that free space, until the disk has room again (see
    /// `docs/design.md`, "Failures").
    fn may_grow(&self) -> bool {
        true
    }

    /// A storage condition an operator should fix, if any (a disk reserve
    /// smaller than configured).
    fn storage_warning(&self) -> Option<crate::model::operator::StorageWarning> {
        None
    }

    /// Calls `told` after every commit with the token records it wrote,
    /// after the snapshot readers see has them and before the writer hears
    /// back, so that a cache of decoded tokens can stay exact (R13).
    /// Answers whether it will: a backend other processes or nodes write
    /// to cannot (the default), and then nothing is cached.
    fn watch_token_writes(&self, told: TokenWrites) -> bool {
        let _ = told;
        false
    }

    /// Calls `on_change` whenever another process or node appended to the
    /// change feed (R33), from now on; called again, it keeps the first
    /// watch. An embedded engine has no other writer: nothing to watch.
    fn watch_feed(&self, on_change: FeedWatcher) -> Result<()> {
        let _ = on_change;
        Ok(())
    }

    /// How often the store's background thread should call
    /// [`Backend::checkpoint`]; `None` (the default): the engine has no
    /// commit log to checkpoint.
    fn checkpoint_every(&self) -> Option<std::time::Duration> {
        None
    }

    /// Makes what the engine's commit log holds durable in its main file, if
    /// that is due (the log is large, or its oldest entry old). Default:
    /// nothing to do.
    fn checkpoint(&self) -> Result<()> {
        Ok(())
    }

    /// Checks the engine's own files beside the tables (an embedded file's
    /// commit log against the file), for `verify`. Default: none.
    fn verify_own_files(&self) -> Result<Vec<crate::model::operator::Problem>> {
        Ok(Vec::new())
    }

    /// Runs `f` in a write transaction and commits or aborts as it says.
    ///
    /// `f` may be called more than once if the engine retries a transaction
    /// that conflicted with another; each call starts from a fresh snapshot.
    fn write<R>(
        &self,
        mode: CommitMode,
        f: impl FnMut(&mut Self::Write<'_>) -> Result<(R, TxEnd)>,
    ) -> Result<R>;

    /// [`Backend::write`], isolated from concurrent writers as `isolation`
    /// says. Default: [`Backend::write`], which is serializable.
    fn write_isolated<R>(
        &self,
        mode: CommitMode,
        isolation: Isolation,
        f: impl FnMut(&mut Self::Write<'_>) -> Result<(R, TxEnd)>,
    ) -> Result<R> {
        let _ = isolation;
        self.write(mode, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        let range = KeyRange::prefix(&[1, 255]);
        assert!(range.contains(&[1, 255]));
        assert!(range.contains(&[1, 255, 0]));
        assert!(!range.contains(&[2]));
        assert!(!range.contains(&[1, 254, 9]));
        assert_eq!(KeyRange::prefix(&[255, 255]).end, Bound::Unbounded);
        let after = KeyRange::prefix_after(&[1], &[1, 5]);
        assert!(!after.contains(&[1, 5]));
        assert!(after.contains(&[1, 6]));
        assert!(!after.contains(&[2]));
    }
}
