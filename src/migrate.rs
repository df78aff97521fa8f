//! Format migrations: format 1 databases (records under a plain CRC-32) are
//! sealed (format 2, records under a keyed MAC, see `record::seal`) at open,
//! in one transaction, so that existing databases keep working. A format 1
//! backup is sealed the same way as it is imported.

use std::ops::{Bound, ControlFlow};

use crate::error::Result;
use crate::kv::{KeyRange, KvWrite, Table};
use crate::record::{
    self, ClientRecord, CodeRecord, ConsentRecord, DecodeError, GrantRecord, Record, Seal,
    TokenRecord,
};

/// Records rewritten per scan of a table.
const CHUNK: usize = 10_000;

/// Seals every format 1 record, table by table, in the caller's transaction.
/// A record that does not decode as format 1 is left as it is: damage stays
/// damage, for `verify` to name.
pub(crate) fn seal_format_1(kv: &mut impl KvWrite, seal: &Seal) -> Result<()> {
    for table in Table::ALL {
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
                if let Ok(Some(sealed)) = reseal_format_1(table, key, value, seal) {
                    kv.put(table, key, &sealed)?;
                }
            }
            match chunk.pop() {
                Some((last, _)) if chunk.len() + 1 == CHUNK => after = Some(last),
                _ => break,
            }
        }
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
        Table::Meta | Table::Expiry | Table::Consumed | Table::BySubject | Table::ClientCodes => {
            return Ok(None);
        }
    }))
}
