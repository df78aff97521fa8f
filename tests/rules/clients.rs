//! R03: clients registered, authenticated in constant time, rotated, updated and deleted with their cascade (`ops/clients.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthorizationRequest, ClientId, ClientUpdate, CodeExchange, Config, ConfigBuilder, Error,
    NewConsent, OAuthErrorCode, PageRequest, RefreshRequest,
};

fn r03_client_authentication_checks_the_secret<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    assert_eq!(
        f.store
            .authenticate_client(&app.id, Some(app.secret()))?
            .id(),
        app.id
    );
    let wrong = pretix_app(&f.store);
    for (secret, what) in [
        (Some(wrong.secret()), "another client's secret"),
        (None, "no secret"),
        (Some("gdbcs_short"), "a malformed secret"),
        (Some(""), "an empty secret"),
    ] {
        assert!(
            matches!(
                f.store.authenticate_client(&app.id, secret),
                Err(Error::ClientAuthenticationFailed)
            ),
            "{what}"
        );
    }
    let unknown = ClientId::from_bytes([9; 16]);
    let error = f
        .store
        .authenticate_client(&unknown, Some(app.secret()))
        .unwrap_err();
    assert_eq!(error.oauth_code(), Some(OAuthErrorCode::InvalidClient));

    let public = public_app(&f.store);
    assert!(f.store.authenticate_client(&public.id, None).is_ok());
    assert!(
        f.store
            .authenticate_client(&public.id, Some(app.secret()))
            .is_err()
    );
    Ok(())
}

fn r03_rotating_the_secret_fails_the_old_one_at_once<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let new_secret = f.store.rotate_client_secret(&app.id)?;
    assert!(matches!(
        f.store.authenticate_client(&app.id, Some(app.secret())),
        Err(Error::ClientAuthenticationFailed)
    ));
    assert!(
        f.store
            .authenticate_client(&app.id, Some(new_secret.expose()))
            .is_ok()
    );
    let public = public_app(&f.store);
    assert!(f.store.rotate_client_secret(&public.id).is_err());
    Ok(())
}

fn r03_deleting_a_client_revokes_everything_of_it<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let other = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let kept = code_flow(&f.store, &other, "alice");
    let pending = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice"))?;
    f.store
        .record_consent(NewConsent::new(app.id, "alice", scope("read")))?;

    assert!(f.store.delete_client(&app.id)?.is_some());
    assert!(!is_valid(&f.store, access(&tokens)));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client))
            .is_err()
    );
    assert!(matches!(
        f.store
            .exchange_code(CodeExchange::new(pending.code.expose(), &app.client)),
        Err(Error::UnknownCode)
    ));
    assert!(f.store.client(&app.id)?.is_none());
    assert!(f.store.consent(&app.id, "alice")?.is_none());
    assert_eq!(
        f.store
            .grants_of_subject("alice", &PageRequest::first(10))?
            .items
            .len(),
        1
    );
    assert!(
        f.store
            .grants_of_client(&app.id, &PageRequest::first(10))?
            .items
            .is_empty()
    );
    assert!(is_valid(&f.store, access(&kept)));
    assert!(f.store.delete_client(&app.id)?.is_none());
    Ok(())
}

fn r03_update_get_and_list_clients<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let updated = f.store.update_client(
        &app.id,
        ClientUpdate::new().name("pretalx 2").scopes(scope("read")),
    )?;
    assert_eq!(updated.name, "pretalx 2");
    assert_eq!(
        f.store.client(&app.id)?.map(|c| c.scopes),
        Some(scope("read"))
    );
    assert!(matches!(
        f.store.update_client(
            &app.id,
            ClientUpdate::new().redirect_uris(Vec::<String>::new())
        ),
        Err(Error::InvalidArgument { .. })
    ));
    for _ in 0..4 {
        pretix_app(&f.store);
    }
    let first = f.store.clients(&PageRequest::first(3))?;
    assert_eq!(first.items.len(), 3);
    let rest = f
        .store
        .clients(&PageRequest::after(first.next.clone().unwrap(), 3))?;
    assert_eq!(rest.items.len(), 2);
    assert!(rest.next.is_none());
    let mut ids: Vec<_> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|c| c.id)
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r03_client_authentication_checks_the_secret,
    r03_rotating_the_secret_fails_the_old_one_at_once,
    r03_deleting_a_client_revokes_everything_of_it,
    r03_update_get_and_list_clients,
);
