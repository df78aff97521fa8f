//! oxide-auth's primitives over grantdb beside its own in-memory `TokenMap`,
//! on the same grants: issue (client credentials through `Issuer::issue`) and
//! `recover_token` (what oxide-auth's resource flow calls per request).
//! grantdb runs durable and fast.
//!
//! ```text
//! cargo bench --features oxide-auth --bench oxide
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::hint::black_box;

use criterion::Criterion;
use grantdb::{Config, Durability, GrantType, NewClient, Store};
use oxide_auth::primitives::grant::Grant;
use oxide_auth::primitives::issuer::Issuer;
use support::peers;

fn grant_for(client: &str) -> Grant {
    Grant {
        client_id: client.to_owned(),
        ..peers::oxide_grant(0)
    }
}

fn oxide_flows(c: &mut Criterion) {
    let mut group = c.benchmark_group("oxide-auth-primitives");
    let (mut map, samples) = peers::oxide_set(10_000);
    group.bench_function("token-map/issue", |b| {
        b.iter(|| black_box(map.issue(peers::oxide_grant(1)).unwrap()));
    });
    let mut i = 0;
    group.bench_function("token-map/recover_token", |b| {
        b.iter(|| {
            i = (i + 1) % samples.len();
            black_box(map.recover_token(&samples[i].0).unwrap());
        });
    });
    for (mode, durability) in [("durable", Durability::Durable), ("fast", Durability::Fast)] {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::builder().durability(durability).build().unwrap();
        let store = Store::open(dir.path().join("oxide.redb"), config).unwrap();
        let client = store
            .register_client(
                NewClient::confidential("bench")
                    .redirect_uri("https://bench.example/cb")
                    .grant_types([GrantType::ClientCredentials])
                    .scopes("read write")
                    .unwrap(),
            )
            .unwrap()
            .client
            .id
            .to_string();
        let (_, _, mut issuer) = grantdb::oxide::primitives(&store);
        let tokens: Vec<String> = (0..2_000)
            .map(|_| issuer.issue(grant_for(&client)).unwrap().token)
            .collect();
        group.bench_function(format!("grantdb-{mode}/issue"), |b| {
            b.iter(|| black_box(issuer.issue(grant_for(&client)).unwrap()));
        });
        group.bench_function(format!("grantdb-{mode}/recover_token"), |b| {
            b.iter(|| {
                i = (i + 1) % tokens.len();
                assert!(issuer.recover_token(&tokens[i]).unwrap().is_some());
            });
        });
    }
    group.finish();
}

fn main() {
    let mut c = support::criterion();
    oxide_flows(&mut c);
    c.final_summary();
}
