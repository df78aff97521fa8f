//! R31, R32: the device authorization grant (`ops/device.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AttemptKey, Config, ConfigBuilder, DeviceApproval, DeviceFlow, Error, GrantOrigin, GrantType,
    NewClient, OAuthErrorCode, PageRequest, PushRequest, RefreshRequest, Store,
};
use std::time::Duration;

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
    let limits = DeviceFlow::default()
        .attempts_per_key(3)
        .attempts_total(5)
        .window(Duration::from_mins(1));
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
    // Two more wrong from others reach the total: every wrong code is now
    // refused as too many, from anyone...
    for key in ["eve", "trudy"] {
        assert!(
            f.store
                .device_request("IIIII-IIIII", &AttemptKey::new(key))
                .is_err()
        );
    }
    assert!(matches!(
        f.store
            .device_request("OOOOO-OOOOO", &AttemptKey::new("oscar")),
        Err(Error::TooManyAttempts { .. })
    ));
    // ... but a right code is never refused for strangers' guesses.
    f.store.device_request(right, &AttemptKey::new("alice"))?;
    f.store.device_request(right, &AttemptKey::new("bob"))?;
    // The next window starts afresh; the counters are purged.
    f.clock.advance(60);
    f.store.device_request(right, &AttemptKey::new("mallory"))?;
    let purged = f.store.purge_expired()?;
    assert_eq!(
        purged.attempt_windows, 4,
        "the total and mallory, eve, trudy (oscar's refusal wrote nothing)"
    );
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

/// Issue 24 §2: 1,200 wrong user codes spread over 240 attempt keys (5
/// each, at the per-key limit) spend the total budget, and an honest user
/// with a fresh key and the right code still gets through.
fn r31_strangers_guessing_wrong_never_lock_out_a_right_code<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let device = scanner(&f.store);
    let started = f.store.start_device_authorization(&device.client, None)?;
    let window = DeviceFlow::default().window.as_secs();
    f.clock.advance(window - f.store.now() % window);
    let mut too_many = 0;
    for stranger in 0..240 {
        let key = AttemptKey::new(format!("stranger-{stranger}"));
        for _ in 0..5 {
            // Vowels never appear in a user code, whatever the store draws.
            match f.store.device_request("AEIOU-AEIOU", &key) {
                Err(Error::UnknownUserCode) => {}
                Err(Error::TooManyAttempts { .. }) => too_many += 1,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(
        too_many, 200,
        "past the total of 1,000, wrong codes are refused as too many"
    );
    let pending = f
        .store
        .device_request(&started.user_code, &AttemptKey::new("honest-user"))?;
    assert_eq!(pending.client_id, device.client.id());
    Ok(())
}

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

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r31_a_device_request_is_found_by_its_user_code_and_answered,
    r31_wrong_user_codes_are_limited_per_attempt_key_and_in_total,
    r31_strangers_guessing_wrong_never_lock_out_a_right_code,
    r32_a_device_polls_until_approved_gets_tokens_once_and_a_replay_revokes,
    r32_a_denied_or_expired_request_gives_no_tokens,
);
