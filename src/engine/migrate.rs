//! Format migrations, run at open in one transaction so that existing
//! databases keep working:
//!
//! * format 1 → 2: records under a plain CRC-32 are sealed (records under a
//!   keyed MAC, see `record::seal`); a format 1 backup is sealed the same way
//!   as it is imported;
//! * format 2 → 3: every consent gets its entry in the subject's index
//!   (`by_subject`, kind 3), so a subject's consents are listed without a
//!   scan of all (R22); an imported format 1 or 2 backup gets them too;
//! * format 3 → 4: the one hashing key becomes key 1 of the key ring (see
//!   `keyring`); strings minted before keep working under it.

use std::ops::{Bound, ControlFlow};

use crate::error::DecodeError;
use crate::error::Result;
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvWrite};
use crate::record::keys::Owned;
use crate::record::{
    self, ClientRecord, CodeRecord, ConsentRecord, GrantRecord, Record, Seal, TokenRecord,
};

/// Records rewritten per scan of a table.
const CHUNK: usize = 10_000;

/// The first format whose records are sealed.
pub(crate) const SEALED_FORMAT: u32 = 2;
/// The first format with consents in the subject index.
pub(crate) const CONSENT_INDEX_FORMAT: u32 = 3;

/// Brings a database of format `from` to the current format, in the
/// caller's transaction.
pub(crate) fn upgrade(kv: &mut impl KvWrite, seal: &Seal, from: u32) -> Result<()> {
    if from < SEALED_FORMAT {
        seal_format_1(kv, seal)?;
    }
    upgrade_indexes(kv, from)
}

/// The index part of [`upgrade`]: what an imported backup of format `from`
/// needs once its records are in (they were sealed as they came).
pub(crate) fn upgrade_indexes(kv: &mut impl KvWrite, from: u32) -> Result<()> {
    if from < CONSENT_INDEX_FORMAT {
        index_consents(kv)?;
    }
    Ok(())
}

/// Calls `rewrite` on every entry of `table`, in chunks of [`CHUNK`] read
/// before any is rewritten (a rewrite may put into the table being read).
fn each_entry_in_chunks<K: KvWrite>(
    kv: &mut K,
    table: Table,
    mut rewrite: impl FnMut(&mut K, &[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let range = KeyRange {
            start: after.take().map_or(Bound::Unbounded, Bound::Excluded),
            end: Bound::Unbounded,
        };
        let mut chunk = Vec::with_capacity(CHUNK);
        kv.scan(table, &range, |key, value| {
            chunk.push((key.to_vec(), value.to_vec()));
            Ok(if chunk.len() == CHUNK {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        for (key, value) in &chunk {
            rewrite(kv, key, value)?;
        }
        match chunk.pop() {
            Some((last, _)) if chunk.len() + 1 == CHUNK => after = Some(last),
            _ => return Ok(()),
        }
    }
}

/// Writes the subject-index entry of every consent (format 3). A consent
/// key that does not parse is left for `verify` to name.
fn index_consents(kv: &mut impl KvWrite) -> Result<()> {
    each_entry_in_chunks(
        kv,
        Table::Consents,
        |kv, key, _| match crate::record::keys::parse_consent(key) {
            Some((client, subject)) => {
                let index = crate::record::keys::by_subject(&subject, &client, Owned::Consent);
                kv.put(Table::BySubject, &index, &[])
            }
            None => Ok(()),
        },
    )
}

/// The tables whose values are sealed records (the others hold index
/// entries with empty values, or meta entries).
const RECORD_TABLES: [Table; 12] = [
    Table::Clients,
    Table::Codes,
    Table::Grants,
    Table::Tokens,
    Table::Consents,
    Table::ProofJtis,
    Table::PushedRequests,
    Table::DeviceCodes,
    Table::UserCodes,
    Table::DeviceAttempts,
    Table::Feed,
    Table::FeedConsumers,
];

/// Where a re-seal stopped: the table (an index into the record tables)
/// and the last key it looked at there.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResealCursor {
    table: usize,
    after: Option<Vec<u8>>,
}

/// Seals again, under `seal`'s sealing key, the records sealed under key
/// `key_id` (before that key is removed from the ring), in the caller's
/// transaction: from `from`, looking at `budget` records at most, so that a
/// large store is re-sealed in transactions that each hold the write lock
/// briefly. Returns how many were re-sealed and where to go on (`None`:
/// done). A record no key of the ring seals is left as it is, for `verify`
/// to name.
pub(crate) fn reseal_some(
    kv: &mut impl KvWrite,
    seal: &Seal,
    key_id: u8,
    from: ResealCursor,
    budget: usize,
) -> Result<(u64, Option<ResealCursor>)> {
    let mut resealed = 0;
    let mut cursor = from;
    let mut left = budget.max(1);
    while let Some(&table) = RECORD_TABLES.get(cursor.table) {
        let range = KeyRange {
            start: cursor
                .after
                .take()
                .map_or(Bound::Unbounded, Bound::Excluded),
            end: Bound::Unbounded,
        };
        let mut chunk = Vec::with_capacity(CHUNK.min(left));
        kv.scan(table, &range, |key, value| {
            chunk.push((key.to_vec(), value.to_vec()));
            Ok(if chunk.len() == CHUNK.min(left) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        for (key, value) in &chunk {
            let Some((versioned_body, mac)) = record::split_seal(value) else {
                continue;
            };
            if seal.sealed_by(table, key, versioned_body, mac) == Some(key_id) {
                let mut sealed = versioned_body.to_vec();
                sealed.extend_from_slice(&seal.mac(table, key, versioned_body));
                kv.put(table, key, &sealed)?;
                resealed += 1;
            }
        }
        left -= chunk.len();
        let full = chunk.len() == CHUNK.min(left + chunk.len());
        match chunk.pop() {
            Some((last, _)) if full => cursor.after = Some(last),
            // The table is done: the next one from its start.
            _ => {
                cursor.table += 1;
                cursor.after = None;
            }
        }
        if left == 0 {
            let done = cursor.table >= RECORD_TABLES.len();
            return Ok((resealed, (!done).then_some(cursor)));
        }
    }
    Ok((resealed, None))
}

/// Seals every format 1 record, table by table, in the caller's transaction.
/// A record that does not decode as format 1 is left as it is: damage stays
/// damage, for `verify` to name.
fn seal_format_1(kv: &mut impl KvWrite, seal: &Seal) -> Result<()> {
    for table in Table::ALL {
        each_entry_in_chunks(kv, table, |kv, key, value| {
            match reseal_format_1(table, key, value, seal) {
                Ok(Some(sealed)) => kv.put(table, key, &sealed),
                _ => Ok(()),
            }
        })?;
    }
    Ok(())
}

/// The sealed (format 2) value of a format 1 entry; `None` for entries that
/// carry no record (meta, indexes), which stay as they are.
pub(crate) fn reseal_format_1(
    table: Table,
    key: &[u8],
    value: &[u8],
    seal: &Seal,
) -> Result<Option<Vec<u8>>, DecodeError> {
    fn reseal<R: Record>(key: &[u8], value: &[u8], seal: &Seal) -> Result<Vec<u8>, DecodeError> {
        Ok(record::encode(
            seal,
            key,
            &record::decode_v1::<R>(key, value)?,
        ))
    }
    Ok(Some(match table {
        Table::Clients => reseal::<ClientRecord>(key, value, seal)?,
        Table::Codes => reseal::<CodeRecord>(key, value, seal)?,
        Table::Grants => reseal::<GrantRecord>(key, value, seal)?,
        Table::Tokens => reseal::<TokenRecord>(key, value, seal)?,
        Table::Consents => reseal::<ConsentRecord>(key, value, seal)?,
        // Format 1 had no sessions or proof ids; indexes carry no record.
        Table::Meta
        | Table::Expiry
        | Table::Consumed
        | Table::BySubject
        | Table::ClientCodes
        | Table::BySession
        | Table::ProofJtis
        | Table::PushedRequests
        | Table::DeviceCodes
        | Table::UserCodes
        | Table::DeviceAttempts
        | Table::Feed
        | Table::FeedConsumers
        | Table::FeedSubjects => {
            return Ok(None);
        }
    }))
}
