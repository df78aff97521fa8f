//! The async handle (feature `tokio`): every operation called from a
//! multi-thread tokio runtime, on both backends, answers as the blocking
//! store does. The PostgreSQL backend's client, which runs a runtime of its
//! own, works from inside one.

#[cfg(feature = "postgres")]
use crate::support::pg;
use crate::support::*;
use grantdb::IntrospectRequest;
use grantdb::kv::Backend;
use grantdb::{
    AsyncStore, AuthorizationRequest, ClientUpdate, CodeExchange, Config, Error, GrantType,
    ManualClock, NewClient, PageRequest, Revocation, Store,
};
use grantdb::{ClientCredentialsRequest, IssueRequest, NewConsent, RefreshRequest};

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

/// The key ring (R28, R29) through the async handle: a new key mints, the
/// old one retires and goes.
async fn key_ring_operations<B: Backend>(store: &AsyncStore<B>) -> TestResult {
    let added = store.call(|s| s.add_hashing_key(None)).await?;
    assert!(added.minting);
    store
        .call(|s| s.retire_hashing_key(grantdb::KeyId::new(1)))
        .await?;
    store
        .call(|s| s.remove_hashing_key(grantdb::KeyId::new(1)))
        .await?;
    store.call(Store::reload_hashing_keys).await?;
    assert_eq!(store.call(Store::hashing_keys).await?.len(), 2);
    assert!(store.call(Store::verify).await?.is_ok());
    Ok(())
}

/// Every operation of the store through the async handle (`call` for
/// writes and long reads, `lookup` for short reads, the methods of its own
/// for the lookups a request makes every time), with the answers the rules
/// give.
// One scenario, read top to bottom: every operation once, in order.
#[allow(clippy::too_many_lines)]
async fn every_operation<B: Backend>(store: AsyncStore<B>, clock: ManualClock) -> TestResult {
    let app = store.call(|s| s.register_client(pretix_client())).await?;
    let id = app.client.id;
    let secret = app.secret.as_ref().unwrap().expose().to_owned();
    let client = store.authenticate_client(&id, Some(&secret)).await?;
    assert!(store.client(&id).await?.is_some());
    let page = store.call(|s| s.clients(&PageRequest::first(10))).await?;
    assert_eq!(page.items.len(), 1);
    let update = ClientUpdate::new().name("renamed");
    store.call(move |s| s.update_client(&id, update)).await?;
    let code = store
        .call(move |s| s.issue_code(AuthorizationRequest::new(id, "alice")))
        .await?;
    let text = code.code.expose().to_owned();
    let seen = {
        let text = text.clone();
        store.lookup(move |s| s.inspect_code(&text)).await?
    };
    assert!(seen.is_some());
    let exchange = CodeExchange::new(text.as_str(), &client);
    let tokens = {
        let exchange = exchange.clone();
        store.call(move |s| s.exchange_code(exchange)).await?
    };
    assert!(matches!(
        store.call(move |s| s.exchange_code(exchange)).await,
        Err(Error::CodeReplayed)
    ));
    let c = client.clone();
    let tokens2 = store
        .call(move |s| {
            let code = s.issue_code(AuthorizationRequest::new(id, "alice"))?;
            s.exchange_code(CodeExchange::new(code.code.expose(), &c))
        })
        .await?;
    let info = store.validate(access(&tokens2)).await?;
    assert_eq!(info.subject.as_deref(), Some("alice"));
    let seen = store
        .introspect(IntrospectRequest::new(refresh(&tokens2), &client))
        .await?;
    assert!(seen.active);
    let presented = refresh(&tokens2).to_owned();
    assert!(matches!(
        store.lookup(move |s| s.refresh_state(&presented)).await?,
        grantdb::RefreshState::Active(_)
    ));
    let request = RefreshRequest::new(refresh(&tokens2), &client);
    let rotated = store.call(move |s| s.refresh(request)).await?;
    assert!(store.validate(access(&tokens2)).await.is_err());
    let grant = rotated.grant_ref();
    assert!(store.lookup(move |s| s.grant(&grant)).await?.is_some());
    let (token, c) = (access(&rotated).to_owned(), client.clone());
    assert_eq!(
        store.call(move |s| s.revoke(&token, &c)).await?,
        Revocation::AccessToken
    );
    let token = refresh(&rotated).to_owned();
    assert_eq!(
        store
            .call(move |s| s.revoke_token_as_operator(&token))
            .await?,
        Revocation::Grant
    );
    store
        .call(move |s| s.record_consent(NewConsent::new(id, "alice", scope("read"))))
        .await?;
    let consent = store.lookup(move |s| s.consent(&id, "alice")).await?;
    assert!(consent.is_some_and(|c| c.covers(&scope("read"))));
    let password = store
        .call(|s| s.register_client(ticketpark_client()))
        .await?;
    let password_secret = password.secret.as_ref().map(|s| s.expose().to_owned());
    let password_client = store
        .authenticate_client(&password.client.id, password_secret.as_deref())
        .await?;
    let pw = store
        .call(move |s| s.issue_for_subject(IssueRequest::new(&password_client, "bob")))
        .await?;
    let bobs = store
        .call(|s| s.grants_of_subject("bob", &PageRequest::first(5)))
        .await?;
    assert_eq!(bobs.items.len(), 1);
    let password_id = password.client.id;
    let of_client = store
        .call(move |s| s.grants_of_client(&password_id, &PageRequest::first(5)))
        .await?;
    assert!(!of_client.items.is_empty());
    let prio = store
        .call(|s| s.register_client(prioticket_client()))
        .await?;
    let prio_id = prio.client.id;
    let prio_secret = prio.secret.as_ref().map(|s| s.expose().to_owned());
    let prio_client = store
        .authenticate_client(&prio_id, prio_secret.as_deref())
        .await?;
    store
        .call(move |s| s.issue_client_credentials(ClientCredentialsRequest::new(&prio_client)))
        .await?;
    store.call(|s| s.revoke_subject("bob")).await?;
    assert!(store.validate(access(&pw)).await.is_err());
    store
        .call(move |s| s.revoke_client_grants(&prio_id))
        .await?;
    store
        .call(move |s| s.revoke_subject_at_client(&id, "alice"))
        .await?;
    store.call(move |s| s.rotate_client_secret(&id)).await?;
    let _ = tokens;
    clock.advance(90_000);
    let preview = store.call(Store::purge_preview).await?;
    let purged = store.call(Store::purge_expired).await?;
    assert_eq!(purged.codes, preview.codes);
    store.call(|s| s.purge_expired_batch(10)).await?;
    assert!(store.call(Store::stats).await?.clients >= 3);
    let exported = store.call(|s| s.export(|_| Ok(()))).await?;
    assert!(exported.entries > 0);
    assert!(store.call(Store::verify).await?.is_ok());
    key_ring_operations(&store).await?;
    store.call(Store::flush).await?;
    assert!(
        store
            .call(move |s| s.delete_client(&prio_id))
            .await?
            .is_some()
    );
    assert!(store.now() >= T0);
    Ok(())
}

/// A panic in an operation run through the handle is an error for its
/// caller, not a panic in the caller's task; the handle goes on working.
#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_operation_is_an_error_and_the_handle_goes_on() -> TestResult {
    let store = AsyncStore::new(Store::in_memory(Config::default())?);
    let panicked: grantdb::Result<()> = store.call(|_| panic!("on purpose")).await;
    assert!(matches!(panicked, Err(Error::Storage { .. })));
    let panicked: grantdb::Result<()> = store.lookup(|_| panic!("on purpose")).await;
    assert!(matches!(panicked, Err(Error::Storage { .. })));
    assert_eq!(store.call(Store::stats).await?.clients, 0);
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
