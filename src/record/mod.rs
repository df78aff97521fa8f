//! Records as stored: postcard bodies behind a format-version byte and
//! followed by a checksum.
//!
//! ```text
//! value = version (1 byte) ‖ postcard body ‖ crc32(table ‖ key ‖ version ‖ body) (4 bytes, LE)
//! ```
//!
//! The checksum covers the key and table too, so a value that was damaged, or
//! that landed under another key, is refused instead of being read as a wrong
//! answer (R20). Decoding untrusted bytes never panics.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::kv::{KvRead, KvWrite, Table};

mod client;
mod code;
mod consent;
mod grant;
mod token;

pub(crate) use client::{ClientRecord, MAX_CLIENT_NAME_LEN, MAX_REDIRECT_URIS};
pub(crate) use code::{CodeRecord, MAX_HOST_DATA_LEN, MAX_NONCE_LEN, MAX_SUBJECT_LEN};
pub(crate) use consent::ConsentRecord;
pub(crate) use grant::GrantRecord;
pub(crate) use token::{Consumed, StoredTokenKind, TokenRecord};

/// The record format this build writes (and the newest it reads).
pub(crate) const RECORD_VERSION: u8 = 1;

/// Why a stored value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than a version byte and a checksum.
    TooShort,
    /// Written by a record format this build does not know.
    UnknownVersion {
        /// The version byte found.
        found: u8,
    },
    /// The checksum does not match: the value was damaged or moved.
    ChecksumMismatch,
    /// The body is not a valid encoding of the record.
    Body {
        /// The record kind.
        record: &'static str,
    },
    /// A field decoded, but holds a value the record cannot have.
    InvalidField {
        /// The record kind.
        record: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A key does not have the layout its table uses.
    BadKey,
    /// An index entry, whose value is always empty, holds one.
    IndexValue,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort => f.write_str("value too short"),
            DecodeError::UnknownVersion { found } => write!(f, "unknown record version {found}"),
            DecodeError::ChecksumMismatch => f.write_str("checksum mismatch"),
            DecodeError::Body { record } => write!(f, "undecodable {record} record"),
            DecodeError::InvalidField { record, field } => {
                write!(f, "{record} record has an invalid {field}")
            }
            DecodeError::BadKey => f.write_str("malformed key"),
            DecodeError::IndexValue => f.write_str("an index entry holds a value"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A value type stored in one table.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// The table it lives in.
    const TABLE: Table;
    /// Its name in error messages.
    const NAME: &'static str;

    /// Checks what the encoding cannot: values in range, strings well formed.
    /// Returns the name of the first bad field.
    fn check(&self) -> Result<(), &'static str>;
}

fn checksum(table: Table, key: &[u8], versioned_body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[table.tag()]);
    hasher.update(key);
    hasher.update(versioned_body);
    hasher.finalize()
}

/// Encodes `record` for storage under `key`.
pub(crate) fn encode<R: Record>(key: &[u8], record: &R) -> Vec<u8> {
    let mut bytes = vec![RECORD_VERSION];
    // Serialising plain structs of strings, integers and byte arrays into a Vec
    // cannot fail; an empty body would fail its decode loudly rather than silently.
    let body = postcard::to_extend(record, Vec::with_capacity(96)).unwrap_or_default();
    bytes.extend_from_slice(&body);
    let sum = checksum(R::TABLE, key, &bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    bytes
}

/// Decodes a value stored under `key` in `table`, checking everything.
pub(crate) fn decode_in<R: Record>(key: &[u8], bytes: &[u8]) -> Result<R, DecodeError> {
    if bytes.len() < 1 + 4 {
        return Err(DecodeError::TooShort);
    }
    let (versioned_body, sum) = bytes.split_at(bytes.len() - 4);
    let mut stored_sum = [0u8; 4];
    stored_sum.copy_from_slice(sum);
    if u32::from_le_bytes(stored_sum) != checksum(R::TABLE, key, versioned_body) {
        return Err(DecodeError::ChecksumMismatch);
    }
    let (&version, body) = versioned_body.split_first().ok_or(DecodeError::TooShort)?;
    if version != RECORD_VERSION {
        return Err(DecodeError::UnknownVersion { found: version });
    }
    let (record, rest): (R, &[u8]) =
        postcard::take_from_bytes(body).map_err(|_| DecodeError::Body { record: R::NAME })?;
    if !rest.is_empty() {
        return Err(DecodeError::Body { record: R::NAME });
    }
    record.check().map_err(|field| DecodeError::InvalidField {
        record: R::NAME,
        field,
    })?;
    Ok(record)
}

/// Reads and decodes the record under `key`.
pub(crate) fn load<R: Record>(kv: &impl KvRead, key: &[u8]) -> Result<Option<R>> {
    kv.get(R::TABLE, key, |bytes| decode_in::<R>(key, bytes))?
        .transpose()
        .map_err(|source| Error::Corrupted {
            table: R::TABLE,
            source,
        })
}

/// Encodes and writes `record` under `key`.
pub(crate) fn save<R: Record>(kv: &mut impl KvWrite, key: &[u8], record: &R) -> Result<()> {
    kv.put(R::TABLE, key, &encode(key, record))
}

/// Decodes an entry of `table` as grantdb would read it: the value for record
/// tables, the key for index tables. An error or a value, never a panic; used
/// by the fuzz targets.
pub fn decode_any(table: Table, key: &[u8], bytes: &[u8]) -> Result<(), DecodeError> {
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
        Table::Clients => decode_in::<ClientRecord>(key, bytes).map(drop),
        Table::Codes => decode_in::<CodeRecord>(key, bytes).map(drop),
        Table::Grants => {
            key_ok(crate::keys::parse_grant(key).is_some())?;
            decode_in::<GrantRecord>(key, bytes).map(drop)
        }
        Table::Tokens => decode_in::<TokenRecord>(key, bytes).map(drop),
        Table::Consents => {
            key_ok(crate::keys::parse_consent(key).is_some())?;
            decode_in::<ConsentRecord>(key, bytes).map(drop)
        }
        // Index entries: the key says it all, the value is empty.
        Table::Expiry => index_ok(crate::keys::parse_expiry(key).is_some()),
        Table::Consumed => index_ok(crate::keys::parse_consumed(key).is_some()),
        Table::BySubject => index_ok(crate::keys::parse_by_subject(key).is_some()),
        Table::ClientCodes => index_ok(crate::keys::parse_client_code(key).is_some()),
        // Meta values are read by the open checks, which treat anything
        // unexpected as a foreign file.
        Table::Meta => Ok(()),
    }
}

/// Checks a free-text field: at most `max` bytes, no control characters.
pub(crate) fn text_ok(text: &str, max: usize) -> bool {
    text.len() <= max && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;

    fn sample() -> ConsentRecord {
        ConsentRecord {
            scope: Scope::parse("read write").unwrap_or_default(),
            granted_at: 1_700_000_000,
        }
    }

    #[test]
    fn records_round_trip() {
        let bytes = encode(b"key", &sample());
        assert_eq!(decode_in::<ConsentRecord>(b"key", &bytes), Ok(sample()));
    }

    #[test]
    fn r20_damage_is_detected_not_misread() {
        let bytes = encode(b"key", &sample());
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                assert!(
                    decode_in::<ConsentRecord>(b"key", &damaged).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
        for len in 0..bytes.len() {
            assert!(decode_in::<ConsentRecord>(b"key", &bytes[..len]).is_err());
        }
        // The same value under another key is refused too.
        assert_eq!(
            decode_in::<ConsentRecord>(b"other", &bytes),
            Err(DecodeError::ChecksumMismatch)
        );
    }
}
