//! R14: purge through the expiry index (`ops/purge.rs`).

use crate::support::*;
use grantdb::kv::{Backend, Table};
use grantdb::{
    AuthorizationRequest, ClientCredentialsRequest, Config, ConfigBuilder, Error, PageRequest,
    RefreshRequest,
};
use std::time::Duration;

fn r14_purge_removes_what_expired_and_nothing_live<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().purge_batch_size(3));
    let prio = prioticket_app(&f.store);
    let pretix = pretix_app(&f.store);
    let expiring: Vec<_> = (0..5)
        .map(|_| {
            f.store
                .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))
        })
        .collect::<Result<_, _>>()?;
    let _stale_code = f
        .store
        .issue_code(AuthorizationRequest::new(pretix.id, "alice"))?;
    let long_lived = code_flow(&f.store, &pretix, "alice");
    f.clock.advance(3_600);
    let fresh = f
        .store
        .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;

    let report = f.store.purge_expired()?;
    assert_eq!(report.access_tokens, 5);
    assert_eq!(
        report.grants, 5,
        "client-credentials grants end with their token"
    );
    // The pending code, and the exchanged one kept until its expiry for R05.
    assert_eq!(report.codes, 2);
    assert!(!report.more);
    assert!(is_valid(&f.store, access(&fresh)));
    assert!(is_valid(&f.store, access(&long_lived)));
    for tokens in &expiring {
        assert!(!is_valid(&f.store, access(tokens)));
    }
    assert_eq!(
        f.store
            .grants_of_client(&prio.id, &PageRequest::first(100))?
            .items
            .len(),
        1
    );
    // The pretix access token expires; its refresh token (no expiry) keeps the grant.
    f.clock.advance(86_400);
    let report = f.store.purge_expired()?;
    assert_eq!((report.access_tokens, report.grants), (2, 1));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&long_lived), &pretix.client))
            .is_ok()
    );
    Ok(())
}

#[test]
fn r14_purge_reads_only_the_due_entries() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let prio = prioticket_app(&f.store);
    let pretix = pretix_app(&f.store);
    for i in 0..200 {
        code_flow(&f.store, &pretix, &format!("user{i}"));
    }
    for _ in 0..10 {
        f.store
            .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;
    }
    // The 200 exchanged codes go first, after their 60 s.
    f.clock.advance(60);
    assert_eq!(f.store.purge_expired()?.codes, 200);
    f.clock.advance(3_540);
    let before = backend.scanned(Table::Expiry);
    let report = f.store.purge_expired()?;
    assert_eq!((report.access_tokens, report.codes), (10, 0));
    let visited = backend.scanned(Table::Expiry) - before;
    // The 200 live pretix access tokens are never visited; only the due ones are.
    assert!(
        visited <= 10,
        "purge visited {visited} expiry entries to remove 10"
    );
    Ok(())
}

fn r14_consumed_refresh_tokens_are_kept_for_reuse_detection_until_retention_ends<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().consumed_refresh_retention(Some(Duration::from_secs(1_000))));
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    f.clock.advance(999);
    assert_eq!(f.store.purge_expired()?.consumed_refresh_tokens, 0);
    f.clock.advance(1);
    let report = f.store.purge_expired()?;
    assert_eq!(report.consumed_refresh_tokens, 1);
    // Forgotten: presenting it now is an unknown token, and revokes nothing.
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client)),
        Err(Error::UnknownRefreshToken)
    ));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&rotated), &app.client))
            .is_ok()
    );
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r14_purge_removes_what_expired_and_nothing_live,
    r14_consumed_refresh_tokens_are_kept_for_reuse_detection_until_retention_ends,
);
