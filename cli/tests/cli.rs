//! The `grantdb` binary, run on databases built by the tests: each
//! subcommand's output and exit code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use grantdb::{
    AuthenticatedClient, ClientCredentialsRequest, IssueRequest, NewConsent, RefreshRequest,
};
use grantdb::{
    ClientId, Config, Durability, GrantType, LifetimeOverrides, ManualClock, NewClient, Store,
    SystemClock,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn grantdb(db: &Path) -> Command {
    let mut command = Command::cargo_bin("grantdb").unwrap();
    command.arg("--db").arg(db);
    command
}

fn stdout(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn now() -> u64 {
    grantdb::Clock::now(&SystemClock)
}

/// `registered`, authenticated with its secret.
fn authenticated(store: &Store, registered: &grantdb::RegisteredClient) -> AuthenticatedClient {
    let secret = registered.secret.as_ref().map(grantdb::Secret::expose);
    store
        .authenticate_client(&registered.client.id, secret)
        .unwrap()
}

/// A database with a pretix-like client and two users' grants.
fn small_db(dir: &Path) -> (PathBuf, AuthenticatedClient) {
    let path = dir.join("db.redb");
    let store = Store::open(&path, Config::default()).unwrap();
    let client = authenticated(
        &store,
        &store
            .register_client(
                NewClient::confidential("pretalx")
                    .grant_types([GrantType::Password, GrantType::RefreshToken])
                    .scopes("read write")
                    .unwrap(),
            )
            .unwrap(),
    );
    for subject in ["alice", "alice", "bob"] {
        store
            .issue_for_subject(IssueRequest::new(&client, subject))
            .unwrap();
    }
    (path, client)
}

#[test]
fn stats_counts_what_is_stored() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    let json: serde_json::Value =
        serde_json::from_str(&stdout(grantdb(&db).args(["stats", "--json"])))?;
    assert_eq!(json["stats"]["clients"], 1);
    assert_eq!(json["stats"]["grants"], 3);
    assert_eq!(json["stats"]["live_access_tokens"], 3);
    assert_eq!(json["stats"]["live_refresh_tokens"], 3);
    assert!(json["space"]["file_bytes"].as_u64().unwrap() > 0);
    let text = stdout(grantdb(&db).arg("stats"));
    assert!(
        text.contains("grants") && text.contains("file size"),
        "{text}"
    );
    Ok(())
}

#[test]
fn clients_create_list_show_rotate_delete() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("new/db.redb");
    // A missing database is not created by mistake...
    let mistyped = grantdb(&db)
        .args([
            "clients",
            "create",
            "--name",
            "x",
            "--grant-type",
            "password",
        ])
        .output()?;
    assert_eq!(mistyped.status.code(), Some(3));
    assert!(String::from_utf8(mistyped.stderr)?.contains("no database at"));
    assert!(!db.exists());
    // ... only on purpose.
    let created = stdout(grantdb(&db).args([
        "clients",
        "create",
        "--init",
        "--name",
        "pretalx",
        "--redirect-uri",
        "https://pretalx.com",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        "read write",
    ]));
    let id = created
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    let secret = created
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("gdbcs_"));
    assert!(stdout(grantdb(&db).args(["clients", "list"])).contains(&id));
    assert!(
        id.starts_with(|c: char| c.is_ascii_alphanumeric()),
        "a new client id is a safe argument: {id}"
    );
    // After `--`, an id is an id whatever it starts with.
    let shown = stdout(grantdb(&db).args(["clients", "show", "--", &id]));
    assert!(
        shown.contains("authorization_code refresh_token") && shown.contains("https://pretalx.com")
    );
    // The secret is printed once: neither list nor show repeats it.
    assert!(!stdout(grantdb(&db).args(["clients", "list", "--json"])).contains(&secret));
    let rotated = stdout(grantdb(&db).args(["clients", "rotate-secret", &id]));
    let new_secret = rotated.split_whitespace().last().unwrap().to_owned();
    {
        let store = Store::open(&db, Config::default())?;
        let client: ClientId = id.parse()?;
        assert!(
            store
                .authenticate_client(&client, Some(&new_secret))
                .is_ok()
        );
        assert!(store.authenticate_client(&client, Some(&secret)).is_err());
    }
    stdout(grantdb(&db).args(["clients", "delete", &id, "--yes"]));
    let missing = grantdb(&db).args(["clients", "show", &id]).output()?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no client"));
    // An id of an older database that begins with `-`: an id after `--`.
    let dashed = "-".to_owned() + &"A".repeat(21);
    let output = grantdb(&db)
        .args(["clients", "show", "--", &dashed])
        .output()?;
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no client"));
    Ok(())
}

#[test]
fn grants_list_and_revoke() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, client) = small_db(dir.path());
    let alice = stdout(grantdb(&db).args(["grants", "list", "--subject", "alice"]));
    assert!(alice.contains("2 grant(s)"), "{alice}");
    let all: serde_json::Value = serde_json::from_str(&stdout(grantdb(&db).args([
        "grants",
        "list",
        "--client",
        &client.id().to_string(),
        "--json",
    ])))?;
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    assert!(
        stdout(grantdb(&db).args(["revoke", "--subject", "alice", "--yes"]))
            .contains("revoked 2 grant(s)")
    );
    assert!(
        stdout(grantdb(&db).args(["grants", "list", "--subject", "alice"])).contains("0 grant(s)")
    );
    // One token, on an operator's behalf.
    let token = {
        let store = Store::open(&db, Config::default())?;
        let tokens = store.issue_for_subject(IssueRequest::new(&client, "carol"))?;
        tokens
            .refresh_token
            .map(|t| t.expose().to_owned())
            .unwrap_or_default()
    };
    assert!(
        stdout(grantdb(&db).args(["revoke", "--token", &token]))
            .contains("refresh token revoked with its grant")
    );
    assert!(
        stdout(grantdb(&db).args(["revoke", "--client", &client.id().to_string(), "--yes"]))
            .contains("revoked 1 grant(s)")
    );
    let usage = grantdb(&db).arg("revoke").output()?;
    assert_eq!(
        usage.status.code(),
        Some(2),
        "clap refuses a revoke without a target"
    );
    Ok(())
}

#[test]
fn purge_removes_100k_expired_tokens_and_keeps_live_ones() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("db.redb");
    let expired = 100_000u64;
    let live_token = {
        // Issued two hours ago with one-minute lifetimes: expired now.
        let clock = ManualClock::new(now() - 7_200);
        let config = Config::builder()
            .durability(Durability::Fast)
            .clock(clock)
            .build()?;
        let store = Store::open(&db, config)?;
        let client = authenticated(
            &store,
            &store.register_client(
                NewClient::confidential("prioticket")
                    .grant_types([GrantType::ClientCredentials])
                    .lifetimes(LifetimeOverrides::default().access(Duration::from_mins(1))),
            )?,
        );
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..expired / 4 {
                        store
                            .issue_client_credentials(ClientCredentialsRequest::new(&client))
                            .unwrap();
                    }
                });
            }
        });
        let long = store.register_client(
            NewClient::confidential("long")
                .grant_types([GrantType::ClientCredentials])
                .lifetimes(LifetimeOverrides::default().access(Duration::from_hours(30 * 24))),
        )?;
        let token = store.issue_client_credentials(ClientCredentialsRequest::new(
            &authenticated(&store, &long),
        ))?;
        store.flush()?;
        token.access_token.expose().to_owned()
    };
    let dry = stdout(grantdb(&db).args(["purge", "--dry-run"]));
    assert!(dry.contains(&format!("{expired} access tokens")), "{dry}");
    let output = grantdb(&db).arg("purge").output()?;
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout)?;
    assert!(text.contains(&format!("{expired} access tokens")), "{text}");
    assert!(text.contains(&format!("{expired} grants")), "{text}");
    // Not a terminal: progress comes as plain lines.
    assert!(String::from_utf8(output.stderr)?.contains("entries ("));
    let store = Store::open(&db, Config::default())?;
    assert!(store.validate(&live_token).is_ok());
    assert_eq!(store.stats()?.expired_access_tokens, 0);
    assert!(store.verify()?.is_ok());
    Ok(())
}

#[test]
fn verify_passes_a_sound_file_and_reports_a_broken_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    assert!(stdout(grantdb(&db).arg("verify")).contains("0 problem(s)"));
    // Break an invariant behind grantdb's back: drop every by_subject entry.
    {
        let database = redb::Database::open(&db)?;
        let txn = database.begin_write()?;
        {
            let mut table =
                txn.open_table(redb::TableDefinition::<&[u8], &[u8]>::new("by_subject"))?;
            table.retain(|_, _| false)?;
        }
        txn.commit()?;
    }
    let output = grantdb(&db).arg("verify").output()?;
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout)?;
    assert!(text.contains("missing from by_subject"), "{text}");
    assert!(text.contains("3 problem(s)"), "{text}");
    // A file damaged on disk is refused with a clear error.
    let mut bytes = std::fs::read(&db)?;
    for byte in bytes.iter_mut().skip(4_096).step_by(97) {
        *byte ^= 0xff;
    }
    std::fs::write(&db, bytes)?;
    let output = grantdb(&db).arg("verify").output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr)?.starts_with("grantdb: "));
    Ok(())
}

#[test]
fn compact_prints_sizes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    let text = stdout(grantdb(&db).arg("compact"));
    assert!(text.contains("MiB ->"), "{text}");
    Ok(())
}

#[test]
fn export_import_export_round_trip_is_identical() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, client) = small_db(dir.path());
    {
        let store = Store::open(&db, Config::default())?;
        let tokens = store.issue_for_subject(IssueRequest::new(&client, "dave"))?;
        store.refresh(RefreshRequest::new(
            tokens
                .refresh_token
                .as_ref()
                .map(grantdb::Secret::expose)
                .unwrap_or_default(),
            &client,
        ))?;
        store.record_consent(NewConsent::new(
            client.id(),
            "dave",
            grantdb::Scope::parse("read")?,
        ))?;
    }
    let first = stdout(grantdb(&db).arg("export"));
    assert!(first.lines().count() > 10);
    let backup = dir.path().join("backup.jsonl");
    std::fs::write(&backup, &first)?;
    let restored = dir.path().join("restored.redb");
    let import = grantdb(&restored)
        .args(["import", "--input"])
        .arg(&backup)
        .output()?;
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let second = stdout(grantdb(&restored).arg("export"));
    assert_eq!(first, second);
    assert!(stdout(grantdb(&restored).arg("verify")).contains("0 problem(s)"));
    // Importing over an existing database is refused.
    let again = grantdb(&restored)
        .args(["import", "--input"])
        .arg(&backup)
        .output()?;
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8(again.stderr)?.contains("exists"));
    Ok(())
}

#[test]
fn a_database_in_use_is_reported_as_such() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    let _held = Store::open(&db, Config::default())?;
    let output = grantdb(&db).arg("stats").output()?;
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr)?;
    assert!(stderr.contains("in use by another process"), "{stderr}");
    // Which process, and what to do (this test process holds it).
    #[cfg(target_os = "linux")]
    assert!(
        stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    assert!(stderr.contains("start_maintenance"), "{stderr}");
    let missing = grantdb(&dir.path().join("absent.redb"))
        .arg("stats")
        .output()?;
    assert!(String::from_utf8(missing.stderr)?.contains("no database at"));
    Ok(())
}

/// A backup of `small_db` with a rotation and a consent, as JSON lines.
fn backup_of(dir: &Path) -> (String, PathBuf) {
    let (db, _) = small_db(dir);
    (
        stdout(grantdb(&db).arg("export")),
        dir.join("restored.redb"),
    )
}

/// Runs `import` of `text` into `target`; returns the output.
fn import_text(target: &Path, text: &str) -> std::process::Output {
    grantdb(target)
        .arg("import")
        .write_stdin(text.to_owned())
        .output()
        .unwrap()
}

/// Nothing at `target`, and no staging file beside it.
fn nothing_left(target: &Path) -> bool {
    let mut staging = target.as_os_str().to_owned();
    staging.push(".importing");
    !target.exists() && !Path::new(&staging).exists()
}

#[test]
fn import_a_bad_line_names_it_and_leaves_no_database() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (backup, target) = backup_of(dir.path());
    let mut lines: Vec<&str> = backup.lines().collect();
    let bad = lines.len() / 2;
    lines[bad] = "{\"table\": \"tokens\", \"key\": \"not json";
    let output = import_text(&target, &(lines.join("\n") + "\n"));
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr)?;
    assert!(stderr.contains(&format!("line {}", bad + 1)), "{stderr}");
    assert!(!stderr.contains("storage"), "{stderr}");
    assert!(nothing_left(&target));
    Ok(())
}

#[test]
fn import_refuses_a_backup_that_breaks_invariants_or_lacks_its_meta() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (backup, target) = backup_of(dir.path());
    let without = |table: &str| {
        let kept: Vec<&str> = backup
            .lines()
            .filter(|line| !line.contains(&format!("\"table\":\"{table}\"")))
            .collect();
        kept.join("\n") + "\n"
    };
    for (table, why) in [
        ("tokens", "broken invariant"),
        ("grantdb_meta", "grantdb_meta"),
    ] {
        let output = import_text(&target, &without(table));
        assert_eq!(output.status.code(), Some(3), "without {table}");
        let stderr = String::from_utf8(output.stderr)?;
        assert!(stderr.contains(why), "without {table}: {stderr}");
        assert!(nothing_left(&target), "without {table}");
    }
    // The whole backup goes in.
    assert!(import_text(&target, &backup).status.success());
    Ok(())
}

#[test]
fn import_with_another_key_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let keyed = dir.path().join("keyed.redb");
    let key = dir.path().join("key.hex");
    std::fs::write(&key, "42".repeat(32))?;
    {
        let config = Config::builder()
            .hashing_key(grantdb::HashingKey::from_bytes([0x42; 32]))
            .build()?;
        let store = Store::open(&keyed, config)?;
        store.register_client(
            NewClient::confidential("keyed").grant_types([GrantType::ClientCredentials]),
        )?;
    }
    let backup = stdout(grantdb(&keyed).arg("--key-file").arg(&key).arg("export"));
    let target = dir.path().join("other.redb");
    let other_key = dir.path().join("other.hex");
    std::fs::write(&other_key, "43".repeat(32))?;
    let output = grantdb(&target)
        .arg("--key-file")
        .arg(&other_key)
        .arg("import")
        .write_stdin(backup.clone())
        .output()?;
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8(output.stderr)?.contains("hashing key"));
    assert!(nothing_left(&target));
    // Without a key at all: refused too (the backup holds only a fingerprint).
    assert!(!import_text(&target, &backup).status.success());
    assert!(nothing_left(&target));
    Ok(())
}

#[test]
fn an_import_killed_midway_leaves_no_database() -> TestResult {
    use std::io::Write as _;
    let dir = tempfile::tempdir()?;
    let (backup, target) = backup_of(dir.path());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("grantdb"))
        .arg("--db")
        .arg(&target)
        .arg("import")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let lines: Vec<&str> = backup.lines().collect();
    let half = lines[..lines.len() / 2].join("\n") + "\n";
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(half.as_bytes())?;
    stdin.flush()?;
    // The child has read half the backup and waits for the rest: SIGKILL.
    std::thread::sleep(Duration::from_millis(300));
    child.kill()?;
    child.wait()?;
    drop(stdin);
    assert!(!target.exists(), "a killed import left a database");
    // A new import clears what the killed one left and succeeds.
    assert!(import_text(&target, &backup).status.success());
    assert!(stdout(grantdb(&target).arg("verify")).contains("0 problem(s)"));
    Ok(())
}

#[cfg(unix)]
#[test]
fn exports_and_databases_are_readable_by_their_owner_only() -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    let output = dir.path().join("backup.jsonl");
    grantdb(&db)
        .arg("export")
        .arg("--output")
        .arg(&output)
        .assert()
        .success();
    for path in [&db, &output] {
        let mode = std::fs::metadata(path)?.permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
    }
    Ok(())
}

#[cfg(unix)]
#[test]
fn an_export_never_writes_through_a_planted_symlink_or_over_a_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    let theirs = dir.path().join("attacker-owned");
    std::fs::write(&theirs, b"theirs")?;
    let planted = dir.path().join("backup.jsonl");
    std::os::unix::fs::symlink(&theirs, &planted)?;
    for output in [&planted, &theirs] {
        let refused = grantdb(&db)
            .arg("export")
            .arg("--output")
            .arg(output)
            .output()?;
        assert!(!refused.status.success());
        let said = String::from_utf8(refused.stderr)?;
        assert!(said.contains("exists (or is a link)"), "{said}");
    }
    assert_eq!(std::fs::read(&theirs)?, b"theirs");
    Ok(())
}

#[test]
fn a_closed_pipe_ends_the_tool_quietly() -> TestResult {
    use std::io::Read as _;
    let dir = tempfile::tempdir()?;
    let (db, client) = small_db(dir.path());
    {
        let store = Store::open(&db, Config::default())?;
        // Well past a pipe's 64 KiB of buffer.
        for _ in 0..1_500 {
            store.issue_for_subject(IssueRequest::new(&client, "many"))?;
        }
    }
    // `grantdb grants list | head -1`: the reader goes after one line.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("grantdb"))
        .arg("--db")
        .arg(&db)
        .args(["grants", "list", "--subject", "many"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first)?;
    // The pipe's read end is dropped here.
    let output = child.wait_with_output()?;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("panicked"),
        "{output:?}"
    );
    Ok(())
}

#[test]
fn times_are_rfc3339_and_verify_json_is_an_object() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    let listed = stdout(grantdb(&db).args(["grants", "list", "--subject", "alice"]));
    let year = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    assert!(
        listed.contains(&format!("created {}", &year[..4])),
        "{listed}"
    );
    assert!(listed.contains('T') && listed.contains('Z'), "{listed}");
    let report: serde_json::Value =
        serde_json::from_str(&stdout(grantdb(&db).args(["verify", "--json"])))?;
    assert_eq!(report["ok"], true);
    assert!(report["entries"]["tokens"].as_u64().unwrap_or(0) > 0);
    assert!(report["problems"].as_array().is_some_and(Vec::is_empty));
    let help = stdout(grantdb(&db).arg("--help"));
    assert!(help.contains("Exit codes"), "{help}");
    Ok(())
}

/// A database under host key 0x42… with one client; returns an access token
/// minted under that key.
fn keyed_db_with_a_token(db: &Path) -> Result<String, Box<dyn std::error::Error>> {
    let config = Config::builder()
        .hashing_key(grantdb::HashingKey::from_bytes([0x42; 32]))
        .build()?;
    let store = Store::open(db, config)?;
    let app = store.register_client(
        NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]),
    )?;
    let tokens = store
        .issue_client_credentials(ClientCredentialsRequest::new(&authenticated(&store, &app)))?;
    Ok(tokens.access_token.expose().to_owned())
}

#[test]
fn keys_list_add_retire_remove_on_a_host_keyed_database() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("ring.redb");
    let first = dir.path().join("first.hex");
    std::fs::write(&first, "42".repeat(32))?;
    let old_token = keyed_db_with_a_token(&db)?;
    let listed = stdout(
        grantdb(&db)
            .arg("--key-file")
            .arg(&first)
            .args(["keys", "list"]),
    );
    assert!(listed.contains("1   active   yes"), "{listed}");

    // A new key, generated into a file readable by its owner only.
    let second = dir.path().join("second.hex");
    let added = stdout(
        grantdb(&db)
            .arg("--key-file")
            .arg(&first)
            .args(["keys", "add", "--new-key-file"])
            .arg(&second),
    );
    assert!(added.contains("added key 2"), "{added}");
    let written = std::fs::read(&second)?;
    assert_eq!(written.len(), 65, "64 hex digits and a newline");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&second)?.permissions().mode() & 0o777,
            0o600
        );
    }
    let second_key = grantdb::HashingKey::from_slice(&hex_decode(&written[..64]))?;

    // The ring now needs both keys: without the new one, the error names it.
    let output = grantdb(&db)
        .arg("--key-file")
        .arg(&first)
        .args(["keys", "list"])
        .output()?;
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr)?;
    assert!(
        stderr.contains(&second_key.fingerprint().to_string()),
        "{stderr}"
    );
    // Both keys, from the environment, separated by commas.
    let ring = format!(
        "{},{}",
        "42".repeat(32),
        String::from_utf8(written[..64].to_vec())?
    );
    let listed = stdout(
        grantdb(&db)
            .env("GRANTDB_KEY", &ring)
            .args(["keys", "list", "--json"]),
    );
    let keys: serde_json::Value = serde_json::from_str(&listed)?;
    assert_eq!(keys[1]["minting"], true);
    assert_eq!(keys[0]["client_secrets"], 1);

    let both = || {
        let mut command = grantdb(&db);
        command.arg("--key-file").arg(&first);
        command.arg("--key-file").arg(&second);
        command
    };
    retiring_is_refused_while_a_secret_depends(&mut both())?;
    let retired = stdout(both().args(["keys", "retire", "1", "--force", "--yes"]));
    assert!(retired.contains("retired key 1"));
    {
        let config = Config::builder()
            .hashing_keys([
                grantdb::HashingKey::from_bytes([0x42; 32]),
                second_key.clone(),
            ])
            .build()?;
        let store = Store::open(&db, config)?;
        assert!(
            store.validate(&old_token).is_err(),
            "minted under the retired key"
        );
    }
    let removed = stdout(both().args(["keys", "remove", "1", "--force", "--yes"]));
    assert!(removed.contains("removed key 1"));
    // The client whose secret was under key 1 is shown as needing a new one.
    let listed = stdout(
        grantdb(&db)
            .arg("--key-file")
            .arg(&second)
            .args(["keys", "list"]),
    );
    assert!(listed.contains("1 unusable"), "{listed}");
    // The removed key may leave the ring; the last active key stays.
    stdout(grantdb(&db).arg("--key-file").arg(&second).arg("verify"));
    let output = grantdb(&db)
        .arg("--key-file")
        .arg(&second)
        .args(["keys", "retire", "2", "--yes"])
        .output()?;
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8(output.stderr)?.contains("key ring"));
    Ok(())
}

/// A client secret is still hashed under key 1: retiring it is refused,
/// saying what would break, unless forced.
fn retiring_is_refused_while_a_secret_depends(command: &mut Command) -> TestResult {
    let output = command.args(["keys", "retire", "1", "--yes"]).output()?;
    assert_eq!(output.status.code(), Some(3));
    let said = String::from_utf8(output.stderr)?;
    assert!(
        said.contains("1 client secret(s) are still hashed under key 1"),
        "{said}"
    );
    Ok(())
}

#[test]
fn keys_add_on_a_database_that_keeps_its_key_generates_one_inside() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    let added = stdout(grantdb(&db).args(["keys", "add"]));
    assert!(added.contains("added key 2"), "{added}");
    let listed = stdout(grantdb(&db).args(["keys", "list"]));
    assert!(listed.contains("2   active   yes      yes"), "{listed}");
    stdout(grantdb(&db).arg("verify"));
    Ok(())
}

fn hex_decode(text: &[u8]) -> Vec<u8> {
    text.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn stats_counts_pushed_and_device_requests() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("requests.redb");
    {
        let store = Store::open(&path, Config::default())?;
        let device = store
            .register_client(NewClient::public("scanner").grant_types([GrantType::DeviceCode]))?;
        let web = store.register_client(
            NewClient::confidential("web")
                .redirect_uri("https://web.example/cb")
                .grant_types([GrantType::AuthorizationCode]),
        )?;
        for _ in 0..2 {
            store.start_device_authorization(
                &store.authenticate_client(&device.client.id, None)?,
                None,
            )?;
        }
        store
            .push_authorization_request(grantdb::PushRequest::new(&authenticated(&store, &web)))?;
    }
    let json: serde_json::Value =
        serde_json::from_str(&stdout(grantdb(&path).args(["stats", "--json"])))?;
    assert_eq!(json["stats"]["device_requests"], 2);
    assert_eq!(json["stats"]["pushed_requests"], 1);
    let text = stdout(grantdb(&path).arg("stats"));
    assert!(
        text.contains("device requests                     2"),
        "{text}"
    );
    // A backup carries them: export, import, export gives the same lines.
    let backup = stdout(grantdb(&path).arg("export"));
    let copy = dir.path().join("copy.redb");
    assert!(import_text(&copy, &backup).status.success());
    assert_eq!(stdout(grantdb(&copy).arg("export")), backup);
    Ok(())
}

// ------------------------------------------------------------ operators' foot-guns (issue 24 §6)

/// A destructive command without a terminal to ask on needs `--yes`:
/// without it, a usage error (exit 2) and nothing done.
#[test]
fn destructive_commands_need_yes_without_a_terminal() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, client) = small_db(dir.path());
    let id = client.id().to_string();
    for args in [
        vec!["clients", "delete", &id],
        vec!["revoke", "--client", &id],
        vec!["revoke", "--subject", "alice"],
    ] {
        let output = grantdb(&db).args(&args).output()?;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8(output.stderr)?.contains("pass --yes"),
            "{args:?}"
        );
    }
    let store = Store::open(&db, Config::default())?;
    assert!(store.client(&client.id())?.is_some(), "nothing was deleted");
    assert_eq!(store.stats()?.grants, 3, "nothing was revoked");
    Ok(())
}

/// Bad input found after parsing is a usage error too (exit 2), as clap's.
#[test]
fn bad_input_after_parsing_is_a_usage_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    for args in [
        vec!["clients", "show", "not-an-id"],
        vec!["grants", "list", "--client", "nope"],
        vec!["clients", "create", "--name", "x", "--grant-type", "magic"],
        vec![
            "clients",
            "create",
            "--name",
            "x",
            "--grant-type",
            "password",
            "--scope",
            "a\"b",
        ],
        vec!["keys", "retire", "9", "--yes"],
    ] {
        let output = grantdb(&db).args(&args).output()?;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Every subcommand that prints a result prints it as JSON with `--json`.
#[test]
fn every_result_prints_as_json() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, client) = small_db(dir.path());
    let id = client.id().to_string();
    let parse = |args: &[&str]| -> serde_json::Value {
        let printed = stdout(grantdb(&db).args(args).arg("--json"));
        serde_json::from_str(&printed).unwrap_or_else(|e| panic!("{args:?}: {e}: {printed}"))
    };
    assert!(parse(&["stats"])["stats"]["grants"].is_u64());
    assert_eq!(parse(&["verify"])["ok"], true);
    assert!(parse(&["purge", "--dry-run"])["would_remove"].is_object());
    assert!(parse(&["purge"])["removed"].is_object());
    assert!(parse(&["compact"])["after"]["file_bytes"].is_u64());
    assert!(parse(&["clients", "list"]).is_array());
    assert_eq!(parse(&["clients", "show", &id])["name"], "pretalx");
    let created = parse(&[
        "clients",
        "create",
        "--name",
        "svc",
        "--grant-type",
        "client_credentials",
    ]);
    let new_id = created["client_id"].as_str().unwrap().to_owned();
    assert!(
        created["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("gdbcs_")
    );
    assert!(parse(&["clients", "rotate-secret", &new_id])["client_secret"].is_string());
    assert_eq!(
        parse(&["grants", "list", "--client", &id])
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(parse(&["revoke", "--subject", "bob", "--yes"])["grants"], 1);
    assert!(parse(&["revoke", "--token", "gdbat_nothing"])["revoked"].is_string());
    assert_eq!(parse(&["revoke", "--client", &id, "--yes"])["grants"], 2);
    assert_eq!(
        parse(&["clients", "delete", &new_id, "--yes"])["deleted"],
        new_id.as_str()
    );
    assert!(parse(&["keys", "list"]).is_array());
    assert_eq!(parse(&["keys", "add"])["minting"], true);
    Ok(())
}

/// `grants list --client ID` alone lists the client's grants.
#[test]
fn grants_list_takes_the_client_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, client) = small_db(dir.path());
    let listed =
        stdout(grantdb(&db).args(["grants", "list", "--client", &client.id().to_string()]));
    assert!(listed.ends_with("3 grant(s)\n"), "{listed}");
    Ok(())
}

/// `keys retire` refuses while live tokens were minted under the key (their
/// users would be signed out), saying how many, unless `--force`.
#[test]
fn keys_retire_refuses_while_live_tokens_were_minted_under_the_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, client) = small_db(dir.path());
    // Issue times are to the second: the new key comes a second later.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    stdout(grantdb(&db).args(["keys", "add"]));
    {
        // The client's secret moves to key 2 when it authenticates.
        let store = Store::open(&db, Config::default())?;
        let secret = store.rotate_client_secret(&client.id())?;
        store.authenticate_client(&client.id(), Some(secret.expose()))?;
    }
    let listed = stdout(grantdb(&db).args(["keys", "list"]));
    assert!(
        listed.lines().nth(1).is_some_and(|row| row.contains(" 6 ")),
        "{listed}"
    );
    let refused = grantdb(&db)
        .args(["keys", "retire", "1", "--yes"])
        .output()?;
    assert_eq!(refused.status.code(), Some(3));
    let said = String::from_utf8(refused.stderr)?;
    assert!(
        said.contains("6 live token(s) were minted under key 1"),
        "{said}"
    );
    let retired = stdout(grantdb(&db).args(["keys", "retire", "1", "--force", "--yes"]));
    assert!(retired.contains("retired key 1"));
    Ok(())
}

/// `import` onto an existing file names the target, not the backup, and
/// leaves the file as it was.
#[test]
fn import_onto_an_existing_file_blames_the_target() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, _) = small_db(dir.path());
    let backup = stdout(grantdb(&db).arg("export"));
    let before = std::fs::read(&db)?;
    let refused = import_text(&db, &backup);
    assert_eq!(refused.status.code(), Some(3));
    let said = String::from_utf8(refused.stderr)?;
    assert!(
        said.contains("db.redb: exists; import writes a new database"),
        "{said}"
    );
    assert!(!said.contains("bad backup"), "{said}");
    assert_eq!(std::fs::read(&db)?, before);
    Ok(())
}

#[test]
fn feed_prints_the_endings_and_follows_new_ones() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (db, client) = small_db(dir.path());
    // bob's grant and alice's two end: three entries (R33).
    assert_eq!(
        stdout(grantdb(&db).args(["revoke", "--subject", "bob", "--yes"]))
            .lines()
            .count(),
        1
    );
    stdout(grantdb(&db).args(["revoke", "--subject", "alice", "--yes"]));
    let page: serde_json::Value =
        serde_json::from_str(&stdout(grantdb(&db).args(["feed", "--json"])))?;
    let changes = page["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[0]["kind"]["grant_ended"]["reason"], "subject");
    assert_eq!(changes[0]["client_id"], client.id().to_string());
    assert_eq!(page["next"], 3);
    // Never a subject in plain text by default.
    assert!(!page.to_string().contains("alice"));
    let text = stdout(grantdb(&db).args(["feed", "--since", "1"]));
    assert_eq!(text.lines().count(), 2);
    assert!(text.lines().all(|line| line.contains("grant_ended")));
    // A cursor past the latest entry: resynchronise, exit 3.
    let refused = grantdb(&db).args(["feed", "--since", "9"]).output()?;
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("resynchronise"));
    // --follow prints what is there and keeps waiting.
    let mut follow = std::process::Command::new(assert_cmd::cargo::cargo_bin("grantdb"))
        .arg("--db")
        .arg(&db)
        .args(["feed", "--follow", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    for expected in 1..=3 {
        let line = lines.next().unwrap()?;
        let change: serde_json::Value = serde_json::from_str(&line)?;
        assert_eq!(change["seq"], expected);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(follow.try_wait()?.is_none(), "--follow stopped");
    follow.kill()?;
    follow.wait()?;
    Ok(())
}
