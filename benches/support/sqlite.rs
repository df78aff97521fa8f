//! The SQLite peer: the schema a Django-OAuth-Toolkit- or Doorkeeper-style store
//! uses (token hash as unique key, indexed expiry), in WAL mode with
//! `synchronous=FULL` (durable) or `NORMAL` (fast). It hashes tokens with keyed
//! BLAKE3 as grantdb does, so both do the same work per token.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc
)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

const KEY: [u8; 32] = [42; 32];
const SCHEMA: &str = "
CREATE TABLE application (id INTEGER PRIMARY KEY, client_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
CREATE TABLE access_token (
    id INTEGER PRIMARY KEY,
    token_checksum BLOB NOT NULL UNIQUE,
    application_id INTEGER NOT NULL REFERENCES application(id),
    user_id TEXT,
    scope TEXT NOT NULL,
    expires INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX access_token_expires ON access_token(expires);
CREATE TABLE refresh_token (
    id INTEGER PRIMARY KEY,
    token_checksum BLOB NOT NULL UNIQUE,
    access_token_id INTEGER UNIQUE,
    application_id INTEGER NOT NULL REFERENCES application(id),
    user_id TEXT,
    revoked INTEGER,
    created INTEGER NOT NULL
);
INSERT INTO application (client_id, name) VALUES ('bench', 'bench');
";

/// `FULL` (durable) or `NORMAL` (fast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    Full,
    Normal,
}

pub fn connect(path: &Path, sync: Sync) -> Connection {
    let conn = Connection::open(path).unwrap();
    let sync = match sync {
        Sync::Full => "FULL",
        Sync::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=60000; PRAGMA cache_size=-{};",
        super::CACHE_BYTES / 1024
    ))
    .unwrap();
    conn
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn checksum(token: &str) -> [u8; 32] {
    *blake3::keyed_hash(&KEY, token.as_bytes()).as_bytes()
}

fn insert_pair(tx: &rusqlite::Transaction<'_>, user: &str, now: i64) -> (String, String) {
    let (access, refresh) = (new_token(), new_token());
    tx.prepare_cached(
        "INSERT INTO access_token (token_checksum, application_id, user_id, scope, expires, created) VALUES (?1, 1, ?2, 'read write', ?3, ?4)",
    )
    .unwrap()
    .execute(params![checksum(&access).as_slice(), user, now + 86_400, now])
    .unwrap();
    let access_id = tx.last_insert_rowid();
    tx.prepare_cached(
        "INSERT INTO refresh_token (token_checksum, access_token_id, application_id, user_id, revoked, created) VALUES (?1, ?2, 1, ?3, NULL, ?4)",
    )
    .unwrap()
    .execute(params![checksum(&refresh).as_slice(), access_id, user, now])
    .unwrap();
    (access, refresh)
}

/// Issues an access/refresh pair in one transaction.
pub fn issue_pair(conn: &mut Connection, user: &str, now: i64) -> (String, String) {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let pair = insert_pair(&tx, user, now);
    tx.commit().unwrap();
    pair
}

/// Issues an access token only (client credentials).
pub fn issue_access(conn: &mut Connection, now: i64, lifetime: i64) -> String {
    let token = new_token();
    conn.prepare_cached(
        "INSERT INTO access_token (token_checksum, application_id, user_id, scope, expires, created) VALUES (?1, 1, NULL, 'read', ?2, ?3)",
    )
    .unwrap()
    .execute(params![checksum(&token).as_slice(), now + lifetime, now])
    .unwrap();
    token
}

/// Validates an access token: one indexed lookup (autocommit).
pub fn validate(conn: &Connection, token: &str, now: i64) -> bool {
    conn.prepare_cached(
        "SELECT user_id, scope, expires FROM access_token WHERE token_checksum = ?1",
    )
    .unwrap()
    .query_row(params![checksum(token).as_slice()], |row| {
        let _user: Option<String> = row.get(0)?;
        let _scope: String = row.get(1)?;
        row.get::<_, i64>(2)
    })
    .optional()
    .unwrap()
    .is_some_and(|expires| now < expires)
}

/// Rotates a refresh token in one transaction: mark the old one revoked,
/// delete its access token, insert a new pair.
pub fn refresh(conn: &mut Connection, token: &str, now: i64) -> Option<(String, String)> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let found: Option<(i64, Option<i64>, Option<String>)> = tx
        .prepare_cached("SELECT id, access_token_id, user_id FROM refresh_token WHERE token_checksum = ?1 AND revoked IS NULL")
        .unwrap()
        .query_row(params![checksum(token).as_slice()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()
        .unwrap();
    let (id, access_id, user) = found?;
    tx.prepare_cached(
        "UPDATE refresh_token SET revoked = ?1, access_token_id = NULL WHERE id = ?2",
    )
    .unwrap()
    .execute(params![now, id])
    .unwrap();
    if let Some(access_id) = access_id {
        tx.prepare_cached("DELETE FROM access_token WHERE id = ?1")
            .unwrap()
            .execute(params![access_id])
            .unwrap();
    }
    let pair = insert_pair(&tx, user.as_deref().unwrap_or(""), now);
    tx.commit().unwrap();
    Some(pair)
}

/// Revokes an access token.
pub fn revoke(conn: &Connection, token: &str) -> bool {
    conn.prepare_cached("DELETE FROM access_token WHERE token_checksum = ?1")
        .unwrap()
        .execute(params![checksum(token).as_slice()])
        .unwrap()
        == 1
}

/// Inserts `count` access tokens that expired a minute before `now`, in one
/// transaction.
pub fn insert_expired(conn: &mut Connection, count: u64, now: i64) {
    let tx = conn.transaction().unwrap();
    for _ in 0..count {
        tx.prepare_cached(
            "INSERT INTO access_token (token_checksum, application_id, user_id, scope, expires, created) VALUES (?1, 1, NULL, 'read', ?2, ?3)",
        )
        .unwrap()
        .execute(params![checksum(&new_token()).as_slice(), now - 60, now - 120])
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Deletes every expired access token, in batches as cleanup jobs do.
pub fn purge(conn: &mut Connection, now: i64) -> usize {
    let mut removed = 0;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let n = tx
            .prepare_cached("DELETE FROM access_token WHERE id IN (SELECT id FROM access_token WHERE expires <= ?1 LIMIT 2000)")
            .unwrap()
            .execute(params![now])
            .unwrap();
        tx.commit().unwrap();
        removed += n;
        if n == 0 {
            return removed;
        }
    }
}

/// Writes a data set of `pairs` pairs (each from `insert`, in one
/// transaction) into a new database at `template` with `schema`, and the
/// sampled pairs to `samples`.
pub fn build_set(
    template: &Path,
    samples: &Path,
    schema: &str,
    pairs: usize,
    mut insert: impl FnMut(&rusqlite::Transaction<'_>, usize) -> (String, String),
) {
    let _ = std::fs::remove_file(template);
    let mut conn = connect(template, Sync::Normal);
    conn.execute_batch(schema).unwrap();
    let every = (pairs / super::SAMPLES).max(1);
    let mut text = String::new();
    let tx = conn.transaction().unwrap();
    for i in 0..pairs {
        let (access, refresh) = insert(&tx, i);
        if i % every == 0 {
            use std::fmt::Write as _;
            let _ = writeln!(text, "{access} {refresh}");
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(conn);
    std::fs::write(samples, text).unwrap();
}

/// A copy of the cached SQLite data set with `live / 2` pairs, and samples.
pub fn sqlite_set(live: usize) -> (tempfile::TempDir, PathBuf, Vec<(String, String)>) {
    let template = super::cache_dir().join(format!("sqlite-{live}.db"));
    let samples = super::cache_dir().join(format!("sqlite-{live}.samples"));
    if !template.exists() || !samples.exists() {
        eprintln!("building the SQLite data set with {live} live tokens");
        let now = now();
        build_set(&template, &samples, SCHEMA, live / 2, |tx, i| {
            insert_pair(tx, &format!("user-{i}"), now)
        });
    }
    let (dir, path) = super::copy_of(&template);
    (dir, path, super::read_pairs(&samples))
}

pub fn now_unsigned() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}
