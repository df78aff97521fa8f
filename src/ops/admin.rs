//! Operator tools: statistics, a purge preview, revocation without a client,
//! and a logical export/import of every table.

use crate::record::Records;
use std::ops::ControlFlow;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::error::{Error, InputError, Result};
use crate::kv::redb::{Location, RedbBackend, Settings};
use crate::kv::table::Table;
use crate::kv::{Backend, CommitMode, KeyRange, KvRead, KvWrite, TxEnd};
use crate::model::config::Config;
use crate::model::response::PurgeReport;
use crate::record::keys::{self, ExpiryKind};
use crate::record::{self, CodeRecord, JtiRecord, Seal, Sealed, StoredTokenKind, TokenRecord};

/// What the store holds, counted in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
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
}

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
            ExpiryKind::PushedRequest | ExpiryKind::DeviceCode | ExpiryKind::Attempts => {
                let damage = crate::ops::damage::Damage::fail();
                if crate::ops::expiring::is_due(kv, kind, at, &id, &damage)? {
                    crate::ops::expiring::tally(&mut report, kind);
                }
            }
        }
    }
    Ok(report)
}

/// One entry of a logical backup: a table, a key and a value, as stored.
///
/// Tokens, codes and secrets exist in the store only as verifiers, so a backup
/// holds no usable credential. It does hold the hashing key when the store
/// generated its own (as the database file does); with a host-supplied key it
/// holds only the key's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportEntry {
    /// The table's name.
    pub table: String,
    /// The key, base64url.
    pub key: String,
    /// The value, base64url.
    pub value: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ExportSummary {
    /// Entries handed to the sink.
    pub entries: u64,
    /// Damaged entries skipped (they do not decode; `verify` names them).
    pub damaged: u64,
}

/// Visits every entry of every table that decodes, in table then key order.
pub(crate) fn export(
    kv: &impl Records,
    mut sink: impl FnMut(ExportEntry) -> Result<()>,
) -> Result<ExportSummary> {
    let mut summary = ExportSummary::default();
    for table in Table::ALL {
        kv.scan(table, &KeyRange::all(), |key, value| {
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

/// Writes a backup into a new redb database file at `path`, all or nothing:
/// the entries go into a temporary file beside it (`<path>.importing`) in one
/// transaction, which commits only if every entry decodes, the backup's
/// `grantdb_meta` entries are there and name the key `config` holds (or the
/// key the backup carries), and every invariant `verify` checks holds; the
/// file is then moved to `path`. A bad entry, a failed check or a crash leave
/// no file at `path`. `path` must not exist. Returns the entries written.
///
/// Open the result with [`Store::open`] and the hashing key the exported
/// store used.
///
/// [`Store::open`]: crate::Store::open
pub fn import(
    path: impl AsRef<Path>,
    config: &Config,
    entries: impl IntoIterator<Item = Result<ExportEntry>>,
) -> Result<u64> {
    let path = path.as_ref();
    if path.exists() {
        return Err(Error::BadBackup {
            line: None,
            reason: format!("{} exists; import writes a new database", path.display()),
        });
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".importing");
    let staging = std::path::PathBuf::from(name);
    // Left over by an import that was killed: never a database of its own.
    let _ = std::fs::remove_file(&staging);
    let imported = (|| {
        let backend = RedbBackend::open(Settings {
            location: Location::File(&staging),
            cache_bytes: config.cache_bytes,
            check_integrity: false,
            reserve: None,
        })?;
        backend.create_tables()?;
        import_into(&backend, config, entries)
    })();
    let moved = imported.and_then(|written| {
        // A hard link never replaces a file that appeared at `path` meanwhile.
        std::fs::hard_link(&staging, path).map_err(Error::io)?;
        sync_parent(path);
        Ok(written)
    });
    let _ = std::fs::remove_file(&staging);
    moved
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

/// Makes a new directory entry durable (Unix); best effort elsewhere.
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

/// Writes a backup into an empty database on any backend (a PostgreSQL
/// schema, to move an embedded store to a fleet) in one transaction, which
/// commits only if every entry decodes, the backup's `grantdb_meta` entries
/// are there and name the key `config` holds (or the key the backup carries),
/// and every invariant [`Store::verify`](crate::Store::verify) checks holds.
/// Refuses a database that holds any grantdb data. An error leaves the
/// database as it was. Returns the entries written.
///
/// An entry that does not decode is [`Error::BadBackup`] with its position in
/// `entries` (counting from 1: the line of a JSON-lines backup).
pub fn import_into<B: Backend>(
    backend: &B,
    config: &Config,
    entries: impl IntoIterator<Item = Result<ExportEntry>>,
) -> Result<u64> {
    let empty = backend.read(|kv| {
        let mut empty = true;
        for table in Table::ALL {
            kv.scan(table, &KeyRange::all(), |_, _| {
                empty = false;
                Ok(ControlFlow::Break(()))
            })?;
        }
        Ok(empty)
    })?;
    if !empty {
        return Err(Error::InvalidArgument {
            what: "import target (the database must be empty)",
            reason: InputError::BadStructure,
        });
    }
    // Streamed into one transaction. A backend that retries a conflicting
    // transaction cannot replay the stream: the retry is refused instead (an
    // empty target has nothing to conflict with).
    let mut stream = Some(entries.into_iter());
    backend.write(CommitMode::Durable, |kv| {
        let entries = stream.take().ok_or_else(|| Error::BadBackup {
            line: None,
            reason: "the import met a concurrent writer; run it again".to_owned(),
        })?;
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
        Ok((written, TxEnd::Commit))
    })
}
