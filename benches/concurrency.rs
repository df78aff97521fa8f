//! Group commit: durable and fast issue and refresh throughput with 1, 4 and 32
//! concurrent callers, beside SQLite doing the same with one connection per
//! caller (as a multi-worker Django or Rails deployment does) and with one
//! connection shared behind a mutex (the best a single process can do).
//! Criterion reports time per operation; throughput is its inverse.
//!
//! ```text
//! cargo bench --bench concurrency
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_wrap)]

mod support;

use std::time::Duration;

use criterion::{Criterion, Throughput};
use grantdb::Durability;
use grantdb::IssueRequest;
use parking_lot::Mutex;
use support::sqlite::{self, Sync};
use support::{grantdb_set, middle_size, run_concurrently};

const CALLERS: [usize; 3] = [1, 4, 32];

fn grantdb(c: &mut Criterion) {
    let live = middle_size();
    for (mode, durability) in [("durable", Durability::Durable), ("fast", Durability::Fast)] {
        let mut group = c.benchmark_group(format!("concurrent/{mode}/{live}"));
        group.throughput(Throughput::Elements(1));
        let set = grantdb_set(live, durability);
        // Each run starts its rotation chains from sampled pairs no earlier run used.
        let mut first_unused = 0;
        for callers in CALLERS {
            group.bench_function(format!("grantdb/issue/{callers}"), |b| {
                b.iter_custom(|iters| {
                    run_concurrently(callers, iters, |caller, i| {
                        set.store
                            .issue_for_subject(IssueRequest::new(
                                &set.password_client,
                                format!("c{caller}-{i}"),
                            ))
                            .unwrap();
                    })
                });
            });
            // One rotation chain per caller, each starting from its own pair.
            let chains: Vec<Mutex<String>> = (0..callers)
                .map(|caller| {
                    Mutex::new(set.refresh[(first_unused + caller) % set.refresh.len()].clone())
                })
                .collect();
            first_unused += callers;
            group.bench_function(format!("grantdb/refresh/{callers}"), |b| {
                b.iter_custom(|iters| {
                    run_concurrently(callers, iters, |caller, _| {
                        support::rotate(&set, &mut chains[caller].lock());
                    })
                });
            });
        }
        group.finish();
    }
}

fn sqlite_peer(c: &mut Criterion) {
    let live = middle_size();
    for (mode, sync) in [("durable", Sync::Full), ("fast", Sync::Normal)] {
        let mut group = c.benchmark_group(format!("concurrent/{mode}/{live}"));
        group.throughput(Throughput::Elements(1));
        let (_dir, path, pairs) = sqlite::sqlite_set(live);
        let mut first_unused = 0;
        for callers in CALLERS {
            let conns: Vec<_> = (0..callers)
                .map(|_| Mutex::new(sqlite::connect(&path, sync)))
                .collect();
            let now = sqlite::now();
            group.bench_function(format!("sqlite/issue/{callers}"), |b| {
                b.iter_custom(|iters| {
                    run_concurrently(callers, iters, |caller, _| {
                        sqlite::issue_pair(&mut conns[caller].lock(), "user", now);
                    })
                });
            });
            let chains: Vec<Mutex<String>> = (0..callers)
                .map(|caller| Mutex::new(pairs[(first_unused + caller) % pairs.len()].1.clone()))
                .collect();
            first_unused += callers;
            // The best SQLite can do in one process: one connection, writers
            // taking turns on a mutex instead of SQLite's busy-wait.
            let shared = Mutex::new(sqlite::connect(&path, sync));
            group.bench_function(format!("sqlite-shared/issue/{callers}"), |b| {
                b.iter_custom(|iters| {
                    run_concurrently(callers, iters, |_, _| {
                        sqlite::issue_pair(&mut shared.lock(), "user", now);
                    })
                });
            });
            let shared_chains: Vec<Mutex<String>> = (0..callers)
                .map(|caller| Mutex::new(pairs[(first_unused + caller) % pairs.len()].1.clone()))
                .collect();
            first_unused += callers;
            group.bench_function(format!("sqlite-shared/refresh/{callers}"), |b| {
                b.iter_custom(|iters| {
                    run_concurrently(callers, iters, |caller, _| {
                        let mut chain = shared_chains[caller].lock();
                        *chain = sqlite::refresh(&mut shared.lock(), &chain, now).unwrap().1;
                    })
                });
            });
            group.bench_function(format!("sqlite/refresh/{callers}"), |b| {
                b.iter_custom(|iters| {
                    run_concurrently(callers, iters, |caller, _| {
                        let mut chain = chains[caller].lock();
                        *chain = sqlite::refresh(&mut conns[caller].lock(), &chain, now)
                            .unwrap()
                            .1;
                    })
                });
            });
        }
        group.finish();
    }
}

fn main() {
    let mut c = support::criterion().measurement_time(Duration::from_secs(3));
    grantdb(&mut c);
    sqlite_peer(&mut c);
    c.final_summary();
}
