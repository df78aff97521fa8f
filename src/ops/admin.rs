//! Operator tools: statistics, a purge preview, revocation without a client,
//! and a logical export/import of every table.

use crate::model::operator::ExportEntry;
use crate::model::operator::ExportSummary;
use crate::model::operator::StoreStats;
use crate::record::Records;
use std::ops::ControlFlow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::engine::op::Op;
use crate::error::DecodeError;
use crate::error::{Error, Result};
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvWrite};
use crate::model::config::Config;
use crate::model::response::PurgeReport;
use crate::record::keys::{self, ExpiryKind};
use crate::record::{self, CodeRecord, JtiRecord, Seal, Sealed, StoredTokenKind, TokenRecord};

/// Operators' reads: statistics, purge preview, export.
pub(crate) const OPERATOR_READ: Op = Op::read("operator");

fn count(kv: &impl Records, table: Table) -> Result<u64> {
    let mut n = 0;
    kv.scan(table, &KeyRange::all(), |_, _| {
        n += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(n)
}

/// Counts everything (reads every token record once).
pub(crate) fn stats(kv: &impl Records, now: u64) -> Result<StoreStats> {
    let mut stats = StoreStats {
        clients: count(kv, Table::Clients)?,
        grants: count(kv, Table::Grants)?,
        codes: count(kv, Table::Codes)?,
        consents: count(kv, Table::Consents)?,
        proof_jtis: count(kv, Table::ProofJtis)?,
        pushed_requests: count(kv, Table::PushedRequests)?,
        device_requests: count(kv, Table::DeviceCodes)?,
        expiry_entries: count(kv, Table::Expiry)?,
        ..StoreStats::default()
    };
    kv.scan(Table::Tokens, &KeyRange::all(), |key, value| {
        let Ok(token) = record::decode_in::<TokenRecord>(Some(kv.seal()), key, value) else {
            stats.damaged_tokens += 1;
            return Ok(ControlFlow::Continue(()));
        };
        let expired = token.is_expired_at(now);
        let counter = match (token.kind, token.consumed.is_some(), expired) {
            (_, true, _) => &mut stats.consumed_refresh_tokens,
            (StoredTokenKind::Access, _, false) => &mut stats.live_access_tokens,
            (StoredTokenKind::Access, _, true) => &mut stats.expired_access_tokens,
            (StoredTokenKind::Refresh, _, false) => &mut stats.live_refresh_tokens,
            (StoredTokenKind::Refresh, _, true) => &mut stats.expired_refresh_tokens,
        };
        *counter += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(stats)
}

/// What a purge at `now` would remove, without removing anything. Grants that
/// would end are not counted (that needs the removals to happen).
pub(crate) fn purge_preview(kv: &impl Records, now: u64) -> Result<PurgeReport> {
    let mut report = PurgeReport::default();
    let mut due = Vec::new();
    kv.scan(
        Table::Expiry,
        &KeyRange::below(&keys::expiry_due_end(now)),
        |key, _| {
            due.push(key.to_vec());
            Ok(ControlFlow::Continue(()))
        },
    )?;
    for key in due {
        let Some((at, kind, id)) = keys::parse_expiry(&key) else {
            continue;
        };
        match kind {
            ExpiryKind::Code => {
                if record::load::<CodeRecord>(kv, id.as_bytes())?
                    .is_some_and(|c| c.expires_at == at)
                {
                    report.codes += 1;
                }
            }
            ExpiryKind::Token => match record::load::<TokenRecord>(kv, id.as_bytes())? {
                Some(token) if token.removal_time() == Some(at) => {
                    match (token.consumed, token.kind) {
                        (Some(_), _) => report.consumed_refresh_tokens += 1,
                        (None, StoredTokenKind::Access) => report.access_tokens += 1,
                        (None, StoredTokenKind::Refresh) => report.refresh_tokens += 1,
                    }
                }
                _ => {}
            },
            ExpiryKind::ProofJti => {
                if record::load::<JtiRecord>(kv, id.as_bytes())?.is_some_and(|j| j.until == at) {
                    report.proof_jtis += 1;
                }
            }
            ExpiryKind::PushedRequest
            | ExpiryKind::DeviceCode
            | ExpiryKind::Attempts
            | ExpiryKind::FeedEntry => {
                let damage = crate::ops::damage::Damage::fail();
                if crate::ops::expiring::is_due(kv, kind, at, &id, &damage)? {
                    crate::ops::expiring::tally(&mut report, kind);
                }
            }
        }
    }
    Ok(report)
}

/// Visits every entry of every table that decodes, in table then key order.
pub(crate) fn export(
    kv: &impl Records,
    mut sink: impl FnMut(ExportEntry) -> Result<()>,
) -> Result<ExportSummary> {
    let mut summary = ExportSummary::default();
    for table in Table::ALL {
        kv.scan(table, &KeyRange::all(), |key, value| {
            if table == Table::Meta && key == crate::kv::COMMIT_LOG_KEY {
                return Ok(ControlFlow::Continue(()));
            }
            if record::decode_entry(table, key, value, Some(kv.seal())).is_err() {
                summary.damaged += 1;
                return Ok(ControlFlow::Continue(()));
            }
            sink(ExportEntry {
                table: table.name().to_owned(),
                key: URL_SAFE_NO_PAD.encode(key),
                value: URL_SAFE_NO_PAD.encode(value),
            })?;
            summary.entries += 1;
            Ok(ControlFlow::Continue(()))
        })?;
    }
    Ok(summary)
}

fn bad_entry(what: &str) -> Error {
    Error::BadBackup {
        line: None,
        reason: what.to_owned(),
    }
}

/// The table, key and value of one backup entry, not yet checked.
fn parse_entry(entry: &ExportEntry) -> Result<(Table, Vec<u8>, Vec<u8>)> {
    let table = Table::ALL
        .into_iter()
        .find(|t| t.name() == entry.table)
        .ok_or_else(|| bad_entry("unknown table"))?;
    let key = URL_SAFE_NO_PAD
        .decode(&entry.key)
        .map_err(|_| bad_entry("the key is not base64url"))?;
    let value = URL_SAFE_NO_PAD
        .decode(&entry.value)
        .map_err(|_| bad_entry("the value is not base64url"))?;
    Ok((table, key, value))
}

/// How the records of a backup are checked as they are imported: under the
/// seal of its key, or (a format 1 backup) read under their CRC and sealed.
struct Incoming {
    seal: Seal,
    format: u32,
}

impl Incoming {
    /// The value to store for one record or index entry, checked.
    fn admit(&self, table: Table, key: &[u8], value: Vec<u8>) -> Result<Vec<u8>> {
        let damaged = |source: DecodeError| bad_entry(&format!("damaged {table} entry: {source}"));
        if self.format < crate::engine::migrate::SEALED_FORMAT {
            // Indexes have the same layout in every format.
            if let Some(sealed) =
                crate::engine::migrate::reseal_format_1(table, key, &value, &self.seal)
                    .map_err(damaged)?
            {
                return Ok(sealed);
            }
        }
        record::decode_entry(table, key, &value, Some(&self.seal)).map_err(damaged)?;
        Ok(value)
    }
}

/// The keys and format of the backup whose meta entries are in `kv` (a
/// backup of format 3 or older has its one key adopted as key 1).
fn incoming_of(kv: &mut impl KvWrite, config: &Config) -> Result<Incoming> {
    let (keys, format) =
        crate::engine::meta::check_imported(kv, &config.hashing_keys, &config.prefixes)?;
    Ok(Incoming {
        seal: keys.seal,
        format,
    })
}

/// Writes the entries of a backup into an empty database, inside the
/// caller's transaction: each entry decodes under the seal of the backup's
/// key (a format 1 backup is sealed as it comes in), an older format is
/// brought up to date, and every invariant `verify` checks must hold, or
/// the caller's transaction fails. Returns the entries written. An entry
/// that does not decode is [`Error::BadBackup`] with its position in
/// `entries` (counting from 1: the line of a JSON-lines backup).
pub(crate) fn import_entries(
    kv: &mut impl KvWrite,
    config: &Config,
    entries: impl IntoIterator<Item = Result<ExportEntry>>,
) -> Result<u64> {
    let mut written = 0;
    // Known once the meta entries (exported first) are in.
    let mut incoming: Option<Incoming> = None;
    for (line, entry) in (1u64..).zip(entries) {
        let at_line = |error| match error {
            Error::BadBackup { line: None, reason } => Error::BadBackup {
                line: Some(line),
                reason,
            },
            other => other,
        };
        let (table, key, value) = entry.and_then(|e| parse_entry(&e)).map_err(at_line)?;
        if table == Table::Meta && key == crate::kv::COMMIT_LOG_KEY {
            continue;
        }
        let value = if table == Table::Meta {
            value
        } else {
            let checker = match &incoming {
                Some(checker) => checker,
                None => incoming.insert(incoming_of(kv, config)?),
            };
            checker.admit(table, &key, value).map_err(at_line)?
        };
        kv.put(table, &key, &value)?;
        written += 1;
    }
    let incoming = match incoming {
        Some(incoming) => incoming,
        None => incoming_of(kv, config)?,
    };
    if incoming.format < crate::FORMAT_VERSION {
        crate::engine::meta::finish_import_of_format(kv, incoming.format)?;
    }
    let report = crate::ops::verify::verify(&Sealed::new(&*kv, &incoming.seal))?;
    if let Some(problem) = report.problems.first() {
        return Err(Error::BadBackup {
            line: None,
            reason: format!(
                "{} broken invariant(s), the first: {} {}: {}",
                report.problems.len(),
                problem.table,
                problem.key,
                problem.what
            ),
        });
    }
    Ok(written)
}
