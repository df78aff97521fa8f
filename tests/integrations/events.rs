//! Events, spans, metrics and in-process maintenance: what a host sees of the
//! store without asking (R05, R08, R12, R14, R19).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::faulty::{Faults, FaultyFile};
use crate::support::*;
use grantdb::{
    AuthorizationRequest, CodeExchange, Config, ConfigBuilder, Error, Event, EventKind,
    ManualClock, Store,
};
use grantdb::{ClientCredentialsRequest, IssueRequest, NewConsent, RefreshRequest};

/// A builder whose listener collects every event.
fn listening(builder: ConfigBuilder) -> (ConfigBuilder, Arc<Mutex<Vec<Event>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let builder = builder.on_event(move |event| sink.lock().unwrap().push(event.clone()));
    (builder, seen)
}

fn kinds(seen: &Mutex<Vec<Event>>) -> Vec<EventKind> {
    seen.lock().unwrap().drain(..).map(|e| e.kind).collect()
}

#[test]
fn r19_every_committed_operation_is_told_with_its_ids_and_no_secret() -> TestResult {
    let clock = ManualClock::new(T0);
    let (builder, seen) = listening(Config::builder().clock(clock.handle()));
    let store = Store::in_memory(builder.build()?)?;
    let app = pretix_app(&store);
    assert_eq!(kinds(&seen), [EventKind::ClientRegistered]);

    let code = store.issue_code(AuthorizationRequest::new(app.id, "alice"))?;
    let tokens = store.exchange_code(CodeExchange::new(code.code.expose(), &app.client))?;
    let told = seen.lock().unwrap().clone();
    assert_eq!(
        told.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::CodeIssued, EventKind::CodeExchanged]
    );
    let exchanged = &told[1];
    assert_eq!(exchanged.client_id, Some(app.id));
    assert_eq!(exchanged.subject.as_deref(), Some("alice"));
    assert_eq!(exchanged.grant_id, Some(tokens.grant_id));
    assert_eq!(exchanged.at, T0);
    seen.lock().unwrap().clear();

    // R05: the replay is an error to the caller, and an event to the host.
    assert!(matches!(
        store.exchange_code(CodeExchange::new(code.code.expose(), &app.client)),
        Err(Error::CodeReplayed)
    ));
    let replayed = seen.lock().unwrap().pop().unwrap();
    assert_eq!(replayed.kind, EventKind::CodeReplayed);
    assert!(replayed.kind.is_security_relevant());
    assert_eq!(replayed.grant_id, Some(tokens.grant_id));

    // R07, R08: rotation, then theft.
    let second = code_flow(&store, &app, "alice");
    let rotated = store.refresh(RefreshRequest::new(refresh(&second), &app.client))?;
    assert!(matches!(
        store.refresh(RefreshRequest::new(refresh(&second), &app.client)),
        Err(Error::RefreshTokenReused)
    ));
    let told = kinds(&seen);
    assert_eq!(
        told[told.len() - 2..],
        [EventKind::TokensRefreshed, EventKind::RefreshReuseDetected]
    );
    let _ = rotated;

    // Revocations, bulk and single; consent; client changes; purge.
    let third = code_flow(&store, &app, "bob");
    store.revoke(access(&third), &app.client)?;
    store.revoke(refresh(&third), &app.client)?;
    store.record_consent(NewConsent::new(app.id, "alice", scope("read")))?;
    code_flow(&store, &app, "carol");
    store.revoke_subject("carol")?;
    store.revoke_subject_at_client(&app.id, "alice")?;
    store.rotate_client_secret(&app.id)?;
    let prio = prioticket_app(&store);
    store.issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;
    store.revoke_client_grants(&prio.id)?;
    store.issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;
    clock.advance(3_601);
    store.purge_expired()?;
    store.delete_client(&prio.id)?;
    let told = kinds(&seen);
    for expected in [
        EventKind::AccessTokenRevoked,
        EventKind::GrantRevoked,
        EventKind::ConsentRecorded,
        EventKind::SubjectRevoked { grants: 1 },
        EventKind::SubjectAtClientRevoked { grants: 0 },
        EventKind::ClientSecretRotated,
        EventKind::TokensIssued,
        EventKind::ClientGrantsRevoked { grants: 1 },
        EventKind::ClientDeleted { grants: 0 },
    ] {
        assert!(told.contains(&expected), "{expected:?} in {told:?}");
    }
    assert!(
        told.iter()
            .any(|k| matches!(k, EventKind::Purged { removed } if *removed > 0))
    );
    // No event carries a secret, in any form.
    let all = format!("{told:?} {replayed:?}");
    for secret in [access(&tokens), refresh(&second), code.code.expose()] {
        assert!(!all.contains(&secret[6..]));
    }
    Ok(())
}

#[test]
fn r19_a_failed_operation_tells_nothing() -> TestResult {
    let (builder, seen) = listening(Config::builder());
    let store = Store::in_memory(builder.build()?)?;
    let app = pretix_app(&store);
    let other = public_app(&store);
    let tokens = code_flow(&store, &app, "alice");
    seen.lock().unwrap().clear();
    assert!(
        store
            .refresh(RefreshRequest::new(refresh(&tokens), &other.client))
            .is_err()
    );
    assert!(
        store
            .refresh(RefreshRequest::new("gdbrt_nope", &app.client))
            .is_err()
    );
    assert!(
        store
            .issue_code(AuthorizationRequest::new(app.id, "alice").scope(scope("admin")))
            .is_err()
    );
    assert!(kinds(&seen).is_empty(), "no event for a refused operation");
    Ok(())
}

#[test]
fn r19_an_operation_whose_transaction_did_not_commit_tells_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let faults = Faults::new();
    let (builder, seen) = listening(Config::builder());
    let store = Store::open_on_storage(
        FaultyFile::opener(dir.path().join("events.redb"), Arc::clone(&faults)),
        None,
        builder.build()?,
    )?;
    let app = ticketpark_app(&store);
    seen.lock().unwrap().clear();
    faults.fill();
    let mut refused = 0;
    for i in 0..200 {
        match store.issue_for_subject(IssueRequest::new(&app.client, format!("u{i}"))) {
            Ok(_) => {}
            Err(Error::DiskFull) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    let issued = 200 - refused;
    assert!(refused > 0);
    assert_eq!(
        kinds(&seen).len(),
        issued,
        "one event per committed issue, none for the refused"
    );
    Ok(())
}

#[test]
fn r14_maintenance_purges_in_the_background_until_dropped() -> TestResult {
    let clock = ManualClock::new(T0);
    let store = Store::in_memory(Config::builder().clock(clock.handle()).build()?)?;
    let app = prioticket_app(&store);
    for _ in 0..50 {
        store.issue_client_credentials(ClientCredentialsRequest::new(&app.client))?;
    }
    clock.advance(3_601);
    let maintenance = store.start_maintenance(Duration::from_millis(20));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // The purge commits before its run is counted: wait for both.
    while store.stats()?.expired_access_tokens > 0 || maintenance.runs() == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing purged");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(maintenance.runs() >= 1);
    assert!(maintenance.last_error().is_none());
    drop(maintenance);
    // Stopped: what expires now stays until the next purge.
    store.issue_client_credentials(ClientCredentialsRequest::new(&app.client))?;
    clock.advance(3_601);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(store.stats()?.expired_access_tokens, 1);
    Ok(())
}

#[cfg(feature = "metrics")]
#[test]
fn operations_are_counted_through_the_metrics_facade() -> TestResult {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || -> TestResult {
        grantdb::describe_metrics();
        let store = Store::in_memory(Config::default())?;
        let app = pretix_app(&store);
        let tokens = code_flow(&store, &app, "alice");
        store.refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
        let _ = store.refresh(RefreshRequest::new(refresh(&tokens), &app.client));
        Ok(())
    })?;
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str, labels: &[(&str, &str)]| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let key = key.key();
            let matches = key.name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v));
            match (matches, value) {
                (true, DebugValue::Counter(n)) => Some(*n),
                _ => None,
            }
        })
    };
    assert_eq!(
        counter(
            "grantdb_operations_total",
            &[("operation", "refresh"), ("outcome", "ok")]
        ),
        Some(1)
    );
    assert_eq!(
        counter(
            "grantdb_operations_total",
            &[
                ("operation", "refresh"),
                ("outcome", "refresh_token_reused")
            ]
        ),
        Some(1)
    );
    assert_eq!(counter("grantdb_reuse_detected_total", &[]), Some(1));
    assert!(
        snapshot
            .iter()
            .any(|(key, ..)| key.key().name() == "grantdb_commit_seconds")
    );
    // Each metric is described, with its unit.
    for (key, unit, description, _) in &snapshot {
        let name = key.key().name();
        assert!(description.is_some(), "{name} has no help text");
        let expected = if name.ends_with("_seconds") {
            metrics::Unit::Seconds
        } else {
            metrics::Unit::Count
        };
        assert_eq!(*unit, Some(expected), "{name}");
    }
    Ok(())
}

/// Events carry the id of the request that made them, when the host names
/// one: around blocking calls, and through the async handle, whose
/// operations run on another thread.
#[test]
fn events_carry_the_id_of_the_request_that_made_them() -> TestResult {
    let (builder, seen) = listening(Config::builder());
    let store = Store::in_memory(builder.build()?)?;
    let app = grantdb::with_request_id("req-1", || pretix_app(&store));
    let _ = code_flow(&store, &app, "alice");
    let told = seen.lock().unwrap().drain(..).collect::<Vec<_>>();
    assert_eq!(told[0].request_id.as_deref(), Some("req-1"));
    // Outside the request: none.
    assert!(told[1..].iter().all(|e| e.request_id.is_none()), "{told:?}");
    // Nested: the inner request's id, then the outer's again.
    grantdb::with_request_id("outer", || {
        grantdb::with_request_id("inner", || store.revoke_subject("alice"))?;
        store.revoke_subject("bob")
    })?;
    let told = seen.lock().unwrap().drain(..).collect::<Vec<_>>();
    let ids: Vec<_> = told.iter().map(|e| e.request_id.as_deref()).collect();
    assert_eq!(ids, [Some("inner"), Some("outer")]);
    #[cfg(feature = "tokio")]
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()?;
        let handle = grantdb::AsyncStore::new(store.clone());
        runtime.block_on(grantdb::scope_request_id("req-async", async {
            handle.call(|s| s.revoke_subject("carol")).await
        }))?;
        let told = seen.lock().unwrap().drain(..).collect::<Vec<_>>();
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].request_id.as_deref(), Some("req-async"));
    }
    Ok(())
}
