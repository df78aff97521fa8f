//! R03: clients registered (declarative ones ensured at every start),
//! authenticated in constant time, rotated, updated and deleted with their
//! cascade (`ops/clients.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthorizationRequest, ClientId, ClientUpdate, CodeExchange, Config, ConfigBuilder, Error,
    NewConsent, OAuthErrorCode, PageRequest, RefreshRequest,
};
use grantdb::{ChosenSecret, Ensured, GrantType, NewClient};

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

fn r03_a_declarative_client_is_registered_once_and_compared_after<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let id: ClientId = "pCJ3yvtcSmWb3bHkmGT9Aw".parse()?;
    let secret = f.store.new_client_secret()?;
    let described = NewClient::confidential("prioticket distributor")
        .id(id)
        .grant_types([GrantType::ClientCredentials])
        .scopes("bookings")?
        .secret(secret.expose());
    // Registered under its id; the secret is the caller's, not handed back.
    let Ensured::Created(created) = f.store.ensure_client(described.clone())? else {
        panic!("a new client is created");
    };
    assert_eq!(created.client.id, id);
    assert!(created.secret.is_none());
    assert!(
        f.store
            .authenticate_client(&id, Some(secret.expose()))
            .is_ok()
    );
    // Every later start finds it as described, and changes nothing.
    assert!(matches!(
        f.store.ensure_client(described.clone())?,
        Ensured::Unchanged(client) if client.id == id
    ));
    let mut changed = described.clone();
    changed.scopes = scope("bookings refunds");
    changed.secret = Some(ChosenSecret::Plain(f.store.new_client_secret()?));
    match f.store.ensure_client(changed)? {
        Ensured::Differs { client, fields } => {
            assert_eq!(fields, ["scopes", "secret"]);
            assert_eq!(client.scopes, scope("bookings"), "nothing was changed");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        f.store
            .authenticate_client(&id, Some(secret.expose()))
            .is_ok()
    );
    // Registering the id again is refused; so is a secret of another shape
    // and a secret for a public client.
    assert!(matches!(
        f.store.register_client(described.clone()),
        Err(Error::ClientExists)
    ));
    let malformed = NewClient::confidential("x")
        .grant_types([GrantType::ClientCredentials])
        .secret("correct horse battery staple");
    assert!(matches!(
        f.store.register_client(malformed),
        Err(Error::InvalidArgument { .. })
    ));
    let public = NewClient::public("x")
        .grant_types([GrantType::DeviceCode])
        .secret(secret.expose());
    assert!(matches!(
        f.store.register_client(public),
        Err(Error::InvalidArgument { .. })
    ));
    // A description without an id cannot be ensured.
    assert!(matches!(
        f.store
            .ensure_client(NewClient::confidential("x").grant_types([GrantType::Password])),
        Err(Error::InvalidArgument { .. })
    ));
    // The hash moves the client to another store of the same key, where its
    // secret works as it did; a store of another key refuses the hash.
    let hash = f
        .store
        .client_secret_hash(&id)?
        .expect("a confidential client");
    assert!(!hash.to_string().contains(secret.expose()));
    let mut moved = described.clone();
    moved.secret = Some(ChosenSecret::Hashed(hash));
    assert!(matches!(
        f.store.ensure_client(moved.clone())?,
        Ensured::Unchanged(_)
    ));
    let other =
        fixture_with(Config::builder().hashing_key(grantdb::HashingKey::from_bytes([9; 32])));
    assert!(matches!(
        other.store.register_client(moved.clone()),
        Err(Error::KeyRing { .. })
    ));
    Ok(())
}

#[test]
fn r03_a_client_moves_to_a_store_of_the_same_key_by_its_secret_hash() -> TestResult {
    let key = grantdb::HashingKey::from_bytes([5; 32]);
    let config = || Config::builder().hashing_key(key.clone()).build();
    let first = grantdb::Store::in_memory(config()?)?;
    let app = first
        .register_client(NewClient::confidential("pretalx").grant_types([GrantType::Password]))?;
    let secret = app.secret.expect("minted");
    let hash = first.client_secret_hash(&app.client.id)?.expect("a secret");
    let second = grantdb::Store::in_memory(config()?)?;
    let moved = NewClient::confidential("pretalx")
        .id(app.client.id)
        .grant_types([GrantType::Password])
        .secret_hash(hash);
    assert!(matches!(second.ensure_client(moved)?, Ensured::Created(_)));
    assert!(
        second
            .authenticate_client(&app.client.id, Some(secret.expose()))
            .is_ok()
    );
    assert!(
        second
            .authenticate_client(&app.client.id, Some("gdbcs_wrong"))
            .is_err()
    );
    // The hash reads back as it was written.
    assert_eq!(hash.to_string().parse::<grantdb::SecretHash>()?, hash);
    Ok(())
}

#[test]
fn r03_a_declarative_client_reads_from_its_configuration() -> TestResult {
    let read = |json: &str| serde_json::from_str::<NewClient>(json);
    let client = read(
        r#"{"id": "pCJ3yvtcSmWb3bHkmGT9Aw", "name": "pretalx",
            "redirect_uris": ["https://pretalx.com"],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": "read write",
            "lifetimes": {"access_seconds": 600}}"#,
    )?;
    assert_eq!(client.kind, grantdb::ClientKind::Confidential);
    assert_eq!(client.scopes, scope("read write"));
    assert!(client.secret.is_none());
    // Unknown fields, both a secret and its hash, a public client's secret:
    // refused, never half read.
    for bad in [
        r#"{"name": "x", "grant_types": ["password"], "colour": "blue"}"#,
        r#"{"name": "x", "grant_types": ["password"], "secret": "a", "secret_hash": "b"}"#,
        r#"{"name": "x", "kind": "public", "grant_types": ["device_code"], "secret": "a"}"#,
        r#"{"name": "x"}"#,
    ] {
        assert!(read(bad).is_err(), "{bad}");
    }
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r03_a_declarative_client_is_registered_once_and_compared_after,
    r03_client_authentication_checks_the_secret,
    r03_rotating_the_secret_fails_the_old_one_at_once,
    r03_deleting_a_client_revokes_everything_of_it,
    r03_update_get_and_list_clients,
);
