//! Old database formats stay readable: every fixture under
//! `tests/fixtures/format-N/` was written by the build whose `FORMAT_VERSION`
//! was N, and this build opens it and runs the lifecycle rules on it.
//!
//! To add a fixture of the current format (whenever the format changes, before
//! changing it), run the ignored test:
//!
//! ```sh
//! cargo test --test format -- --ignored write_fixture_of_the_current_format
//! ```

use crate::support::{TestResult, copy_private};
use grantdb::{
    AuthorizationRequest, ClientId, CodeExchange, Config, Error, GrantType, HashingKey,
    IssueRequest, ManualClock, NewClient, NewConsent, RefreshRequest, Scope, Store,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// When the fixtures were written (manual clock).
const WRITTEN_AT: u64 = 1_700_000_000;
/// The host-supplied key of the `host-key` fixture (a test value, not a secret).
const HOST_KEY: [u8; 32] = [0x42; 32];

/// What a fixture holds, in plaintext, so the test can present it.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    written_at: u64,
    pretix_id: String,
    pretix_secret: String,
    ticketpark_id: String,
    /// A pair rotated once: the consumed refresh token and the live pair.
    consumed_refresh: String,
    live_access: String,
    live_refresh: String,
    /// A password-grant pair.
    password_access: String,
    password_refresh: String,
    /// A code not yet exchanged (lives 600 s).
    pending_code: String,
    subject: String,
}

fn fixture_dir(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("format-{version}"))
}

fn config(host_key: bool, now: u64) -> (Config, ManualClock) {
    let clock = ManualClock::new(now);
    let mut builder = Config::builder().clock(clock.handle());
    if host_key {
        builder = builder.hashing_key(HashingKey::from_bytes(HOST_KEY));
    }
    (builder.build().unwrap(), clock)
}

fn write_one(path: &Path, host_key: bool) -> Result<Manifest, Box<dyn std::error::Error>> {
    let (config, _clock) = config(host_key, WRITTEN_AT);
    let store = Store::open(path, config)?;
    let pretix = store.register_client(
        NewClient::confidential("pretix")
            .redirect_uri("https://pretalx.example/cb")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read write")?
            .lifetimes(
                grantdb::LifetimeOverrides::default().code(std::time::Duration::from_mins(10)),
            ),
    )?;
    let ticketpark = store.register_client(
        NewClient::confidential("ticketpark")
            .grant_types([GrantType::Password, GrantType::RefreshToken])
            .scopes("read")?,
    )?;
    let pretix_id = pretix.client.id;
    let subject = "fixture-user";
    let code = store.issue_code(AuthorizationRequest::new(pretix_id, subject))?;
    let pretix_client = store.authenticate_client(
        &pretix_id,
        pretix.secret.as_ref().map(grantdb::Secret::expose),
    )?;
    let ticketpark_client = store.authenticate_client(
        &ticketpark.client.id,
        ticketpark.secret.as_ref().map(grantdb::Secret::expose),
    )?;
    let first = store.exchange_code(CodeExchange::new(code.code.expose(), &pretix_client))?;
    let consumed = first.refresh_token.as_ref().unwrap().expose().to_owned();
    let live = store.refresh(RefreshRequest::new(&consumed, &pretix_client))?;
    let pending = store.issue_code(AuthorizationRequest::new(pretix_id, subject))?;
    store.record_consent(NewConsent::new(pretix_id, subject, Scope::parse("read")?))?;
    let password = store.issue_for_subject(IssueRequest::new(&ticketpark_client, subject))?;
    Ok(Manifest {
        format_version: grantdb::FORMAT_VERSION,
        written_at: WRITTEN_AT,
        pretix_id: pretix_id.to_string(),
        pretix_secret: pretix.secret.unwrap().expose().to_owned(),
        ticketpark_id: ticketpark.client.id.to_string(),
        consumed_refresh: consumed,
        live_access: live.access_token.expose().to_owned(),
        live_refresh: live.refresh_token.unwrap().expose().to_owned(),
        password_access: password.access_token.expose().to_owned(),
        password_refresh: password.refresh_token.unwrap().expose().to_owned(),
        pending_code: pending.code.expose().to_owned(),
        subject: subject.to_owned(),
    })
}

/// Writes `tests/fixtures/format-<FORMAT_VERSION>/` with this build.
#[test]
#[ignore = "writes a fixture; run by hand before a format change"]
fn write_fixture_of_the_current_format() -> TestResult {
    let dir = fixture_dir(grantdb::FORMAT_VERSION);
    std::fs::create_dir_all(&dir)?;
    for (name, host_key) in [("generated-key", false), ("host-key", true)] {
        let db = dir.join(format!("{name}.redb"));
        let _ = std::fs::remove_file(&db);
        let manifest = write_one(&db, host_key)?;
        {
            let mut store = Store::open(&db, config(host_key, WRITTEN_AT).0)?;
            store.compact()?;
        }
        // The disk reserve is recreated at open: a fixture does not carry it.
        let _ = std::fs::remove_file(dir.join(format!("{name}.redb.reserve")));
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_string_pretty(&manifest)? + "\n",
        )?;
    }
    Ok(())
}

/// Opens a copy of one fixture 100 s after it was written and runs the rules on it.
fn check_fixture(dir: &Path, name: &str, host_key: bool) -> TestResult {
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json")))?)?;
    let work = tempfile::tempdir()?;
    let db = work.path().join("copy.redb");
    copy_private(&dir.join(format!("{name}.redb")), &db)?;
    let (config, _clock) = config(host_key, manifest.written_at + 100);
    let store = Store::open(&db, config)?;
    let report = store.verify()?;
    assert!(report.is_ok(), "{name}: {:?}", report.problems);

    let pretix: ClientId = manifest.pretix_id.parse()?;
    let ticketpark: ClientId = manifest.ticketpark_id.parse()?;
    let pretix_client = store.authenticate_client(&pretix, Some(&manifest.pretix_secret))?;
    // The manifest keeps only pretix's secret: ticketpark gets a new one.
    let ticketpark_secret = store.rotate_client_secret(&ticketpark)?;
    let ticketpark_client =
        store.authenticate_client(&ticketpark, Some(ticketpark_secret.expose()))?;
    assert!(store.validate(&manifest.live_access).is_ok(), "{name}");
    assert!(store.validate(&manifest.password_access).is_ok(), "{name}");
    let read = Scope::parse("read")?;
    let consent = store.consent(&pretix, &manifest.subject)?;
    assert!(consent.is_some_and(|consent| consent.covers(&read)));
    // Format 3 indexes consents by subject: an older file's consents are listed.
    let consents =
        store.consents_of_subject(&manifest.subject, &grantdb::PageRequest::first(10))?;
    assert_eq!(
        consents
            .items
            .iter()
            .map(|c| c.client_id)
            .collect::<Vec<_>>(),
        [pretix],
        "{name}"
    );
    // R07 on a record written by the old format.
    let rotated = store.refresh(RefreshRequest::new(
        &manifest.password_refresh,
        &ticketpark_client,
    ))?;
    assert!(store.validate(rotated.access_token.expose()).is_ok());
    assert!(store.validate(&manifest.password_access).is_err());
    // R06 from an old pending code.
    let exchanged =
        store.exchange_code(CodeExchange::new(&manifest.pending_code, &pretix_client))?;
    assert!(store.validate(exchanged.access_token.expose()).is_ok());
    // R08 on an old consumed refresh token: the family goes.
    assert!(matches!(
        store.refresh(RefreshRequest::new(
            &manifest.consumed_refresh,
            &pretix_client
        )),
        Err(Error::RefreshTokenReused)
    ));
    assert!(store.validate(&manifest.live_access).is_err());
    assert!(
        store
            .refresh(RefreshRequest::new(&manifest.live_refresh, &pretix_client))
            .is_err()
    );
    let report = store.verify()?;
    assert!(report.is_ok(), "{name} after use: {:?}", report.problems);
    drop(store);
    // Reopened: still fine, and still in the current format.
    let store = Store::open(&db, config_again(host_key, manifest.written_at + 200))?;
    assert!(store.validate(rotated.access_token.expose()).is_ok());
    Ok(())
}

fn config_again(host_key: bool, now: u64) -> Config {
    config(host_key, now).0
}

/// The entries of a fixture as an export by its own (older) build would
/// write them: every table read raw with redb, no migration.
fn raw_entries(db: &Path) -> Result<Vec<grantdb::ExportEntry>, Box<dyn std::error::Error>> {
    use base64::Engine as _;
    use redb::ReadableDatabase as _;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let database = redb::Database::open(db)?;
    let read = database.begin_read()?;
    let mut entries = Vec::new();
    for table in grantdb::kv::Table::ALL {
        let definition = redb::TableDefinition::<&[u8], &[u8]>::new(table.name());
        let Ok(opened) = read.open_table(definition) else {
            continue; // a table the older format did not have
        };
        for entry in opened.range::<&[u8]>(..)? {
            let (key, value) = entry?;
            entries.push(grantdb::ExportEntry::new(
                table.name(),
                encode(key.value()),
                encode(value.value()),
            ));
        }
    }
    Ok(entries)
}

#[test]
fn a_backup_of_every_older_format_imports_and_works() -> TestResult {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for entry in std::fs::read_dir(&root)? {
        let dir = entry?.path();
        for (name, host_key) in [("generated-key", false), ("host-key", true)] {
            let manifest: Manifest =
                serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json")))?)?;
            let work = tempfile::tempdir()?;
            let copy = work.path().join("copy.redb");
            copy_private(&dir.join(format!("{name}.redb")), &copy)?;
            let backup = raw_entries(&copy)?;
            let target = work.path().join("imported.redb");
            let (config, _clock) = config(host_key, manifest.written_at + 100);
            grantdb::import(&target, &config, backup.into_iter().map(Ok))?;
            let store = Store::open(&target, config)?;
            assert!(store.verify()?.is_ok(), "{}", dir.display());
            let pretix: ClientId = manifest.pretix_id.parse()?;
            let consents =
                store.consents_of_subject(&manifest.subject, &grantdb::PageRequest::first(10))?;
            assert_eq!(consents.items.len(), 1, "{}", dir.display());
            assert_eq!(consents.items[0].client_id, pretix);
            assert!(store.validate(&manifest.live_access).is_ok());
        }
    }
    Ok(())
}

#[test]
fn every_fixture_of_an_older_format_opens_and_works() -> TestResult {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root)? {
        let dir = entry?.path();
        if !dir.is_dir() {
            continue;
        }
        check_fixture(&dir, "generated-key", false)?;
        check_fixture(&dir, "host-key", true)?;
        checked += 1;
    }
    assert!(checked >= 1, "no fixture found under {}", root.display());
    Ok(())
}
