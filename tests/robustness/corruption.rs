//! Damaged database files (R20): truncated files and flipped bytes give an
//! error on open or on the operation that reads the damage; none panics, and
//! none makes a revoked or unknown token validate.
//!
//! `GRANTDB_CORRUPTION_TRIALS` sets the number of flipped-byte files (default 150).

use crate::support::*;
use grantdb::{Config, IntrospectRequest, RefreshRequest, Store};
use rand::RngExt as _;
use std::path::Path;

/// A database with live tokens and revoked ones, closed cleanly.
struct Damaged {
    _dir: tempfile::TempDir,
    bytes: Vec<u8>,
    revoked: Vec<String>,
    live: Vec<String>,
    /// The client that asks for introspections (authenticated before the
    /// damage).
    caller: grantdb::AuthenticatedClient,
}

fn build() -> Damaged {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let mut revoked = Vec::new();
    let mut live = Vec::new();
    let caller = {
        let store = Store::open(&path, Config::default()).unwrap();
        let app = pretix_app(&store);
        for i in 0..40 {
            let tokens = code_flow(&store, &app, &format!("user{i}"));
            if i % 2 == 0 {
                store.revoke(refresh(&tokens), &app.client).unwrap();
                revoked.push(access(&tokens).to_owned());
                revoked.push(refresh(&tokens).to_owned());
            } else {
                let rotated = store
                    .refresh(RefreshRequest::new(refresh(&tokens), &app.client))
                    .unwrap();
                revoked.push(access(&tokens).to_owned());
                live.push(access(&rotated).to_owned());
            }
        }
        app.client
    };
    let bytes = std::fs::read(&path).unwrap();
    Damaged {
        _dir: dir,
        bytes,
        revoked,
        live,
        caller,
    }
}

/// Opens a damaged copy and exercises it; returns whether it opened. Panics
/// only if grantdb gave a wrong answer.
fn exercise(path: &Path, damaged: &Damaged) -> bool {
    let Ok(store) = Store::open(path, Config::default()) else {
        return false;
    };
    for token in &damaged.revoked {
        // A revoked token never validates, however the file was damaged.
        assert!(
            store.validate(token).is_err(),
            "a revoked token validated in a damaged file"
        );
        if let Ok(introspection) = store.introspect(IntrospectRequest::new(token, &damaged.caller))
        {
            assert!(
                !introspection.active,
                "a revoked token is active in a damaged file"
            );
        }
    }
    for token in &damaged.live {
        // Live tokens may fail to read; whatever answer comes must be typed.
        let _ = store.validate(token);
    }
    let _ = store.verify();
    let _ = store.purge_expired();
    true
}

#[test]
fn r20_truncated_files_are_errors_not_panics() -> TestResult {
    let damaged = build();
    let dir = tempfile::tempdir()?;
    let len = damaged.bytes.len();
    for cut in [0, 1, 512, 4_096, len / 3, len / 2, len - 4_096, len - 1] {
        let path = dir.path().join(format!("cut-{cut}.redb"));
        write_private(&path, &damaged.bytes[..cut])?;
        exercise(&path, &damaged);
    }
    Ok(())
}

#[test]
fn r20_flipped_bytes_never_make_a_revoked_token_validate() -> TestResult {
    let damaged = build();
    let trials: usize = std::env::var("GRANTDB_CORRUPTION_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("flipped.redb");
    let mut rng = rand::rng();
    let mut opened = 0;
    for _ in 0..trials {
        let mut bytes = damaged.bytes.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] ^= 1 << rng.random_range(0..8);
        }
        // Each trial is a new file: the commit log an earlier trial's open
        // started belongs to that one (and a log one epoch ahead of its file
        // is refused: an older copy restored beside it).
        remove_commit_log(&path)?;
        write_private(&path, &bytes)?;
        opened += usize::from(exercise(&path, &damaged));
    }
    // Most single flips land in free or unread space: the file still opens.
    assert!(opened > 0);
    // And the undamaged file still serves every live token.
    remove_commit_log(&path)?;
    write_private(&path, &damaged.bytes)?;
    let store = Store::open(&path, Config::default())?;
    for token in &damaged.live {
        assert!(is_valid(&store, token));
    }
    Ok(())
}

/// Removes the commit log beside `db`, if there is one.
fn remove_commit_log(db: &std::path::Path) -> std::io::Result<()> {
    let mut name = db.as_os_str().to_owned();
    name.push(".commitlog");
    match std::fs::remove_file(std::path::PathBuf::from(name)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}
