//! Opening databases: the hashing key and its fingerprint (R01), foreign and
//! newer files (R20).

use crate::support::*;
use grantdb::{Config, Error, HashingKey, RefreshRequest, Store};

fn keyed(key: [u8; 32]) -> Config {
    Config::builder()
        .hashing_key(HashingKey::from_bytes(key))
        .build()
        .unwrap()
}

#[test]
fn r01_a_generated_key_is_kept_and_reused_on_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.redb");
    let (app, tokens) = {
        let store = Store::open(&path, Config::default())?;
        let app = pretix_app(&store);
        let tokens = code_flow(&store, &app, "alice");
        (app, tokens)
    };
    let store = Store::open(&path, Config::default())?;
    assert!(is_valid(&store, access(&tokens)));
    assert!(
        store
            .refresh(RefreshRequest::new(
                refresh(&tokens),
                &authenticated(&store, &app.id, Some(app.secret()))
            ))
            .is_ok()
    );
    Ok(())
}

#[test]
fn r01_a_host_supplied_key_is_required_and_checked() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.redb");
    let tokens = {
        let store = Store::open(&path, keyed([1; 32]))?;
        let app = pretix_app(&store);
        code_flow(&store, &app, "alice")
    };
    assert!(matches!(
        Store::open(&path, Config::default()),
        Err(Error::HashingKeyRequired)
    ));
    assert!(matches!(
        Store::open(&path, keyed([2; 32])),
        Err(Error::WrongHashingKey)
    ));
    let store = Store::open(&path, keyed([1; 32]))?;
    assert!(is_valid(&store, access(&tokens)));
    Ok(())
}

#[test]
fn r01_a_generated_key_database_refuses_another_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.redb");
    drop(Store::open(&path, Config::default())?);
    assert!(matches!(
        Store::open(&path, keyed([3; 32])),
        Err(Error::WrongHashingKey)
    ));
    Ok(())
}

#[test]
fn r20_a_file_written_by_another_program_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    // Not a database at all.
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(
        &garbage,
        b"this is not a database, just some bytes".repeat(200),
    )?;
    assert!(matches!(
        Store::open(&garbage, Config::default()),
        Err(Error::NotAGrantdbDatabase)
    ));
    // A valid redb database with other tables.
    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign)?;
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(redb::TableDefinition::<u64, u64>::new("sessions"))?;
            table.insert(1, 2)?;
        }
        txn.commit()?;
    }
    assert!(matches!(
        Store::open(&foreign, Config::default()),
        Err(Error::NotAGrantdbDatabase)
    ));
    // A redb database that uses one of grantdb's table names with other types.
    let clash = dir.path().join("clash.redb");
    {
        let db = redb::Database::create(&clash)?;
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(redb::TableDefinition::<u64, u64>::new("tokens"))?;
            table.insert(1, 2)?;
        }
        txn.commit()?;
    }
    assert!(matches!(
        Store::open(&clash, Config::default()),
        Err(Error::NotAGrantdbDatabase)
    ));
    Ok(())
}

#[test]
fn r20_a_database_from_a_newer_format_version_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.redb");
    drop(Store::open(&path, Config::default())?);
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut meta =
                txn.open_table(redb::TableDefinition::<&[u8], &[u8]>::new("grantdb_meta"))?;
            meta.insert(
                b"format_version".as_slice(),
                (grantdb::FORMAT_VERSION + 1).to_be_bytes().as_slice(),
            )?;
        }
        txn.commit()?;
    }
    assert!(matches!(
        Store::open(&path, Config::default()),
        Err(Error::UnsupportedFormatVersion { found, supported }) if found == supported + 1
    ));
    Ok(())
}

#[test]
fn r20_a_database_in_use_is_reported() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db.redb");
    let _open = Store::open(&path, Config::default())?;
    assert!(matches!(
        Store::open(&path, Config::default()),
        Err(Error::DatabaseInUse)
    ));
    Ok(())
}
