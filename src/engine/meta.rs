//! The `grantdb_meta` table: format version and hashing keys, checked at open.
//!
//! | key                  | value                                               |
//! |----------------------|-----------------------------------------------------|
//! | `format_version`     | u32, big-endian                                     |
//! | `hashing_key/<id>`   | one per key of the ring (see [`crate::engine::keyring`])    |
//! | `time_high_water`    | u64, big-endian: the latest time the store handed out |
//!
//! Format 3 and older kept one key as `key_fingerprint` (and `generated_key`);
//! it becomes key 1 of the ring when such a database is opened.

use crate::engine::keyring::{self, KeySet};
use crate::error::{Error, Result};
use crate::kv::table::Table;
use crate::kv::{Backend, CommitMode, KvRead, KvWrite, TxEnd};

use crate::crypto::secret::{HashingKey, TokenPrefixes};
use crate::engine::migrate;

/// The database format this build writes and the newest it reads. Older
/// formats are brought up to it when opened: format 1 (records under a
/// CRC-32) is sealed (format 2: records under a keyed MAC), format 2 gets
/// its consents indexed by subject (format 3), and format 3's one hashing
/// key becomes key 1 of a key ring (format 4). Format 5 rewrites nothing:
/// a database file of format 5 may have a commit log beside it holding
/// acknowledged commits, which a build of format 4 would not read.
pub const FORMAT_VERSION: u32 = 5;

/// The first format with a key ring.
const KEY_RING_FORMAT: u32 = 4;

const FORMAT_KEY: &[u8] = b"format_version";
const HIGH_WATER_KEY: &[u8] = b"time_high_water";

/// What opening a database learns from its meta table.
pub(crate) struct Opened {
    /// The keys to work with.
    pub keys: KeySet,
    /// The latest time the store recorded handing out (0 if none): the
    /// store's time never goes below it (see [`crate::engine::time::Timekeeper`]).
    pub high_water: u64,
}

/// Initialises a new database, or checks an existing one (bringing an older
/// format up to date), and returns the keys to use.
pub(crate) fn init_or_check<B: Backend>(
    backend: &B,
    supplied: &[HashingKey],
    prefixes: &TokenPrefixes,
) -> Result<Opened> {
    let generated_allowed = backend.allows_generated_key();
    backend.write(CommitMode::Durable, |kv| match read_version(kv)? {
        // A shared database keeps no generated key unless its operator allowed it.
        None if supplied.is_empty() && !generated_allowed => Err(Error::HashingKeyRequired),
        None => {
            kv.put(Table::Meta, FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())?;
            keyring::initialise(kv, supplied)?;
            let keys = KeySet::build(keyring::read_entries(kv)?, supplied, prefixes)?;
            Ok((
                Opened {
                    keys,
                    high_water: 0,
                },
                TxEnd::Commit,
            ))
        }
        Some(found) if found > FORMAT_VERSION => Err(Error::UnsupportedFormatVersion {
            found,
            supported: FORMAT_VERSION,
        }),
        Some(found) => {
            if found < KEY_RING_FORMAT {
                keyring::adopt_legacy_key(kv)?;
            }
            let keys = KeySet::build(keyring::read_entries(kv)?, supplied, prefixes)?;
            let high_water = read_high_water(kv)?;
            if found == FORMAT_VERSION {
                return Ok((Opened { keys, high_water }, TxEnd::Abort));
            }
            // An older format: bring it up to date, in this transaction.
            migrate::upgrade(kv, &keys.seal, found)?;
            kv.put(Table::Meta, FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())?;
            Ok((Opened { keys, high_water }, TxEnd::Commit))
        }
    })
}

fn read_high_water(kv: &impl KvRead) -> Result<u64> {
    let Some(bytes) = kv.get(Table::Meta, HIGH_WATER_KEY, <[u8]>::to_vec)? else {
        return Ok(0);
    };
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| Error::NotAGrantdbDatabase)?;
    Ok(u64::from_be_bytes(bytes))
}

/// Records `time` as the latest time the store handed out, in the caller's
/// transaction.
pub(crate) fn record_high_water(kv: &mut impl KvWrite, time: u64) -> Result<()> {
    kv.put(Table::Meta, HIGH_WATER_KEY, &time.to_be_bytes())
}

fn read_version(kv: &impl KvRead) -> Result<Option<u32>> {
    let Some(bytes) = kv.get(Table::Meta, FORMAT_KEY, <[u8]>::to_vec)? else {
        return Ok(None);
    };
    let bytes: [u8; 4] = bytes.try_into().map_err(|_| Error::NotAGrantdbDatabase)?;
    Ok(Some(u32::from_be_bytes(bytes)))
}

/// Checks the meta entries of an imported backup (in the transaction that
/// imports it): they are there, of a format this build reads, and name keys
/// `supplied` holds (or keys the backup carries). A backup of format 3 or
/// older has its one key adopted as key 1. Returns the keys and the
/// backup's format.
pub(crate) fn check_imported(
    kv: &mut impl KvWrite,
    supplied: &[HashingKey],
    prefixes: &TokenPrefixes,
) -> Result<(KeySet, u32)> {
    let missing = || Error::BadBackup {
        line: None,
        reason: "no grantdb_meta entries: not a whole grantdb backup".to_owned(),
    };
    let format = match read_version(kv)? {
        None => return Err(missing()),
        Some(found) if found > FORMAT_VERSION => {
            return Err(Error::UnsupportedFormatVersion {
                found,
                supported: FORMAT_VERSION,
            });
        }
        Some(found) => found,
    };
    if format < KEY_RING_FORMAT {
        keyring::adopt_legacy_key(kv)?;
    }
    let entries = keyring::read_entries(kv)?;
    if entries.is_empty() {
        return Err(missing());
    }
    Ok((KeySet::build(entries, supplied, prefixes)?, format))
}

/// Brings an imported backup of format `from` up to this build's format
/// (its records were sealed as they were imported): its indexes, and the
/// format recorded.
pub(crate) fn finish_import_of_format(kv: &mut impl KvWrite, from: u32) -> Result<()> {
    migrate::upgrade_indexes(kv, from)?;
    kv.put(Table::Meta, FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())
}
