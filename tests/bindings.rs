//! Sender-constrained tokens (R24), audiences (R25), sign-in data and
//! logout by session (R26), and DPoP proof replay (R27): each test named
//! after its rule of `docs/lifecycle.md`, on every backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

mod common;

use common::*;
use grantdb::GrantRef;
use grantdb::IntrospectRequest;
use grantdb::kv::Backend;
use grantdb::{
    AuthSession, AuthorizationRequest, CodeExchange, Config, ConfigBuilder, Confirmation, Error,
    OAuthErrorCode, PageRequest, ProofJti, RefreshRequest, TokenType,
};
use grantdb::{ClientCredentialsRequest, IssueRequest};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const KEY_1: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
const KEY_2: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
const API_A: &str = "https://a.example/api";
const API_B: &str = "https://b.example/api";

fn dpop(key: &str) -> Confirmation {
    Confirmation::dpop(key).unwrap()
}

fn resources(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| (*r).to_owned()).collect()
}

// ---------------------------------------------------------------- R24

fn r24_a_key_bound_grant_refreshes_only_with_its_key<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = public_app(&f.store);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = grantdb::PkceChallenge::new(
        grantdb::PkceMethod::S256,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    )?;
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").pkce(challenge))?;
    let key = dpop(KEY_1);
    let tokens = f.store.exchange_code(
        CodeExchange::new(code.code.expose(), &app.client)
            .code_verifier(verifier)
            .confirmation(key.clone()),
    )?;
    assert_eq!(tokens.token_type, TokenType::DPoP, "RFC 9449 §5");
    assert_eq!(serde_json::to_value(&tokens)?["token_type"], "DPoP");
    let info = f.store.validate(access(&tokens))?;
    assert_eq!(info.cnf, Some(key.clone()));
    let seen = f
        .store
        .introspect(IntrospectRequest::new(access(&tokens), &app.client))?;
    assert_eq!(seen.cnf, Some(key.clone()));
    assert_eq!(
        serde_json::to_value(&seen)?["cnf"],
        serde_json::json!({ "jkt": KEY_1 })
    );
    // Without a proof, or with another key: refused, nothing changes.
    let other = dpop(KEY_2);
    for presented in [None, Some(&other)] {
        let mut request = RefreshRequest::new(refresh(&tokens), &app.client);
        request.confirmation = presented.cloned();
        let refused = f.store.refresh(request.clone()).unwrap_err();
        assert!(matches!(refused, Error::ConfirmationMismatch));
        assert_eq!(refused.oauth_code(), Some(OAuthErrorCode::InvalidGrant));
        assert!(is_valid(&f.store, access(&tokens)));
    }
    // With its key: rotated, still bound.
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client).confirmation(key.clone()))?;
    assert!(!is_valid(&f.store, access(&tokens)));
    assert_eq!(f.store.validate(access(&rotated))?.cnf, Some(key));
    Ok(())
}

fn r24_a_code_bound_with_dpop_jkt_goes_only_with_that_key<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").dpop_jkt(dpop(KEY_1)))?;
    let other = dpop(KEY_2);
    for presented in [None, Some(&other)] {
        let mut exchange = CodeExchange::new(code.code.expose(), &app.client);
        exchange.confirmation = presented.cloned();
        assert!(matches!(
            f.store.exchange_code(exchange.clone()),
            Err(Error::ConfirmationMismatch)
        ));
    }
    // The failures changed nothing: the right key still exchanges it.
    let key = dpop(KEY_1);
    let tokens = f.store.exchange_code(
        CodeExchange::new(code.code.expose(), &app.client).confirmation(key.clone()),
    )?;
    assert_eq!(tokens.token_type, TokenType::DPoP);
    // `dpop_jkt` names a DPoP key, never a certificate.
    let certificate = Confirmation::certificate(KEY_2)?;
    assert!(matches!(
        f.store
            .issue_code(AuthorizationRequest::new(app.id, "alice").dpop_jkt(certificate)),
        Err(Error::InvalidArgument { .. })
    ));
    Ok(())
}

fn r24_certificate_bound_and_unbound_grants<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let prio = prioticket_app(&f.store);
    let certificate = Confirmation::certificate(KEY_2)?;
    let machine = f.store.issue_client_credentials(
        ClientCredentialsRequest::new(&prio.client).confirmation(certificate.clone()),
    )?;
    assert_eq!(
        machine.token_type,
        TokenType::Bearer,
        "mTLS tokens stay Bearer"
    );
    assert_eq!(f.store.validate(access(&machine))?.cnf, Some(certificate));
    // An unbound grant refreshed with a proof is bound from then on.
    let app = ticketpark_app(&f.store);
    let tokens = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    assert_eq!(f.store.validate(access(&tokens))?.cnf, None);
    let key = dpop(KEY_1);
    let bound = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client).confirmation(key.clone()))?;
    assert_eq!(bound.token_type, TokenType::DPoP);
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&bound), &app.client)),
        Err(Error::ConfirmationMismatch)
    ));
    Ok(())
}

// ---------------------------------------------------------------- R25

fn r25_tokens_carry_their_audiences_and_refresh_narrows_never_widens<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").resources([API_B, API_A, API_A]))?;
    let only_a = resources(&[API_A]);
    let tokens = f
        .store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client).resources(&only_a))?;
    assert_eq!(tokens.resources, only_a);
    assert!(f.store.validate_for(access(&tokens), API_A).is_ok());
    let wrong = f.store.validate_for(access(&tokens), API_B).unwrap_err();
    assert!(matches!(wrong, Error::WrongAudience));
    assert_eq!(
        wrong.oauth_code_at(grantdb::Endpoint::Resource),
        Some(OAuthErrorCode::InvalidToken)
    );
    assert_eq!(
        f.store
            .introspect(IntrospectRequest::new(access(&tokens), &app.client))?
            .aud,
        only_a
    );
    // A refresh may name another resource the grant covers...
    let only_b = resources(&[API_B]);
    let to_b = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client).resources(&only_b))?;
    assert_eq!(f.store.validate(access(&to_b))?.aud, only_b);
    // ... never one it does not: invalid_target, nothing changes.
    let beyond = resources(&["https://c.example/api"]);
    let refused = f
        .store
        .refresh(RefreshRequest::new(refresh(&to_b), &app.client).resources(&beyond))
        .unwrap_err();
    assert!(matches!(refused, Error::InvalidTarget));
    assert_eq!(refused.oauth_code(), Some(OAuthErrorCode::InvalidTarget));
    assert!(is_valid(&f.store, access(&to_b)));
    // Nothing named: everything the grant covers, sorted as a set.
    let all = f
        .store
        .refresh(RefreshRequest::new(refresh(&to_b), &app.client))?;
    assert_eq!(all.resources, resources(&[API_A, API_B]));
    let listed = f
        .store
        .grants_of_subject("alice", &PageRequest::first(10))?;
    assert_eq!(listed.items[0].resources, resources(&[API_A, API_B]));
    // Malformed resources: refused before anything is stored.
    for bad in ["relative", "https://a.example/#fragment", ""] {
        let refused = f
            .store
            .issue_code(AuthorizationRequest::new(app.id, "alice").resources([bad]))
            .unwrap_err();
        assert!(
            matches!(refused, Error::MalformedResource { .. }),
            "{bad:?}"
        );
        assert_eq!(refused.oauth_code(), Some(OAuthErrorCode::InvalidTarget));
    }
    // A token without audiences is for every resource.
    let unrestricted = code_flow(&f.store, &app, "bob");
    assert!(f.store.validate_for(access(&unrestricted), API_B).is_ok());
    Ok(())
}

// ---------------------------------------------------------------- R26

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

// ---------------------------------------------------------------- R27

fn r27_a_proof_id_is_accepted_once_until_its_proof_expires<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let until = T0 + 120;
    assert_eq!(f.store.claim_proof_jti("jti-1", until)?, ProofJti::FirstUse);
    assert_eq!(f.store.claim_proof_jti("jti-1", until)?, ProofJti::Replay);
    assert_eq!(f.store.claim_proof_jti("jti-2", until)?, ProofJti::FirstUse);
    f.clock.advance(119);
    assert_eq!(f.store.claim_proof_jti("jti-1", until)?, ProofJti::Replay);
    // Past its validity the proof is refused for its age anyway; the id may
    // come back, purged or not.
    f.clock.advance(1);
    assert_eq!(
        f.store.claim_proof_jti("jti-1", T0 + 300)?,
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
            f.store.claim_proof_jti("jti-3", until),
            Err(Error::InvalidArgument { .. })
        ));
    }
    assert!(f.store.claim_proof_jti("", now + 10).is_err());
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
        assert_eq!(store.claim_proof_jti(jti, until)?, ProofJti::FirstUse);
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
                    store.claim_proof_jti("raced", until).unwrap()
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

rule_suite!(
    r24_a_key_bound_grant_refreshes_only_with_its_key,
    r24_a_code_bound_with_dpop_jkt_goes_only_with_that_key,
    r24_certificate_bound_and_unbound_grants,
    r25_tokens_carry_their_audiences_and_refresh_narrows_never_widens,
    r26_the_sign_in_travels_with_the_grant,
    r26_logging_out_a_session_ends_its_grants_and_codes_only,
    r27_a_proof_id_is_accepted_once_until_its_proof_expires,
);
