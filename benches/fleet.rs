//! The PostgreSQL backend beside the embedded one and the SQLite peer:
//! validate, and durable issue and refresh at 1 and 32 callers, with the
//! PostgreSQL callers spread over two `Store` instances (two server nodes)
//! sharing one database. The PostgreSQL server is local (Unix socket), with
//! `fsync=on`, started by the benchmark (or `GRANTDB_PG_URL`).
//!
//! ```text
//! cargo bench --features postgres --bench fleet
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_wrap)]

#[path = "../tests/support/pg.rs"]
mod pg;
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use grantdb::kv::Backend;
use grantdb::kv::postgres::PostgresBackend;
use grantdb::{Config, GrantType, HashingKey, NewClient, Store};
use grantdb::{IssueRequest, RefreshRequest};
use parking_lot::Mutex;
use support::sqlite::{self, Sync};
use support::{grantdb_set, quick, registered, run_concurrently};

const CALLERS: [usize; 2] = [1, 32];

/// Live tokens in every engine for this benchmark.
fn live() -> usize {
    if quick() { 1_000 } else { 20_000 }
}

/// Two nodes on one schema, their client, and the pairs issued to fill it.
type Nodes = (
    Store<PostgresBackend>,
    Store<PostgresBackend>,
    grantdb::AuthenticatedClient,
    Vec<(String, String)>,
);

/// Two nodes on one fresh schema, filled with `live()` tokens.
fn pg_nodes() -> Option<Nodes> {
    let url = pg::durable_url()?;
    let schema = format!("bench{}", std::process::id());
    let key = HashingKey::from_bytes([9; 32]);
    let node = || {
        let config = Config::builder().hashing_key(key.clone()).build().unwrap();
        Store::with_backend(pg::connect(url, &schema, false), config).unwrap()
    };
    let (a, b) = (node(), node());
    let client = registered(
        &a,
        NewClient::confidential("bench")
            .grant_types([GrantType::Password, GrantType::RefreshToken])
            .scopes("read write")
            .unwrap(),
    );
    let pairs = Mutex::new(Vec::new());
    run_concurrently(16, live() as u64 / 2, |_, i| {
        let tokens = a
            .issue_for_subject(IssueRequest::new(&client, format!("user-{i}")))
            .unwrap();
        pairs.lock().push((
            tokens.access_token.expose().to_owned(),
            tokens.refresh_token.unwrap().expose().to_owned(),
        ));
    });
    Some((a, b, client, pairs.into_inner()))
}

fn validate<B: Backend>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    store: &Store<B>,
    tokens: &[String],
) {
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % tokens.len();
            black_box(store.validate(&tokens[i]).unwrap());
        });
    });
}

#[allow(clippy::too_many_lines)] // one benchmark group per engine, side by side
fn fleet(c: &mut Criterion) {
    let Some((a, b, client, pairs)) = pg_nodes() else {
        eprintln!("PostgreSQL benchmarks skipped: no server");
        return;
    };
    let set = grantdb_set(live(), grantdb::Durability::Durable);
    let (_sqlite_dir, sqlite_path, sqlite_pairs) = sqlite::sqlite_set(live());
    let now = sqlite::now();

    let mut group = c.benchmark_group(format!("fleet/validate/{}", live()));
    let pg_access: Vec<String> = pairs.iter().map(|p| p.0.clone()).collect();
    validate(&mut group, "postgres", &a, &pg_access);
    validate(&mut group, "redb", &set.store, &set.access);
    let conn = sqlite::connect(&sqlite_path, Sync::Full);
    let mut i = 0;
    group.bench_function("sqlite", |bench| {
        bench.iter(|| {
            i = (i + 1) % sqlite_pairs.len();
            assert!(sqlite::validate(&conn, &sqlite_pairs[i].0, now));
        });
    });
    group.finish();

    let nodes = [&a, &b];
    let shared = Mutex::new(sqlite::connect(&sqlite_path, Sync::Full));
    let mut first_unused = 0;
    for callers in CALLERS {
        let mut group = c.benchmark_group(format!("fleet/durable/{callers}-callers"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("postgres-2-nodes/issue", |bench| {
            bench.iter_custom(|iters| {
                run_concurrently(callers, iters, |caller, n| {
                    nodes[caller % 2]
                        .issue_for_subject(IssueRequest::new(&client, format!("b{caller}-{n}")))
                        .unwrap();
                })
            });
        });
        group.bench_function("redb/issue", |bench| {
            bench.iter_custom(|iters| {
                run_concurrently(callers, iters, |caller, n| {
                    set.store
                        .issue_for_subject(IssueRequest::new(
                            &set.password_client,
                            format!("b{caller}-{n}"),
                        ))
                        .unwrap();
                })
            });
        });
        group.bench_function("sqlite-shared/issue", |bench| {
            bench.iter_custom(|iters| {
                run_concurrently(callers, iters, |_, _| {
                    sqlite::issue_pair(&mut shared.lock(), "user", now);
                })
            });
        });
        let chains = |source: &[String]| -> Vec<Mutex<String>> {
            (0..callers)
                .map(|c| Mutex::new(source[(first_unused + c) % source.len()].clone()))
                .collect()
        };
        let pg_refresh: Vec<String> = pairs.iter().map(|p| p.1.clone()).collect();
        let pg_chains = chains(&pg_refresh);
        let redb_chains = chains(&set.refresh);
        let sqlite_refresh: Vec<String> = sqlite_pairs.iter().map(|p| p.1.clone()).collect();
        let sqlite_chains = chains(&sqlite_refresh);
        first_unused += callers;
        group.bench_function("postgres-2-nodes/refresh", |bench| {
            bench.iter_custom(|iters| {
                run_concurrently(callers, iters, |caller, _| {
                    let mut chain = pg_chains[caller].lock();
                    let tokens = nodes[caller % 2]
                        .refresh(RefreshRequest::new(chain.as_str(), &client))
                        .unwrap();
                    tokens
                        .refresh_token
                        .unwrap()
                        .expose()
                        .clone_into(&mut chain);
                })
            });
        });
        group.bench_function("redb/refresh", |bench| {
            bench.iter_custom(|iters| {
                run_concurrently(callers, iters, |caller, _| {
                    support::rotate(&set, &mut redb_chains[caller].lock());
                })
            });
        });
        group.bench_function("sqlite-shared/refresh", |bench| {
            bench.iter_custom(|iters| {
                run_concurrently(callers, iters, |caller, _| {
                    let mut chain = sqlite_chains[caller].lock();
                    *chain = sqlite::refresh(&mut shared.lock(), &chain, now).unwrap().1;
                })
            });
        });
        group.finish();
    }
}

fn main() {
    let mut c = support::criterion().measurement_time(Duration::from_secs(3));
    fleet(&mut c);
    c.final_summary();
}
