//! R17, R22: consents recorded, read, listed and withdrawn (`ops/consent.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{Config, ConfigBuilder, Error, NewConsent, PageRequest, Scope};

fn r17_consent_is_recorded_and_queried_as_a_set<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    assert!(!has_consent(&f.store, &app.id, "alice", &scope("profile"))?);
    f.store
        .record_consent(NewConsent::new(app.id, "alice", scope("profile")))?;
    f.clock.advance(5);
    f.store
        .record_consent(NewConsent::new(app.id, "alice", scope("read")))?;
    assert!(has_consent(&f.store, &app.id, "alice", &scope("profile"))?);
    assert!(has_consent(
        &f.store,
        &app.id,
        "alice",
        &scope("read profile")
    )?);
    assert!(!has_consent(&f.store, &app.id, "alice", &scope("write"))?);
    assert!(!has_consent(&f.store, &app.id, "bob", &scope("profile"))?);
    let consent = f.store.consent(&app.id, "alice")?.unwrap();
    assert_eq!(
        (consent.scope, consent.granted_at),
        (scope("profile read"), T0 + 5)
    );
    assert!(matches!(
        f.store
            .record_consent(NewConsent::new(app.id, "alice", scope("admin"))),
        Err(Error::ScopeNotAllowed)
    ));
    f.store.revoke_client_grants(&app.id)?;
    assert!(f.store.consent(&app.id, "alice")?.is_none());
    Ok(())
}

fn r22_a_subjects_consents_are_listed_and_withdrawn_one_at_a_time<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let eventpop = eventpop_app(&f.store);
    f.store
        .record_consent(NewConsent::new(pretix.id, "alice", scope("read")))?;
    f.store
        .record_consent(NewConsent::new(pretix.id, "alice", scope("profile")))?;
    f.store
        .record_consent(NewConsent::new(eventpop.id, "alice", scope("public")))?;
    f.store
        .record_consent(NewConsent::new(pretix.id, "bob", scope("read")))?;
    let tokens = code_flow(&f.store, &pretix, "alice");

    // Listed per client (one entry however often consent was given), in pages.
    let first = f
        .store
        .consents_of_subject("alice", &PageRequest::first(1))?;
    assert_eq!(first.items.len(), 1);
    let cursor = first.next.clone().expect("a second page");
    let second = f
        .store
        .consents_of_subject("alice", &PageRequest::after(cursor, 1))?;
    assert_eq!(second.items.len(), 1);
    assert!(second.next.is_none());
    let mut all: Vec<_> = first.items.into_iter().chain(second.items).collect();
    all.sort_by_key(|c| c.client_id);
    let mut expected = vec![
        (pretix.id, scope("profile read")),
        (eventpop.id, scope("public")),
    ];
    expected.sort_by_key(|(id, _)| *id);
    let got: Vec<_> = all.iter().map(|c| (c.client_id, c.scope.clone())).collect();
    assert_eq!(got, expected);

    // Withdrawn: asked again next time; the grant stays (ending it is R12).
    assert!(f.store.withdraw_consent(&pretix.id, "alice")?);
    assert!(!has_consent(&f.store, &pretix.id, "alice", &scope("read"))?);
    assert!(is_valid(&f.store, access(&tokens)));
    assert!(!f.store.withdraw_consent(&pretix.id, "alice")?);
    // Bob's consent to the same client is his own.
    assert!(has_consent(&f.store, &pretix.id, "bob", &scope("read"))?);
    let left = f
        .store
        .consents_of_subject("alice", &PageRequest::first(10))?;
    assert_eq!(left.items.len(), 1);
    assert_eq!(left.items[0].client_id, eventpop.id);
    // Removing the application, or the client's grants, leaves no listing behind.
    f.store.revoke_subject_at_client(&eventpop.id, "alice")?;
    f.store.revoke_client_grants(&pretix.id)?;
    for subject in ["alice", "bob"] {
        let page = f
            .store
            .consents_of_subject(subject, &PageRequest::first(10))?;
        assert!(page.items.is_empty(), "{subject}");
    }
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

fn r17_consent_to_an_empty_scope_is_refused_not_assumed<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let empty = Scope::parse("")?;
    f.store
        .record_consent(NewConsent::new(pretix.id, "alice", scope("read")))?;
    // A consent exists, but it covers no empty request: the prompt is never
    // skipped for "consent to nothing".
    assert!(!has_consent(&f.store, &pretix.id, "alice", &empty)?);
    let consent = f.store.consent(&pretix.id, "alice")?.expect("recorded");
    assert!(!consent.covers(&empty));
    assert!(matches!(
        f.store
            .record_consent(NewConsent::new(pretix.id, "alice", empty)),
        Err(Error::MalformedScope { .. })
    ));
    assert_eq!(
        f.store.consent(&pretix.id, "alice")?.map(|c| c.scope),
        Some(scope("read"))
    );
    Ok(())
}

fn r22_a_clients_consents_are_listed_in_pages<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let eventpop = eventpop_app(&f.store);
    for subject in ["erin", "alice", "dave", "carol", "bob"] {
        f.store
            .record_consent(NewConsent::new(pretix.id, subject, scope("read")))?;
    }
    f.store
        .record_consent(NewConsent::new(eventpop.id, "alice", scope("public")))?;
    // Pages of two, in subject order, with pretix's consents only.
    let (mut seen, mut page, mut pages) = (Vec::new(), PageRequest::first(2), 0);
    loop {
        let listed = f.store.consents_of_client(&pretix.id, &page)?;
        assert!(listed.items.len() <= 2);
        assert!(listed.items.iter().all(|c| c.client_id == pretix.id));
        seen.extend(listed.items.into_iter().map(|c| (c.subject, c.scope)));
        pages += 1;
        match listed.next {
            Some(cursor) => page = PageRequest::after(cursor, 2),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    // In the consents table's key order: shorter subjects first, then by
    // their bytes; each subject once.
    let subjects: Vec<_> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(subjects, ["bob", "dave", "erin", "alice", "carol"]);
    assert!(seen.iter().all(|(_, s)| *s == scope("read")));
    // A cursor of another client's listing is refused, not followed.
    let other = f
        .store
        .consents_of_client(&eventpop.id, &PageRequest::first(1))?;
    assert_eq!(other.items.len(), 1);
    let foreign = f
        .store
        .consents_of_client(&pretix.id, &PageRequest::first(1))?
        .next
        .expect("a second page");
    assert!(matches!(
        f.store
            .consents_of_client(&eventpop.id, &PageRequest::after(foreign, 1)),
        Err(Error::InvalidArgument { .. })
    ));
    // A withdrawn consent is gone from the listing; the others stay.
    assert!(f.store.withdraw_consent(&pretix.id, "carol")?);
    let after = f
        .store
        .consents_of_client(&pretix.id, &PageRequest::first(10))?;
    assert_eq!(after.items.len(), 4);
    assert!(after.items.iter().all(|c| c.subject != "carol"));
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r22_a_clients_consents_are_listed_in_pages,
    r17_consent_is_recorded_and_queried_as_a_set,
    r22_a_subjects_consents_are_listed_and_withdrawn_one_at_a_time,
    r17_consent_to_an_empty_scope_is_refused_not_assumed,
);
