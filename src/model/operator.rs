//! What operators read: counts, backup entries, the integrity report.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kv::table::Table;

/// What the store holds, counted in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct StoreStats {
    /// Registered clients.
    pub clients: u64,
    /// Grants (token families) with at least one live token.
    pub grants: u64,
    /// Access tokens not yet expired.
    pub live_access_tokens: u64,
    /// Access tokens expired but not yet purged.
    pub expired_access_tokens: u64,
    /// Refresh tokens usable now.
    pub live_refresh_tokens: u64,
    /// Refresh tokens expired but not yet purged.
    pub expired_refresh_tokens: u64,
    /// Consumed refresh tokens kept for reuse detection (R08).
    pub consumed_refresh_tokens: u64,
    /// Authorization codes (pending, exchanged or expired but not purged).
    pub codes: u64,
    /// Recorded consents.
    pub consents: u64,
    /// DPoP proof ids remembered (R27).
    pub proof_jtis: u64,
    /// Pushed authorization requests not yet used or purged (R30).
    pub pushed_requests: u64,
    /// Device requests not yet purged, whatever their state (R31).
    pub device_requests: u64,
    /// Entries of the expiry index that purge will visit, due or not.
    pub expiry_entries: u64,
    /// Token records that did not decode (damage; `verify` names them).
    pub damaged_tokens: u64,
    /// The store's time (Unix seconds): never below a time it already used.
    pub store_time: u64,
    /// The configured clock's reading. Below `store_time`, the clock stepped
    /// back (or a restart came up with an earlier clock): the store's time
    /// stands still until the clock catches up.
    pub clock_time: u64,
    /// The disk ran full and its room is not back: operations that grow the
    /// database are refused; purge and revocation work.
    pub low_on_space: bool,
    /// Something about the storage an operator should fix, found when the
    /// store opened (also logged then, with the `tracing` feature).
    pub storage_warning: Option<StorageWarning>,
    /// Decoded token records the hot-token cache holds now
    /// ([`ConfigBuilder::hot_token_cache`](crate::ConfigBuilder::hot_token_cache)).
    pub cached_tokens: u64,
}

/// A storage condition that does not stop the store but weakens a
/// guarantee (see `docs/design.md`, "Failures").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum StorageWarning {
    /// The volume had no room for the configured disk reserve and as much
    /// again for the database: a smaller reserve is held, so that a full
    /// disk still leaves room for revocation and purge, but less of it.
    ReserveReduced {
        /// The configured size, bytes.
        configured: u64,
        /// The size held, bytes.
        held: u64,
    },
    /// No reserve could be written at all (the volume is nearly full): on a
    /// full disk, revocation and purge may fail too until space is freed.
    NoReserve {
        /// The configured size, bytes.
        configured: u64,
    },
}

impl fmt::Display for StorageWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageWarning::ReserveReduced { configured, held } => write!(
                f,
                "the disk reserve is {held} bytes, not the {configured} configured: the volume is short of space"
            ),
            StorageWarning::NoReserve { configured } => write!(
                f,
                "no disk reserve (of {configured} bytes) could be written: the volume is nearly full"
            ),
        }
    }
}

/// One entry of a logical backup: a table, a key and a value, as stored.
///
/// Tokens, codes and secrets exist in the store only as verifiers, so a backup
/// holds no usable credential. It does hold the hashing key when the store
/// generated its own (as the database file does); with a host-supplied key it
/// holds only the key's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExportEntry {
    /// The table's name.
    pub table: String,
    /// The key, base64url.
    pub key: String,
    /// The value, base64url.
    pub value: String,
}

impl ExportEntry {
    /// The entry of `table` whose key and value are `key` and `value`,
    /// base64url-encoded as a backup writes them.
    pub fn new(table: impl Into<String>, key: impl Into<String>, value: impl Into<String>) -> Self {
        ExportEntry {
            table: table.into(),
            key: key.into(),
            value: value.into(),
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Entries handed to the sink.
    pub entries: u64,
    /// Damaged entries skipped (they do not decode; `verify` names them).
    pub damaged: u64,
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// The table holding the entry.
    pub table: Table,
    /// The entry's key, base64url-encoded.
    pub key: String,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.table, self.key, self.what)
    }
}

/// What [`Store::verify`](crate::Store::verify) found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Every broken invariant, in table order.
    pub problems: Vec<Problem>,
    /// Entries read, per table name.
    pub entries: Vec<(&'static str, u64)>,
    /// `expiry` entries left behind by removals, waiting for purge.
    pub stale_expiry_entries: u64,
}

impl VerifyReport {
    /// Whether no invariant is broken.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}
