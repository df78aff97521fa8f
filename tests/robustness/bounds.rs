//! Registrations that cannot hurt users, and scopes and grants that stay
//! bounded and consistent (R03, R07, R08, R14, R16, R17, R20), on both
//! backends.

use crate::support::*;
use grantdb::kv::{Backend, Table};
use grantdb::{
    AuthorizationRequest, ClientCredentialsRequest, ClientId, ClientUpdate, CodeExchange, Config,
    ConfigBuilder, Error, GrantRef, GrantType, HashingKey, InputError, IntrospectRequest,
    IssueRequest, NewClient, NewConsent, OAuthErrorCode, PkceChallenge, PkceMethod,
    RedirectUriPolicy, RefreshRequest, Store,
};
use std::time::Duration;

fn code_client(uris: &[&str]) -> NewClient {
    let mut client = NewClient::confidential("app")
        .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]);
    for uri in uris {
        client = client.redirect_uri(*uri);
    }
    client
}

fn r20_a_client_cannot_register_a_redirect_uri_that_hurts_users<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    for bad in [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "http://example.com/cb",
        "myapp:/cb",
    ] {
        let refused = f.store.register_client(code_client(&[bad]));
        assert!(
            matches!(refused, Err(Error::MalformedRedirectUri { .. })),
            "{bad}: {refused:?}"
        );
    }
    assert!(matches!(
        f.store
            .register_client(code_client(&["javascript:alert(1)"])),
        Err(Error::MalformedRedirectUri {
            reason: InputError::NotAllowed
        })
    ));
    for good in [
        "https://app.example/cb",
        "http://127.0.0.1:8123/cb",
        "http://[::1]/cb",
        "http://localhost:3000/cb",
        "com.example.app:/oauth2redirect",
    ] {
        f.store.register_client(code_client(&[good]))?;
    }
    // Updates are held to the same policy; URIs already registered stay.
    let app = f
        .store
        .register_client(code_client(&["https://app.example/cb"]))?;
    let update = ClientUpdate::new().redirect_uris(["javascript:alert(1)".to_owned()]);
    assert!(f.store.update_client(&app.client.id, update).is_err());
    // Too many: said as such, not as "longer than 32 bytes".
    let many: Vec<String> = (0..33)
        .map(|i| format!("https://app.example/{i}"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let error = f.store.register_client(code_client(&many)).unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidArgument {
                reason: InputError::TooMany { max: 32 },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("more than 32 values"), "{error}");
    Ok(())
}

fn r20_the_redirect_uri_policy_is_the_hosts_to_choose<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(
        Config::builder().redirect_uri_policy(
            RedirectUriPolicy::default()
                .allow_plain_http(true)
                .allow_private_use_schemes(false),
        ),
    );
    f.store
        .register_client(code_client(&["http://intranet.example/cb"]))?;
    assert!(
        f.store
            .register_client(code_client(&["com.example.app:/cb"]))
            .is_err()
    );
    assert!(
        f.store
            .register_client(code_client(&["javascript:alert(1)"]))
            .is_err()
    );
    Ok(())
}

fn r16_a_refresh_after_the_client_was_narrowed_issues_only_what_it_may_use<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = register(
        &f.store,
        &code_client(&["https://app.example/cb"]).scopes("admin read")?,
    );
    let tokens = code_flow(&f.store, &app, "alice");
    assert_eq!(tokens.scope, scope("admin read"));
    let pending = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice"))?;
    let narrow = |scopes: &str| ClientUpdate::new().scopes(scope(scopes));
    f.store.update_client(&app.id, narrow("read"))?;
    // The grant narrows with its client, and stays narrowed.
    let refreshed = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert_eq!(refreshed.scope, scope("read"));
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&refreshed), &app.client).scope(scope("admin"))),
        Err(Error::ScopeNotAllowed)
    ));
    f.store.update_client(&app.id, narrow("admin read"))?;
    let again = f
        .store
        .refresh(RefreshRequest::new(refresh(&refreshed), &app.client))?;
    assert_eq!(
        again.scope,
        scope("read"),
        "a widened client does not widen old grants"
    );
    // A code approved before the narrowing issues only what the client may use.
    f.store.update_client(&app.id, narrow("read"))?;
    let exchanged = f
        .store
        .exchange_code(CodeExchange::new(pending.code.expose(), &app.client))?;
    assert_eq!(exchanged.scope, scope("read"));
    // Nothing of the grant left: invalid_scope, and the token is not spent.
    f.store.update_client(&app.id, narrow("profile"))?;
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&again), &app.client)),
        Err(Error::ScopeNotAllowed)
    ));
    assert!(
        f.store
            .introspect(IntrospectRequest::new(refresh(&again), &app.client))?
            .active
    );
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

fn r17_a_consent_stays_within_the_clients_scopes<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    // Scopes long enough that two of them together pass MAX_SCOPE_LEN.
    let long = |tag: char| {
        (0..60)
            .map(|i| format!("{tag}{i:03}-{}", "x".repeat(30)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (first, second) = (scope(&long('a')), scope(&long('b')));
    assert!(first.as_str().len() + second.as_str().len() > grantdb::MAX_SCOPE_LEN);
    let app = register(
        &f.store,
        &code_client(&["https://app.example/cb"]).scopes(first.as_str())?,
    );
    f.store
        .record_consent(NewConsent::new(app.id, "alice", first.clone()))?;
    f.store
        .update_client(&app.id, ClientUpdate::new().scopes(second.clone()))?;
    let consent = f
        .store
        .record_consent(NewConsent::new(app.id, "alice", second.clone()))?;
    assert_eq!(
        consent.scope, second,
        "the earlier approval no longer counts"
    );
    assert!(has_consent(&f.store, &app.id, "alice", &second)?);
    assert!(!has_consent(&f.store, &app.id, "alice", &first)?);
    assert!(f.store.consent(&app.id, "alice")?.is_some());
    Ok(())
}

fn r08_repeated_grace_reuses_keep_a_grant_bounded<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(
        Config::builder()
            .refresh_reuse_grace(Duration::from_secs(30))
            .refresh_reuse_cap(1_000),
    );
    let app = ticketpark_app(&f.store);
    let mut current = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    let mut grace_pairs = Vec::new();
    for _ in 0..40 {
        let rotated = f
            .store
            .refresh(RefreshRequest::new(refresh(&current), &app.client))?;
        // The client "lost" the answer and repeats: a grace pair each time.
        grace_pairs.push(
            f.store
                .refresh(RefreshRequest::new(refresh(&current), &app.client))?,
        );
        grace_pairs.push(
            f.store
                .refresh(RefreshRequest::new(refresh(&current), &app.client))?,
        );
        current = rotated;
    }
    let grant = f
        .store
        .grant(&GrantRef::new(app.id, current.grant_id))?
        .expect("the grant");
    assert_eq!(grant.subject.as_deref(), Some("alice"));
    let live = grace_pairs
        .iter()
        .chain([&current])
        .filter(|pair| is_valid(&f.store, access(pair)))
        .count();
    assert!(live <= 4, "{live} pairs live in one grant");
    // The newest stay usable; the rotation's pair among them (R08).
    assert!(is_valid(&f.store, access(&current)));
    assert!(is_valid(&f.store, access(grace_pairs.last().unwrap())));
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

#[test]
fn r14_a_purge_batch_holds_the_write_lock_for_a_bounded_time() -> TestResult {
    // 3,000 due entries, a batch limit far above them and a 1 ms budget: the
    // batch stops early and says so; the whole purge still gets everything.
    let clock = grantdb::ManualClock::new(T0);
    let config = Config::builder()
        .clock(clock.handle())
        .purge_batch_time(Duration::from_millis(1))
        .build()?;
    let store = Store::in_memory(config)?;
    let app = prioticket_app(&store);
    for _ in 0..3_000 {
        store.issue_client_credentials(ClientCredentialsRequest::new(&app.client))?;
    }
    clock.advance(3_601);
    let first = store.purge_expired_batch(100_000)?;
    assert!(first.more, "{first:?}");
    assert!(first.access_tokens < 3_000);
    let rest = store.purge_expired()?;
    assert_eq!(first.access_tokens + rest.access_tokens, 3_000);
    Ok(())
}

fn r20_malformed_input_gets_typed_errors<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    assert!(matches!(
        "not-an-id".parse::<ClientId>(),
        Err(Error::MalformedClientId)
    ));
    assert!(matches!(
        f.store.register_client(
            NewClient::confidential("x")
                .redirect_uri("not a uri")
                .grant_types([GrantType::AuthorizationCode])
        ),
        Err(Error::MalformedRedirectUri { .. })
    ));
    assert!(matches!(
        f.store
            .register_client(NewClient::confidential("").grant_types([GrantType::Password])),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        f.store.issue_code(AuthorizationRequest::new(app.id, "")),
        Err(Error::InvalidArgument {
            what: "subject",
            ..
        })
    ));
    assert!(matches!(
        f.store
            .issue_code(AuthorizationRequest::new(app.id, "a\u{0}b")),
        Err(Error::InvalidArgument {
            what: "subject",
            ..
        })
    ));
    assert!(matches!(
        "refresh_tokens".parse::<GrantType>(),
        Err(Error::UnsupportedGrantType)
    ));
    assert!(PkceChallenge::new(PkceMethod::S256, "short").is_err());
    for error in [
        Error::UnknownCode,
        Error::CodeReplayed,
        Error::RefreshTokenReused,
        Error::TokenClientMismatch,
        Error::MalformedToken {
            expected: grantdb::TokenKind::Refresh,
        },
    ] {
        assert_eq!(
            error.oauth_code(),
            Some(OAuthErrorCode::InvalidGrant),
            "{error}"
        );
    }
    assert_eq!(
        Error::GrantTypeNotAllowed {
            grant_type: GrantType::Password
        }
        .oauth_code(),
        Some(OAuthErrorCode::UnauthorizedClient)
    );
    Ok(())
}

#[test]
fn r20_a_damaged_record_is_an_error_never_a_panic_or_a_valid_token() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    // Damage every token record: flip one bit of each value in turn.
    for (key, value) in backend.entries(Table::Tokens) {
        for i in 0..value.len() {
            let mut damaged = value.clone();
            damaged[i] ^= 0x10;
            backend.poke(Table::Tokens, &key, damaged);
            match f.store.validate(access(&tokens)) {
                Ok(_) => {
                    // Only possible if this record is the refresh token's.
                    assert!(
                        f.store
                            .introspect(IntrospectRequest::new(refresh(&tokens), &app.client))
                            .is_err()
                    );
                }
                Err(error) => assert!(
                    matches!(
                        error,
                        Error::Corrupted {
                            table: Table::Tokens,
                            ..
                        } | Error::InactiveToken
                    ),
                    "{error}"
                ),
            }
        }
        backend.poke(Table::Tokens, &key, value);
    }
    assert!(is_valid(&f.store, access(&tokens)));
    // A truncated record too.
    for (key, value) in backend.entries(Table::Tokens) {
        backend.poke(Table::Tokens, &key, value[..value.len() / 2].to_vec());
    }
    assert!(matches!(
        f.store.validate(access(&tokens)),
        Err(Error::Corrupted { .. })
    ));
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client)),
        Err(Error::Corrupted { .. })
    ));
    Ok(())
}

#[test]
fn r20_with_a_host_key_a_record_rewritten_without_it_is_refused() -> TestResult {
    // Whoever can write the file but has not the host's key re-encodes a
    // token record with a wider scope and a valid CRC, as format 1 checked
    // it: the seal refuses it, as it refuses the same change under the seal.
    let (f, backend) = mem_fixture(Config::builder().hashing_key(HashingKey::from_bytes([3; 32])));
    let app = pretix_app(&f.store);
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").scope(scope("read")))?;
    let tokens = f
        .store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client))?;
    let info = f.store.validate(access(&tokens))?;
    assert_eq!(info.scope, scope("read"));
    for (key, value) in backend.entries(Table::Tokens) {
        let body = &value[1..value.len() - 8];
        let at = body
            .windows(4)
            .position(|w| w == b"read")
            .expect("the scope in the record");
        let mut forged = body.to_vec();
        forged[at..at + 4].copy_from_slice(b"wead");
        // Format 1 framing: version 1, the body, a CRC-32 over all of it.
        let mut v1 = vec![1u8];
        v1.extend_from_slice(&forged);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[Table::Tokens as u8]);
        crc.update(&key);
        crc.update(&v1);
        v1.extend_from_slice(&crc.finalize().to_le_bytes());
        // Format 2 framing, with the old MAC.
        let mut v2 = vec![2u8];
        v2.extend_from_slice(&forged);
        v2.extend_from_slice(&value[value.len() - 8..]);
        for tampered in [v1, v2] {
            backend.poke(Table::Tokens, &key, tampered);
            for token in [access(&tokens), refresh(&tokens)] {
                match f
                    .store
                    .introspect(IntrospectRequest::new(token, &app.client))
                {
                    Err(Error::Corrupted { .. }) => {}
                    Ok(seen) => assert!(
                        seen.scope.as_ref() != Some(&scope("wead")),
                        "a rewritten record was read as good"
                    ),
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
        backend.poke(Table::Tokens, &key, value);
    }
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r20_a_client_cannot_register_a_redirect_uri_that_hurts_users,
    r20_the_redirect_uri_policy_is_the_hosts_to_choose,
    r16_a_refresh_after_the_client_was_narrowed_issues_only_what_it_may_use,
    r17_a_consent_stays_within_the_clients_scopes,
    r08_repeated_grace_reuses_keep_a_grant_bounded,
    r20_malformed_input_gets_typed_errors,
);
