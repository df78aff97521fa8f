//! The `grantdb_meta` table: format version and hashing key, checked at open.
//!
//! | key               | value                                                  |
//! |-------------------|--------------------------------------------------------|
//! | `format_version`  | u32, big-endian                                        |
//! | `key_fingerprint` | 16 bytes: keyed BLAKE3 of a fixed label                |
//! | `generated_key`   | 32 bytes, only when the store generated its own key    |
//! | `time_high_water` | u64, big-endian: the latest time the store handed out  |

use crate::error::{Error, Result};
use crate::kv::{Backend, CommitMode, KvRead, KvWrite, Table, TxEnd};
use zeroize::Zeroizing;

use crate::migrate;
use crate::record::Seal;
use crate::secret::HashingKey;

/// The database format this build writes and the newest it reads. Older
/// formats are brought up to it when opened: format 1 (records under a
/// CRC-32) is sealed (format 2: records under a keyed MAC), and format 2
/// gets its consents indexed by subject (format 3).
pub const FORMAT_VERSION: u32 = 3;

const FORMAT_KEY: &[u8] = b"format_version";
const FINGERPRINT_KEY: &[u8] = b"key_fingerprint";
const GENERATED_KEY: &[u8] = b"generated_key";
const HIGH_WATER_KEY: &[u8] = b"time_high_water";

/// What opening a database learns from its meta table.
pub(crate) struct Opened {
    /// The hashing key to use.
    pub key: HashingKey,
    /// The latest time the store recorded handing out (0 if none): the
    /// store's time never goes below it (see [`crate::clock::Timekeeper`]).
    pub high_water: u64,
}

/// Initialises a new database, or checks an existing one, and returns the
/// hashing key to use.
pub(crate) fn init_or_check<B: Backend>(
    backend: &B,
    supplied: Option<&HashingKey>,
) -> Result<Opened> {
    let generated_allowed = backend.allows_generated_key();
    backend.write(CommitMode::Durable, |kv| match read_version(kv)? {
        // A shared database keeps no generated key unless its operator allowed it.
        None if supplied.is_none() && !generated_allowed => Err(Error::HashingKeyRequired),
        None => initialise(kv, supplied).map(|key| (Opened { key, high_water: 0 }, TxEnd::Commit)),
        Some(found) if found > FORMAT_VERSION => Err(Error::UnsupportedFormatVersion {
            found,
            supported: FORMAT_VERSION,
        }),
        Some(found) => {
            let key = check_key(kv, supplied)?;
            let high_water = read_high_water(kv)?;
            if found == FORMAT_VERSION {
                return Ok((Opened { key, high_water }, TxEnd::Abort));
            }
            // An older format: bring it up to date, in this transaction.
            migrate::upgrade(kv, &Seal::new(&key), found)?;
            kv.put(Table::Meta, FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())?;
            Ok((Opened { key, high_water }, TxEnd::Commit))
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

fn initialise(kv: &mut impl KvWrite, supplied: Option<&HashingKey>) -> Result<HashingKey> {
    let key = if let Some(key) = supplied {
        key.clone()
    } else {
        // The quickstart default: a random key kept in the file itself.
        let key = HashingKey::generate()?;
        kv.put(Table::Meta, GENERATED_KEY, key.bytes())?;
        key
    };
    kv.put(Table::Meta, FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())?;
    kv.put(Table::Meta, FINGERPRINT_KEY, &key.fingerprint())?;
    Ok(key)
}

/// Checks the meta entries of an imported backup: they are there, of a format
/// this build reads, and name the key `supplied` (or the generated key the
/// backup carries). Returns the key and the backup's format.
pub(crate) fn check_imported(
    kv: &impl KvRead,
    supplied: Option<&HashingKey>,
) -> Result<(HashingKey, u32)> {
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
    if kv.get(Table::Meta, FINGERPRINT_KEY, |_| ())?.is_none() {
        return Err(missing());
    }
    Ok((check_key(kv, supplied)?, format))
}

/// Brings an imported backup of format `from` up to this build's format
/// (its records were sealed as they were imported): its indexes, and the
/// format recorded.
pub(crate) fn finish_import_of_format(kv: &mut impl KvWrite, from: u32) -> Result<()> {
    migrate::upgrade_indexes(kv, from)?;
    kv.put(Table::Meta, FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())
}

fn check_key(kv: &impl KvRead, supplied: Option<&HashingKey>) -> Result<HashingKey> {
    let fingerprint = kv
        .get(Table::Meta, FINGERPRINT_KEY, <[u8]>::to_vec)?
        .ok_or(Error::NotAGrantdbDatabase)?;
    // Copied straight into memory that is zeroed on drop.
    let generated = kv.get(Table::Meta, GENERATED_KEY, |bytes| {
        let mut key = Zeroizing::new([0u8; 32]);
        (bytes.len() == key.len()).then(|| {
            key.copy_from_slice(bytes);
            HashingKey::from_zeroizing(key)
        })
    })?;
    let key = match (supplied, generated) {
        (Some(key), _) => key.clone(),
        (None, Some(Some(key))) => key,
        (None, Some(None)) => return Err(Error::WrongHashingKey),
        (None, None) => return Err(Error::HashingKeyRequired),
    };
    if key.fingerprint().as_slice() == fingerprint.as_slice() {
        Ok(key)
    } else {
        Err(Error::WrongHashingKey)
    }
}
