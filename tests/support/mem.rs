//! A second [`Backend`]: plain `BTreeMap`s behind a lock, counting every read.
//!
//! It shows the key-value seam is enough to run every rule, and it lets tests
//! observe what the rules read (R02: malformed tokens read nothing; R14: purge
//! reads only what is due) and damage stored values on purpose (R20).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use grantdb::Result;
use grantdb::kv::{Backend, CommitMode, KeyRange, KvRead, KvWrite, Table, TxEnd};
use parking_lot::{Mutex, RwLock};

type Tables = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

/// How many reads of each kind the backend served.
#[derive(Debug, Default)]
pub struct Counters {
    pub gets: AtomicU64,
    /// Entries visited by scans, per table.
    pub scanned: [AtomicU64; Table::COUNT],
    /// Write transactions committed.
    pub commits: AtomicU64,
    /// The most grant records one committed transaction deleted.
    pub most_grants_deleted: AtomicU64,
}

#[derive(Clone)]
pub struct MemBackend {
    tables: Arc<RwLock<Tables>>,
    writer: Arc<Mutex<()>>,
    pub counters: Arc<Counters>,
}

impl Default for MemBackend {
    fn default() -> Self {
        MemBackend {
            tables: Arc::new(RwLock::new(vec![BTreeMap::new(); Table::ALL.len()])),
            writer: Arc::new(Mutex::new(())),
            counters: Arc::new(Counters::default()),
        }
    }
}

fn index(table: Table) -> usize {
    Table::ALL.iter().position(|t| *t == table).unwrap_or(0)
}

impl MemBackend {
    pub fn gets(&self) -> u64 {
        self.counters.gets.load(Ordering::SeqCst)
    }

    pub fn commits(&self) -> u64 {
        self.counters.commits.load(Ordering::SeqCst)
    }

    /// The most grant records one committed transaction deleted.
    pub fn most_grants_deleted(&self) -> u64 {
        self.counters.most_grants_deleted.load(Ordering::SeqCst)
    }

    pub fn scanned(&self, table: Table) -> u64 {
        self.counters.scanned[index(table)].load(Ordering::SeqCst)
    }

    /// Every key and value of a table.
    pub fn entries(&self, table: Table) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.tables.read()[index(table)]
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Deletes an entry, bypassing grantdb (to simulate damage).
    pub fn remove(&self, table: Table, key: &[u8]) {
        self.tables.write()[index(table)].remove(key);
    }

    /// Overwrites a stored value, bypassing grantdb (to simulate damage).
    pub fn poke(&self, table: Table, key: &[u8], value: Vec<u8>) {
        self.tables.write()[index(table)].insert(key.to_vec(), value);
    }
}

pub struct MemTxn {
    tables: Tables,
    counters: Arc<Counters>,
    /// Grant records this transaction deleted.
    grants_deleted: u64,
}

impl KvRead for MemTxn {
    fn get<R>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.counters.gets.fetch_add(1, Ordering::SeqCst);
        Ok(self.tables[index(table)].get(key).map(|value| read(value)))
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        for (key, value) in self.tables[index(table)].range::<[u8], _>(range.as_slices()) {
            self.counters.scanned[index(table)].fetch_add(1, Ordering::SeqCst);
            if visit(key, value)?.is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl KvWrite for MemTxn {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.tables[index(table)].insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        if self.tables[index(table)].remove(key).is_some() && table == Table::Grants {
            self.grants_deleted += 1;
        }
        Ok(())
    }
}

impl Backend for MemBackend {
    type Read<'a> = MemTxn;
    type Write<'a> = MemTxn;

    fn read<R>(&self, f: impl FnOnce(&MemTxn) -> Result<R>) -> Result<R> {
        let snapshot = MemTxn {
            tables: self.tables.read().clone(),
            counters: Arc::clone(&self.counters),
            grants_deleted: 0,
        };
        f(&snapshot)
    }

    fn write<R>(
        &self,
        _mode: CommitMode,
        mut f: impl FnMut(&mut MemTxn) -> Result<(R, TxEnd)>,
    ) -> Result<R> {
        let _writer = self.writer.lock();
        let mut txn = MemTxn {
            tables: self.tables.read().clone(),
            counters: Arc::clone(&self.counters),
            grants_deleted: 0,
        };
        let (result, end) = f(&mut txn)?;
        if end == TxEnd::Commit {
            *self.tables.write() = txn.tables;
            self.counters.commits.fetch_add(1, Ordering::SeqCst);
            self.counters
                .most_grants_deleted
                .fetch_max(txn.grants_deleted, Ordering::SeqCst);
        }
        Ok(result)
    }
}
