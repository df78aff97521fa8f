//! Purge cost per removed entry (R14): 100k expired client-credentials tokens
//! purged from a store holding no live token, and from one holding the largest
//! data set (1M live tokens in a full run). The two figures must be close: purge
//! reads only what is due. SQLite's indexed `DELETE` is measured beside it.
//!
//! ```text
//! cargo bench --bench purge
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_wrap)]

mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use grantdb::ClientCredentialsRequest;
use grantdb::{Config, Durability, GrantType, LifetimeOverrides, ManualClock, NewClient, Store};
use support::sqlite::{self, Sync};
use support::{copy_of, grantdb_set, quick, registered, run_concurrently, sizes};

fn expired_count() -> u64 {
    if quick() { 500 } else { 100_000 }
}

/// A cached grantdb file with `live` live tokens and `expired_count()` tokens
/// that expire one minute after the data set's clock start.
fn purge_template(live: usize) -> (std::path::PathBuf, u64) {
    let path = support::cache_dir().join(format!("purge-{live}-{}.redb", expired_count()));
    let start = support::sqlite::now_unsigned();
    let stamp = path.with_extension("start");
    if path.exists() && stamp.exists() {
        return (
            path,
            std::fs::read_to_string(stamp)
                .unwrap()
                .trim()
                .parse()
                .unwrap(),
        );
    }
    eprintln!(
        "building the purge data set: {live} live, {} expiring",
        expired_count()
    );
    if live > 0 {
        let set = grantdb_set(live, Durability::Fast);
        drop(set.store);
        support::remove_database(&path);
        std::fs::copy(set.dir.path().join(format!("grantdb-{live}.redb")), &path).unwrap();
    } else {
        support::remove_database(&path);
    }
    let clock = ManualClock::new(start);
    let config = Config::builder()
        .durability(Durability::Fast)
        .clock(clock)
        .build()
        .unwrap();
    let store = Store::open(&path, config).unwrap();
    let client = registered(
        &store,
        NewClient::confidential("expiring")
            .grant_types([GrantType::ClientCredentials])
            .lifetimes(LifetimeOverrides::default().access(Duration::from_mins(1))),
    );
    run_concurrently(4, expired_count(), |_, _| {
        store
            .issue_client_credentials(ClientCredentialsRequest::new(&client))
            .unwrap();
    });
    store.flush().unwrap();
    drop(store);
    std::fs::write(&stamp, start.to_string()).unwrap();
    (path, start)
}

fn grantdb_purge(c: &mut Criterion) {
    let largest = sizes().into_iter().max().unwrap_or(1_000);
    let mut group = c.benchmark_group("purge");
    group.throughput(Throughput::Elements(expired_count()));
    group.sample_size(10);
    for live in [0, largest] {
        let (template, start) = purge_template(live);
        group.bench_function(format!("grantdb/{live}-live"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (_dir, path) = copy_of(&template);
                    let clock = ManualClock::new(start + 61);
                    let config = Config::builder().clock(clock).build().unwrap();
                    let store = Store::open(&path, config).unwrap();
                    let began = Instant::now();
                    let report = store.purge_expired().unwrap();
                    total += began.elapsed();
                    assert!(report.access_tokens >= expired_count());
                }
                total
            });
        });
    }
    for live in [0, largest] {
        let (dir, path, _) = sqlite::sqlite_set(live.max(2));
        let template = dir.path().join("purge-template.db");
        {
            let mut conn = sqlite::connect(&path, Sync::Full);
            sqlite::insert_expired(&mut conn, expired_count(), sqlite::now());
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                .unwrap();
        }
        std::fs::copy(&path, &template).unwrap();
        group.bench_function(format!("sqlite/{live}-live"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (_copy_dir, copy) = copy_of(&template);
                    let mut conn = sqlite::connect(&copy, Sync::Full);
                    let began = Instant::now();
                    let removed = sqlite::purge(&mut conn, sqlite::now());
                    total += began.elapsed();
                    assert!(removed as u64 >= expired_count());
                }
                total
            });
        });
    }
    group.finish();
}

fn main() {
    let mut c = support::criterion();
    grantdb_purge(&mut c);
    c.final_summary();
}
