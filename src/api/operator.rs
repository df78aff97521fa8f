//! Operators' tools (R14, R20): purge, statistics, a purge preview, the
//! integrity check, and a logical export and import of every table.

use crate::api::store::Store;
use crate::error::{Error, InputError, Result};
use crate::kv::files;
use crate::kv::redb::{Location, RedbBackend, Settings};
use crate::kv::table::Table;
use crate::kv::{Backend, CommitMode, KeyRange, KvRead as _, TxEnd};
use crate::model::config::Config;
use crate::model::operator::{ExportEntry, ExportSummary, StoreStats, VerifyReport};
use crate::model::response::PurgeReport;
use crate::ops;
use crate::record::Sealed;
use std::ops::ControlFlow;
use std::path::Path;

impl<B: Backend> Store<B> {
    /// Removes everything expired, in batches of the configured size, one
    /// transaction each; returns the totals.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grantdb::{ClientCredentialsRequest, Config, GrantType, ManualClock, NewClient, Store};
    /// let clock = ManualClock::new(1_700_000_000);
    /// let store = Store::in_memory(Config::builder().clock(clock.handle()).build()?)?;
    /// let app = store.register_client(
    ///     NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]),
    /// )?;
    /// let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// store.issue_client_credentials(ClientCredentialsRequest::new(&client))?;
    /// clock.advance(86_400);
    /// let report = store.purge_expired()?;
    /// assert_eq!((report.access_tokens, report.grants), (1, 1));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn purge_expired(&self) -> Result<PurgeReport> {
        let mut total = PurgeReport::default();
        loop {
            let batch = self.purge_expired_batch(self.inner.config.purge_batch)?;
            total.add(&batch);
            if !batch.more {
                return Ok(total);
            }
        }
    }

    /// Removes up to `limit` expired entries in one transaction. `more` in the
    /// report says whether entries are left.
    pub fn purge_expired_batch(&self, limit: usize) -> Result<PurgeReport> {
        let limit = limit.max(1);
        let report = self.write(&ops::purge::PURGE, None, move |kv, ctx| {
            ops::purge::purge_batch(kv, ctx, limit)
        })?;
        crate::engine::observe::purged(report.removed());
        Ok(report)
    }

    /// Counts clients, grants, tokens by state, codes and consents, in one
    /// snapshot. Reads every token once.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// # let client = store.authenticate_client(&client_id, app.secret.as_ref().map(|s| s.expose()))?;
    /// store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// let stats = store.stats()?;
    /// assert_eq!((stats.clients, stats.grants, stats.live_access_tokens), (1, 1, 1));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn stats(&self) -> Result<StoreStats> {
        let mut stats = self.read(&ops::admin::OPERATOR_READ, None, |kv, ctx| {
            ops::admin::stats(kv, ctx.now)
        })?;
        stats.store_time = self.now();
        stats.low_on_space = !self.inner.backend.may_grow();
        stats.storage_warning = self.inner.backend.storage_warning();
        stats.clock_time = self.inner.time.clock_reading();
        stats.cached_tokens = self.inner.hot.as_ref().map_or(0, |hot| hot.len() as u64);
        Ok(stats)
    }

    /// What [`Store::purge_expired`] would remove now, without removing it.
    pub fn purge_preview(&self) -> Result<PurgeReport> {
        self.read(&ops::admin::OPERATOR_READ, None, |kv, ctx| {
            ops::admin::purge_preview(kv, ctx.now)
        })
    }

    /// Hands every entry of every table to `sink`, from one snapshot: a
    /// logical backup (see [`ExportEntry`] and [`crate::import`]). Damaged
    /// entries are skipped and counted.
    pub fn export(&self, sink: impl FnMut(ExportEntry) -> Result<()>) -> Result<ExportSummary> {
        self.read(&ops::admin::OPERATOR_READ, None, |kv, _| {
            ops::admin::export(kv, sink)
        })
    }

    /// Checks every invariant of the stored data in one snapshot and reports
    /// each one broken (see [`VerifyReport`]). Never panics; an error means the
    /// database could not be read at all.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// # let client = store.authenticate_client(&client_id, app.secret.as_ref().map(|s| s.expose()))?;
    /// store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// assert!(store.verify()?.is_ok());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = self
            .inner
            .backend
            .read(|kv| ops::verify::verify(&Sealed::new(kv, &self.keys().seal)))?;
        report
            .problems
            .extend(self.inner.backend.verify_own_files()?);
        Ok(report)
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
    let unsafe_file = |at: &Path, reason: &str| Error::UnsafeFile {
        path: at.to_path_buf(),
        reason: reason.to_owned(),
    };
    // A link (even a dangling one) counts as there: it is never followed.
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(unsafe_file(
            path,
            "exists; import writes a new database: choose a new path or remove this one",
        ));
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".importing");
    let staging = std::path::PathBuf::from(name);
    // Left over by an import that was killed (never a database of its own),
    // or planted: removed, never written through.
    let _ = std::fs::remove_file(&staging);
    let file = files::create_new_private(&staging).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            unsafe_file(
                &staging,
                "appeared while the import created it (another import, or a planted file); \
                 nothing was written",
            )
        } else {
            Error::io(error)
        }
    })?;
    let imported = (|| {
        let backend = RedbBackend::open(Settings {
            location: Location::Opened(file.try_clone().map_err(Error::io)?),
            cache_bytes: config.cache_bytes,
            check_integrity: false,
            reserve: None,
            holds_key: config.hashing_keys.is_empty(),
            // One durable transaction into a file that is not in use yet.
            commit_log: false,
            log_storage: None,
            checkpoint_interval: config.checkpoint_interval,
        })?;
        backend.create_tables()?;
        let written = import_into(&backend, config, entries)?;
        drop(backend);
        Ok(written)
    })();
    let moved =
        imported.and_then(|written| move_into_place(&staging, &file, path).map(|()| written));
    // Only the file this import made is removed by its name.
    if files::names(&staging, &file) {
        let _ = std::fs::remove_file(&staging);
    }
    moved
}

/// Gives the staging file `file` (at `staging`) its final name `path`: a
/// hard link, which never replaces a file that appeared at `path`
/// meanwhile, made only while `staging` still names the file this import
/// wrote, and checked after (a name swapped in between is undone).
fn move_into_place(staging: &Path, file: &std::fs::File, path: &Path) -> Result<()> {
    let unsafe_file = |at: &Path, reason: &str| Error::UnsafeFile {
        path: at.to_path_buf(),
        reason: reason.to_owned(),
    };
    if !files::names(staging, file) {
        return Err(unsafe_file(
            staging,
            "was replaced during the import; the import was written nowhere",
        ));
    }
    match std::fs::hard_link(staging, path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(unsafe_file(
                path,
                "appeared during the import; it was left as it is and the import written nowhere",
            ));
        }
        Err(error) => return Err(Error::io(error)),
    }
    if !files::names(path, file) {
        let _ = std::fs::remove_file(path);
        return Err(unsafe_file(
            path,
            "did not name the imported file once linked (its staging name was swapped); removed",
        ));
    }
    sync_parent(path);
    Ok(())
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
        Ok((
            ops::admin::import_entries(kv, config, entries)?,
            TxEnd::Commit,
        ))
    })
}
