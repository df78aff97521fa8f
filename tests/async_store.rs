//! The async handle (feature `tokio`): every operation called from a
//! multi-thread tokio runtime, on both backends, answers as the blocking
//! store does. The PostgreSQL backend's client, which runs a runtime of its
//! own, works from inside one.

#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[cfg(feature = "postgres")]
use common::pg;
use common::*;
use grantdb::kv::Backend;
use grantdb::{
    AsyncStore, AuthorizationRequest, ClientUpdate, CodeExchange, Config, Error, GrantType,
    ManualClock, NewClient, PageRequest, Revocation, Store,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn pretix_client() -> NewClient {
    NewClient::confidential("pretix")
        .redirect_uri("https://pretix.example/cb")
        .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
        .scopes("read write")
        .unwrap()
}

fn ticketpark_client() -> NewClient {
    NewClient::confidential("ticketpark")
        .grant_types([GrantType::Password, GrantType::RefreshToken])
}

fn prioticket_client() -> NewClient {
    NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials])
}

/// Every operation of the async handle, with the answers the rules give.
/// The key ring (R28, R29): a new key mints, the old one retires and goes.
async fn key_ring_operations<B: Backend>(store: &AsyncStore<B>) -> TestResult {
    let added = store.add_hashing_key(None).await?;
    assert!(added.minting);
    store.retire_hashing_key(grantdb::KeyId::new(1)).await?;
    store.remove_hashing_key(grantdb::KeyId::new(1)).await?;
    store.reload_hashing_keys().await?;
    assert_eq!(store.hashing_keys().await?.len(), 2);
    assert!(store.verify().await?.is_ok());
    Ok(())
}

async fn every_operation<B: Backend>(store: AsyncStore<B>, clock: ManualClock) -> TestResult {
    let app = store.register_client(&pretix_client()).await?;
    let id = app.client.id;
    let secret = app.secret.as_ref().unwrap().expose().to_owned();
    store.authenticate_client(&id, Some(&secret)).await?;
    assert!(store.client(&id).await?.is_some());
    assert_eq!(store.clients(&PageRequest::first(10)).await?.items.len(), 1);
    let update = ClientUpdate {
        name: Some("renamed".into()),
        ..ClientUpdate::default()
    };
    store.update_client(&id, &update).await?;
    let code = store
        .issue_code(&AuthorizationRequest::new(id, "alice"))
        .await?;
    assert!(store.inspect_code(code.code.expose()).await?.is_some());
    let tokens = store
        .exchange_code(&CodeExchange::new(code.code.expose(), id))
        .await?;
    assert!(matches!(
        store
            .exchange_code(&CodeExchange::new(code.code.expose(), id))
            .await,
        Err(Error::CodeReplayed)
    ));
    let tokens2 = store
        .exchange_code(&CodeExchange::new(
            store
                .issue_code(&AuthorizationRequest::new(id, "alice"))
                .await?
                .code
                .expose(),
            id,
        ))
        .await?;
    let info = store.validate(access(&tokens2)).await?;
    assert_eq!(info.subject.as_deref(), Some("alice"));
    assert!(store.introspect(refresh(&tokens2)).await?.active);
    assert!(matches!(
        store.refresh_state(refresh(&tokens2)).await?,
        grantdb::RefreshState::Active(_)
    ));
    let rotated = store.refresh(refresh(&tokens2), &id, None).await?;
    assert!(store.validate(access(&tokens2)).await.is_err());
    assert!(store.grant(&id, &rotated.grant_id).await?.is_some());
    assert_eq!(
        store.revoke(access(&rotated), &id).await?,
        Revocation::AccessToken
    );
    assert_eq!(
        store.revoke_token_as_operator(refresh(&rotated)).await?,
        Revocation::Grant
    );
    store.record_consent("alice", &id, &scope("read")).await?;
    assert!(store.has_consent("alice", &id, &scope("read")).await?);
    assert!(store.consent("alice", &id).await?.is_some());
    let password = store.register_client(&ticketpark_client()).await?;
    let pw = store
        .issue_for_subject(&password.client.id, "bob", None)
        .await?;
    assert_eq!(
        store
            .grants_of_subject("bob", &PageRequest::first(5))
            .await?
            .items
            .len(),
        1
    );
    assert!(
        !store
            .grants_of_client(&password.client.id, &PageRequest::first(5))
            .await?
            .items
            .is_empty()
    );
    let prio = store.register_client(&prioticket_client()).await?;
    store
        .issue_client_credentials(&prio.client.id, None)
        .await?;
    store.revoke_subject("bob").await?;
    assert!(store.validate(access(&pw)).await.is_err());
    store.revoke_client_grants(&prio.client.id).await?;
    store.revoke_subject_at_client("alice", &id).await?;
    store.rotate_client_secret(&id).await?;
    let _ = tokens;
    clock.advance(90_000);
    let preview = store.purge_preview().await?;
    let purged = store.purge_expired().await?;
    assert_eq!(purged.codes, preview.codes);
    store.purge_expired_batch(10).await?;
    assert!(store.stats().await?.clients >= 3);
    let exported = store.export(|_| Ok(())).await?;
    assert!(exported.entries > 0);
    assert!(store.verify().await?.is_ok());
    key_ring_operations(&store).await?;
    store.flush().await?;
    assert!(store.delete_client(&prio.client.id).await?.is_some());
    assert!(store.now() >= T0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_of_the_async_handle_on_redb() -> TestResult {
    let clock = ManualClock::new(T0);
    let store = Store::in_memory(Config::builder().clock(clock.handle()).build()?)?;
    every_operation(AsyncStore::new(store), clock).await
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn every_operation_of_the_async_handle_on_postgres() -> TestResult {
    let clock = ManualClock::new(T0);
    let handle = clock.handle();
    if tokio::task::spawn_blocking(pg::url).await?.is_none() {
        return Ok(());
    }
    // Connecting is blocking work too: on the blocking pool.
    let store = AsyncStore::open_with(move || {
        let backend = pg::backend(true).expect("the PostgreSQL test server");
        Store::with_backend(backend, Config::builder().clock(handle).build()?)
    })
    .await?;
    every_operation(store, clock).await
}
