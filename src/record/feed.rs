//! The change feed's tables (R33):
//!
//! ```text
//! feed            sequence number (8, big-endian) → FeedRecord
//! feed_consumers  consumer name                  → CursorRecord
//! feed_subjects   subject id (16) ‖ sequence (8) → ()   (erasure's index)
//! ```
//!
//! Entries carry ids, never a secret; the subject as configured. The
//! sequence numbers come from a counter in the meta table, read and written
//! in the transaction that appends, so that they follow commit order on
//! every backend.

use serde::{Deserialize, Serialize};

use super::Record;
use super::code::MAX_SUBJECT_LEN;
use crate::kv::table::Table;
use crate::model::feed::ChangeKind;
use crate::model::ids::{ClientId, GrantId};
use crate::model::text::text_ok;

/// The longest session id or request id an entry keeps (longer ones are
/// refused where they come in).
const MAX_ID_TEXT_LEN: usize = 1_024;

/// Most token ids one entry lists (a grant keeps at most a few pairs live).
const MAX_TOKENS: usize = 1_024;

/// One entry, as stored. `ChangeKind` and `EndReason` are part of the
/// format: their variants are only ever appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FeedRecord {
    pub at: u64,
    pub kind: ChangeKind,
    pub client: Option<[u8; 16]>,
    pub grant: Option<[u8; 16]>,
    pub session: Option<String>,
    pub tokens: Vec<[u8; 16]>,
    /// In plain text, only when so configured.
    pub subject: Option<String>,
    /// The subject's keyed id, when hashed subjects are configured.
    pub subject_id: Option<[u8; 16]>,
    pub key_id: Option<u8>,
    pub request_id: Option<String>,
}

impl Record for FeedRecord {
    const TABLE: Table = Table::Feed;
    const NAME: &'static str = "feed entry";
    super::no_extension!();

    fn check(&self) -> Result<(), &'static str> {
        if self
            .subject
            .as_deref()
            .is_some_and(|s| s.is_empty() || !text_ok(s, MAX_SUBJECT_LEN))
        {
            return Err("subject");
        }
        if self
            .session
            .as_deref()
            .is_some_and(|s| s.is_empty() || !text_ok(s, MAX_ID_TEXT_LEN))
        {
            return Err("session");
        }
        if self
            .request_id
            .as_deref()
            .is_some_and(|s| !text_ok(s, MAX_ID_TEXT_LEN))
        {
            return Err("request_id");
        }
        if self.tokens.len() > MAX_TOKENS {
            return Err("tokens");
        }
        Ok(())
    }
}

/// Where a named consumer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CursorRecord {
    /// The last sequence number it acknowledged.
    pub cursor: u64,
    /// When it last acknowledged (Unix seconds).
    pub acked_at: u64,
}

impl Record for CursorRecord {
    const TABLE: Table = Table::FeedConsumers;
    const NAME: &'static str = "feed cursor";
    super::no_extension!();

    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

/// `sequence number`, big-endian, so that key order is feed order.
pub(crate) fn entry_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The sequence number of a feed key.
pub(crate) fn parse_entry_key(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

/// `subject id ‖ sequence number`: a feed entry naming a subject.
pub(crate) fn subject_key(subject_id: &[u8; 16], seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(subject_id);
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Splits a `feed_subjects` key.
pub(crate) fn parse_subject_key(key: &[u8]) -> Option<([u8; 16], u64)> {
    if key.len() != 24 {
        return None;
    }
    Some((key[..16].try_into().ok()?, parse_entry_key(&key[16..])?))
}

/// The 16-byte id an expiry-index entry of feed entry `seq` carries.
pub(crate) fn expiry_id(seq: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seq.to_be_bytes());
    id
}

/// A consumer name: 1 to 128 bytes of printable text.
pub(crate) const MAX_CONSUMER_LEN: usize = 128;

/// A change an operation noted, appended to the feed if the operation's
/// transaction keeps its writes (the sequence number, time and request id
/// are added then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeedNote {
    pub kind: ChangeKind,
    pub client: Option<ClientId>,
    pub grant: Option<GrantId>,
    pub session: Option<String>,
    pub tokens: Vec<[u8; 16]>,
    pub subject: Option<String>,
    pub key_id: Option<u8>,
}

impl FeedNote {
    /// A note of `kind` naming nothing yet.
    pub(crate) fn new(kind: ChangeKind) -> FeedNote {
        FeedNote {
            kind,
            client: None,
            grant: None,
            session: None,
            tokens: Vec::new(),
            subject: None,
            key_id: None,
        }
    }
}
