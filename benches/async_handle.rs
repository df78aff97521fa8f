//! The async handle (feature `tokio`) beside the blocking store: validation
//! and durable issue from 32 tokio tasks on a multi-thread runtime, and from
//! 32 threads calling `Store` directly. Target: within 1.3x.
//!
//! ```text
//! cargo bench --features tokio --bench async_handle
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Throughput;
use grantdb::IssueRequest;
use grantdb::{AsyncStore, Durability};
use support::{grantdb_set, middle_size, run_concurrently};

const CALLERS: usize = 32;

/// Runs `op(task, i)` for `total` operations spread over `CALLERS` tasks on
/// `runtime`; returns the wall time.
fn run_tasks<F, Fut>(runtime: &tokio::runtime::Runtime, total: u64, op: F) -> Duration
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per_task = total.div_ceil(CALLERS as u64).max(1);
    let op = Arc::new(op);
    runtime.block_on(async move {
        let started = Instant::now();
        let tasks: Vec<_> = (0..CALLERS)
            .map(|task| {
                let op = Arc::clone(&op);
                tokio::spawn(async move {
                    for i in 0..per_task {
                        op(task, i).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        started
            .elapsed()
            .mul_f64(total as f64 / (per_task * CALLERS as u64) as f64)
    })
}

fn main() {
    let mut c = support::criterion().measurement_time(Duration::from_secs(3));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let live = middle_size();
    let set = grantdb_set(live, Durability::Durable);
    let tokens = Arc::new(set.access.clone());
    let store = set.store.clone();
    let handle = AsyncStore::new(set.store.clone());
    let client = set.password_client.clone();

    let mut group = c.benchmark_group(format!("async/{live}"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("blocking/validate/32-threads", |b| {
        b.iter_custom(|iters| {
            run_concurrently(CALLERS, iters, |caller, i| {
                let token = &tokens[(caller * 7_919 + i as usize) % tokens.len()];
                store.validate(token).unwrap();
            })
        });
    });
    group.bench_function("async/validate/32-tasks", |b| {
        b.iter_custom(|iters| {
            let (handle, tokens) = (handle.clone(), Arc::clone(&tokens));
            run_tasks(&runtime, iters, move |task, i| {
                let (handle, tokens) = (handle.clone(), Arc::clone(&tokens));
                async move {
                    let token = &tokens[(task * 7_919 + i as usize) % tokens.len()];
                    handle.validate(token).await.unwrap();
                }
            })
        });
    });
    let pooled = handle.clone().lookups_on_blocking_pool(true);
    group.bench_function("async-pool/validate/32-tasks", |b| {
        b.iter_custom(|iters| {
            let (handle, tokens) = (pooled.clone(), Arc::clone(&tokens));
            run_tasks(&runtime, iters, move |task, i| {
                let (handle, tokens) = (handle.clone(), Arc::clone(&tokens));
                async move {
                    let token = &tokens[(task * 7_919 + i as usize) % tokens.len()];
                    handle.validate(token).await.unwrap();
                }
            })
        });
    });
    group.bench_function("blocking/issue-durable/32-threads", |b| {
        b.iter_custom(|iters| {
            run_concurrently(CALLERS, iters, |caller, i| {
                store
                    .issue_for_subject(IssueRequest::new(&client, format!("b{caller}-{i}")))
                    .unwrap();
            })
        });
    });
    group.bench_function("async/issue-durable/32-tasks", |b| {
        b.iter_custom(|iters| {
            let (handle, client) = (handle.clone(), client.clone());
            run_tasks(&runtime, iters, move |task, i| {
                let request = IssueRequest::new(&client, format!("a{task}-{i}"));
                let handle = handle.clone();
                async move {
                    handle
                        .call(move |s| s.issue_for_subject(request))
                        .await
                        .unwrap();
                }
            })
        });
    });
    group.finish();
    c.final_summary();
}
