//! The commit log's file format: a header, then entries appended in commit
//! order, each the puts and deletes of one durable write transaction (see
//! `docs/design.md`, "The commit log"). This module reads and writes the
//! file; when to append, replay and checkpoint is the embedded backend's
//! business (`kv/redb.rs`).
//!
//! ```text
//! header (64 bytes): magic (12) ‖ version u32 ‖ log id (16) ‖ epoch u64 ‖ zeros ‖ CRC-32 of bytes 0..60
//! entry:             body length u32 ‖ CRC-32 of the body ‖ body
//! body:              epoch u64 ‖ sequence u64 ‖ change*
//! change:            table u8 ‖ kind u8 (0 delete, 1 put) ‖ key length u32 ‖ key ‖ [value length u32 ‖ value]
//! ```
//!
//! Integers are little-endian. An entry is the log's end unless its length
//! fits in the file, its CRC matches, its epoch is the header's and its
//! sequence number is the one after the entry before it; only the last entry
//! can be torn (an entry is written only after the one before it was made
//! durable), and an entry of an older epoch beyond the end is never taken
//! for a new one.

use redb::StorageBackend;

use super::table::Table;
use crate::error::{Error, Result};

const MAGIC: [u8; 12] = *b"grantdb clog";
const VERSION: u32 = 1;
/// The header's size; entries start here.
pub(crate) const HEADER_BYTES: u64 = 64;
/// An entry's length and CRC, before its body.
const ENTRY_PREFIX: usize = 8;
/// A body's epoch and sequence number, before its changes.
const BODY_PREFIX: usize = 16;

/// The changes a transaction makes past which it is written as a checkpoint
/// instead of a log entry (an import, a re-seal step, a large purge).
pub(crate) const MAX_ENTRY_BYTES: usize = 4 << 20;

/// Which log, and which of its epochs: recorded in the database file at each
/// checkpoint and in the log's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    /// Random at the log's creation: ties the log to its database.
    pub id: [u8; 16],
    /// Moves on at each checkpoint; entries carry it.
    pub epoch: u64,
}

impl Anchor {
    /// The anchor as the database's meta table keeps it.
    pub(crate) fn encode(&self) -> [u8; 24] {
        let mut out = [0; 24];
        out[..16].copy_from_slice(&self.id);
        out[16..].copy_from_slice(&self.epoch.to_be_bytes());
        out
    }

    /// The anchor from the meta table; `None` if the value is not one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Anchor> {
        let (id, epoch) = bytes.split_first_chunk::<16>()?;
        Some(Anchor {
            id: *id,
            epoch: u64::from_be_bytes(epoch.try_into().ok()?),
        })
    }

    /// The anchor of the next epoch.
    pub(crate) fn next(self) -> Anchor {
        Anchor {
            epoch: self.epoch + 1,
            ..self
        }
    }
}

/// One change an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change<'a> {
    /// `key` of `table` holds `value`.
    Put {
        table: Table,
        key: &'a [u8],
        value: &'a [u8],
    },
    /// `key` of `table` is absent.
    Delete { table: Table, key: &'a [u8] },
}

/// The changes of one write transaction, encoded as they are made. Past
/// [`MAX_ENTRY_BYTES`] it stops recording and says so: the transaction is
/// then made durable by a checkpoint.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// An entry's prefix and body prefix, then the changes.
    bytes: Vec<u8>,
    overflowed: bool,
}

impl Changes {
    /// An empty set, reusing `bytes`' allocation.
    pub(crate) fn reusing(mut bytes: Vec<u8>) -> Changes {
        bytes.clear();
        bytes.resize(ENTRY_PREFIX + BODY_PREFIX, 0);
        Changes {
            bytes,
            overflowed: false,
        }
    }

    /// Records a put.
    pub(crate) fn put(&mut self, table: Table, key: &[u8], value: &[u8]) {
        self.record(table, key, Some(value));
    }

    /// Records a delete.
    pub(crate) fn delete(&mut self, table: Table, key: &[u8]) {
        self.record(table, key, None);
    }

    fn record(&mut self, table: Table, key: &[u8], value: Option<&[u8]>) {
        if self.overflowed {
            return;
        }
        let size = 2 + 4 + key.len() + value.map_or(0, |value| 4 + value.len());
        if self.bytes.len() + size > MAX_ENTRY_BYTES {
            self.overflowed = true;
            self.bytes.truncate(ENTRY_PREFIX + BODY_PREFIX);
            return;
        }
        let (Ok(key_len), Ok(value_len)) = (
            u32::try_from(key.len()),
            u32::try_from(value.map_or(0, <[u8]>::len)),
        ) else {
            self.overflowed = true;
            return;
        };
        // A table's index is below `Table::COUNT`, far below 256.
        self.bytes.push(table.index() as u8);
        self.bytes.push(u8::from(value.is_some()));
        self.bytes.extend_from_slice(&key_len.to_le_bytes());
        self.bytes.extend_from_slice(key);
        if let Some(value) = value {
            self.bytes.extend_from_slice(&value_len.to_le_bytes());
            self.bytes.extend_from_slice(value);
        }
    }

    /// Whether no change was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        !self.overflowed && self.bytes.len() == ENTRY_PREFIX + BODY_PREFIX
    }

    /// Whether the changes outgrew an entry.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The buffer back, for the next transaction.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }
}

/// The log file, through a redb [`StorageBackend`] (a file, or a host's
/// storage).
pub(crate) struct CommitLog {
    storage: Box<dyn StorageBackend>,
    anchor: Anchor,
    /// The sequence number the next entry gets.
    next_seq: u64,
    /// Where the next entry goes: after the last entry made durable.
    end: u64,
    /// The storage's length: grown ahead in steps of [`GROW_BYTES`], so that
    /// an append rarely changes the file's size (which `fdatasync` must
    /// then write too).
    capacity: u64,
}

/// How much the log grows by when an entry does not fit.
const GROW_BYTES: u64 = 1 << 20;

impl std::fmt::Debug for CommitLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitLog")
            .field("epoch", &self.anchor.epoch)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// What a log's header says, if it can be read.
pub(crate) fn read_header(storage: &dyn StorageBackend) -> Result<Option<Anchor>> {
    if storage.len().map_err(Error::io)? < HEADER_BYTES {
        return Ok(None);
    }
    let mut header = [0u8; HEADER_BYTES as usize];
    storage.read(0, &mut header).map_err(Error::io)?;
    let (body, crc) = header.split_at(60);
    if crc32fast::hash(body).to_le_bytes() != crc
        || body[..12] != MAGIC
        || body[12..16] != VERSION.to_le_bytes()
    {
        return Ok(None);
    }
    let mut id = [0; 16];
    id.copy_from_slice(&body[16..32]);
    let mut epoch = [0; 8];
    epoch.copy_from_slice(&body[32..40]);
    Ok(Some(Anchor {
        id,
        epoch: u64::from_le_bytes(epoch),
    }))
}

fn header_bytes(anchor: Anchor) -> [u8; HEADER_BYTES as usize] {
    let mut header = [0u8; HEADER_BYTES as usize];
    header[..12].copy_from_slice(&MAGIC);
    header[12..16].copy_from_slice(&VERSION.to_le_bytes());
    header[16..32].copy_from_slice(&anchor.id);
    header[32..40].copy_from_slice(&anchor.epoch.to_le_bytes());
    let crc = crc32fast::hash(&header[..60]);
    header[60..].copy_from_slice(&crc.to_le_bytes());
    header
}

impl CommitLog {
    /// The log in `storage`, empty under `anchor`: its header is written and
    /// made durable.
    pub(crate) fn start(storage: Box<dyn StorageBackend>, anchor: Anchor) -> Result<CommitLog> {
        let mut log = CommitLog {
            storage,
            anchor,
            next_seq: 1,
            end: HEADER_BYTES,
            capacity: 0,
        };
        log.capacity = log.storage.len().map_err(Error::io)?;
        log.restart(anchor)?;
        Ok(log)
    }

    /// What the log's header says now.
    pub(crate) fn header(&self) -> Result<Option<Anchor>> {
        read_header(&*self.storage)
    }

    /// The anchor the log is under.
    pub(crate) fn anchor(&self) -> Anchor {
        self.anchor
    }

    /// Bytes of entries since the last checkpoint.
    pub(crate) fn entry_bytes(&self) -> u64 {
        self.end - HEADER_BYTES
    }

    /// The log is empty again under `anchor` (after a checkpoint): a new
    /// header, made durable. Old entries stay on the disk until overwritten;
    /// their epoch keeps them out.
    pub(crate) fn restart(&mut self, anchor: Anchor) -> Result<()> {
        self.reserve(HEADER_BYTES)?;
        self.storage
            .write(0, &header_bytes(anchor))
            .map_err(Error::io)?;
        self.storage.sync_data().map_err(Error::io)?;
        self.anchor = anchor;
        self.next_seq = 1;
        self.end = HEADER_BYTES;
        Ok(())
    }

    /// Writes `changes` as the next entry and makes it durable, without
    /// making it part of the log yet: [`CommitLog::advance`] does, once the
    /// commit it records has been applied; [`CommitLog::retract`] undoes
    /// it. On an error the entry is not part of the log (the end stays), and
    /// the next entry overwrites what was written of it.
    pub(crate) fn write_next(&mut self, changes: &mut Changes) -> Result<u64> {
        let bytes = &mut changes.bytes;
        let body_len = u32::try_from(bytes.len() - ENTRY_PREFIX).map_err(|_| Error::Storage {
            source: "a commit log entry outgrew its length field".into(),
        })?;
        bytes[8..16].copy_from_slice(&self.anchor.epoch.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.next_seq.to_le_bytes());
        let crc = crc32fast::hash(&bytes[ENTRY_PREFIX..]);
        bytes[..4].copy_from_slice(&body_len.to_le_bytes());
        bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        self.reserve(self.end + bytes.len() as u64)?;
        self.storage.write(self.end, bytes).map_err(Error::io)?;
        self.storage.sync_data().map_err(Error::io)?;
        Ok(bytes.len() as u64)
    }

    /// The entry [`CommitLog::write_next`] wrote, `len` bytes, is part of
    /// the log.
    pub(crate) fn advance(&mut self, len: u64) {
        self.end += len;
        self.next_seq += 1;
    }

    /// Makes an entry written after the end (one whose commit failed) no
    /// entry: its length field zeroed, made durable.
    pub(crate) fn retract(&self) -> Result<()> {
        self.storage
            .write(self.end, &[0; ENTRY_PREFIX])
            .map_err(Error::io)?;
        self.storage.sync_data().map_err(Error::io)
    }

    /// Writes `changes` as the next entry, durably, and makes it part of
    /// the log.
    #[cfg(test)]
    fn append(&mut self, changes: &mut Changes) -> Result<()> {
        let len = self.write_next(changes)?;
        self.advance(len);
        Ok(())
    }

    /// Grows the storage, if it must, to hold `len` bytes, in steps of
    /// [`GROW_BYTES`]; what it grows by reads as zeros, which end the
    /// entries. (Filling the step with written zeros, so that no entry's
    /// `fdatasync` allocates blocks, measured no faster here, and needs a
    /// whole step of free space at once, which a full disk may not have.)
    fn reserve(&mut self, len: u64) -> Result<()> {
        if len > self.capacity {
            let grown = len.next_multiple_of(GROW_BYTES);
            self.storage.set_len(grown).map_err(Error::io)?;
            self.capacity = grown;
        }
        Ok(())
    }

    /// Visits the changes of every entry since the last checkpoint (see
    /// [`read_entries`]).
    pub(crate) fn entries(
        &self,
        visit: impl FnMut(Change<'_>) -> Result<()>,
    ) -> Result<(u64, u64)> {
        read_entries(&*self.storage, self.anchor.epoch, None, visit)
    }

    /// Where the next entry goes.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }
}

/// Visits the changes of every entry of `epoch` from the header to the
/// log's end (at most to `limit`: the end this process knows, when an entry
/// after it was written and then failed), in order, and returns where the
/// end is and the sequence number the next entry gets. An entry whose
/// checksum matches but whose changes do not decode is an error (damage no
/// crash makes), not the end.
pub(crate) fn read_entries(
    storage: &dyn StorageBackend,
    epoch: u64,
    limit: Option<u64>,
    mut visit: impl FnMut(Change<'_>) -> Result<()>,
) -> Result<(u64, u64)> {
    let stored = storage.len().map_err(Error::io)?;
    let len = limit.map_or(stored, |limit| limit.min(stored));
    let (mut at, mut seq) = (HEADER_BYTES, 1u64);
    let mut body = Vec::new();
    while at + ENTRY_PREFIX as u64 <= len {
        let mut prefix = [0u8; ENTRY_PREFIX];
        storage.read(at, &mut prefix).map_err(Error::io)?;
        let body_len = u64::from(u32::from_le_bytes([
            prefix[0], prefix[1], prefix[2], prefix[3],
        ]));
        let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
        let body_at = at + ENTRY_PREFIX as u64;
        if body_len < BODY_PREFIX as u64 || body_at + body_len > len {
            break;
        }
        // Bounded by the file's length, checked above.
        body.resize(
            usize::try_from(body_len).map_err(|_| damaged("an entry too long"))?,
            0,
        );
        storage.read(body_at, &mut body).map_err(Error::io)?;
        if crc32fast::hash(&body) != crc
            || body[..8] != epoch.to_le_bytes()
            || body[8..16] != seq.to_le_bytes()
        {
            break;
        }
        decode_changes(&body[BODY_PREFIX..], &mut visit)?;
        at = body_at + body_len;
        seq += 1;
    }
    Ok((at, seq))
}

fn damaged(what: &str) -> Error {
    Error::Storage {
        source: format!("the commit log is damaged: {what}").into(),
    }
}

/// Reads `n` bytes off the front of `bytes`.
fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if bytes.len() < n {
        return Err(damaged("an entry ends inside a change"));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn take_len(bytes: &mut &[u8]) -> Result<usize> {
    let raw = take(bytes, 4)?;
    let len = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
    usize::try_from(len).map_err(|_| damaged("a length does not fit in memory"))
}

fn decode_changes(
    mut bytes: &[u8],
    visit: &mut impl FnMut(Change<'_>) -> Result<()>,
) -> Result<()> {
    while !bytes.is_empty() {
        let head = take(&mut bytes, 2)?;
        let table = Table::ALL
            .get(usize::from(head[0]))
            .copied()
            .ok_or_else(|| damaged("a change names no table"))?;
        let key_len = take_len(&mut bytes)?;
        let key = take(&mut bytes, key_len)?;
        match head[1] {
            0 => visit(Change::Delete { table, key })?,
            1 => {
                let value_len = take_len(&mut bytes)?;
                let value = take(&mut bytes, value_len)?;
                visit(Change::Put { table, key, value })?;
            }
            _ => return Err(damaged("a change of no known kind")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::backends::InMemoryBackend;

    fn anchor() -> Anchor {
        Anchor {
            id: [7; 16],
            epoch: 3,
        }
    }

    /// A change as owned bytes: table, key, value (`None`: a delete).
    type Owned = (Table, Vec<u8>, Option<Vec<u8>>);

    fn collect(log: &CommitLog) -> (Vec<Owned>, u64, u64) {
        let mut seen = Vec::new();
        let (end, next) = log
            .entries(|change| {
                seen.push(match change {
                    Change::Put { table, key, value } => {
                        (table, key.to_vec(), Some(value.to_vec()))
                    }
                    Change::Delete { table, key } => (table, key.to_vec(), None),
                });
                Ok(())
            })
            .expect("entries");
        (seen, end, next)
    }

    #[test]
    fn entries_come_back_in_order_and_a_torn_tail_is_the_end() {
        let mut log = CommitLog::start(Box::new(InMemoryBackend::new()), anchor()).expect("start");
        let mut first = Changes::reusing(Vec::new());
        first.put(Table::Tokens, b"k1", b"v1");
        first.delete(Table::Grants, b"g");
        log.append(&mut first).expect("append");
        let mut second = Changes::reusing(first.into_buffer());
        second.put(Table::Expiry, b"e", b"");
        log.append(&mut second).expect("append");
        let (seen, end, next) = collect(&log);
        assert_eq!(
            seen,
            vec![
                (Table::Tokens, b"k1".to_vec(), Some(b"v1".to_vec())),
                (Table::Grants, b"g".to_vec(), None),
                (Table::Expiry, b"e".to_vec(), Some(Vec::new())),
            ]
        );
        assert_eq!((end, next), (log.end, 3));
        // Tear the last entry at every length: the first stays, the second is gone.
        let first_end = HEADER_BYTES + 8 + 16 + (2 + 4 + 2 + 4 + 2) + (2 + 4 + 1);
        for cut in first_end..end {
            log.storage.set_len(cut).expect("cut");
            let (seen, at, next) = collect(&log);
            assert_eq!(seen.len(), 2, "cut at {cut}");
            assert_eq!((at, next), (first_end, 2), "cut at {cut}");
        }
    }

    #[test]
    fn a_restarted_log_never_replays_the_old_epoch() {
        let mut log = CommitLog::start(Box::new(InMemoryBackend::new()), anchor()).expect("start");
        for n in 0..3u8 {
            let mut changes = Changes::reusing(Vec::new());
            changes.put(Table::Tokens, &[n], &[n; 40]);
            log.append(&mut changes).expect("append");
        }
        log.restart(anchor().next()).expect("restart");
        assert_eq!(
            read_header(&*log.storage).expect("header"),
            Some(anchor().next())
        );
        assert!(collect(&log).0.is_empty());
        // A new entry shorter than the old ones: what follows it is old.
        let mut changes = Changes::reusing(Vec::new());
        changes.delete(Table::Tokens, b"x");
        log.append(&mut changes).expect("append");
        assert_eq!(collect(&log).0, vec![(Table::Tokens, b"x".to_vec(), None)]);
    }

    #[test]
    fn a_damaged_header_reads_as_none() {
        let log = CommitLog::start(Box::new(InMemoryBackend::new()), anchor()).expect("start");
        for at in 0..HEADER_BYTES {
            let mut byte = [0u8];
            log.storage.read(at, &mut byte).expect("read");
            log.storage.write(at, &[byte[0] ^ 1]).expect("write");
            assert_eq!(
                read_header(&*log.storage).expect("header"),
                None,
                "byte {at}"
            );
            log.storage.write(at, &byte).expect("write");
        }
        assert_eq!(read_header(&*log.storage).expect("header"), Some(anchor()));
    }

    #[test]
    fn changes_past_the_bound_overflow_and_record_nothing() {
        let mut changes = Changes::reusing(Vec::new());
        let value = vec![0u8; 1 << 20];
        for n in 0..4u8 {
            changes.put(Table::Tokens, &[n], &value);
        }
        assert!(changes.overflowed() && !changes.is_empty());
    }

    #[test]
    fn an_entry_with_a_good_checksum_and_bad_changes_is_an_error() {
        let mut log = CommitLog::start(Box::new(InMemoryBackend::new()), anchor()).expect("start");
        let mut changes = Changes::reusing(Vec::new());
        changes.bytes.extend_from_slice(&[200, 1, 0, 0, 0, 0]);
        log.append(&mut changes).expect("append");
        assert!(log.entries(|_| Ok(())).is_err());
    }
}
