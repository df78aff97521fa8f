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
//! The MAC covers the table and the key too: a value moved under another key
//! fails it. Version 1 records (format 1 databases) carry a plain CRC-32
//! instead; they are read only by the migration that seals them at open.

use zeroize::Zeroizing;

use crate::kv::Table;
use crate::secret::HashingKey;

/// Bytes of the MAC at the end of a sealed value.
pub(crate) const MAC_LEN: usize = 8;

/// Seals and checks records under one hashing key.
#[derive(Clone)]
pub(crate) struct Seal {
    key: Zeroizing<[u8; 32]>,
}

impl Seal {
    /// The seal of records under `hashing_key` (a key derived from it, so the
    /// MAC and the token verifiers never share a key).
    pub(crate) fn new(hashing_key: &HashingKey) -> Seal {
        Seal {
            key: Zeroizing::new(blake3::derive_key(
                "grantdb record seal v2",
                hashing_key.bytes(),
            )),
        }
    }

    /// The MAC of `versioned_body` stored under `key` in `table`.
    pub(crate) fn mac(&self, table: Table, key: &[u8], versioned_body: &[u8]) -> [u8; MAC_LEN] {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(&[table.tag()]);
        // The key's length first: the boundary between key and body is
        // part of what is authenticated.
        hasher.update(&(key.len() as u64).to_le_bytes());
        hasher.update(key);
        hasher.update(versioned_body);
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&hasher.finalize().as_bytes()[..MAC_LEN]);
        mac
    }

    /// Whether `mac` is the MAC of `versioned_body`, compared in constant time.
    pub(crate) fn verifies(
        &self,
        table: Table,
        key: &[u8],
        versioned_body: &[u8],
        mac: &[u8],
    ) -> bool {
        constant_time_eq::constant_time_eq(&self.mac(table, key, versioned_body), mac)
    }
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
