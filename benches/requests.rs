//! Per-operation cost of pushed authorization requests (R30) and the device
//! authorization grant (R31, R32), on a store holding `middle_size()` live
//! tokens, durable and fast; a password grant in the same run is the
//! baseline (a device's final poll issues the same tokens).
//!
//! ```text
//! cargo bench --bench requests                  # 100k live tokens
//! cargo bench --bench requests -- --test        # smoke run (1k tokens)
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::hint::black_box;

use criterion::{BatchSize, Criterion};
use grantdb::{AttemptKey, DeviceApproval, IssueRequest, PushedApproval};
use grantdb::{Durability, GrantType, NewClient, PushRequest};
use support::{grantdb_set, middle_size, registered};

fn requests(c: &mut Criterion) {
    let live = middle_size();
    let mut group = c.benchmark_group(format!("requests/{live}"));
    for (mode, durability) in [("durable", Durability::Durable), ("fast", Durability::Fast)] {
        let set = grantdb_set(live, durability);
        let store = &set.store;
        let device = registered(
            store,
            NewClient::public("scanner")
                .grant_types([GrantType::DeviceCode, GrantType::RefreshToken]),
        );
        let web = registered(
            store,
            NewClient::confidential("web")
                .redirect_uri("https://web.example/cb")
                .grant_types([GrantType::AuthorizationCode, GrantType::Password]),
        );
        // A subject per sign-in: one subject would soon hold the default
        // 1,000 grants, and every issue would end its oldest.
        let mut sign_in = 0u64;
        group.bench_function(format!("password-grant/{mode}"), |b| {
            b.iter(|| {
                sign_in += 1;
                black_box(
                    store
                        .issue_for_subject(IssueRequest::new(&web, format!("user-{sign_in}")))
                        .unwrap(),
                )
            });
        });
        group.bench_function(format!("par/push/{mode}"), |b| {
            b.iter(|| {
                black_box(
                    store
                        .push_authorization_request(PushRequest::new(&web).state("s"))
                        .unwrap(),
                )
            });
        });
        group.bench_function(format!("par/code-from-pushed/{mode}"), |b| {
            b.iter_batched(
                || {
                    store
                        .push_authorization_request(PushRequest::new(&web))
                        .unwrap()
                },
                |pushed| {
                    black_box(
                        store
                            .issue_code_from_pushed(PushedApproval::new(
                                pushed.request_uri.expose(),
                                web.id(),
                                "alice",
                            ))
                            .unwrap(),
                    )
                },
                BatchSize::SmallInput,
            );
        });
        device_flow(&mut group, store, &device, mode);
    }
    group.finish();
}

/// The device grant's steps on `store` for client `device`.
fn device_flow(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    store: &grantdb::Store,
    device: &grantdb::AuthenticatedClient,
    mode: &str,
) {
    group.bench_function(format!("device/start/{mode}"), |b| {
        b.iter(|| black_box(store.start_device_authorization(device, None).unwrap()));
    });
    group.bench_function(format!("device/poll-pending/{mode}"), |b| {
        b.iter_batched(
            || store.start_device_authorization(device, None).unwrap(),
            |started| {
                let polled = store.poll_device(started.device_code.expose(), device);
                assert!(matches!(polled, Err(grantdb::Error::AuthorizationPending)));
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function(format!("device/approve/{mode}"), |b| {
        b.iter_batched(
            || store.start_device_authorization(device, None).unwrap(),
            |started| {
                black_box(
                    store
                        .approve_device(DeviceApproval::new(
                            &started.user_code,
                            "alice",
                            AttemptKey::new("alice"),
                        ))
                        .unwrap(),
                )
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function(format!("device/poll-tokens/{mode}"), |b| {
        b.iter_batched(
            || {
                let started = store.start_device_authorization(device, None).unwrap();
                store
                    .approve_device(DeviceApproval::new(
                        &started.user_code,
                        "alice",
                        AttemptKey::new("alice"),
                    ))
                    .unwrap();
                started
            },
            |started| {
                black_box(
                    store
                        .poll_device(started.device_code.expose(), device)
                        .unwrap(),
                )
            },
            BatchSize::SmallInput,
        );
    });
}

fn main() {
    let mut c = support::criterion();
    requests(&mut c);
    c.final_summary();
}
