//! Per-operation benchmarks at 10k, 100k and 1M live tokens: grantdb in durable
//! and fast mode, beside its peers on the same workload and data size in the
//! same run: SQLite (`synchronous=FULL` / `NORMAL`), bare redb, and
//! oxide-auth's in-memory `TokenMap`.
//!
//! ```text
//! cargo bench --bench ops                      # full run
//! GRANTDB_BENCH_SIZES=100000 cargo bench --bench ops
//! cargo bench --bench ops -- --test            # smoke run (1k tokens)
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_wrap)]

mod support;

use std::cell::RefCell;
use std::hint::black_box;

use criterion::{BatchSize, Criterion};
use grantdb::{AuthorizationRequest, CodeExchange, Durability};
use grantdb::{ClientCredentialsRequest, IssueRequest, RefreshRequest};
use oxide_auth::primitives::issuer::Issuer;
use support::sqlite::{self, Sync};
use support::{grantdb_set, peers, sizes};

fn validate(c: &mut Criterion) {
    for live in sizes() {
        let mut group = c.benchmark_group(format!("validate/{live}"));
        let set = grantdb_set(live, Durability::Durable);
        let foreign = support::foreign_access_token();
        let unknown_key = support::unknown_key_access_token();
        let mut i = 0usize;
        group.bench_function("grantdb/hit", |b| {
            b.iter(|| {
                i = (i + 1) % set.access.len();
                black_box(set.store.validate(&set.access[i]).unwrap());
            });
        });
        group.bench_function("grantdb/miss", |b| {
            b.iter(|| black_box(set.store.validate(&foreign).is_err()));
        });
        group.bench_function("grantdb/malformed", |b| {
            b.iter(|| black_box(set.store.validate("gdbat_not-a-token").is_err()));
        });
        // A string of the right length whose checksum fails: what an
        // ordinary bad token costs.
        let bad_sum = {
            let mut chars: Vec<char> = set.access[0].chars().collect();
            let last = chars.len() - 2;
            chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
            chars.into_iter().collect::<String>()
        };
        group.bench_function("grantdb/bad-checksum", |b| {
            b.iter(|| black_box(set.store.validate(&bad_sum).is_err()));
        });
        // Issue 24 §2: a key id nobody added costs what a bad token does.
        group.bench_function("grantdb/unknown-key", |b| {
            b.iter(|| black_box(set.store.validate(&unknown_key).is_err()));
        });
        drop(set);

        let (_dir, path, pairs) = sqlite::sqlite_set(live);
        let conn = sqlite::connect(&path, Sync::Full);
        let now = sqlite::now();
        group.bench_function("sqlite/hit", |b| {
            b.iter(|| {
                i = (i + 1) % pairs.len();
                assert!(sqlite::validate(&conn, &pairs[i].0, now));
            });
        });
        group.bench_function("sqlite/miss", |b| {
            b.iter(|| black_box(sqlite::validate(&conn, &foreign, now)));
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
        drop(db);

        let (map, oxide) = peers::oxide_set(live);
        group.bench_function("oxide-auth/recover_token", |b| {
            b.iter(|| {
                i = (i + 1) % oxide.len();
                assert!(map.recover_token(&oxide[i].0).unwrap().is_some());
            });
        });
        group.finish();
    }
}

fn issue(c: &mut Criterion) {
    for live in sizes() {
        let mut group = c.benchmark_group(format!("issue/{live}"));
        for (mode, durability) in [("durable", Durability::Durable), ("fast", Durability::Fast)] {
            let set = grantdb_set(live, durability);
            let mut n = 0u64;
            group.bench_function(format!("grantdb/{mode}"), |b| {
                b.iter(|| {
                    n += 1;
                    black_box(
                        set.store
                            .issue_for_subject(IssueRequest::new(
                                &set.password_client,
                                format!("new-{n}"),
                            ))
                            .unwrap(),
                    );
                });
            });
        }
        for (mode, sync) in [("full", Sync::Full), ("normal", Sync::Normal)] {
            let (_dir, path, _) = sqlite::sqlite_set(live);
            let mut conn = sqlite::connect(&path, sync);
            let now = sqlite::now();
            group.bench_function(format!("sqlite/{mode}"), |b| {
                b.iter(|| black_box(sqlite::issue_pair(&mut conn, "new-user", now)));
            });
        }
        for (mode, durability) in [
            ("durable", redb::Durability::Immediate),
            ("fast", redb::Durability::None),
        ] {
            let (_dir, db) = peers::redb_set(live);
            let mut k = live as u64;
            group.bench_function(format!("redb-bare/{mode}"), |b| {
                b.iter(|| {
                    k += 1;
                    peers::redb_insert(&db, k, durability);
                });
            });
        }
        let (mut map, _) = peers::oxide_set(live);
        let mut n = 0;
        group.bench_function("oxide-auth/issue", |b| {
            b.iter(|| {
                n += 1;
                black_box(map.issue(peers::oxide_grant(n)).unwrap());
            });
        });
        group.finish();
    }
}

fn refresh(c: &mut Criterion) {
    for live in sizes() {
        let mut group = c.benchmark_group(format!("refresh/{live}"));
        for (mode, durability) in [("durable", Durability::Durable), ("fast", Durability::Fast)] {
            let set = grantdb_set(live, durability);
            // A rotation chain: each refresh presents the token the last one returned.
            let mut current = set.refresh[0].clone();
            group.bench_function(format!("grantdb/{mode}"), |b| {
                b.iter(|| {
                    let rotated = set
                        .store
                        .refresh(RefreshRequest::new(&current, &set.password_client))
                        .unwrap();
                    rotated
                        .refresh_token
                        .unwrap()
                        .expose()
                        .clone_into(&mut current);
                });
            });
        }
        for (mode, sync) in [("full", Sync::Full), ("normal", Sync::Normal)] {
            let (_dir, path, pairs) = sqlite::sqlite_set(live);
            let mut conn = sqlite::connect(&path, sync);
            let now = sqlite::now();
            let mut current = pairs[0].1.clone();
            group.bench_function(format!("sqlite/{mode}"), |b| {
                b.iter(|| current = sqlite::refresh(&mut conn, &current, now).unwrap().1);
            });
        }
        let (mut map, oxide) = peers::oxide_set(live);
        let mut current = oxide[0].1.clone();
        group.bench_function("oxide-auth/refresh", |b| {
            b.iter(|| {
                current = map
                    .refresh(&current, peers::oxide_grant(0))
                    .unwrap()
                    .refresh
                    .unwrap();
            });
        });
        group.finish();
    }
}

fn exchange_and_revoke(c: &mut Criterion) {
    for live in sizes() {
        let mut group = c.benchmark_group(format!("exchange-revoke/{live}"));
        for (mode, durability) in [("durable", Durability::Durable), ("fast", Durability::Fast)] {
            let set = grantdb_set(live, durability);
            let client = &set.code_client;
            group.bench_function(format!("grantdb/exchange/{mode}"), |b| {
                b.iter_batched(
                    || {
                        set.store
                            .issue_code(AuthorizationRequest::new(client.id(), "alice"))
                            .unwrap()
                    },
                    |code| {
                        black_box(
                            set.store
                                .exchange_code(CodeExchange::new(code.code.expose(), client))
                                .unwrap(),
                        )
                    },
                    BatchSize::SmallInput,
                );
            });
            let cc = set.cc_client;
            group.bench_function(format!("grantdb/revoke/{mode}"), |b| {
                b.iter_batched(
                    || {
                        set.store
                            .issue_client_credentials(ClientCredentialsRequest::new(&cc))
                            .unwrap()
                    },
                    |tokens| {
                        black_box(set.store.revoke(tokens.access_token.expose(), &cc).unwrap())
                    },
                    BatchSize::SmallInput,
                );
            });
        }
        for (mode, sync) in [("full", Sync::Full), ("normal", Sync::Normal)] {
            let (_dir, path, _) = sqlite::sqlite_set(live);
            let conn = RefCell::new(sqlite::connect(&path, sync));
            let now = sqlite::now();
            group.bench_function(format!("sqlite/revoke/{mode}"), |b| {
                b.iter_batched(
                    || sqlite::issue_access(&mut conn.borrow_mut(), now, 3_600),
                    |token| assert!(sqlite::revoke(&conn.borrow(), &token)),
                    BatchSize::SmallInput,
                );
            });
        }
        group.finish();
    }
}

fn main() {
    let mut c = support::criterion();
    validate(&mut c);
    issue(&mut c);
    refresh(&mut c);
    exchange_and_revoke(&mut c);
    c.final_summary();
}
