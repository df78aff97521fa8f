//! The change feed's uses, shipped as examples (R33): a resource server's
//! validation cache that drops what the feed ends, and back-channel logout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/revocation_cache/cache.rs"]
mod cache;
#[path = "../examples/backchannel_logout/notices.rs"]
mod notices;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use grantdb::{
    AuthSession, AuthorizationRequest, CodeExchange, Config, GrantType, IssueRequest, NewClient,
    Store,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn password_client(store: &Store) -> grantdb::Result<grantdb::AuthenticatedClient> {
    let app = store.register_client(
        NewClient::confidential("ticketpark")
            .grant_types([GrantType::Password, GrantType::RefreshToken]),
    )?;
    store.authenticate_client(
        &app.client.id,
        app.secret.as_ref().map(grantdb::Secret::expose),
    )
}

/// Waits until the cache applied entry `seq` (the follower wakes on the
/// commit; the deadline only keeps a broken follower from hanging the test).
fn applied_up_to(cache: &cache::ValidationCache, seq: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while cache.applied() < seq {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

#[test]
fn r33_a_cached_validation_ends_when_the_feed_revokes_it() -> TestResult {
    let store = Store::in_memory(Config::default())?;
    let client = password_client(&store)?;
    // A cache that would keep validations for an hour.
    let cache = Arc::new(cache::ValidationCache::new(Duration::from_hours(1)));
    let stop = Arc::new(AtomicBool::new(false));
    let follower = cache::follow(store.clone(), Arc::clone(&cache), 0, Arc::clone(&stop));
    let kept = store.issue_for_subject(IssueRequest::new(&client, "bob"))?;
    for round in 0..20u64 {
        let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
        let access = tokens.access_token.expose();
        cache.validate(&store, access)?;
        cache.validate(&store, kept.access_token.expose())?;
        assert!(cache.holds(access));
        // Half the rounds revoke the grant (R10), half the access token alone (R09).
        if round % 2 == 0 {
            let refresh = tokens.refresh_token.as_ref().unwrap().expose();
            store.revoke(refresh, &client)?;
        } else {
            store.revoke(access, &client)?;
        }
        // The revocation's entry is the latest; once the cache applied it,
        // the token never validates there again.
        let latest = store.changes_since(0, 10_000)?.next;
        assert_eq!(latest, round + 1);
        assert!(applied_up_to(&cache, latest), "the follower fell behind");
        assert!(!cache.holds(access));
        assert!(cache.validate(&store, access).is_err());
        // What was not revoked stays cached.
        assert!(cache.holds(kept.access_token.expose()));
    }
    stop.store(true, Ordering::SeqCst);
    follower.join().unwrap()?;
    Ok(())
}

#[test]
fn r33_without_the_feed_a_cached_validation_lasts_only_its_ttl() -> TestResult {
    let store = Store::in_memory(Config::default())?;
    let client = password_client(&store)?;
    let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    let access = tokens.access_token.expose();
    // No follower: a cache that keeps validations an hour still answers
    // from memory after the revocation; one that keeps them no time at all
    // asks the store every time. (No sleeping: the outcome does not depend
    // on how fast the machine is.)
    let hour = cache::ValidationCache::new(Duration::from_hours(1));
    let none = cache::ValidationCache::new(Duration::ZERO);
    hour.validate(&store, access)?;
    none.validate(&store, access)?;
    store.revoke(access, &client)?;
    assert!(hour.validate(&store, access).is_ok());
    assert!(none.validate(&store, access).is_err());
    Ok(())
}

#[test]
fn r33_back_channel_logout_names_every_client_session_that_ended() -> TestResult {
    let store = Store::in_memory(Config::default())?;
    let mut clients = Vec::new();
    for name in ["pretix", "eventpop", "prioticket"] {
        let app = store.register_client(
            NewClient::confidential(name)
                .redirect_uri(format!("https://{name}.example/cb"))
                .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]),
        )?;
        let client = store.authenticate_client(
            &app.client.id,
            app.secret.as_ref().map(grantdb::Secret::expose),
        )?;
        clients.push(client);
    }
    let sign_in =
        |client: &grantdb::AuthenticatedClient, sid: Option<&str>| -> grantdb::Result<()> {
            let mut request = AuthorizationRequest::new(client.id(), "alice");
            if let Some(sid) = sid {
                request = request.auth_session(AuthSession::new().sid(sid));
            }
            let code = store.issue_code(request)?;
            store.exchange_code(CodeExchange::new(code.code.expose(), client))?;
            Ok(())
        };
    // Two applications in browser session s1 (one of them twice), one in
    // s2, one sign-in without a session.
    sign_in(&clients[0], Some("s1"))?;
    sign_in(&clients[0], Some("s1"))?;
    sign_in(&clients[1], Some("s1"))?;
    sign_in(&clients[2], Some("s2"))?;
    sign_in(&clients[2], None)?;
    store.revoke_session("s1")?;
    let changes = store.changes_since(0, 1_000)?.changes;
    let claims = notices::logout_claims("https://id.example", &changes);
    // In the order the session's grants ended (index order): compare as sets.
    let mut pairs: Vec<(String, String)> = claims
        .iter()
        .map(|c| (c.aud.to_string(), c.sid.clone()))
        .collect();
    pairs.sort();
    let mut expected = vec![
        (clients[0].id().to_string(), "s1".to_owned()),
        (clients[1].id().to_string(), "s1".to_owned()),
    ];
    expected.sort();
    assert_eq!(pairs, expected);
    assert!(
        claims
            .iter()
            .all(|c| c.events.get(notices::BACKCHANNEL_LOGOUT_EVENT).is_some())
    );
    // "Sign out everywhere" ends s2 too; the grant without a session needs
    // no logout token.
    let cursor = store.changes_since(0, 1_000)?.next;
    store.revoke_subject("alice")?;
    let later = store.changes_since(cursor, 1_000)?.changes;
    let claims = notices::logout_claims("https://id.example", &later);
    assert_eq!(claims.len(), 1);
    assert_eq!(
        (claims[0].aud, claims[0].sid.as_str()),
        (clients[2].id(), "s2")
    );
    // Each token's jti is its entry's: a resend carries the same one.
    assert!(claims[0].jti.starts_with("feed-"));
    Ok(())
}
