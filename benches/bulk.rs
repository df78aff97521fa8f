//! Bulk work and the write lock (issue 24 §3): how long one transaction of a
//! bulk revocation holds the write lock (it ends at most 1,000 grants), and
//! one step of removing a hashing key (it re-seals at most 10,000 records).
//! Every other write of the store waits at most that long behind them,
//! however large the revocation or the store.
//!
//! ```text
//! cargo bench --bench bulk
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use criterion::Criterion;
use grantdb::{Config, GrantLimits, GrantType, HashingKey, IssueRequest, KeyId, NewClient, Store};
use support::{quick, registered};

fn store(config: grantdb::ConfigBuilder) -> (Store, grantdb::AuthenticatedClient) {
    let store =
        Store::in_memory(config.grant_limits(GrantLimits::none()).build().unwrap()).unwrap();
    let client = registered(
        &store,
        NewClient::confidential("bulk").grant_types([GrantType::Password, GrantType::RefreshToken]),
    );
    (store, client)
}

/// One transaction of a bulk revocation: a subject with exactly one
/// transaction's worth of grants (1,000), revoked.
fn revoke_batch(c: &mut Criterion) {
    let grants = if quick() { 50 } else { 1_000 };
    let mut group = c.benchmark_group("bulk");
    group.sample_size(10);
    group.bench_function(format!("revoke_subject/{grants}-grants"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (store, client) = store(Config::builder());
                for _ in 0..grants {
                    store
                        .issue_for_subject(IssueRequest::new(&client, "bulk"))
                        .unwrap();
                }
                let began = Instant::now();
                assert_eq!(store.revoke_subject("bulk").unwrap().grants, grants);
                total += began.elapsed();
            }
            total
        });
    });
    group.finish();
}

/// One step of removing a key: re-sealing 10,000 records (about 3,400
/// grants with their two tokens each) and the removal itself.
fn remove_key_step(c: &mut Criterion) {
    let issues = if quick() { 100 } else { 3_334 };
    let mut group = c.benchmark_group("bulk");
    group.sample_size(10);
    group.bench_function(format!("remove_key/{}-records", issues * 3), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (store, client) =
                    store(Config::builder().hashing_key(HashingKey::from_bytes([1; 32])));
                for n in 0..issues {
                    store
                        .issue_for_subject(IssueRequest::new(&client, format!("u{n}")))
                        .unwrap();
                }
                store
                    .add_hashing_key(Some(HashingKey::from_bytes([2; 32])))
                    .unwrap();
                store.retire_hashing_key(KeyId::new(1)).unwrap();
                let began = Instant::now();
                store.remove_hashing_key(KeyId::new(1)).unwrap();
                total += began.elapsed();
            }
            total
        });
    });
    group.finish();
}

fn main() {
    let mut c = support::criterion();
    revoke_batch(&mut c);
    remove_key_step(&mut c);
    c.final_summary();
}
