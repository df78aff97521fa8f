//! A resource server that caches token validations for up to 60 s and drops
//! the ones the change feed ends (R33). Measures how long after `revoke`
//! returns the revoked token stops validating at the cache.
//!
//! ```text
//! cargo run --release --example revocation_cache
//! ```

mod cache;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use grantdb::{Config, GrantType, IssueRequest, NewClient, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().join("rs.redb"), Config::default())?;
    let app = store.register_client(
        NewClient::confidential("ticketpark")
            .grant_types([GrantType::Password, GrantType::RefreshToken]),
    )?;
    let client = store.authenticate_client(
        &app.client.id,
        app.secret.as_ref().map(grantdb::Secret::expose),
    )?;
    let cache = Arc::new(cache::ValidationCache::new(Duration::from_mins(1)));
    let stop = Arc::new(AtomicBool::new(false));
    let follower = cache::follow(store.clone(), Arc::clone(&cache), 0, Arc::clone(&stop));

    let rounds = 300;
    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
        let access = tokens.access_token.expose();
        cache.validate(&store, access)?;
        let refresh = tokens
            .refresh_token
            .as_ref()
            .map(grantdb::Secret::expose)
            .unwrap_or_default();
        store.revoke(refresh, &client)?;
        let revoked_at = Instant::now();
        // The revoked token validates at the cache until the feed reaches it.
        while cache.holds(access) {
            std::hint::spin_loop();
        }
        latencies.push(revoked_at.elapsed());
        assert!(cache.validate(&store, access).is_err());
    }
    stop.store(true, Ordering::SeqCst);
    follower.join().map_err(|_| "the follower panicked")??;
    latencies.sort();
    let at = |percent: usize| latencies[(latencies.len() - 1) * percent / 100];
    println!(
        "{rounds} revocations (durable): the cache stopped validating the revoked token \
         p50 {:?}, p99 {:?}, max {:?} after revoke returned (cache ttl 60 s; {} feed entries applied)",
        at(50),
        at(99),
        at(100),
        cache.applied()
    );
    Ok(())
}
