//! Validation with and without the hot-token cache (issue 26 §2): 256 hot
//! tokens and 20,000 cycled ones at 100k live tokens, beside a `HashMap`
//! behind a lock (what an in-memory store pays), SQLite and a bare redb get.
//!
//! ```text
//! GRANTDB_BENCH_SIZES=100000 cargo bench --bench hot
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::hint::black_box;

use criterion::Criterion;
use grantdb::{Config, Durability, TokenInfo};
use parking_lot::RwLock;
use support::sqlite::{self, Sync};
use support::{grantdb_set_configured, middle_size, peers};

const HOT: usize = 256;

fn hot(c: &mut Criterion) {
    let live = middle_size();
    let mut group = c.benchmark_group(format!("hot/{live}"));
    for (name, entries) in [("cache", grantdb::DEFAULT_HOT_TOKENS), ("no-cache", 0)] {
        let config = Config::builder()
            .durability(Durability::Durable)
            .hot_token_cache(entries);
        let set = grantdb_set_configured(live, config);
        let mut i = 0usize;
        group.bench_function(format!("grantdb/{name}/hot-{HOT}"), |b| {
            b.iter(|| {
                i = (i + 1) % HOT;
                black_box(set.store.validate(&set.access[i]).unwrap());
            });
        });
        group.bench_function(format!("grantdb/{name}/cycled-{}", set.access.len()), |b| {
            b.iter(|| {
                i = (i + 1) % set.access.len();
                black_box(set.store.validate(&set.access[i]).unwrap());
            });
        });
        if entries == 0 {
            // The same validations, kept in a map behind a lock.
            let map: RwLock<HashMap<String, TokenInfo>> = RwLock::new(
                set.access[..HOT]
                    .iter()
                    .map(|token| (token.clone(), set.store.validate(token).unwrap()))
                    .collect(),
            );
            group.bench_function(format!("hashmap/hot-{HOT}"), |b| {
                b.iter(|| {
                    i = (i + 1) % HOT;
                    black_box(map.read().get(&set.access[i]).cloned().unwrap());
                });
            });
        }
    }
    let (_dir, path, pairs) = sqlite::sqlite_set(live);
    let conn = sqlite::connect(&path, Sync::Full);
    let now = sqlite::now();
    let mut i = 0usize;
    group.bench_function(format!("sqlite/hot-{HOT}"), |b| {
        b.iter(|| {
            i = (i + 1) % HOT;
            assert!(sqlite::validate(&conn, &pairs[i].0, now));
        });
    });
    group.bench_function("sqlite/cycled", |b| {
        b.iter(|| {
            i = (i + 1) % pairs.len();
            assert!(sqlite::validate(&conn, &pairs[i].0, now));
        });
    });
    drop(conn);
    let (_redb_dir, db) = peers::redb_set(live);
    let mut k = 0u64;
    group.bench_function("redb-bare/get", |b| {
        b.iter(|| {
            k = (k + 7_919) % live as u64;
            assert!(peers::redb_get(&db, k));
        });
    });
    group.finish();
}

fn main() {
    let mut c = support::criterion();
    hot(&mut c);
    c.final_summary();
}
