//! The other two peers: bare redb (the floor grantdb's design can reach) and
//! oxide-auth's in-memory `TokenMap`.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc
)]

use std::path::PathBuf;

use oxide_auth::primitives::generator::RandomGenerator;
use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth::primitives::issuer::{Issuer, TokenMap};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};

/// Bare redb: 32-byte keys, ~120-byte values, and an expiry index entry each.
pub const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tokens");
pub const EXPIRY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("expiry");

pub fn key(i: u64) -> [u8; 32] {
    *blake3::hash(&i.to_le_bytes()).as_bytes()
}

/// A copy of a bare redb database holding `live` entries.
pub fn redb_set(live: usize) -> (tempfile::TempDir, Database) {
    let template: PathBuf = super::cache_dir().join(format!("redb-bare-{live}.redb"));
    if !template.exists() {
        eprintln!("building the bare redb data set with {live} entries");
        let db = Database::create(&template).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut tokens = txn.open_table(TOKENS).unwrap();
            let mut expiry = txn.open_table(EXPIRY).unwrap();
            for i in 0..live as u64 {
                tokens
                    .insert(key(i).as_slice(), super::VALUE.as_slice())
                    .unwrap();
                let mut index = [0u8; 40];
                index[..8].copy_from_slice(&(1_800_000_000 + i).to_be_bytes());
                index[8..].copy_from_slice(&key(i));
                expiry.insert(index.as_slice(), [].as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let (dir, path) = super::copy_of(&template);
    let mut builder = Database::builder();
    builder.set_cache_size(super::CACHE_BYTES);
    (dir, builder.create(path).unwrap())
}

/// Inserts one entry and its expiry index entry in one transaction.
pub fn redb_insert(db: &Database, i: u64, durability: Durability) {
    let mut txn = db.begin_write().unwrap();
    txn.set_durability(durability).unwrap();
    {
        let k = key(i);
        txn.open_table(TOKENS)
            .unwrap()
            .insert(k.as_slice(), super::VALUE.as_slice())
            .unwrap();
        let mut index = [0u8; 40];
        index[..8].copy_from_slice(&(1_900_000_000 + i).to_be_bytes());
        index[8..].copy_from_slice(&k);
        txn.open_table(EXPIRY)
            .unwrap()
            .insert(index.as_slice(), [].as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

/// One lookup in a new read transaction, as a validation would do.
pub fn redb_get(db: &Database, i: u64) -> bool {
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(TOKENS).unwrap();
    table
        .get(key(i).as_slice())
        .unwrap()
        .is_some_and(|v| v.value().len() == 120)
}

/// oxide-auth's `TokenMap` holding `live / 2` issued pairs.
pub fn oxide_set(live: usize) -> (TokenMap<RandomGenerator>, Vec<(String, String)>) {
    let mut map = TokenMap::new(RandomGenerator::new(16));
    let mut samples = Vec::new();
    let every = (live / 2 / 20_000).max(1);
    for i in 0..live / 2 {
        let issued = map.issue(oxide_grant(i)).unwrap();
        if i % every == 0 {
            samples.push((issued.token, issued.refresh.unwrap()));
        }
    }
    (map, samples)
}

pub fn oxide_grant(i: usize) -> Grant {
    Grant {
        owner_id: format!("user-{i}"),
        client_id: "bench".to_owned(),
        scope: "read write".parse().unwrap(),
        redirect_uri: "https://bench.example/cb".parse().unwrap(),
        until: chrono::Utc::now() + chrono::Duration::hours(1),
        extensions: Extensions::new(),
    }
}
