//! R15: a subject's and a client's grants, in pages (`ops/listing.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{Config, ConfigBuilder, GrantOrigin, IssueRequest, PageRequest, RefreshRequest};

fn r15_grants_are_listed_in_pages_with_client_name_and_times<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let eventpop = eventpop_app(&f.store);
    let ticketpark = ticketpark_app(&f.store);
    for _ in 0..3 {
        code_flow(&f.store, &pretix, "alice");
    }
    let e = code_flow(&f.store, &eventpop, "alice");
    f.store
        .issue_for_subject(IssueRequest::new(&ticketpark.client, "alice"))?;
    code_flow(&f.store, &pretix, "bob");
    f.clock.advance(100);
    f.store
        .refresh(RefreshRequest::new(refresh(&e), &eventpop.client))?;

    let mut seen = Vec::new();
    let mut page = f.store.grants_of_subject("alice", &PageRequest::first(2))?;
    loop {
        assert!(page.items.len() <= 2);
        seen.extend(page.items.clone());
        match page.next.clone() {
            Some(cursor) => {
                page = f
                    .store
                    .grants_of_subject("alice", &PageRequest::after(cursor, 2))?;
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let eventpop_grant = seen.iter().find(|g| g.client_id == eventpop.id).unwrap();
    assert_eq!(eventpop_grant.client_name, "eventpop-partner");
    assert_eq!(eventpop_grant.scope, scope("public"));
    assert_eq!(eventpop_grant.created_at, T0);
    assert_eq!(eventpop_grant.last_refreshed_at, Some(T0 + 100));
    assert_eq!(eventpop_grant.origin, GrantOrigin::AuthorizationCode);
    assert!(seen.iter().any(|g| g.origin == GrantOrigin::Password));
    assert_eq!(
        f.store
            .grants_of_client(&pretix.id, &PageRequest::first(10))?
            .items
            .len(),
        4
    );
    assert!(
        f.store
            .grants_of_subject("alice", &PageRequest::after("!!", 2))
            .is_err()
    );
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(r15_grants_are_listed_in_pages_with_client_name_and_times,);
