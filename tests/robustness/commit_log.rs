//! The commit log (R19; `docs/design.md`, "The commit log"): a durable
//! commit is one log entry, the file is written durably only by
//! checkpoints, and opening replays what the log holds since the last one.
//!
//! A crash is imaged by copying the database file and its log while the
//! store is open: what a crash leaves on the disk is a subset of what the
//! page cache holds then, and redb's header in the file names its last
//! durable commit either way. The disk failing under the log is a storage
//! wrapper (`support/faulty.rs`): ENOSPC, EIO on the write or the sync, a
//! torn write.

use crate::support::faulty::{EIO, Faults, FaultyFile};
use crate::support::*;
use grantdb::{Config, Error, IssueRequest, Store, TokenResponse};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// No background checkpoint during a test: what the log holds stays there.
fn no_checkpoints() -> Config {
    Config::builder()
        .checkpoint_interval(Duration::from_hours(1))
        .build()
        .expect("config")
}

fn log_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".commitlog");
    name.into()
}

fn issue(store: &Store, app: &App, subject: &str) -> grantdb::Result<TokenResponse> {
    store.issue_for_subject(IssueRequest::new(&app.client, subject))
}

/// The entries' end in the log: its header and the bytes of its entries.
fn log_end(store: &Store) -> u64 {
    64 + store
        .backend()
        .commit_log_stats()
        .expect("a file store has a commit log")
        .entry_bytes
}

/// Copies the database and its log as a crash would leave them.
fn crash_image(db: &Path, into: &Path) -> std::io::Result<PathBuf> {
    let image = into.join("image.redb");
    copy_private(db, &image)?;
    copy_private(&log_of(db), &log_of(&image))?;
    Ok(image)
}

#[test]
fn r19_a_crash_image_holds_every_acknowledged_durable_operation_through_the_log() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("grants.redb");
    let store = Store::open(&db, no_checkpoints())?;
    let app = ticketpark_app(&store);
    let issued: Vec<TokenResponse> = (0..20)
        .map(|i| issue(&store, &app, &format!("user-{i}")))
        .collect::<Result<_, _>>()?;
    for tokens in &issued[..5] {
        store.revoke(access(tokens), &app.client)?;
    }
    let stats = store.backend().commit_log_stats().expect("a commit log");
    assert!(stats.entry_bytes > 0, "the operations went to the log");
    let image = crash_image(&db, dir.path())?;
    // The file alone is the last checkpoint: it lacks what the log carries.
    let file_alone = dir.path().join("file-alone.redb");
    copy_private(&image, &file_alone)?;
    {
        let alone = Store::open(&file_alone, no_checkpoints())?;
        assert!(
            !is_valid(&alone, access(&issued[10])),
            "the commits were not durable commits of the file"
        );
    }
    drop(store);

    let reopened = Store::open(&image, no_checkpoints())?;
    let replayed = reopened
        .backend()
        .commit_log_stats()
        .expect("a commit log")
        .replayed_at_open;
    assert!(replayed >= 25, "{replayed} entries replayed");
    for tokens in &issued[..5] {
        assert!(!is_valid(&reopened, access(tokens)), "revocation kept");
    }
    for tokens in &issued[5..] {
        assert!(is_valid(&reopened, access(tokens)), "issue kept");
    }
    assert!(reopened.verify()?.is_ok());
    // Replay is idempotent: the image opened again (its log now restarted
    // under a new epoch) holds the same.
    drop(reopened);
    let again = Store::open(&image, no_checkpoints())?;
    assert!(is_valid(&again, access(&issued[19])));
    assert!(!is_valid(&again, access(&issued[0])));
    Ok(())
}

#[test]
fn r19_a_torn_or_damaged_last_entry_is_the_end_and_everything_before_it_replays() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("grants.redb");
    let store = Store::open(&db, no_checkpoints())?;
    let app = ticketpark_app(&store);
    let earlier: Vec<TokenResponse> = (0..5)
        .map(|i| issue(&store, &app, &format!("user-{i}")))
        .collect::<Result<_, _>>()?;
    let before_last = log_end(&store);
    let last = issue(&store, &app, "last")?;
    let after_last = log_end(&store);
    let image = crash_image(&db, dir.path())?;
    drop(store);
    let whole_log = std::fs::read(log_of(&image))?;

    // Every 7th cut inside the last entry, and a flipped byte in each 8.
    let cuts = (before_last..after_last).step_by(7).map(|at| (at, true));
    let flips = (before_last..after_last).step_by(8).map(|at| (at, false));
    let cases: Vec<(u64, bool)> = cuts.chain(flips).collect();
    for (at, cut) in cases {
        let case = dir.path().join(format!("case-{at}-{cut}"));
        std::fs::create_dir(&case)?;
        let copy = case.join("image.redb");
        copy_private(&image, &copy)?;
        let mut log = whole_log.clone();
        if cut {
            log.truncate(usize::try_from(at)?);
        } else {
            log[usize::try_from(at)?] ^= 0x40;
        }
        write_private(&log_of(&copy), &log)?;
        let reopened = Store::open(&copy, no_checkpoints())?;
        for tokens in &earlier {
            assert!(
                is_valid(&reopened, access(tokens)),
                "byte {at}: an earlier entry lost"
            );
        }
        assert!(
            !is_valid(&reopened, access(&last)),
            "byte {at}: a torn or damaged entry was applied"
        );
        assert!(reopened.verify()?.is_ok(), "byte {at}");
        // The store goes on writing after the damaged tail.
        issue(&reopened, &app, "after")?;
    }
    Ok(())
}

/// A fault to arm, by name, and the error it must give.
type Case = (&'static str, Box<dyn Fn(&Faults)>, fn(&Error) -> bool);

/// A store whose file and log are on faulty storage; its log's faults.
fn store_on_faulty_log(dir: &Path, config: Config) -> (Store, Arc<Faults>) {
    let (db_faults, log_faults) = (Faults::new(), Faults::new());
    let store = Store::open_on_storage_with_log(
        FaultyFile::opener(dir.join("faulty.redb"), db_faults),
        FaultyFile::opener(dir.join("faulty.redb.commitlog"), Arc::clone(&log_faults)),
        None,
        config,
    )
    .expect("open on faulty storage");
    (store, log_faults)
}

#[test]
fn r19_the_log_disk_failing_loses_no_acknowledged_operation_and_makes_no_failed_one() -> TestResult
{
    let dir = tempfile::tempdir()?;
    let (store, faults) = store_on_faulty_log(dir.path(), no_checkpoints());
    let app = ticketpark_app(&store);
    let mut acknowledged: Vec<TokenResponse> = (0..10)
        .map(|i| issue(&store, &app, &format!("user-{i}")))
        .collect::<Result<_, _>>()?;
    let live = |store: &Store| store.stats().map(|stats| stats.live_access_tokens);
    let cases: [Case; 4] = [
        ("ENOSPC on the entry's write", Box::new(Faults::fill), |e| {
            matches!(e, Error::DiskFull)
        }),
        (
            "EIO on the entry's write",
            Box::new(|f| f.fail_once_after(0, EIO)),
            |e| matches!(e, Error::Io { .. }),
        ),
        (
            "EIO on the entry's fsync",
            Box::new(|f| f.fail_once_after(1, EIO)),
            |e| matches!(e, Error::Io { .. }),
        ),
        ("a torn entry", Box::new(Faults::tear_next_write), |e| {
            matches!(e, Error::Io { .. })
        }),
    ];
    for (name, arm, expected) in cases {
        let before = live(&store)?;
        arm(&faults);
        let error = issue(&store, &app, "refused").expect_err(name);
        assert!(expected(&error), "{name}: {error:?}");
        faults.free();
        // The failed operation was not made; every acknowledged one is there.
        assert_eq!(live(&store)?, before, "{name}");
        for tokens in &acknowledged {
            assert!(is_valid(&store, access(tokens)), "{name}");
        }
        acknowledged.push(issue(&store, &app, name)?);
        assert!(store.verify()?.is_ok(), "{name}");
    }
    // And after a crash (the store dropped; the files opened again without
    // faults), the same.
    let expected_live = live(&store)?;
    drop(store);
    let (reopened, _) = store_on_faulty_log(dir.path(), no_checkpoints());
    assert_eq!(live(&reopened)?, expected_live);
    for tokens in &acknowledged {
        assert!(is_valid(&reopened, access(tokens)));
    }
    assert!(reopened.verify()?.is_ok());
    Ok(())
}

#[test]
fn r19_a_full_disk_under_the_log_still_lets_revocation_through_after_a_checkpoint() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (store, faults) = store_on_faulty_log(dir.path(), no_checkpoints());
    let app = ticketpark_app(&store);
    let tokens: Vec<TokenResponse> = (0..30)
        .map(|i| issue(&store, &app, &format!("user-{i}")))
        .collect::<Result<_, _>>()?;
    faults.fill();
    // The failed write made the store reopen: its recovery checkpointed and
    // restarted the log, whose space (already written once) is reused.
    assert!(issue(&store, &app, "refused").is_err());
    store.revoke(access(&tokens[0]), &app.client)?;
    assert!(!is_valid(&store, access(&tokens[0])));
    faults.free();
    Ok(())
}

#[test]
fn a_log_that_does_not_match_its_database_file_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("grants.redb");
    let older = dir.path().join("older.redb");
    {
        let store = Store::open(&db, no_checkpoints())?;
        let app = ticketpark_app(&store);
        issue(&store, &app, "first")?;
    }
    copy_private(&db, &older)?;
    {
        let store = Store::open(&db, no_checkpoints())?;
        let app = ticketpark_app(&store);
        issue(&store, &app, "second")?;
    }
    // An older copy of the file restored beside the newer log.
    copy_private(&log_of(&db), &log_of(&older))?;
    let refused = Store::open(&older, no_checkpoints()).expect_err("older file, newer log");
    assert!(
        matches!(&refused, Error::UnsafeFile { path, .. } if *path == log_of(&older)),
        "{refused:?}"
    );
    // Another database's log.
    let other = dir.path().join("other.redb");
    drop(Store::open(&other, no_checkpoints())?);
    copy_private(&log_of(&db), &log_of(&other))?;
    let refused = Store::open(&other, no_checkpoints()).expect_err("another database's log");
    assert!(matches!(refused, Error::UnsafeFile { .. }), "{refused:?}");
    // Moved away, as the error says, the file opens as it is.
    std::fs::remove_file(log_of(&older))?;
    assert!(Store::open(&older, no_checkpoints())?.verify()?.is_ok());
    Ok(())
}

#[test]
fn r19_a_clean_close_leaves_the_database_complete_in_its_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("grants.redb");
    let tokens = {
        let store = Store::open(&db, no_checkpoints())?;
        let app = ticketpark_app(&store);
        issue(&store, &app, "closed cleanly")?
    };
    std::fs::remove_file(log_of(&db))?;
    let reopened = Store::open(&db, no_checkpoints())?;
    assert!(is_valid(&reopened, access(&tokens)));
    Ok(())
}

#[test]
fn r19_the_checkpoint_thread_empties_the_log_on_its_interval() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("grants.redb");
    let config = Config::builder()
        .checkpoint_interval(Duration::from_millis(20))
        .build()?;
    let store = Store::open(&db, config)?;
    let app = ticketpark_app(&store);
    issue(&store, &app, "someone")?;
    let stats = || store.backend().commit_log_stats().expect("a commit log");
    let start = stats().checkpoints;
    // Wait for the thread, however slow the machine (bounded: 30 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stats().checkpoints == start || stats().entry_bytes > 0 {
        assert!(std::time::Instant::now() < deadline, "no checkpoint came");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[test]
fn verify_reports_damage_to_the_commit_log() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("grants.redb");
    let store = Store::open(&db, no_checkpoints())?;
    let app = ticketpark_app(&store);
    issue(&store, &app, "someone")?;
    assert!(store.verify()?.is_ok());
    // A byte of the first entry's body changed behind the store's back.
    let log = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(log_of(&db))?;
    let mut byte = [0u8];
    std::os::unix::fs::FileExt::read_exact_at(&log, &mut byte, 64 + 30)?;
    std::os::unix::fs::FileExt::write_all_at(&log, &[byte[0] ^ 1], 64 + 30)?;
    let report = store.verify()?;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.what.contains("commit log")),
        "{:?}",
        report.problems
    );
    Ok(())
}
