//! Pushed authorization requests (R30) and the device authorization grant
//! (R31, R32): each test named after its rule of `docs/lifecycle.md`, on
//! every backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

mod common;

use std::time::Duration;

use common::*;
use grantdb::GrantRef;
use grantdb::kv::Backend;
use grantdb::{AttemptKey, DeviceApproval, PushedApproval, RefreshRequest};
use grantdb::{
    CodeExchange, Config, ConfigBuilder, DeviceFlow, Error, GrantOrigin, GrantType, NewClient,
    OAuthErrorCode, PageRequest, PkceChallenge, PkceMethod, PushRequest, Store,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn s256() -> PkceChallenge {
    PkceChallenge::new(PkceMethod::S256, CHALLENGE).unwrap()
}

/// A ticket-scanning device: a public client of the device grant.
fn scanner<B: Backend>(store: &Store<B>) -> App {
    register(
        store,
        &NewClient::public("check-in scanner")
            .grant_types([GrantType::DeviceCode, GrantType::RefreshToken])
            .scopes("checkin read")
            .unwrap(),
    )
}

// ---------------------------------------------------------------- R30

fn r30_a_pushed_request_gives_one_code_with_what_was_pushed<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = public_app(&f.store);
    let other = pretix_app(&f.store);
    let pushed = f.store.push_authorization_request(
        PushRequest::new(&app.client)
            .redirect_uri("com.example.app:/oauth2redirect")
            .state("af0ifjsldkj")
            .nonce("n-0S6_WzA2Mj")
            .pkce(s256()),
    )?;
    assert_eq!(pushed.expires_in, 60);
    let uri = pushed.request_uri.expose();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:gdbpr_"));
    let json = serde_json::to_value(&pushed)?;
    assert_eq!(json["expires_in"], 60, "RFC 9126 §2.2");
    assert_eq!(json["request_uri"], uri);

    // The authorization page reads it without using it up.
    let read = f.store.pushed_request(uri, &app.id)?;
    assert_eq!(read.state.as_deref(), Some("af0ifjsldkj"));
    assert_eq!(read.scope, scope("read"), "the client's scopes");
    // Another client's, a malformed or an unknown request URI is refused.
    assert!(matches!(
        f.store.pushed_request(uri, &other.id),
        Err(Error::UnknownRequestUri)
    ));
    assert!(matches!(
        f.store
            .pushed_request("urn:ietf:params:oauth:request_uri:nope", &app.id),
        Err(Error::MalformedToken { .. })
    ));
    assert_eq!(
        Error::UnknownRequestUri.oauth_code(),
        Some(OAuthErrorCode::InvalidRequestUri)
    );

    let (code, request) = f
        .store
        .issue_code_from_pushed(PushedApproval::new(uri, app.id, "alice"))?;
    assert_eq!(request.state.as_deref(), Some("af0ifjsldkj"));
    assert_eq!(code.redirect_uri, "com.example.app:/oauth2redirect");
    // Single use.
    assert!(matches!(
        f.store
            .issue_code_from_pushed(PushedApproval::new(uri, app.id, "alice")),
        Err(Error::UnknownRequestUri)
    ));
    // The code carries what was pushed: PKCE and the redirect URI.
    let tokens = f.store.exchange_code(
        CodeExchange::new(code.code.expose(), &app.client)
            .redirect_uri("com.example.app:/oauth2redirect")
            .code_verifier(VERIFIER),
    )?;
    assert!(is_valid(&f.store, access(&tokens)));
    let grant = f
        .store
        .grant(&GrantRef::new(app.id, tokens.grant_id))?
        .unwrap();
    assert_eq!(grant.nonce.as_deref(), Some("n-0S6_WzA2Mj"));

    // Expired after its lifetime, and purged through the expiry index.
    let late = f
        .store
        .push_authorization_request(PushRequest::new(&app.client).pkce(s256()))?;
    f.clock.advance(60);
    assert!(matches!(
        f.store.pushed_request(late.request_uri.expose(), &app.id),
        Err(Error::UnknownRequestUri)
    ));
    assert_eq!(f.store.purge_expired()?.pushed_requests, 1);
    assert_eq!(f.store.stats()?.pushed_requests, 0);
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

fn r30_a_push_is_checked_as_an_authorization_request<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let public = public_app(&f.store);
    let pretix = pretix_app(&f.store);
    assert!(
        matches!(
            f.store
                .push_authorization_request(PushRequest::new(&public.client)),
            Err(Error::InvalidArgument { .. })
        ),
        "a public client pushes a PKCE challenge"
    );
    assert!(matches!(
        f.store.push_authorization_request(
            PushRequest::new(&pretix.client).redirect_uri("https://evil.example/cb")
        ),
        Err(Error::RedirectUriMismatch)
    ));
    assert!(matches!(
        f.store
            .push_authorization_request(PushRequest::new(&pretix.client).scope(scope("admin"))),
        Err(Error::ScopeNotAllowed)
    ));
    assert!(matches!(
        f.store
            .push_authorization_request(PushRequest::new(&pretix.client).state("a\u{7}b")),
        Err(Error::InvalidArgument { .. })
    ));
    let prio = prioticket_app(&f.store);
    assert!(matches!(
        f.store
            .push_authorization_request(PushRequest::new(&prio.client)),
        Err(Error::GrantTypeNotAllowed { .. })
    ));
    assert_eq!(f.store.stats()?.pushed_requests, 0, "nothing stored");
    Ok(())
}

fn r30_a_client_that_requires_pushed_requests_gets_codes_only_from_them<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let fapi = register(
        &f.store,
        &NewClient::confidential("fapi bank")
            .redirect_uri("https://bank.example/cb")
            .grant_types([GrantType::AuthorizationCode])
            .require_pushed_requests(),
    );
    assert!(f.store.client(&fapi.id)?.unwrap().require_pushed_requests);
    let direct = grantdb::AuthorizationRequest::new(fapi.id, "alice");
    assert!(matches!(
        f.store.issue_code(direct.clone()),
        Err(Error::PushedRequestRequired)
    ));
    let pushed = f
        .store
        .push_authorization_request(PushRequest::new(&fapi.client))?;
    let (code, _) = f.store.issue_code_from_pushed(PushedApproval::new(
        pushed.request_uri.expose(),
        fapi.id,
        "alice",
    ))?;
    f.store
        .exchange_code(CodeExchange::new(code.code.expose(), &fapi.client))?;
    // The requirement can be lifted (and set again) later.
    let lifted = grantdb::ClientUpdate {
        require_pushed_requests: Some(false),
        ..grantdb::ClientUpdate::default()
    };
    assert!(
        !f.store
            .update_client(&fapi.id, lifted)?
            .require_pushed_requests
    );
    f.store.issue_code(direct)?;
    Ok(())
}

// ---------------------------------------------------------------- R31

fn r31_a_device_request_is_found_by_its_user_code_and_answered<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let device = scanner(&f.store);
    let started = f.store.start_device_authorization(&device.client, None)?;
    assert_eq!((started.expires_in, started.interval), (600, 5));
    assert!(started.device_code.expose().starts_with("gdbdc_"));
    // XXXXX-XXXXX, of the unambiguous alphabet.
    let code = &started.user_code;
    assert_eq!(code.len(), 11);
    assert_eq!(&code[5..6], "-");
    assert!(
        code.chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c))
    );
    // Case, spaces and dashes do not matter.
    let typed = format!(" {} ", code.to_lowercase().replace('-', " "));
    let pending = f.store.device_request(&typed, &AttemptKey::new("alice"))?;
    assert_eq!(
        (pending.client_id, pending.scope),
        (device.id, scope("checkin read"))
    );
    f.store.approve_device(DeviceApproval::new(
        &typed,
        "alice",
        AttemptKey::new("alice"),
    ))?;
    // Answered: the code names nothing pending any more.
    assert!(matches!(
        f.store.deny_device(code, &AttemptKey::new("alice")),
        Err(Error::UnknownUserCode)
    ));
    // A client not allowed the device grant starts nothing.
    let pretix = pretix_app(&f.store);
    assert!(matches!(
        f.store.start_device_authorization(&pretix.client, None),
        Err(Error::GrantTypeNotAllowed { .. })
    ));
    // Expired: purged with its user code, through the expiry index.
    f.clock.advance(600);
    assert!(matches!(
        f.store.device_request(code, &AttemptKey::new("alice")),
        Err(Error::UnknownUserCode)
    ));
    assert_eq!(f.store.stats()?.device_requests, 1);
    let purged = f.store.purge_expired()?;
    assert_eq!(purged.device_requests, 1);
    assert_eq!(f.store.stats()?.device_requests, 0);
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

fn r31_wrong_user_codes_are_limited_per_attempt_key_and_in_total<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let limits = DeviceFlow {
        attempts_per_key: 3,
        attempts_total: 5,
        window: Duration::from_mins(1),
        ..DeviceFlow::default()
    };
    let f = make(Config::builder().device_flow(limits));
    let device = scanner(&f.store);
    let started = f.store.start_device_authorization(&device.client, None)?;
    let right = started.user_code.as_str();
    // Start of a window, so that the test does not straddle two.
    f.clock.advance(60 - f.store.now() % 60);
    // Vowels never appear in a user code, whatever the store draws.
    for wrong in ["AAAAA-AAAAA", "not a code", "EEEEEEEEEE"] {
        assert!(matches!(
            f.store.device_request(wrong, &AttemptKey::new("mallory")),
            Err(Error::UnknownUserCode)
        ));
    }
    // Three wrong for mallory: even the right code is refused to her now.
    match f.store.device_request(right, &AttemptKey::new("mallory")) {
        Err(Error::TooManyAttempts { retry_after }) => assert_eq!(retry_after, 60),
        other => panic!("expected TooManyAttempts, got {other:?}"),
    }
    // Others are not.
    f.store.device_request(right, &AttemptKey::new("alice"))?;
    // Two more wrong from others reach the total: everyone is refused.
    for key in ["eve", "trudy"] {
        assert!(
            f.store
                .device_request("IIIII-IIIII", &AttemptKey::new(key))
                .is_err()
        );
    }
    assert!(matches!(
        f.store.device_request(right, &AttemptKey::new("alice")),
        Err(Error::TooManyAttempts { .. })
    ));
    // The next window starts afresh; the counters are purged.
    f.clock.advance(60);
    f.store.device_request(right, &AttemptKey::new("mallory"))?;
    let purged = f.store.purge_expired()?;
    assert_eq!(
        purged.attempt_windows, 4,
        "the total and mallory, eve, trudy"
    );
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

// ---------------------------------------------------------------- R32

fn r32_a_device_polls_until_approved_gets_tokens_once_and_a_replay_revokes<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let device = scanner(&f.store);
    let started = f.store.start_device_authorization(&device.client, None)?;
    let code = started.device_code.expose();
    assert!(matches!(
        f.store.poll_device(code, &device.client),
        Err(Error::AuthorizationPending)
    ));
    // Sooner than the interval: slow down, and the interval grows by 5 s.
    assert!(matches!(
        f.store.poll_device(code, &device.client),
        Err(Error::SlowDown)
    ));
    f.clock.advance(5);
    assert!(
        matches!(
            f.store.poll_device(code, &device.client),
            Err(Error::SlowDown)
        ),
        "5 s after the last poll, the interval being 10 s: 15 s now"
    );
    f.clock.advance(15);
    assert!(matches!(
        f.store.poll_device(code, &device.client),
        Err(Error::AuthorizationPending)
    ));
    // Another client's poll, or a made-up code, finds nothing.
    let other = scanner(&f.store);
    assert!(matches!(
        f.store.poll_device(code, &other.client),
        Err(Error::UnknownDeviceCode)
    ));

    f.store.approve_device(DeviceApproval::new(
        &started.user_code,
        "alice",
        AttemptKey::new("alice"),
    ))?;
    f.clock.advance(15);
    let tokens = f.store.poll_device(code, &device.client)?;
    assert!(is_valid(&f.store, access(&tokens)));
    let grants = f.store.grants_of_subject("alice", &PageRequest::first(5))?;
    assert_eq!(grants.items[0].origin, GrantOrigin::DeviceCode);
    // Spent: presented again, it revokes what it issued (as R05).
    f.clock.advance(10);
    assert!(matches!(
        f.store.poll_device(code, &device.client),
        Err(Error::DeviceCodeReplayed)
    ));
    assert!(!is_valid(&f.store, access(&tokens)));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &device.client))
            .is_err()
    );
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

fn r32_a_denied_or_expired_request_gives_no_tokens<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let device = scanner(&f.store);
    let denied = f.store.start_device_authorization(&device.client, None)?;
    f.store
        .deny_device(&denied.user_code, &AttemptKey::new("alice"))?;
    assert!(matches!(
        f.store
            .poll_device(denied.device_code.expose(), &device.client),
        Err(Error::DeviceAccessDenied)
    ));
    assert_eq!(
        Error::DeviceAccessDenied.oauth_code(),
        Some(OAuthErrorCode::AccessDenied)
    );
    let late = f.store.start_device_authorization(&device.client, None)?;
    f.clock.advance(600);
    assert!(matches!(
        f.store
            .poll_device(late.device_code.expose(), &device.client),
        Err(Error::DeviceCodeExpired)
    ));
    assert_eq!(
        Error::DeviceCodeExpired.oauth_code(),
        Some(OAuthErrorCode::ExpiredToken)
    );
    // Approving after expiry is refused too.
    assert!(matches!(
        f.store.approve_device(DeviceApproval::new(
            &late.user_code,
            "alice",
            AttemptKey::new("alice")
        )),
        Err(Error::UnknownUserCode)
    ));
    Ok(())
}

rule_suite!(
    r30_a_pushed_request_gives_one_code_with_what_was_pushed,
    r30_a_push_is_checked_as_an_authorization_request,
    r30_a_client_that_requires_pushed_requests_gets_codes_only_from_them,
    r31_a_device_request_is_found_by_its_user_code_and_answered,
    r31_wrong_user_codes_are_limited_per_attempt_key_and_in_total,
    r32_a_device_polls_until_approved_gets_tokens_once_and_a_replay_revokes,
    r32_a_denied_or_expired_request_gives_no_tokens,
);

/// R01 for the new secrets: the file holds neither a request URI, a device
/// code nor a user code.
#[test]
fn r31_codes_and_request_uris_are_stored_only_as_keyed_hashes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("requests.redb");
    let secrets = {
        let store = Store::open(&path, Config::default())?;
        let device = scanner(&store);
        let app = pretix_app(&store);
        let started = store.start_device_authorization(&device.client, None)?;
        let pushed = store.push_authorization_request(PushRequest::new(&app.client))?;
        vec![
            started.device_code.expose().to_owned(),
            started.user_code.replace('-', ""),
            pushed.request_uri.expose().to_owned(),
        ]
    };
    let bytes = std::fs::read(&path)?;
    for secret in &secrets {
        let tail = &secret.as_bytes()[secret.len() - 10..];
        assert!(
            !bytes.windows(tail.len()).any(|w| w == tail),
            "a secret is in the file"
        );
    }
    Ok(())
}
