//! The SQLite peer shaped like django-oauth-toolkit 3's tables: a SHA-256 hex
//! checksum as the access token's unique key, the refresh token's hash in a
//! `(token, revoked)` unique pair, Django's text datetimes, an index on every
//! foreign key (Django creates one) and on `expires` (what a cleanup job
//! needs). Secrets are stored as their SHA-256 only, as a store that keeps
//! no plaintext would (SHA-256 from the `sha2` crate grantdb already
//! depends on). The lean schema in `sqlite.rs` is its floor.

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
use sha2::{Digest as _, Sha256};

const SCHEMA: &str = "
CREATE TABLE oauth2_provider_application (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id varchar(100) NOT NULL UNIQUE,
    name varchar(255) NOT NULL
);
CREATE TABLE oauth2_provider_accesstoken (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_checksum varchar(64) NOT NULL UNIQUE,
    expires datetime NOT NULL,
    scope text NOT NULL,
    application_id bigint NULL REFERENCES oauth2_provider_application (id),
    user_id integer NULL,
    created datetime NOT NULL,
    updated datetime NOT NULL,
    source_refresh_token_id bigint NULL UNIQUE,
    id_token_id bigint NULL UNIQUE
);
CREATE INDEX oauth2_provider_accesstoken_application_id ON oauth2_provider_accesstoken (application_id);
CREATE INDEX oauth2_provider_accesstoken_user_id ON oauth2_provider_accesstoken (user_id);
CREATE INDEX oauth2_provider_accesstoken_expires ON oauth2_provider_accesstoken (expires);
CREATE TABLE oauth2_provider_refreshtoken (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token varchar(255) NOT NULL,
    access_token_id bigint NULL UNIQUE REFERENCES oauth2_provider_accesstoken (id),
    application_id bigint NOT NULL REFERENCES oauth2_provider_application (id),
    user_id integer NOT NULL,
    created datetime NOT NULL,
    updated datetime NOT NULL,
    revoked datetime NULL,
    token_family char(32) NULL,
    UNIQUE (token, revoked)
);
CREATE INDEX oauth2_provider_refreshtoken_application_id ON oauth2_provider_refreshtoken (application_id);
CREATE INDEX oauth2_provider_refreshtoken_user_id ON oauth2_provider_refreshtoken (user_id);
INSERT INTO oauth2_provider_application (client_id, name) VALUES ('bench', 'bench');
";

/// The lifetime of an access token (Django's default is 10 hours; a day here
/// keeps every token of a run live).
const ACCESS_SECONDS: i64 = 86_400;

fn new_token() -> String {
    let mut bytes = [0u8; 30];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn hex_digest(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Django's text form of a datetime, with microseconds.
fn datetime(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

fn insert_pair(
    tx: &rusqlite::Transaction<'_>,
    user: i64,
    source_refresh: Option<i64>,
    family: &str,
    now: i64,
) -> (String, String) {
    let (access, refresh) = (new_token(), new_token());
    let created = datetime(now);
    tx.prepare_cached(
        "INSERT INTO oauth2_provider_accesstoken (token_checksum, expires, scope, application_id, user_id, created, updated, source_refresh_token_id, id_token_id) VALUES (?1, ?2, 'read write', 1, ?3, ?4, ?4, ?5, NULL)",
    )
    .unwrap()
    .execute(params![hex_digest(&access), datetime(now + ACCESS_SECONDS), user, created, source_refresh])
    .unwrap();
    let access_id = tx.last_insert_rowid();
    tx.prepare_cached(
        "INSERT INTO oauth2_provider_refreshtoken (token, access_token_id, application_id, user_id, created, updated, revoked, token_family) VALUES (?1, ?2, 1, ?3, ?4, ?4, NULL, ?5)",
    )
    .unwrap()
    .execute(params![hex_digest(&refresh), access_id, user, created, family])
    .unwrap();
    (access, refresh)
}

fn new_family() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// Issues an access/refresh pair in one transaction (`BEGIN IMMEDIATE`).
pub fn issue_pair(conn: &mut Connection, user: i64, now: i64) -> (String, String) {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let pair = insert_pair(&tx, user, None, &new_family(), now);
    tx.commit().unwrap();
    pair
}

/// Validates an access token: one lookup by checksum (autocommit).
pub fn validate(conn: &Connection, token: &str, now: i64) -> bool {
    conn.prepare_cached(
        "SELECT user_id, scope, expires, application_id FROM oauth2_provider_accesstoken WHERE token_checksum = ?1",
    )
    .unwrap()
    .query_row(params![hex_digest(token)], |row| {
        let _user: Option<i64> = row.get(0)?;
        let _scope: String = row.get(1)?;
        row.get::<_, String>(2)
    })
    .optional()
    .unwrap()
    .is_some_and(|expires| datetime(now) < expires)
}

/// Rotates a refresh token as django-oauth-toolkit does, in one transaction:
/// find it unrevoked, mark it revoked, delete its access token, insert the
/// new pair in the same family.
pub fn refresh(conn: &mut Connection, token: &str, now: i64) -> Option<(String, String)> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let found: Option<(i64, Option<i64>, i64, Option<String>)> = tx
        .prepare_cached("SELECT id, access_token_id, user_id, token_family FROM oauth2_provider_refreshtoken WHERE token = ?1 AND revoked IS NULL")
        .unwrap()
        .query_row(params![hex_digest(token)], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .optional()
        .unwrap();
    let (id, access_id, user, family) = found?;
    tx.prepare_cached(
        "UPDATE oauth2_provider_refreshtoken SET revoked = ?1, updated = ?1, access_token_id = NULL WHERE id = ?2",
    )
    .unwrap()
    .execute(params![datetime(now), id])
    .unwrap();
    if let Some(access_id) = access_id {
        tx.prepare_cached("DELETE FROM oauth2_provider_accesstoken WHERE id = ?1")
            .unwrap()
            .execute(params![access_id])
            .unwrap();
    }
    let pair = insert_pair(&tx, user, Some(id), &family.unwrap_or_default(), now);
    tx.commit().unwrap();
    Some(pair)
}

/// A copy of the cached data set with `pairs` pairs, and sampled pairs.
pub fn dot_set(pairs: usize) -> (tempfile::TempDir, PathBuf, Vec<(String, String)>) {
    let template = super::cache_dir().join(format!("sqlite-dot-{pairs}-pairs.db"));
    let samples = super::cache_dir().join(format!("sqlite-dot-{pairs}-pairs.samples"));
    if !template.exists() || !samples.exists() {
        build(pairs, &template, &samples);
    }
    let (dir, path) = super::copy_of(&template);
    (dir, path, super::read_pairs(&samples))
}

fn build(pairs: usize, template: &Path, samples: &Path) {
    eprintln!("building the django-oauth-toolkit-shaped SQLite data set with {pairs} pairs");
    let now = super::sqlite::now();
    super::sqlite::build_set(template, samples, SCHEMA, pairs, |tx, i| {
        insert_pair(tx, i64::try_from(i).unwrap(), None, &new_family(), now)
    });
}
