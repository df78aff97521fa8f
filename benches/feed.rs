//! What the change feed costs (R33): durable issue and refresh with one and
//! 32 callers, and a durable revocation, with the feed off, recording
//! endings only (the default), and recording issuance too. Each variant
//! runs on its own copy of the same data set, in one run.
//!
//! ```text
//! GRANTDB_BENCH_SIZES=100000 cargo bench --bench feed
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use criterion::{Criterion, Throughput};
use grantdb::{ChangeClass, Config, Durability, FeedConfig, IssueRequest};
use parking_lot::Mutex;
use support::{grantdb_set_configured, middle_size, run_concurrently};

const CALLERS: [usize; 2] = [1, 32];

fn feed(c: &mut Criterion) {
    let live = middle_size();
    let variants = [
        ("off", FeedConfig::off()),
        ("endings", FeedConfig::default()),
        (
            "issuance",
            FeedConfig::default().record(ChangeClass::Issuance, true),
        ),
    ];
    // Every variant is measured beside the others for each operation, three
    // times (rounds a, b, c, each on a copy of its own), in rotated order
    // (a Latin square: each variant runs first, second and third once), so
    // that the machine's drift, the copies' placement and the write-back
    // a previous run leaves fall on all of them alike. Quote the mean of a
    // variant's three medians.
    let sets: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .enumerate()
        .flat_map(|(turn, round)| {
            let rotated: Vec<_> = variants
                .iter()
                .cycle()
                .skip(turn)
                .take(variants.len())
                .cloned()
                .collect();
            rotated.into_iter().map(move |(name, feed)| {
                let config = Config::builder().durability(Durability::Durable).feed(feed);
                (
                    format!("{name}/{round}"),
                    grantdb_set_configured(live, config),
                )
            })
        })
        .collect();
    let mut group = c.benchmark_group(format!("feed/{live}"));
    group.throughput(Throughput::Elements(1));
    let mut first_unused = 0;
    for callers in CALLERS {
        for (name, set) in &sets {
            group.bench_function(format!("issue/{callers}/{name}"), |b| {
                b.iter_custom(|iters| {
                    run_concurrently(callers, iters, |caller, i| {
                        set.store
                            .issue_for_subject(IssueRequest::new(
                                &set.password_client,
                                format!("f{caller}-{i}"),
                            ))
                            .unwrap();
                    })
                });
            });
        }
        for (name, set) in &sets {
            let chains: Vec<Mutex<String>> = (0..callers)
                .map(|caller| {
                    Mutex::new(set.refresh[(first_unused + caller) % set.refresh.len()].clone())
                })
                .collect();
            group.bench_function(format!("refresh/{callers}/{name}"), |b| {
                b.iter_custom(|iters| {
                    run_concurrently(callers, iters, |caller, _| {
                        support::rotate(set, &mut chains[caller].lock());
                    })
                });
            });
        }
        first_unused += callers;
    }
    // A revocation of a grant: one entry with the feed on.
    for (name, set) in &sets {
        group.bench_function(format!("revoke/1/{name}"), |b| {
            b.iter_custom(|iters| {
                let tokens: Vec<_> = (0..iters)
                    .map(|i| {
                        set.store
                            .issue_for_subject(IssueRequest::new(
                                &set.password_client,
                                format!("r{i}"),
                            ))
                            .unwrap()
                    })
                    .collect();
                let started = std::time::Instant::now();
                for pair in &tokens {
                    let refresh = pair.refresh_token.as_ref().unwrap().expose();
                    set.store.revoke(refresh, &set.password_client).unwrap();
                }
                started.elapsed()
            });
        });
    }
    group.finish();
}

fn main() {
    let mut c = support::criterion();
    feed(&mut c);
    c.final_summary();
}
