//! The seal of a stored record: a keyed BLAKE3 MAC, so that with a
//! host-supplied hashing key, whoever can write the database file still
//! cannot change a record (a token's subject, scope or expiry) undetected.
//!
//! ```text
//! value = version (1 byte) ‖ postcard body ‖ mac (8 bytes)
//! mac   = BLAKE3-keyed(seal key, table ‖ key ‖ version ‖ body)[..8]
//! seal key = BLAKE3-derive-key("grantdb record seal v2", hashing key)
//! ```
//!
//! With a key ring, new seals are made under the oldest active key and a stored
//! seal checks under any key of the ring not yet removed; removing a key
//! first re-seals the records still sealed under it.
//!
//! The MAC covers the table and the key too: a value moved under another key
//! fails it. Version 1 records (format 1 databases) carry a plain CRC-32
//! instead; they are read only by the migration that seals them at open.

use zeroize::Zeroizing;

use crate::crypto::secret::HashingKey;
use crate::kv::table::Table;

/// Bytes of the MAC at the end of a sealed value.
pub(crate) const MAC_LEN: usize = 8;

/// Seals records under one key of the ring (the oldest active) and checks them under any
/// key of it that is not removed: a record sealed before a key was added
/// still checks, and is sealed under the newest key when next written.
#[derive(Clone)]
pub(crate) struct Seal {
    /// The id and derived key new seals are made with.
    sealing: (u8, Zeroizing<[u8; 32]>),
    /// The other keys a stored seal may have been made with.
    others: Vec<(u8, Zeroizing<[u8; 32]>)>,
}

/// The seal key derived from a hashing key, so the MAC and the token
/// verifiers never share a key.
fn seal_key(hashing_key: &HashingKey) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(blake3::derive_key(
        "grantdb record seal v2",
        hashing_key.bytes(),
    ))
}

impl Seal {
    /// The seal of records under one hashing key (key id 1).
    pub(crate) fn new(hashing_key: &HashingKey) -> Seal {
        Seal {
            sealing: (1, seal_key(hashing_key)),
            others: Vec::new(),
        }
    }

    /// Seals under `sealing`, checks under it and `others`.
    pub(crate) fn ring<'k>(
        sealing: (u8, &HashingKey),
        others: impl IntoIterator<Item = (u8, &'k HashingKey)>,
    ) -> Seal {
        Seal {
            sealing: (sealing.0, seal_key(sealing.1)),
            others: others
                .into_iter()
                .filter(|(id, _)| *id != sealing.0)
                .map(|(id, key)| (id, seal_key(key)))
                .collect(),
        }
    }

    /// The MAC of `versioned_body` stored under `key` in `table`.
    pub(crate) fn mac(&self, table: Table, key: &[u8], versioned_body: &[u8]) -> [u8; MAC_LEN] {
        mac_under(&self.sealing.1, table, key, versioned_body)
    }

    /// Whether `mac` is the MAC of `versioned_body` under a key of the ring,
    /// compared in constant time.
    pub(crate) fn verifies(
        &self,
        table: Table,
        key: &[u8],
        versioned_body: &[u8],
        mac: &[u8],
    ) -> bool {
        self.sealed_by(table, key, versioned_body, mac).is_some()
    }

    /// The id of the ring's key that made `mac`, if any: the sealing key is
    /// tried first (what almost every record is sealed under).
    pub(crate) fn sealed_by(
        &self,
        table: Table,
        key: &[u8],
        versioned_body: &[u8],
        mac: &[u8],
    ) -> Option<u8> {
        std::iter::once(&self.sealing)
            .chain(&self.others)
            .find(|(_, seal_key)| {
                constant_time_eq::constant_time_eq(
                    &mac_under(seal_key, table, key, versioned_body),
                    mac,
                )
            })
            .map(|(id, _)| *id)
    }
}

fn mac_under(
    seal_key: &[u8; 32],
    table: Table,
    key: &[u8],
    versioned_body: &[u8],
) -> [u8; MAC_LEN] {
    // The key's length first: the boundary between key and body is part of
    // what is authenticated.
    let length = (key.len() as u64).to_le_bytes();
    let parts = [&[table.tag()][..], &length, key, versioned_body];
    let mut mac = [0u8; MAC_LEN];
    mac.copy_from_slice(&keyed_hash_of_parts(seal_key, &parts).as_bytes()[..MAC_LEN]);
    mac
}

/// The keyed BLAKE3 hash of `parts` concatenated. A record fits the stack
/// buffer and is hashed in one call, which compresses straight from it;
/// feeding the parts to a `Hasher` one by one costs a copy into its block
/// buffer per part (a third of a validation's hashing time, measured).
fn keyed_hash_of_parts(seal_key: &[u8; 32], parts: &[&[u8]]) -> blake3::Hash {
    const INLINE: usize = 320;
    let total: usize = parts.iter().map(|part| part.len()).sum();
    if total > INLINE {
        let mut hasher = blake3::Hasher::new_keyed(seal_key);
        for part in parts {
            hasher.update(part);
        }
        return hasher.finalize();
    }
    let mut buffer = [0u8; INLINE];
    let mut at = 0;
    for part in parts {
        buffer[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    blake3::keyed_hash(seal_key, &buffer[..at])
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal(<redacted>)")
    }
}

/// The CRC-32 of a version 1 record (format 1 databases).
pub(crate) fn crc_v1(table: Table, key: &[u8], versioned_body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[table.tag()]);
    hasher.update(key);
    hasher.update(versioned_body);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashing the parts in one call must give the seal every record already
    /// carries: a record written before still verifies.
    #[test]
    fn the_one_call_seal_equals_the_incremental_one() {
        let seal_key = [7u8; 32];
        for body_len in [0, 1, 63, 64, 150, 1000, 1024, 5000] {
            let key = [3u8; 16];
            let body = vec![9u8; body_len];
            let mut hasher = blake3::Hasher::new_keyed(&seal_key);
            hasher.update(&[Table::Tokens.tag()]);
            hasher.update(&(key.len() as u64).to_le_bytes());
            hasher.update(&key);
            hasher.update(&body);
            let mut expected = [0u8; MAC_LEN];
            expected.copy_from_slice(&hasher.finalize().as_bytes()[..MAC_LEN]);
            assert_eq!(
                mac_under(&seal_key, Table::Tokens, &key, &body),
                expected,
                "body of {body_len} bytes"
            );
        }
    }
}
