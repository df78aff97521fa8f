//! Records as stored: postcard bodies behind a format-version byte and
//! followed by a seal (see [`seal`]).
//!
//! ```text
//! value = version (3) ‖ postcard body ‖ postcard extension ‖ BLAKE3-keyed MAC (8 bytes)
//! ```
//!
//! The extension holds the fields added in record version 3 (bindings and
//! sign-in data, see [`ext`]); a version 2 value has none and reads as the
//! default extension, so records written by format 2 need no rewrite.
//!
//! The seal covers the key and table too, so a value that was damaged or
//! changed, or that landed under another key, is refused instead of being read
//! as a wrong answer (R20). Decoding untrusted bytes never panics.
//!
//! The rules read and write records through a transaction that carries the
//! seal ([`Sealed`], seen as [`Records`]); the storage backends below know
//! nothing of it.

use std::cell::RefCell;
use std::ops::ControlFlow;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, Error, Result};
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvRead, KvWrite};
use crate::model::event::Event;

mod client;
mod code;
mod consent;
mod device;
pub(crate) mod ext;
pub(crate) mod feed;
mod grant;
pub(crate) mod jti;
pub(crate) mod keys;
mod pushed;
pub(crate) mod seal;
mod token;

pub(crate) use client::{ClientRecord, MAX_CLIENT_NAME_LEN, MAX_REDIRECT_URIS};
pub(crate) use code::{CodeRecord, MAX_HOST_DATA_LEN, MAX_NONCE_LEN, MAX_SUBJECT_LEN};
pub(crate) use consent::ConsentRecord;
pub(crate) use device::{AttemptsRecord, DeviceRecord, DeviceState, UserCodeRecord};
pub(crate) use grant::GrantRecord;
pub(crate) use jti::JtiRecord;
pub(crate) use pushed::{MAX_STATE_LEN, PushedRecord};
pub(crate) use seal::Seal;
pub(crate) use token::{Consumed, StoredTokenKind, TokenRecord};

/// The record format this build writes.
pub(crate) const RECORD_VERSION: u8 = 3;
/// The records of format 2 databases: the same bodies without extension,
/// read as they are.
const RECORD_VERSION_2: u8 = 2;
/// The records of format 1 databases: the same bodies under a CRC-32.
const RECORD_VERSION_1: u8 = 1;

/// A value type stored in one table.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// The table it lives in.
    const TABLE: Table;
    /// Its name in error messages.
    const NAME: &'static str;

    /// The fields added in record version 3, encoded after the body (the
    /// record's own field of this type is skipped by its serde derive).
    type Ext: Serialize + DeserializeOwned + Default;

    /// The record's extension.
    fn ext(&self) -> &Self::Ext;

    /// The record with `ext` as its extension.
    fn with_ext(self, ext: Self::Ext) -> Self;

    /// Checks what the encoding cannot: values in range, strings well formed.
    /// Returns the name of the first bad field.
    fn check(&self) -> Result<(), &'static str>;
}

/// For records with no extension fields.
macro_rules! no_extension {
    () => {
        type Ext = ();

        fn ext(&self) -> &() {
            &()
        }

        fn with_ext(self, (): ()) -> Self {
            self
        }
    };
}
pub(crate) use no_extension;

/// Encodes `record` for storage under `key`, sealed.
pub(crate) fn encode<R: Record>(seal: &Seal, key: &[u8], record: &R) -> Vec<u8> {
    let mut bytes = vec![RECORD_VERSION];
    // Serialising plain structs of strings, integers and byte arrays into a Vec
    // cannot fail; an empty body would fail its decode loudly rather than silently.
    let body = postcard::to_extend(record, Vec::with_capacity(96)).unwrap_or_default();
    bytes.extend_from_slice(&body);
    let ext = postcard::to_extend(record.ext(), Vec::new()).unwrap_or_default();
    bytes.extend_from_slice(&ext);
    let mac = seal.mac(R::TABLE, key, &bytes);
    bytes.extend_from_slice(&mac);
    bytes
}

/// A sealed value's versioned body and MAC, if it is long enough to hold both.
pub(crate) fn split_seal(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    (bytes.len() > seal::MAC_LEN).then(|| bytes.split_at(bytes.len() - seal::MAC_LEN))
}

/// Decodes a value stored under `key`, checking its seal (when one is given)
/// and every field.
pub(crate) fn decode_in<R: Record>(
    seal: Option<&Seal>,
    key: &[u8],
    bytes: &[u8],
) -> Result<R, DecodeError> {
    let (versioned_body, mac) = split_seal(bytes).ok_or(DecodeError::TooShort)?;
    if seal.is_some_and(|seal| !seal.verifies(R::TABLE, key, versioned_body, mac)) {
        return Err(DecodeError::ChecksumMismatch);
    }
    match versioned_body.split_first() {
        Some((&RECORD_VERSION, body)) => decode_body(body, true),
        Some((&RECORD_VERSION_2, body)) => decode_body(body, false),
        Some((&found, _)) => Err(DecodeError::UnknownVersion { found }),
        None => Err(DecodeError::TooShort),
    }
}

/// Decodes a format 1 record (a CRC-32, no seal), for the migration.
pub(crate) fn decode_v1<R: Record>(key: &[u8], bytes: &[u8]) -> Result<R, DecodeError> {
    if bytes.len() < 1 + 4 {
        return Err(DecodeError::TooShort);
    }
    let (versioned_body, sum) = bytes.split_at(bytes.len() - 4);
    let mut stored = [0u8; 4];
    stored.copy_from_slice(sum);
    if u32::from_le_bytes(stored) != seal::crc_v1(R::TABLE, key, versioned_body) {
        return Err(DecodeError::ChecksumMismatch);
    }
    match versioned_body.split_first() {
        Some((&RECORD_VERSION_1, body)) => decode_body(body, false),
        Some((&found, _)) => Err(DecodeError::UnknownVersion { found }),
        None => Err(DecodeError::TooShort),
    }
}

/// Decodes a body, followed by its extension when `extended` (version 3).
fn decode_body<R: Record>(body: &[u8], extended: bool) -> Result<R, DecodeError> {
    let undecodable = |_| DecodeError::Body { record: R::NAME };
    let (record, rest): (R, &[u8]) = postcard::take_from_bytes(body).map_err(undecodable)?;
    let (record, rest) = if extended && !rest.is_empty() {
        let (ext, rest): (R::Ext, &[u8]) = postcard::take_from_bytes(rest).map_err(undecodable)?;
        (record.with_ext(ext), rest)
    } else {
        // Version 2, or a version 3 record written while its kind had no
        // extension yet (a client before the key ring): the default one.
        (record, rest)
    };
    if !rest.is_empty() {
        return Err(DecodeError::Body { record: R::NAME });
    }
    record.check().map_err(|field| DecodeError::InvalidField {
        record: R::NAME,
        field,
    })?;
    Ok(record)
}

/// A transaction as the rules see it: the storage engine's, with the seal of
/// its records, and where the events of the operation are noted.
pub(crate) trait Records: KvRead {
    /// The seal records are written and checked with.
    fn seal(&self) -> &Seal;

    /// Whether events are noted (a host listens).
    fn noting(&self) -> bool {
        false
    }

    /// Notes an event, told to the host if the transaction commits.
    fn note(&self, event: Event) {
        let _ = event;
    }

    /// Whether changes are noted for the feed (R33).
    fn feed_noting(&self) -> bool {
        false
    }

    /// Notes a change, appended to the feed in this transaction if the
    /// operation keeps its writes.
    fn note_change(&self, note: feed::FeedNote) {
        let _ = note;
    }
}

/// A writable [`Records`].
pub(crate) trait RecordsMut: Records + KvWrite {}

impl<T: Records + KvWrite> RecordsMut for T {}

impl<R: Records> Records for &R {
    fn seal(&self) -> &Seal {
        (**self).seal()
    }

    fn noting(&self) -> bool {
        (**self).noting()
    }

    fn note(&self, event: Event) {
        (**self).note(event);
    }

    fn feed_noting(&self) -> bool {
        (**self).feed_noting()
    }

    fn note_change(&self, note: feed::FeedNote) {
        (**self).note_change(note);
    }
}

impl<R: Records> Records for &mut R {
    fn seal(&self) -> &Seal {
        (**self).seal()
    }

    fn noting(&self) -> bool {
        (**self).noting()
    }

    fn note(&self, event: Event) {
        (**self).note(event);
    }

    fn feed_noting(&self) -> bool {
        (**self).feed_noting()
    }

    fn note_change(&self, note: feed::FeedNote) {
        (**self).note_change(note);
    }
}

/// A transaction `K` with the seal of its records, noting events when asked
/// to (a host listens).
pub(crate) struct Sealed<'s, K> {
    kv: K,
    seal: &'s Seal,
    events: Option<RefCell<Vec<Event>>>,
    changes: Option<RefCell<Vec<feed::FeedNote>>>,
}

impl<'s, K> Sealed<'s, K> {
    /// No events noted.
    pub(crate) fn new(kv: K, seal: &'s Seal) -> Sealed<'s, K> {
        Sealed {
            kv,
            seal,
            events: None,
            changes: None,
        }
    }

    /// Notes the operation's events.
    pub(crate) fn noting_events(kv: K, seal: &'s Seal) -> Sealed<'s, K> {
        Sealed {
            kv,
            seal,
            events: Some(RefCell::new(Vec::new())),
            changes: None,
        }
    }

    /// Notes the operation's changes for the feed too (R33).
    pub(crate) fn noting_changes(mut self) -> Sealed<'s, K> {
        self.changes = Some(RefCell::new(Vec::new()));
        self
    }

    /// The events noted so far, taken.
    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        self.events
            .as_mut()
            .map(|events| std::mem::take(events.get_mut()))
            .unwrap_or_default()
    }

    /// The changes noted so far, taken.
    pub(crate) fn take_changes(&mut self) -> Vec<feed::FeedNote> {
        self.changes
            .as_mut()
            .map(|changes| std::mem::take(changes.get_mut()))
            .unwrap_or_default()
    }
}

impl<K: KvRead> Records for Sealed<'_, K> {
    fn seal(&self) -> &Seal {
        self.seal
    }

    fn noting(&self) -> bool {
        self.events.is_some()
    }

    fn note(&self, event: Event) {
        if let Some(events) = &self.events {
            events.borrow_mut().push(event);
        }
    }

    fn feed_noting(&self) -> bool {
        self.changes.is_some()
    }

    fn note_change(&self, note: feed::FeedNote) {
        if let Some(changes) = &self.changes {
            changes.borrow_mut().push(note);
        }
    }
}

impl<K: KvRead> KvRead for Sealed<'_, K> {
    fn get<T>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> T) -> Result<Option<T>> {
        self.kv.get(table, key, read)
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.kv.scan(table, range, visit)
    }

    fn prefetch(&self, table: Table, keys: &[Vec<u8>]) -> Result<()> {
        self.kv.prefetch(table, keys)
    }

    fn prefetch_prefixes(&self, table: Table, prefixes: &[Vec<u8>]) -> Result<()> {
        self.kv.prefetch_prefixes(table, prefixes)
    }

    fn batches_reads(&self) -> bool {
        self.kv.batches_reads()
    }

    fn database_time(&self) -> Option<u64> {
        self.kv.database_time()
    }
}

impl<K: KvWrite> KvWrite for Sealed<'_, K> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.kv.put(table, key, value)
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.kv.delete(table, key)
    }
}

/// Reads and decodes the record under `key`.
pub(crate) fn load<R: Record>(kv: &impl Records, key: &[u8]) -> Result<Option<R>> {
    kv.get(R::TABLE, key, |bytes| {
        decode_in::<R>(Some(kv.seal()), key, bytes)
    })?
    .transpose()
    .map_err(|source| Error::Corrupted {
        table: R::TABLE,
        source,
    })
}

/// Encodes, seals and writes `record` under `key`.
pub(crate) fn save<R: Record>(kv: &mut impl RecordsMut, key: &[u8], record: &R) -> Result<()> {
    let value = encode(kv.seal(), key, record);
    kv.put(R::TABLE, key, &value)
}

/// Decodes an entry of `table` as grantdb would read it: the value for record
/// tables, the key for index tables. An error or a value, never a panic.
///
/// `hashing_key`: the store's key, to check each record's seal; `None` checks
/// everything but the seal (the fuzz targets, which could never forge one,
/// and tools looking at a backup without its key). grantdb itself always
/// checks the seal.
pub fn decode_any(
    table: Table,
    key: &[u8],
    bytes: &[u8],
    hashing_key: Option<&crate::HashingKey>,
) -> Result<(), DecodeError> {
    let seal = hashing_key.map(Seal::new);
    decode_entry(table, key, bytes, seal.as_ref())
}

/// [`decode_any`] with the seal made once.
pub(crate) fn decode_entry(
    table: Table,
    key: &[u8],
    bytes: &[u8],
    seal: Option<&Seal>,
) -> Result<(), DecodeError> {
    let key_ok = |parsed: bool| {
        if parsed {
            Ok(())
        } else {
            Err(DecodeError::BadKey)
        }
    };
    let index_ok = |parsed: bool| {
        key_ok(parsed)?;
        if bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::IndexValue)
        }
    };
    match table {
        Table::Clients => decode_in::<ClientRecord>(seal, key, bytes).map(drop),
        Table::Codes => decode_in::<CodeRecord>(seal, key, bytes).map(drop),
        Table::Grants => {
            key_ok(crate::record::keys::parse_grant(key).is_some())?;
            decode_in::<GrantRecord>(seal, key, bytes).map(drop)
        }
        Table::Tokens => decode_in::<TokenRecord>(seal, key, bytes).map(drop),
        Table::Consents => {
            key_ok(crate::record::keys::parse_consent(key).is_some())?;
            decode_in::<ConsentRecord>(seal, key, bytes).map(drop)
        }
        Table::ProofJtis => {
            key_ok(key.len() == 16)?;
            decode_in::<JtiRecord>(seal, key, bytes).map(drop)
        }
        Table::PushedRequests => {
            key_ok(key.len() == 16)?;
            decode_in::<PushedRecord>(seal, key, bytes).map(drop)
        }
        Table::DeviceCodes => {
            key_ok(key.len() == 16)?;
            decode_in::<DeviceRecord>(seal, key, bytes).map(drop)
        }
        Table::UserCodes => {
            key_ok(key.len() == 16)?;
            decode_in::<UserCodeRecord>(seal, key, bytes).map(drop)
        }
        Table::DeviceAttempts => {
            key_ok(crate::record::keys::parse_attempts(key).is_some())?;
            decode_in::<AttemptsRecord>(seal, key, bytes).map(drop)
        }
        Table::BySession => index_ok(crate::record::keys::parse_by_session(key).is_some()),
        // Index entries: the key says it all, the value is empty.
        Table::Expiry => index_ok(crate::record::keys::parse_expiry(key).is_some()),
        Table::Consumed => index_ok(crate::record::keys::parse_consumed(key).is_some()),
        Table::BySubject => index_ok(crate::record::keys::parse_by_subject(key).is_some()),
        Table::ClientCodes => index_ok(crate::record::keys::parse_client_code(key).is_some()),
        Table::Feed => {
            key_ok(feed::parse_entry_key(key).is_some())?;
            decode_in::<feed::FeedRecord>(seal, key, bytes).map(drop)
        }
        Table::FeedConsumers => {
            key_ok(!key.is_empty() && key.len() <= feed::MAX_CONSUMER_LEN)?;
            decode_in::<feed::CursorRecord>(seal, key, bytes).map(drop)
        }
        Table::FeedSubjects => index_ok(feed::parse_subject_key(key).is_some()),
        // Meta values are read by the open checks, which treat anything
        // unexpected as a foreign file.
        Table::Meta => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scope::Scope;

    fn sample() -> ConsentRecord {
        ConsentRecord {
            scope: Scope::parse("read write").unwrap_or_default(),
            granted_at: 1_700_000_000,
        }
    }

    fn seal(byte: u8) -> Seal {
        Seal::new(&crate::HashingKey::from_bytes([byte; 32]))
    }

    #[test]
    fn records_round_trip() {
        let bytes = encode(&seal(1), b"key", &sample());
        assert_eq!(
            decode_in::<ConsentRecord>(Some(&seal(1)), b"key", &bytes),
            Ok(sample())
        );
    }

    #[test]
    fn r20_damage_is_detected_not_misread() {
        let seal = seal(1);
        let bytes = encode(&seal, b"key", &sample());
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                assert!(
                    decode_in::<ConsentRecord>(Some(&seal), b"key", &damaged).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
        for len in 0..bytes.len() {
            assert!(decode_in::<ConsentRecord>(Some(&seal), b"key", &bytes[..len]).is_err());
        }
        // The same value under another key is refused too.
        assert_eq!(
            decode_in::<ConsentRecord>(Some(&seal), b"other", &bytes),
            Err(DecodeError::ChecksumMismatch)
        );
    }

    #[test]
    fn a_record_changed_without_the_key_fails_its_seal() {
        // Whoever writes the file but lacks the key can re-encode a record
        // (here: a later grant time) but cannot seal it: refused.
        let (seal_a, seal_b) = (seal(1), seal(2));
        let forged = encode(
            &seal_b,
            b"key",
            &ConsentRecord {
                granted_at: 1_800_000_000,
                ..sample()
            },
        );
        assert_eq!(
            decode_in::<ConsentRecord>(Some(&seal_a), b"key", &forged),
            Err(DecodeError::ChecksumMismatch)
        );
        // A format 1 record (CRC only) is not accepted as a sealed one.
        let mut v1 = vec![RECORD_VERSION_1];
        v1.extend(postcard::to_allocvec(&sample()).unwrap_or_default());
        let crc = seal::crc_v1(Table::Consents, b"key", &v1);
        v1.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_v1::<ConsentRecord>(b"key", &v1), Ok(sample()));
        assert!(decode_in::<ConsentRecord>(Some(&seal_a), b"key", &v1).is_err());
    }
}
