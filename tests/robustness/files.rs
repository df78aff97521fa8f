//! Files an attacker prepares (issue 24, §1): a local user who can write the
//! database's directory plants symbolic links or files at the paths grantdb
//! will create; grantdb never writes through them, never keeps its
//! generated key in a file others can read, and names the path when it
//! refuses.
#![cfg(unix)]

use crate::support::*;
use grantdb::{Config, Error, ExportEntry, HashingKey, Store};
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

/// A file of the attacker's, readable by everyone, whose content the test
/// checks is never replaced.
fn attacker_file(dir: &Path) -> PathBuf {
    let path = dir.join("attacker-owned");
    std::fs::write(&path, b"the attacker's file").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

fn untouched(path: &Path) -> bool {
    std::fs::read(path).unwrap() == b"the attacker's file"
}

/// The entries of a small store with a client and a grant.
fn backup() -> Vec<ExportEntry> {
    let store = Store::in_memory(Config::default()).unwrap();
    let app = pretix_app(&store);
    let _ = code_flow(&store, &app, "alice");
    let mut entries = Vec::new();
    store
        .export(|entry| {
            entries.push(entry);
            Ok(())
        })
        .unwrap();
    entries
}

fn unsafe_path(error: &Error) -> Option<&Path> {
    match error {
        Error::UnsafeFile { path, .. } => Some(path),
        _ => None,
    }
}

#[test]
fn import_staging_never_follows_a_planted_symlink() -> TestResult {
    let dir = tempfile::tempdir()?;
    let theirs = attacker_file(dir.path());
    let entries = backup();
    let target = dir.path().join("imported.redb");
    let staging = dir.path().join("imported.redb.importing");
    // Planted before the import starts: removed, never written through.
    symlink(&theirs, &staging)?;
    grantdb::import(
        &target,
        &Config::default(),
        entries.clone().into_iter().map(Ok),
    )?;
    assert!(untouched(&theirs));
    assert!(
        std::fs::symlink_metadata(&target)?.is_file(),
        "the target is a file of its own"
    );
    assert!(Store::open(&target, Config::default())?.verify()?.is_ok());
    assert!(
        std::fs::symlink_metadata(&staging).is_err(),
        "no staging file is left"
    );

    // Swapped in while the import writes (the entries' iterator runs inside
    // the import): the import is refused, naming the staging path, and
    // writes nowhere.
    let target = dir.path().join("second.redb");
    let staging = dir.path().join("second.redb.importing");
    let mut swapped = false;
    let swapping = entries.clone().into_iter().map(|entry| {
        if !swapped {
            swapped = true;
            std::fs::remove_file(&staging).unwrap();
            symlink(&theirs, &staging).unwrap();
        }
        Ok(entry)
    });
    let refused = grantdb::import(&target, &Config::default(), swapping).unwrap_err();
    assert_eq!(unsafe_path(&refused), Some(staging.as_path()), "{refused}");
    assert!(untouched(&theirs));
    assert!(
        std::fs::symlink_metadata(&target).is_err(),
        "no target was made"
    );
    assert!(
        std::fs::symlink_metadata(&staging)?
            .file_type()
            .is_symlink(),
        "the link is not ours to remove"
    );
    Ok(())
}

#[test]
fn an_import_whose_target_appears_meanwhile_names_the_target() -> TestResult {
    let dir = tempfile::tempdir()?;
    let target = dir.path().join("imported.redb");
    let mut appeared = false;
    let appearing = backup().into_iter().map(|entry| {
        if !appeared {
            appeared = true;
            std::fs::write(&target, b"another program's file").unwrap();
        }
        Ok(entry)
    });
    let refused = grantdb::import(&target, &Config::default(), appearing).unwrap_err();
    assert_eq!(unsafe_path(&refused), Some(target.as_path()));
    let message = refused.to_string();
    assert!(
        message.contains("imported.redb") && message.contains("appeared"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&target)?,
        b"another program's file",
        "the other file is kept"
    );
    // A target there before the import (or a link there) blames the target too.
    let link = dir.path().join("link.redb");
    symlink(dir.path().join("nowhere"), &link)?;
    let refused =
        grantdb::import(&link, &Config::default(), backup().into_iter().map(Ok)).unwrap_err();
    assert_eq!(unsafe_path(&refused), Some(link.as_path()), "{refused}");
    Ok(())
}

#[test]
fn the_disk_reserve_never_follows_a_planted_symlink() -> TestResult {
    let dir = tempfile::tempdir()?;
    let theirs = attacker_file(dir.path());
    let path = dir.path().join("db.redb");
    let reserve = dir.path().join("db.redb.reserve");
    symlink(&theirs, &reserve)?;
    let store = Store::open(&path, Config::builder().disk_reserve(1 << 20).build()?)?;
    assert!(untouched(&theirs), "the linked file was not overwritten");
    let meta = std::fs::symlink_metadata(&reserve)?;
    assert!(
        meta.is_file() && meta.len() == 1 << 20,
        "the reserve is a file of its own"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    drop(store);
    // A second name of another file (a hard link) is not taken as the
    // reserve either.
    std::fs::remove_file(&reserve)?;
    let big = dir.path().join("big");
    std::fs::write(&big, vec![7u8; 1 << 20])?;
    std::fs::hard_link(&big, &reserve)?;
    drop(Store::open(
        &path,
        Config::builder().disk_reserve(1 << 20).build()?,
    )?);
    assert_eq!(
        std::fs::read(&big)?,
        vec![7u8; 1 << 20],
        "the other name's file is untouched"
    );
    Ok(())
}

#[test]
fn a_database_path_that_is_a_symlink_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let theirs = attacker_file(dir.path());
    let path = dir.path().join("db.redb");
    symlink(&theirs, &path)?;
    let refused = Store::open(&path, Config::default()).unwrap_err();
    assert_eq!(unsafe_path(&refused), Some(path.as_path()), "{refused}");
    assert!(refused.to_string().contains("symbolic link"));
    assert!(untouched(&theirs));
    // A dangling one too: nothing is created at its end.
    let dangling = dir.path().join("dangling.redb");
    symlink(dir.path().join("created-through-the-link"), &dangling)?;
    assert!(Store::open(&dangling, Config::default()).is_err());
    assert!(!dir.path().join("created-through-the-link").exists());
    Ok(())
}

#[test]
fn a_world_readable_database_never_keeps_a_generated_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mode_of = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    // An empty file made beforehand, readable by everyone: grantdb writes all
    // of its content (the generated key included), so it becomes 0600.
    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, b"")?;
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o644))?;
    drop(Store::open(&empty, Config::default())?);
    assert_eq!(mode_of(&empty), 0o600);
    // A database holding its generated key, made readable afterwards: refused,
    // naming the mode, and left as it is.
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o644))?;
    let refused = Store::open(&empty, Config::default()).unwrap_err();
    assert_eq!(unsafe_path(&refused), Some(empty.as_path()));
    assert!(refused.to_string().contains("0644"), "{refused}");
    assert_eq!(mode_of(&empty), 0o644);
    // With the key configured the file holds no key: its mode is the
    // operator's.
    let keyed = dir.path().join("keyed.redb");
    let config = || {
        Config::builder()
            .hashing_key(HashingKey::from_bytes([7; 32]))
            .build()
    };
    drop(Store::open(&keyed, config()?)?);
    std::fs::set_permissions(&keyed, std::fs::Permissions::from_mode(0o640))?;
    drop(Store::open(&keyed, config()?)?);
    assert_eq!(mode_of(&keyed), 0o640);
    Ok(())
}
