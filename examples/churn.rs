//! File growth under steady churn: token pairs are issued, expire and are
//! purged continuously around a stable live set. Prints the grantdb file size
//! per round, the size after `compact()`, and the bytes per live pair, beside a
//! SQLite database running the same churn (with `VACUUM` for its compacted
//! size).
//!
//! ```text
//! cargo run --release --example churn -- [--per-round 5000] [--rounds 60] [--lifetime-rounds 20]
//! ```
//!
//! Each round is one simulated minute: `per-round` password-grant pairs are
//! issued (access tokens live `lifetime-rounds / 2` minutes, refresh tokens
//! `lifetime-rounds` minutes), the clock moves on, and everything expired is
//! purged. The live set settles at `per-round × lifetime-rounds` pairs.

use std::error::Error;
use std::time::Duration;

use grantdb::IssueRequest;
use grantdb::{
    Config, Durability, GrantType, LifetimeOverrides, ManualClock, NewClient, RefreshLifetime,
    Store,
};
use rusqlite::params;

struct Options {
    per_round: u64,
    rounds: u64,
    lifetime_rounds: u64,
}

fn options() -> Result<Options, Box<dyn Error>> {
    let mut options = Options {
        per_round: 5_000,
        rounds: 60,
        lifetime_rounds: 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value: u64 = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse()?;
        match flag.as_str() {
            "--per-round" => options.per_round = value,
            "--rounds" => options.rounds = value,
            "--lifetime-rounds" => options.lifetime_rounds = value,
            other => return Err(format!("unknown flag {other:?}").into()),
        }
    }
    Ok(options)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let options = options()?;
    let dir = tempfile::tempdir()?;
    let live_pairs = options.per_round * options.lifetime_rounds;
    println!(
        "churn: {} pairs per round, {} rounds, live set ≈ {} pairs",
        options.per_round, options.rounds, live_pairs
    );

    // grantdb
    let clock = ManualClock::new(1_700_000_000);
    let config = Config::builder()
        .durability(Durability::Fast)
        .clock(clock.handle())
        .build()?;
    let mut store = Store::open(dir.path().join("churn.redb"), config)?;
    let lifetime = options.lifetime_rounds * 60;
    let client = {
        let registered = store.register_client(
            NewClient::confidential("churn")
                .grant_types([GrantType::Password, GrantType::RefreshToken])
                .lifetimes(
                    LifetimeOverrides::default()
                        .access(Duration::from_secs(lifetime / 2))
                        .refresh(RefreshLifetime::AbsoluteSeconds(lifetime)),
                ),
        )?;
        store.authenticate_client(
            &registered.client.id,
            registered.secret.as_ref().map(grantdb::Secret::expose),
        )?
    };
    let mut peak = 0;
    for round in 0..options.rounds {
        for i in 0..options.per_round {
            store.issue_for_subject(IssueRequest::new(&client, format!("user-{round}-{i}")))?;
        }
        clock.advance(60);
        let purged = store.purge_expired()?;
        let space = store.space()?;
        peak = peak.max(space.file_bytes);
        if round % 10 == 9 || round + 1 == options.rounds {
            println!(
                "round {:>4}: file {:>8.1} MiB, allocated {:>8.1} MiB, purged {:>7} entries",
                round + 1,
                mib(space.file_bytes),
                mib(space.allocated_bytes),
                purged.removed()
            );
        }
    }
    store.flush()?;
    let (before, after) = store.compact()?;
    let live = store.grants_of_client(&client.id(), &grantdb::PageRequest::first(1))?;
    drop(live);
    println!(
        "grantdb: after churn {:.1} MiB (peak {:.1} MiB), compacted {:.1} MiB, ratio {:.2}; {:.0} bytes per live pair",
        mib(before.file_bytes),
        mib(peak),
        mib(after.file_bytes),
        before.file_bytes as f64 / after.file_bytes.max(1) as f64,
        after.file_bytes as f64 / live_pairs as f64
    );

    sqlite_churn(&options, dir.path())
}

/// The same churn on SQLite: what a Django/Doorkeeper-style cleanup job does.
fn sqlite_churn(options: &Options, dir: &std::path::Path) -> Result<(), Box<dyn Error>> {
    let live_pairs = options.per_round * options.lifetime_rounds;
    let lifetime = options.lifetime_rounds * 60;
    let path = dir.join("churn.db");
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE access_token (id INTEGER PRIMARY KEY, token_checksum BLOB NOT NULL UNIQUE,
             application_id INTEGER NOT NULL, user_id TEXT, scope TEXT NOT NULL, expires INTEGER NOT NULL,
             created INTEGER NOT NULL);
         CREATE INDEX access_token_expires ON access_token(expires);
         CREATE TABLE refresh_token (id INTEGER PRIMARY KEY, token_checksum BLOB NOT NULL UNIQUE,
             access_token_id INTEGER UNIQUE, application_id INTEGER NOT NULL, user_id TEXT, revoked INTEGER,
             created INTEGER NOT NULL);
         CREATE INDEX refresh_token_created ON refresh_token(created);",
    )?;
    let mut now: i64 = 1_700_000_000;
    let lifetime = i64::try_from(lifetime)?;
    let mut counter = 0u64;
    for _ in 0..options.rounds {
        let tx = conn.unchecked_transaction()?;
        for i in 0..options.per_round {
            counter += 1;
            let access = blake3::hash(&counter.to_le_bytes());
            let refresh = blake3::hash(&(counter | 1 << 63).to_le_bytes());
            tx.execute(
                "INSERT INTO access_token (token_checksum, application_id, user_id, scope, expires, created) VALUES (?1, 1, ?2, '', ?3, ?4)",
                params![access.as_bytes().as_slice(), format!("user-{i}"), now + lifetime / 2, now],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO refresh_token (token_checksum, access_token_id, application_id, user_id, created) VALUES (?1, ?2, 1, ?3, ?4)",
                params![refresh.as_bytes().as_slice(), id, format!("user-{i}"), now],
            )?;
        }
        tx.commit()?;
        now += 60;
        conn.execute("DELETE FROM access_token WHERE expires <= ?1", params![now])?;
        conn.execute(
            "DELETE FROM refresh_token WHERE created <= ?1",
            params![now - lifetime],
        )?;
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    let churned = std::fs::metadata(&path)?.len();
    conn.execute_batch("VACUUM;")?;
    let vacuumed = std::fs::metadata(&path)?.len();
    println!(
        "sqlite:  after churn {:.1} MiB, vacuumed {:.1} MiB, ratio {:.2}; {:.0} bytes per live pair",
        mib(churned),
        mib(vacuumed),
        churned as f64 / vacuumed.max(1) as f64,
        vacuumed as f64 / live_pairs as f64
    );
    Ok(())
}
