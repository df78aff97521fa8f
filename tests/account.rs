//! A subject's own view (R21, R22), grant limits (R23), and what an empty
//! scope named in a request means (R16, R17): each test named after its
//! rule of `docs/lifecycle.md`, on every backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

mod common;

use common::*;
use grantdb::kv::Backend;
use grantdb::{
    AtGrantLimit, AuthorizationRequest, Config, ConfigBuilder, Error, GrantLimits, NewClient,
    OAuthErrorCode, PageRequest, Scope,
};
use grantdb::{ClientCredentialsRequest, GrantRef, IssueRequest, NewConsent, RefreshRequest};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A password client with scopes, so that its grants can carry consent.
fn password_app<B: Backend>(store: &grantdb::Store<B>, name: &str) -> App {
    register(
        store,
        &NewClient::confidential(name)
            .grant_types([
                grantdb::GrantType::Password,
                grantdb::GrantType::RefreshToken,
            ])
            .scopes("read write")
            .unwrap(),
    )
}

// ---------------------------------------------------------------- R21

fn r21_a_subject_ends_one_grant_and_keeps_the_others<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = password_app(&f.store, "ticketpark");
    let phone = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    let laptop = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    let bobs = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "bob"))?;
    // Another subject's grant: refused quietly, nothing changes.
    assert!(
        !f.store
            .revoke_grant(&GrantRef::new(app.id, phone.grant_id), "bob")?
    );
    assert!(is_valid(&f.store, access(&phone)));
    // Its own: the grant ends with its tokens, the others stay.
    assert!(
        f.store
            .revoke_grant(&GrantRef::new(app.id, phone.grant_id), "alice")?
    );
    assert!(!is_valid(&f.store, access(&phone)));
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&phone), &app.client)),
        Err(Error::UnknownRefreshToken)
    ));
    assert!(is_valid(&f.store, access(&laptop)));
    assert!(is_valid(&f.store, access(&bobs)));
    // Ended already, or a client-credentials grant (no subject): false.
    assert!(
        !f.store
            .revoke_grant(&GrantRef::new(app.id, phone.grant_id), "alice")?
    );
    let prio = prioticket_app(&f.store);
    let machine = f
        .store
        .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;
    assert!(
        !f.store
            .revoke_grant(&GrantRef::new(prio.id, machine.grant_id), "alice")?
    );
    assert!(is_valid(&f.store, access(&machine)));
    let listed = f
        .store
        .grants_of_subject("alice", &PageRequest::first(10))?;
    let ids: Vec<_> = listed.items.iter().map(|g| g.grant_id).collect();
    assert_eq!(ids, [laptop.grant_id]);
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

// ---------------------------------------------------------------- R22

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

// ---------------------------------------------------------------- R23

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

// ---------------------------------------------------------------- R16, R17

fn r16_an_empty_scope_named_in_a_request_is_malformed<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let app = password_app(&f.store, "ticketpark");
    let empty = Scope::parse("")?;
    let malformed = |result: Result<_, Error>| {
        matches!(result, Err(Error::MalformedScope { .. }))
            && result
                .err()
                .and_then(|e| e.oauth_code())
                .is_some_and(|code| code == OAuthErrorCode::InvalidScope)
    };
    assert!(malformed(
        f.store
            .issue_code(AuthorizationRequest::new(pretix.id, "alice").scope(empty.clone()))
            .map(drop)
    ));
    assert!(malformed(
        f.store
            .issue_for_subject(IssueRequest::new(&app.client, "alice").scope(empty.clone()))
            .map(drop)
    ));
    let tokens = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    assert!(malformed(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client).scope(empty.clone()))
            .map(drop)
    ));
    // Nothing changed: the pair still works and refreshes.
    assert!(is_valid(&f.store, access(&tokens)));
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert_eq!(rotated.scope, scope("read write"));
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

rule_suite!(
    r21_a_subject_ends_one_grant_and_keeps_the_others,
    r22_a_subjects_consents_are_listed_and_withdrawn_one_at_a_time,
    r23_a_full_subject_is_refused_a_new_grant_and_nothing_changes,
    r23_a_full_subject_loses_its_oldest_grants_to_a_new_one,
    r16_an_empty_scope_named_in_a_request_is_malformed,
    r17_consent_to_an_empty_scope_is_refused_not_assumed,
);
