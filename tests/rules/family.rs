//! R23: grant limits per subject (`ops/family.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AtGrantLimit, AuthorizationRequest, Config, ConfigBuilder, Error, GrantLimits, GrantRef,
    IssueRequest, OAuthErrorCode, PageRequest, RefreshRequest,
};

fn r23_a_full_subject_is_refused_a_new_grant_and_nothing_changes<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let limits = GrantLimits::default()
        .per_subject_at_client(2)
        .when_reached(AtGrantLimit::Refuse);
    let f = make(Config::builder().grant_limits(limits));
    let app = password_app(&f.store, "ticketpark");
    let pretix = pretix_app(&f.store);
    let first = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    let second = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    let refused = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))
        .unwrap_err();
    assert!(matches!(refused, Error::GrantLimitReached));
    assert_eq!(refused.oauth_code(), Some(OAuthErrorCode::InvalidGrant));
    // At another client the per-client limit leaves room.
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(pretix.id, "alice"))?;
    let other_client = f.store.exchange_code(grantdb::CodeExchange::new(
        code.code.expose(),
        &pretix.client,
    ));
    assert!(other_client.is_ok(), "the limit is per client");
    for tokens in [&first, &second] {
        assert!(is_valid(&f.store, access(tokens)));
    }
    assert_eq!(
        f.store
            .grants_of_subject("alice", &PageRequest::first(10))?
            .items
            .len(),
        3
    );
    // Another subject is not affected; a refresh makes no new grant.
    f.store
        .issue_for_subject(IssueRequest::new(&app.client, "bob"))?;
    f.store
        .refresh(RefreshRequest::new(refresh(&first), &app.client))?;
    // Room again once one grant ends.
    f.store
        .revoke_grant(&GrantRef::new(app.id, second.grant_id), "alice")?;
    assert!(
        f.store
            .issue_for_subject(IssueRequest::new(&app.client, "alice"))
            .is_ok()
    );
    Ok(())
}

fn r23_a_full_subject_loses_its_oldest_grants_to_a_new_one<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let limits = GrantLimits::default()
        .per_subject(2)
        .when_reached(AtGrantLimit::EndOldest);
    let f = make(Config::builder().grant_limits(limits));
    let ticketpark = password_app(&f.store, "ticketpark");
    let other = password_app(&f.store, "other");
    let oldest = f
        .store
        .issue_for_subject(IssueRequest::new(&ticketpark.client, "alice"))?;
    f.clock.advance(1);
    let middle = f
        .store
        .issue_for_subject(IssueRequest::new(&other.client, "alice"))?;
    f.clock.advance(1);
    let newest = f
        .store
        .issue_for_subject(IssueRequest::new(&ticketpark.client, "alice"))?;
    // Over all clients: the oldest grant ended in the same transaction.
    assert!(!is_valid(&f.store, access(&oldest)));
    assert!(is_valid(&f.store, access(&middle)));
    assert!(is_valid(&f.store, access(&newest)));
    let listed = f
        .store
        .grants_of_subject("alice", &PageRequest::first(10))?;
    assert_eq!(listed.items.len(), 2);
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

#[test]
fn r23_a_limit_of_zero_is_a_configuration_error() {
    for limits in [
        GrantLimits::default().per_subject(0),
        GrantLimits::default().per_subject_at_client(0),
    ] {
        assert!(matches!(
            Config::builder().grant_limits(limits).build(),
            Err(Error::InvalidConfig { .. })
        ));
    }
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r23_a_full_subject_is_refused_a_new_grant_and_nothing_changes,
    r23_a_full_subject_loses_its_oldest_grants_to_a_new_one,
);
