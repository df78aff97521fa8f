//! R26, R27: sign-in data kept with the grant, logout by session, DPoP proof replay (`ops/sessions.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthSession, AuthorizationRequest, CodeExchange, Config, ConfigBuilder, Error, GrantRef,
    IntrospectRequest, ProofJti, RefreshRequest,
};

fn r26_the_sign_in_travels_with_the_grant<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let session = AuthSession::new()
        .auth_time(T0 - 30)
        .acr("urn:example:loa:2")
        .amr(["pwd", "otp"])
        .sid("browser-1");
    let code = f.store.issue_code(
        AuthorizationRequest::new(app.id, "alice")
            .nonce("n-0S6_WzA2Mj")
            .auth_session(session.clone()),
    )?;
    let tokens = f
        .store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client))?;
    assert_eq!(tokens.auth_session, Some(session.clone()));
    assert_eq!(tokens.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
    // Kept across refreshes, so an ID token keeps its auth_time.
    f.clock.advance(600);
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert_eq!(rotated.auth_session, Some(session.clone()));
    let grant = f
        .store
        .grant(&GrantRef::new(app.id, rotated.grant_id))?
        .unwrap();
    assert_eq!(grant.auth_session, Some(session));
    assert_eq!(grant.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
    let seen = f
        .store
        .introspect(IntrospectRequest::new(access(&rotated), &app.client))?;
    assert_eq!(seen.auth_time, Some(T0 - 30));
    assert_eq!(seen.acr.as_deref(), Some("urn:example:loa:2"));
    assert_eq!(seen.amr, ["pwd", "otp"]);
    assert_eq!(seen.sid.as_deref(), Some("browser-1"));
    // Bad sign-in data: refused.
    for bad in [
        AuthSession::new().acr(""),
        AuthSession::new().sid("a\u{7}b"),
    ] {
        assert!(matches!(
            f.store
                .issue_code(AuthorizationRequest::new(app.id, "alice").auth_session(bad)),
            Err(Error::InvalidArgument { .. })
        ));
    }
    Ok(())
}

fn r26_logging_out_a_session_ends_its_grants_and_codes_only<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let eventpop = eventpop_app(&f.store);
    let in_session = |sid: &str| AuthSession::new().sid(sid);
    let exchange = |app: &App, sid: &str| {
        let code = f
            .store
            .issue_code(AuthorizationRequest::new(app.id, "alice").auth_session(in_session(sid)))
            .unwrap();
        f.store
            .exchange_code(CodeExchange::new(code.code.expose(), &app.client))
            .unwrap()
    };
    let first = exchange(&pretix, "browser-1");
    let second = exchange(&eventpop, "browser-1");
    let elsewhere = exchange(&pretix, "phone-7");
    let pending = f.store.issue_code(
        AuthorizationRequest::new(pretix.id, "alice").auth_session(in_session("browser-1")),
    )?;
    let revoked = f.store.revoke_session("browser-1")?;
    assert_eq!(revoked.grants, 2, "both clients' grants of the session");
    assert!(!is_valid(&f.store, access(&first)));
    assert!(!is_valid(&f.store, access(&second)));
    assert!(is_valid(&f.store, access(&elsewhere)));
    assert!(matches!(
        f.store
            .exchange_code(CodeExchange::new(pending.code.expose(), &pretix.client)),
        Err(Error::UnknownCode)
    ));
    assert_eq!(f.store.revoke_session("browser-1")?.grants, 0);
    assert!(f.store.revoke_session("").is_err());
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

fn r27_a_proof_id_is_accepted_once_until_its_proof_expires<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let until = T0 + 120;
    assert_eq!(
        f.store.claim_proof_jti(&proof_client(), "jti-1", until)?,
        ProofJti::FirstUse
    );
    assert_eq!(
        f.store.claim_proof_jti(&proof_client(), "jti-1", until)?,
        ProofJti::Replay
    );
    assert_eq!(
        f.store.claim_proof_jti(&proof_client(), "jti-2", until)?,
        ProofJti::FirstUse
    );
    f.clock.advance(119);
    assert_eq!(
        f.store.claim_proof_jti(&proof_client(), "jti-1", until)?,
        ProofJti::Replay
    );
    // Past its validity the proof is refused for its age anyway; the id may
    // come back, purged or not.
    f.clock.advance(1);
    assert_eq!(
        f.store
            .claim_proof_jti(&proof_client(), "jti-1", T0 + 300)?,
        ProofJti::FirstUse
    );
    f.clock.advance(1_000);
    let purged = f.store.purge_expired()?;
    assert_eq!(purged.proof_jtis, 2, "both ids, each once");
    assert_eq!(f.store.stats()?.proof_jtis, 0);
    // A validity in the past, or more than an hour ahead: a host bug.
    let now = f.store.now();
    for until in [now, now + 3_601] {
        assert!(matches!(
            f.store.claim_proof_jti(&proof_client(), "jti-3", until),
            Err(Error::InvalidArgument { .. })
        ));
    }
    assert!(
        f.store
            .claim_proof_jti(&proof_client(), "", now + 10)
            .is_err()
    );
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

/// Issue 24 §2: one client's proof ids never collide with another's, and
/// the ids claimed are capped per client and in total: past a cap a claim
/// is `ProofClaimsFull` and writes nothing, while a replay is still a
/// replay; the caps come back as the windows turn.
fn r27_proof_ids_are_scoped_by_client_and_capped<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().proof_claim_limits(3, 5));
    let clients: Vec<grantdb::ClientId> = [
        "pCJ3yvtcSmWb3bHkmGT9Aw",
        "q2K8wFtmRNi6aD0xY4bUcg",
        "Ab3dEf6hIj9kLm2oPq5sTg",
    ]
    .iter()
    .map(|id| id.parse().unwrap())
    .collect();
    let (a, b, c) = (&clients[0], &clients[1], &clients[2]);
    // An hour's window starts: the test does not straddle two.
    f.clock.advance(3_600 - f.store.now() % 3_600);
    let until = f.store.now() + 300;
    // The same id for two clients: two first uses.
    assert_eq!(
        f.store.claim_proof_jti(a, "shared", until)?,
        ProofJti::FirstUse
    );
    assert_eq!(
        f.store.claim_proof_jti(b, "shared", until)?,
        ProofJti::FirstUse
    );
    assert_eq!(
        f.store.claim_proof_jti(a, "shared", until)?,
        ProofJti::Replay
    );
    // a reaches its cap of 3.
    for jti in ["a-2", "a-3"] {
        assert_eq!(f.store.claim_proof_jti(a, jti, until)?, ProofJti::FirstUse);
    }
    let full = |result: grantdb::Result<ProofJti>| matches!(result, Err(Error::ProofClaimsFull { retry_after }) if retry_after > 0 && retry_after <= 3_600);
    assert!(full(f.store.claim_proof_jti(a, "a-4", until)));
    assert_eq!(
        f.store.claim_proof_jti(a, "a-2", until)?,
        ProofJti::Replay,
        "a replay is still a replay"
    );
    // b's second claim reaches the total of 5: c is refused too.
    assert_eq!(
        f.store.claim_proof_jti(b, "b-2", until)?,
        ProofJti::FirstUse
    );
    assert!(full(f.store.claim_proof_jti(c, "c-1", until)));
    assert_eq!(
        f.store.stats()?.proof_jtis,
        5,
        "a refused claim writes nothing"
    );
    // A claim lives an hour at most: two windows later the caps are free.
    f.clock.advance(2 * 3_600);
    let until = f.store.now() + 300;
    assert_eq!(
        f.store.claim_proof_jti(c, "c-1", until)?,
        ProofJti::FirstUse
    );
    assert_eq!(
        f.store.claim_proof_jti(a, "a-4", until)?,
        ProofJti::FirstUse
    );
    f.clock.advance(3_600);
    let purged = f.store.purge_expired()?;
    assert_eq!(purged.proof_jtis, 7);
    assert!(
        purged.attempt_windows >= 4,
        "the counters go with their windows"
    );
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

#[test]
fn r27_proof_ids_are_stored_only_as_keyed_hashes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("jti.redb");
    let jti = "unique-proof-id-0123456789-abcdefghij";
    {
        let store = grantdb::Store::open(&path, Config::default())?;
        let until = store.now() + 60;
        assert_eq!(
            store.claim_proof_jti(&proof_client(), jti, until)?,
            ProofJti::FirstUse
        );
    }
    let bytes = std::fs::read(&path)?;
    assert!(
        !bytes
            .windows(jti.len())
            .any(|window| window == jti.as_bytes()),
        "the proof id is not in the file"
    );
    Ok(())
}

#[test]
fn r27_of_32_threads_claiming_one_proof_id_exactly_one_wins() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = grantdb::Store::open(dir.path().join("race.redb"), Config::default())?;
    let until = store.now() + 60;
    let barrier = std::sync::Barrier::new(32);
    let outcomes: Vec<ProofJti> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    store
                        .claim_proof_jti(&proof_client(), "raced", until)
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = outcomes
        .iter()
        .filter(|o| **o == ProofJti::FirstUse)
        .count();
    assert_eq!(first, 1, "{outcomes:?}");
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r26_the_sign_in_travels_with_the_grant,
    r26_logging_out_a_session_ends_its_grants_and_codes_only,
    r27_a_proof_id_is_accepted_once_until_its_proof_expires,
    r27_proof_ids_are_scoped_by_client_and_capped,
);
