//! R09–R12, R21: revoking one token, a grant, and in bulk (`ops/revoke.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthorizationRequest, ClientCredentialsRequest, CodeExchange, Config, ConfigBuilder, Error,
    GrantRef, IssueRequest, NewConsent, PageRequest, RefreshRequest, Revocation,
};

fn r09_revoking_an_access_token_leaves_its_refresh_token_working<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    assert_eq!(
        f.store.revoke(access(&tokens), &app.client)?,
        Revocation::AccessToken
    );
    assert!(!is_valid(&f.store, access(&tokens)));
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert!(is_valid(&f.store, access(&rotated)));
    Ok(())
}

fn r10_revoking_a_refresh_token_revokes_its_access_token_and_grant<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let other = code_flow(&f.store, &app, "alice");
    assert_eq!(
        f.store.revoke(refresh(&tokens), &app.client)?,
        Revocation::Grant
    );
    assert!(!is_valid(&f.store, access(&tokens)));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client))
            .is_err()
    );
    let grants = f
        .store
        .grants_of_subject("alice", &PageRequest::first(10))?;
    assert_eq!(grants.items.len(), 1);
    assert_eq!(grants.items[0].grant_id, other.grant_id);
    assert!(is_valid(&f.store, access(&other)));
    Ok(())
}

fn r11_revocation_is_quiet_for_inactive_tokens_and_refused_for_other_clients<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let other = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    assert!(matches!(
        f.store.revoke(access(&tokens), &other.client),
        Err(Error::TokenClientMismatch)
    ));
    assert!(is_valid(&f.store, access(&tokens)));
    assert_eq!(
        f.store.revoke(access(&tokens), &app.client)?,
        Revocation::AccessToken
    );
    // Already revoked, and revoked again by anyone: quiet.
    assert_eq!(
        f.store.revoke(access(&tokens), &app.client)?,
        Revocation::NotActive
    );
    assert_eq!(
        f.store.revoke(access(&tokens), &other.client)?,
        Revocation::NotActive
    );
    // Unknown but well formed (issued by another store).
    let elsewhere = make(Config::builder());
    let stranger = code_flow(&elsewhere.store, &pretix_app(&elsewhere.store), "x");
    assert_eq!(
        f.store.revoke(access(&stranger), &app.client)?,
        Revocation::NotActive
    );
    // Expired.
    let fresh = code_flow(&f.store, &app, "bob");
    f.clock.advance(86_400);
    assert_eq!(
        f.store.revoke(access(&fresh), &app.client)?,
        Revocation::NotActive
    );
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&fresh), &app.client))
            .is_ok(),
        "the quiet revoke changed nothing"
    );
    // Malformed, or a code or client secret: quiet too, one outcome for
    // everything a server answers with 200 (RFC 7009 §2.2), refused before
    // any read (R02).
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "carol"))?;
    for junk in ["", "nonsense", code.code.expose(), app.secret()] {
        assert_eq!(f.store.revoke(junk, &app.client)?, Revocation::NotActive);
    }
    assert!(f.store.inspect_code(code.code.expose())?.is_some());
    Ok(())
}

fn r10_revoking_an_already_rotated_refresh_token_ends_its_grant<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    // The client revokes the refresh token it had before the rotation: it
    // wants that session ended, and it is.
    assert_eq!(
        f.store.revoke(refresh(&tokens), &app.client)?,
        Revocation::Grant
    );
    assert!(!is_valid(&f.store, access(&rotated)));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&rotated), &app.client))
            .is_err()
    );
    // Another client may not.
    let second = code_flow(&f.store, &app, "bob");
    f.store
        .refresh(RefreshRequest::new(refresh(&second), &app.client))?;
    let other = eventpop_app(&f.store);
    assert!(matches!(
        f.store.revoke(refresh(&second), &other.client),
        Err(Error::TokenClientMismatch)
    ));
    Ok(())
}

fn r12_revoke_all_grants_of_a_subject<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let eventpop = eventpop_app(&f.store);
    let a1 = code_flow(&f.store, &pretix, "alice");
    let a2 = code_flow(&f.store, &eventpop, "alice");
    let pending = f
        .store
        .issue_code(AuthorizationRequest::new(pretix.id, "alice"))?;
    let b = code_flow(&f.store, &pretix, "bob");
    assert_eq!(f.store.revoke_subject("alice")?.grants, 2);
    assert!(!is_valid(&f.store, access(&a1)));
    assert!(!is_valid(&f.store, access(&a2)));
    assert!(
        f.store
            .exchange_code(CodeExchange::new(pending.code.expose(), &pretix.client))
            .is_err()
    );
    assert!(is_valid(&f.store, access(&b)));
    Ok(())
}

fn r12_revoke_all_grants_of_a_client<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let prio = prioticket_app(&f.store);
    let a = code_flow(&f.store, &pretix, "alice");
    let b = code_flow(&f.store, &pretix, "bob");
    let p = f
        .store
        .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;
    assert_eq!(f.store.revoke_client_grants(&pretix.id)?.grants, 2);
    assert!(!is_valid(&f.store, access(&a)));
    assert!(!is_valid(&f.store, access(&b)));
    assert!(is_valid(&f.store, access(&p)));
    assert!(
        f.store.client(&pretix.id)?.is_some(),
        "the client stays registered"
    );
    Ok(())
}

fn r12_revoke_one_subject_at_one_client_forgets_the_consent<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let eventpop = eventpop_app(&f.store);
    let a = code_flow(&f.store, &pretix, "alice");
    let keep = code_flow(&f.store, &eventpop, "alice");
    let bob = code_flow(&f.store, &pretix, "bob");
    f.store
        .record_consent(NewConsent::new(pretix.id, "alice", scope("profile")))?;
    f.store
        .record_consent(NewConsent::new(eventpop.id, "alice", scope("public")))?;
    assert_eq!(
        f.store
            .revoke_subject_at_client(&pretix.id, "alice")?
            .grants,
        1
    );
    assert!(!is_valid(&f.store, access(&a)));
    assert!(is_valid(&f.store, access(&keep)));
    assert!(is_valid(&f.store, access(&bob)));
    assert!(!has_consent(
        &f.store,
        &pretix.id,
        "alice",
        &scope("profile")
    )?);
    assert!(has_consent(
        &f.store,
        &eventpop.id,
        "alice",
        &scope("public")
    )?);
    Ok(())
}

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

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
/// Issue 24 §3: a bulk revocation ends at most 1,000 grants per
/// transaction, so that the write lock is never held for long, and still
/// ends every grant the subject held, with one event for the whole.
#[test]
fn r12_a_bulk_revocation_ends_at_most_1000_grants_per_transaction() -> TestResult {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let told = std::sync::Arc::clone(&seen);
    let (f, backend) = mem_fixture(
        Config::builder()
            .grant_limits(grantdb::GrantLimits::none())
            .on_event(move |event| told.lock().unwrap().push(event.kind)),
    );
    let app = ticketpark_app(&f.store);
    let first = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "bulk"))?;
    for _ in 1..3_500 {
        f.store
            .issue_for_subject(IssueRequest::new(&app.client, "bulk"))?;
    }
    let other = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "other"))?;
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(pretix_app(&f.store).id, "bulk"))?;
    seen.lock().unwrap().clear();
    let commits = backend.commits();
    let ended = f.store.revoke_subject("bulk")?;
    assert_eq!(ended.grants, 3_500);
    assert!(
        backend.commits() - commits >= 4,
        "in four transactions at least"
    );
    assert!(
        backend.most_grants_deleted() <= 1_000,
        "{}",
        backend.most_grants_deleted()
    );
    assert!(!is_valid(&f.store, access(&first)));
    assert!(is_valid(&f.store, access(&other)));
    assert!(
        f.store.inspect_code(code.code.expose())?.is_none(),
        "the pending code went first"
    );
    let told = seen.lock().unwrap().clone();
    assert_eq!(
        told.iter()
            .filter(|kind| matches!(kind, grantdb::EventKind::SubjectRevoked { grants: 3_500 }))
            .count(),
        1,
        "{told:?}"
    );
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

/// Issue 24 §3: a subject holds at most 1,000 grants by default; the oldest
/// end to make room (R23).
fn r23_a_subject_holds_1000_grants_by_default<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = ticketpark_app(&f.store);
    let oldest = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "busy"))?;
    for _ in 1..grantdb::DEFAULT_GRANTS_PER_SUBJECT {
        f.store
            .issue_for_subject(IssueRequest::new(&app.client, "busy"))?;
    }
    assert!(is_valid(&f.store, access(&oldest)));
    f.store
        .issue_for_subject(IssueRequest::new(&app.client, "busy"))?;
    assert!(!is_valid(&f.store, access(&oldest)), "the oldest made room");
    assert_eq!(f.store.revoke_subject("busy")?.grants, 1_000);
    Ok(())
}

crate::rule_suite!(
    r23_a_subject_holds_1000_grants_by_default,
    r09_revoking_an_access_token_leaves_its_refresh_token_working,
    r10_revoking_a_refresh_token_revokes_its_access_token_and_grant,
    r11_revocation_is_quiet_for_inactive_tokens_and_refused_for_other_clients,
    r10_revoking_an_already_rotated_refresh_token_ends_its_grant,
    r12_revoke_all_grants_of_a_subject,
    r12_revoke_all_grants_of_a_client,
    r12_revoke_one_subject_at_one_client_forgets_the_consent,
    r21_a_subject_ends_one_grant_and_keeps_the_others,
);
