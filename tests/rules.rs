//! One or more tests per lifecycle rule of `docs/lifecycle.md`, each named
//! after its rule (`r07_...`).

// Tests return `Result` by convention, whether or not they use `?`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

mod common;

use std::time::Duration;

use common::*;
use grantdb::IntrospectRequest;
use grantdb::kv::{Backend, Table};
use grantdb::{
    AuthorizationRequest, ClientId, ClientUpdate, CodeExchange, Config, ConfigBuilder, Error,
    GrantOrigin, GrantType, Introspection, NewClient, OAuthErrorCode, PageRequest, PkceChallenge,
    PkceMethod, Revocation, Scope, Store,
};
use grantdb::{ClientCredentialsRequest, IssueRequest, NewConsent, RefreshRequest};

type TestResult = Result<(), Box<dyn std::error::Error>>;

// ---------------------------------------------------------------- R01

#[test]
fn r01_no_plaintext_secret_reaches_the_database_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("r01.redb");
    let mut plaintexts = Vec::new();
    {
        let store = Store::open(&path, Config::default())?;
        for i in 0..20 {
            let app = pretix_app(&store);
            plaintexts.push(app.secret().to_owned());
            let rotated = store.rotate_client_secret(&app.id)?;
            plaintexts.push(rotated.expose().to_owned());
            let pending =
                store.issue_code(AuthorizationRequest::new(app.id, format!("user{i}")))?;
            plaintexts.push(pending.code.expose().to_owned());
            let tokens = code_flow(&store, &app, &format!("user{i}"));
            plaintexts.push(access(&tokens).to_owned());
            plaintexts.push(refresh(&tokens).to_owned());
            let rotated = store.refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
            plaintexts.push(access(&rotated).to_owned());
            plaintexts.push(refresh(&rotated).to_owned());
        }
    }
    let bytes = std::fs::read(&path)?;
    for plaintext in &plaintexts {
        // Neither the whole string nor its random body (without the prefix) appears.
        let body = &plaintext[6..];
        assert!(
            find(&bytes, plaintext.as_bytes()).is_none(),
            "plaintext found in file"
        );
        assert!(
            find(&bytes, body.as_bytes()).is_none(),
            "token body found in file"
        );
        assert!(
            find(&bytes, &body.as_bytes()[..24]).is_none(),
            "token fragment found in file"
        );
    }
    assert_eq!(plaintexts.len(), 20 * 7);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn r01_secrets_are_long_random_and_never_in_debug_output<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    // A key id, a 16-byte id, 32 secret random bytes and a 4-byte checksum
    // in base64url: 71 characters after the prefix.
    assert_eq!(access(&tokens).len(), "gdbat_".len() + 71);
    assert_ne!(access(&tokens), refresh(&tokens));
    let debug = format!("{tokens:?}");
    assert!(!debug.contains(&access(&tokens)[6..]));
    assert!(!debug.contains(&refresh(&tokens)[6..]));
    let error = f
        .store
        .refresh(RefreshRequest::new("gdbrt_garbage", &app.client))
        .unwrap_err();
    assert!(!format!("{error} {error:?}").contains("garbage"));
    Ok(())
}

// ---------------------------------------------------------------- R02

#[test]
fn r02_malformed_tokens_are_rejected_without_reading_the_database() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let good = access(&tokens).to_owned();
    let mut typo = good.clone().into_bytes();
    typo[20] = if typo[20] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo)?;
    let wrong_kind = refresh(&tokens).to_owned();
    let truncated = good[..good.len() - 1].to_owned();

    let reads_before = backend.gets();
    for bad in [
        typo.as_str(),
        wrong_kind.as_str(),
        truncated.as_str(),
        "",
        "Bearer x",
        "gdbat_",
    ] {
        assert!(
            matches!(f.store.validate(bad), Err(Error::MalformedToken { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(access(&tokens), &app.client)),
        Err(Error::MalformedToken { .. })
    ));
    assert!(matches!(
        f.store.exchange_code(CodeExchange::new(&good, &app.client)),
        Err(Error::MalformedToken { .. })
    ));
    assert_eq!(
        backend.gets(),
        reads_before,
        "a malformed token caused a read"
    );
    assert!(f.store.validate(&good).is_ok());
    Ok(())
}

fn r02_issued_strings_carry_kind_prefixes<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    assert!(app.secret().starts_with("gdbcs_"));
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice"))?;
    assert!(code.code.expose().starts_with("gdbac_"));
    let tokens = f
        .store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client))?;
    assert!(access(&tokens).starts_with("gdbat_"));
    assert!(refresh(&tokens).starts_with("gdbrt_"));
    Ok(())
}

// ---------------------------------------------------------------- R03

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
        ClientUpdate {
            name: Some("pretalx 2".into()),
            scopes: Some(scope("read")),
            ..ClientUpdate::default()
        },
    )?;
    assert_eq!(updated.name, "pretalx 2");
    assert_eq!(
        f.store.client(&app.id)?.map(|c| c.scopes),
        Some(scope("read"))
    );
    assert!(matches!(
        f.store.update_client(
            &app.id,
            ClientUpdate {
                redirect_uris: Some(vec![]),
                ..ClientUpdate::default()
            }
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

// ---------------------------------------------------------------- R04

fn r04_codes_live_60_seconds_by_default<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice"))?;
    assert_eq!(code.expires_at, T0 + 60);
    f.clock.advance(60);
    assert!(matches!(
        f.store
            .exchange_code(CodeExchange::new(code.code.expose(), &app.client)),
        Err(Error::CodeExpired)
    ));
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice"))?;
    f.clock.advance(59);
    assert!(
        f.store
            .exchange_code(CodeExchange::new(code.code.expose(), &app.client))
            .is_ok()
    );
    Ok(())
}

fn r04_code_lifetime_cannot_exceed_600_seconds<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    assert!(
        Config::builder()
            .code_lifetime(Duration::from_secs(601))
            .build()
            .is_err()
    );
    let f = make(Config::builder());
    let too_long = NewClient::confidential("x")
        .redirect_uri("https://x.example")
        .grant_types([GrantType::AuthorizationCode])
        .lifetimes(grantdb::LifetimeOverrides::default().code(Duration::from_hours(1)));
    assert!(matches!(
        f.store.register_client(too_long),
        Err(Error::InvalidConfig { .. })
    ));
    Ok(())
}

fn r04_exchange_requires_the_same_client_and_redirect_uri_and_failures_change_nothing<
    B: Backend,
>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let other = pretix_app(&f.store);
    let code = f.store.issue_code(
        AuthorizationRequest::new(app.id, "alice")
            .redirect_uri("https://pretalx.com/orga/callback"),
    )?;
    let code = code.code.expose();
    assert!(matches!(
        f.store.exchange_code(
            CodeExchange::new(code, &other.client)
                .redirect_uri("https://pretalx.com/orga/callback")
        ),
        Err(Error::CodeClientMismatch)
    ));
    assert!(matches!(
        f.store.exchange_code(CodeExchange::new(code, &app.client)),
        Err(Error::RedirectUriMismatch)
    ));
    assert!(matches!(
        f.store.exchange_code(
            CodeExchange::new(code, &app.client).redirect_uri("https://pretalx.com")
        ),
        Err(Error::RedirectUriMismatch)
    ));
    // None of the failures consumed the code.
    let tokens = f.store.exchange_code(
        CodeExchange::new(code, &app.client).redirect_uri("https://pretalx.com/orga/callback"),
    )?;
    assert!(is_valid(&f.store, access(&tokens)));

    // Authorized without a redirect URI: the default (first) one may be repeated.
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice"))?;
    assert_eq!(code.redirect_uri, "https://pretalx.com");
    assert!(
        f.store
            .exchange_code(
                CodeExchange::new(code.code.expose(), &app.client)
                    .redirect_uri("https://pretalx.com")
            )
            .is_ok()
    );
    // An unregistered redirect URI is refused at authorization.
    assert!(matches!(
        f.store.issue_code(
            AuthorizationRequest::new(app.id, "alice").redirect_uri("https://evil.example")
        ),
        Err(Error::RedirectUriMismatch)
    ));
    Ok(())
}

fn r04_pkce_s256_and_plain<B: Backend>(make: &impl Fn(ConfigBuilder) -> Fixture<B>) -> TestResult {
    let f = make(Config::builder());
    let app = public_app(&f.store);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let s256 = PkceChallenge::new(
        PkceMethod::S256,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    )?;
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").pkce(s256))?;
    let code = code.code.expose();
    for wrong in [None, Some("x".repeat(43))] {
        let mut exchange = CodeExchange::new(code, &app.client);
        exchange.code_verifier = wrong.as_deref().map(grantdb::Secret::from);
        assert!(matches!(
            f.store.exchange_code(exchange.clone()),
            Err(Error::PkceMismatch)
        ));
    }
    assert!(matches!(
        f.store
            .exchange_code(CodeExchange::new(code, &app.client).code_verifier("too-short")),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(
        f.store
            .exchange_code(CodeExchange::new(code, &app.client).code_verifier(verifier))
            .is_ok()
    );

    let plain = PkceChallenge::new(PkceMethod::Plain, verifier)?;
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").pkce(plain))?;
    assert!(
        f.store
            .exchange_code(
                CodeExchange::new(code.code.expose(), &app.client).code_verifier(verifier)
            )
            .is_ok()
    );

    // A public client must send a challenge; a verifier without one is a downgrade.
    assert!(matches!(
        f.store
            .issue_code(AuthorizationRequest::new(app.id, "alice")),
        Err(Error::InvalidArgument { .. })
    ));
    let confidential = pretix_app(&f.store);
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(confidential.id, "alice"))?;
    assert!(matches!(
        f.store.exchange_code(
            CodeExchange::new(code.code.expose(), &confidential.client).code_verifier(verifier)
        ),
        Err(Error::PkceMismatch)
    ));
    Ok(())
}

// ---------------------------------------------------------------- R05

fn r05_code_replay_fails_and_revokes_the_grant_it_produced<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice"))?;
    let exchange = CodeExchange::new(code.code.expose(), &app.client);
    let tokens = f.store.exchange_code(exchange.clone())?;
    // A descendant of the grant dies too.
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert!(is_valid(&f.store, access(&rotated)));

    let error = f.store.exchange_code(exchange.clone()).unwrap_err();
    assert!(matches!(error, Error::CodeReplayed));
    assert_eq!(error.oauth_code(), Some(OAuthErrorCode::InvalidGrant));
    assert!(error.committed_changes());
    assert!(!is_valid(&f.store, access(&rotated)));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&rotated), &app.client))
            .is_err()
    );
    assert!(
        f.store
            .grants_of_subject("alice", &PageRequest::first(10))?
            .items
            .is_empty()
    );
    // Every further replay keeps failing.
    assert!(matches!(
        f.store.exchange_code(exchange.clone()),
        Err(Error::CodeReplayed)
    ));
    Ok(())
}

// ---------------------------------------------------------------- R06

fn r06_code_exchange_issues_a_pair_with_the_rfc6749_response_fields<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").scope(scope("write read")))?;
    let tokens = f
        .store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client))?;
    let json: serde_json::Value = serde_json::to_value(&tokens)?;
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 86_400);
    assert_eq!(json["scope"], "read write");
    assert_eq!(json["created_at"], T0);
    assert_eq!(json["access_token"], access(&tokens));
    assert_eq!(json["refresh_token"], refresh(&tokens));
    assert_eq!(
        json.as_object().map(serde_json::Map::len),
        Some(6),
        "{json}"
    );
    // The refresh token has no expiry by default (pretix).
    let info = f
        .store
        .introspect(IntrospectRequest::new(refresh(&tokens), &app.client))?;
    assert!(info.active);
    assert_eq!(info.exp, None);
    Ok(())
}

fn r06_password_grant_and_per_client_lifetime<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = ticketpark_app(&f.store);
    let tokens = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "john@domain.ch"))?;
    assert_eq!(tokens.expires_in, 600);
    assert!(tokens.refresh_token.is_some());
    f.clock.advance(599);
    assert!(is_valid(&f.store, access(&tokens)));
    f.clock.advance(1);
    assert!(!is_valid(&f.store, access(&tokens)));
    let pretix = pretix_app(&f.store);
    assert!(matches!(
        f.store
            .issue_for_subject(IssueRequest::new(&pretix.client, "john")),
        Err(Error::GrantTypeNotAllowed {
            grant_type: GrantType::Password
        })
    ));
    Ok(())
}

fn r06_client_credentials_issue_access_only_and_many_at_once<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = prioticket_app(&f.store);
    let issued: Vec<_> = (0..5)
        .map(|_| {
            f.store
                .issue_client_credentials(ClientCredentialsRequest::new(&app.client))
        })
        .collect::<Result<_, _>>()?;
    for tokens in &issued {
        assert!(tokens.refresh_token.is_none());
        assert_eq!(tokens.expires_in, 3_600);
        assert_eq!(
            tokens.scope,
            scope("https://www.prioticketapis.com/auth/distributor.booking")
        );
        let info = f.store.validate(access(tokens))?;
        assert_eq!(info.subject, None);
    }
    assert_eq!(
        f.store
            .grants_of_client(&app.id, &PageRequest::first(100))?
            .items
            .len(),
        5
    );
    let json = serde_json::to_value(&issued[0])?;
    assert!(json.get("refresh_token").is_none());
    Ok(())
}

fn r06_no_refresh_token_without_the_refresh_grant_type<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = register(
        &f.store,
        &NewClient::confidential("code-only")
            .redirect_uri("https://code.example/cb")
            .grant_types([GrantType::AuthorizationCode]),
    );
    let tokens = code_flow(&f.store, &app, "alice");
    assert!(tokens.refresh_token.is_none());
    Ok(())
}

// ---------------------------------------------------------------- R07

fn r07_refresh_rotates_the_pair_in_the_same_grant<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    f.clock.advance(10);
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert_eq!(rotated.grant_id, tokens.grant_id);
    assert_eq!(rotated.created_at, T0 + 10);
    // pretix: "The previous access token will instantly become invalid."
    assert!(matches!(
        f.store.validate(access(&tokens)),
        Err(Error::InactiveToken)
    ));
    assert!(
        !f.store
            .introspect(IntrospectRequest::new(refresh(&tokens), &app.client))?
            .active
    );
    assert!(is_valid(&f.store, access(&rotated)));
    assert!(
        f.store
            .introspect(IntrospectRequest::new(refresh(&rotated), &app.client))?
            .active
    );
    let listed = f
        .store
        .grants_of_subject("alice", &PageRequest::first(10))?;
    assert_eq!(listed.items[0].last_refreshed_at, Some(T0 + 10));
    Ok(())
}

fn r07_scope_may_narrow_but_not_widen<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").scope(scope("read write")))?;
    let tokens = f
        .store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client))?;
    assert!(matches!(
        f.store.refresh(
            RefreshRequest::new(refresh(&tokens), &app.client).scope(scope("read profile"))
        ),
        Err(Error::ScopeNotAllowed)
    ));
    // The failed refresh changed nothing: both tokens still work.
    assert!(is_valid(&f.store, access(&tokens)));
    let narrow = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client).scope(scope("read")))?;
    assert_eq!(f.store.validate(access(&narrow))?.scope, scope("read"));
    // A later refresh may return to the full grant scope.
    let full = f
        .store
        .refresh(RefreshRequest::new(refresh(&narrow), &app.client))?;
    assert_eq!(full.scope, scope("read write"));
    Ok(())
}

fn r07_another_client_or_an_expired_token_fails_and_changes_nothing<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = expiring_refresh_app(&f.store, 1_000);
    let thief = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &thief.client)),
        Err(Error::TokenClientMismatch)
    ));
    assert!(is_valid(&f.store, access(&tokens)));
    f.clock.advance(500);
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    // Absolute lifetime: rotation does not extend the family's end.
    assert_eq!(
        f.store
            .introspect(IntrospectRequest::new(refresh(&rotated), &thief.client))?
            .exp,
        Some(T0 + 1_000)
    );
    f.clock.advance(500);
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&rotated), &app.client)),
        Err(Error::RefreshTokenExpired)
    ));
    assert!(is_valid(&f.store, access(&rotated)));
    Ok(())
}

// ---------------------------------------------------------------- R08

fn r08_reuse_of_a_consumed_refresh_token_revokes_the_family<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    let error = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))
        .unwrap_err();
    assert!(matches!(error, Error::RefreshTokenReused));
    assert!(error.committed_changes());
    assert!(!is_valid(&f.store, access(&rotated)));
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&rotated), &app.client)),
        Err(Error::UnknownRefreshToken)
    ));
    Ok(())
}

fn r08_grace_period_yields_a_new_pair_and_keeps_the_previous_one<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(
        Config::builder()
            .refresh_reuse_grace(Duration::from_secs(30))
            .refresh_reuse_cap(2),
    );
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let first = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    f.clock.advance(10);
    let retry = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert_eq!(retry.grant_id, first.grant_id);
    assert!(
        is_valid(&f.store, access(&first)),
        "the pair issued before stays valid"
    );
    assert!(is_valid(&f.store, access(&retry)));
    let retry2 = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    // The cap (2) is used up: a third reuse inside the grace period is theft.
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client)),
        Err(Error::RefreshTokenReused)
    ));
    for pair in [&first, &retry, &retry2] {
        assert!(!is_valid(&f.store, access(pair)));
    }
    Ok(())
}

fn r08_reuse_after_the_grace_period_revokes<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().refresh_reuse_grace(Duration::from_secs(30)));
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let first = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    f.clock.advance(30);
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client)),
        Err(Error::RefreshTokenReused)
    ));
    assert!(!is_valid(&f.store, access(&first)));
    Ok(())
}

// ---------------------------------------------------------------- R09, R10, R11

fn r09_revoking_an_access_token_leaves_its_refresh_token_working<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    assert_eq!(
        f.store.revoke(access(&tokens), &app.client)?,
        Revocation::AccessToken
    );
    assert!(!is_valid(&f.store, access(&tokens)));
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert!(is_valid(&f.store, access(&rotated)));
    Ok(())
}

fn r10_revoking_a_refresh_token_revokes_its_access_token_and_grant<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let other = code_flow(&f.store, &app, "alice");
    assert_eq!(
        f.store.revoke(refresh(&tokens), &app.client)?,
        Revocation::Grant
    );
    assert!(!is_valid(&f.store, access(&tokens)));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client))
            .is_err()
    );
    let grants = f
        .store
        .grants_of_subject("alice", &PageRequest::first(10))?;
    assert_eq!(grants.items.len(), 1);
    assert_eq!(grants.items[0].grant_id, other.grant_id);
    assert!(is_valid(&f.store, access(&other)));
    Ok(())
}

fn r11_revocation_is_quiet_for_inactive_tokens_and_refused_for_other_clients<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let other = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    assert!(matches!(
        f.store.revoke(access(&tokens), &other.client),
        Err(Error::TokenClientMismatch)
    ));
    assert!(is_valid(&f.store, access(&tokens)));
    assert_eq!(
        f.store.revoke(access(&tokens), &app.client)?,
        Revocation::AccessToken
    );
    // Already revoked, and revoked again by anyone: quiet.
    assert_eq!(
        f.store.revoke(access(&tokens), &app.client)?,
        Revocation::NotActive
    );
    assert_eq!(
        f.store.revoke(access(&tokens), &other.client)?,
        Revocation::NotActive
    );
    // Unknown but well formed (issued by another store).
    let elsewhere = make(Config::builder());
    let stranger = code_flow(&elsewhere.store, &pretix_app(&elsewhere.store), "x");
    assert_eq!(
        f.store.revoke(access(&stranger), &app.client)?,
        Revocation::NotActive
    );
    // Expired.
    let fresh = code_flow(&f.store, &app, "bob");
    f.clock.advance(86_400);
    assert_eq!(
        f.store.revoke(access(&fresh), &app.client)?,
        Revocation::NotActive
    );
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&fresh), &app.client))
            .is_ok(),
        "the quiet revoke changed nothing"
    );
    // Malformed, or a code or client secret: quiet too, one outcome for
    // everything a server answers with 200 (RFC 7009 §2.2), refused before
    // any read (R02).
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "carol"))?;
    for junk in ["", "nonsense", code.code.expose(), app.secret()] {
        assert_eq!(f.store.revoke(junk, &app.client)?, Revocation::NotActive);
    }
    assert!(f.store.inspect_code(code.code.expose())?.is_some());
    Ok(())
}

fn r10_revoking_an_already_rotated_refresh_token_ends_its_grant<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    // The client revokes the refresh token it had before the rotation: it
    // wants that session ended, and it is.
    assert_eq!(
        f.store.revoke(refresh(&tokens), &app.client)?,
        Revocation::Grant
    );
    assert!(!is_valid(&f.store, access(&rotated)));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&rotated), &app.client))
            .is_err()
    );
    // Another client may not.
    let second = code_flow(&f.store, &app, "bob");
    f.store
        .refresh(RefreshRequest::new(refresh(&second), &app.client))?;
    let other = eventpop_app(&f.store);
    assert!(matches!(
        f.store.revoke(refresh(&second), &other.client),
        Err(Error::TokenClientMismatch)
    ));
    Ok(())
}

// ---------------------------------------------------------------- R12

fn r12_revoke_all_grants_of_a_subject<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let eventpop = eventpop_app(&f.store);
    let a1 = code_flow(&f.store, &pretix, "alice");
    let a2 = code_flow(&f.store, &eventpop, "alice");
    let pending = f
        .store
        .issue_code(AuthorizationRequest::new(pretix.id, "alice"))?;
    let b = code_flow(&f.store, &pretix, "bob");
    assert_eq!(f.store.revoke_subject("alice")?.grants, 2);
    assert!(!is_valid(&f.store, access(&a1)));
    assert!(!is_valid(&f.store, access(&a2)));
    assert!(
        f.store
            .exchange_code(CodeExchange::new(pending.code.expose(), &pretix.client))
            .is_err()
    );
    assert!(is_valid(&f.store, access(&b)));
    Ok(())
}

fn r12_revoke_all_grants_of_a_client<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let prio = prioticket_app(&f.store);
    let a = code_flow(&f.store, &pretix, "alice");
    let b = code_flow(&f.store, &pretix, "bob");
    let p = f
        .store
        .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;
    assert_eq!(f.store.revoke_client_grants(&pretix.id)?.grants, 2);
    assert!(!is_valid(&f.store, access(&a)));
    assert!(!is_valid(&f.store, access(&b)));
    assert!(is_valid(&f.store, access(&p)));
    assert!(
        f.store.client(&pretix.id)?.is_some(),
        "the client stays registered"
    );
    Ok(())
}

fn r12_revoke_one_subject_at_one_client_forgets_the_consent<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let eventpop = eventpop_app(&f.store);
    let a = code_flow(&f.store, &pretix, "alice");
    let keep = code_flow(&f.store, &eventpop, "alice");
    let bob = code_flow(&f.store, &pretix, "bob");
    f.store
        .record_consent(NewConsent::new(pretix.id, "alice", scope("profile")))?;
    f.store
        .record_consent(NewConsent::new(eventpop.id, "alice", scope("public")))?;
    assert_eq!(
        f.store
            .revoke_subject_at_client(&pretix.id, "alice")?
            .grants,
        1
    );
    assert!(!is_valid(&f.store, access(&a)));
    assert!(is_valid(&f.store, access(&keep)));
    assert!(is_valid(&f.store, access(&bob)));
    assert!(!has_consent(
        &f.store,
        &pretix.id,
        "alice",
        &scope("profile")
    )?);
    assert!(has_consent(
        &f.store,
        &eventpop.id,
        "alice",
        &scope("public")
    )?);
    Ok(())
}

// ---------------------------------------------------------------- R13

fn r13_validation_and_introspection<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = eventpop_app(&f.store);
    let tokens = code_flow(&f.store, &app, "somchai");
    let info = f.store.validate(access(&tokens))?;
    assert_eq!(info.client_id, app.id);
    assert_eq!(info.subject.as_deref(), Some("somchai"));
    assert_eq!(info.scope, scope("public"));
    assert_eq!((info.issued_at, info.expires_at), (T0, T0 + 7_200));

    let introspection = f
        .store
        .introspect(IntrospectRequest::new(access(&tokens), &app.client))?;
    let json = serde_json::to_value(&introspection)?;
    assert_eq!(json["active"], true);
    assert_eq!(json["scope"], "public");
    assert_eq!(json["client_id"], app.id.to_string());
    assert_eq!(json["sub"], "somchai");
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["exp"], T0 + 7_200);
    assert_eq!(json["iat"], T0);
    assert_eq!(
        f.store
            .introspect(IntrospectRequest::new(refresh(&tokens), &app.client))?
            .token_type,
        Some(grantdb::TokenType::RefreshToken)
    );
    // A refresh token is not a bearer credential.
    assert!(matches!(
        f.store.validate(refresh(&tokens)),
        Err(Error::MalformedToken { .. })
    ));
    // Malformed or unknown: inactive, and nothing else is said.
    assert_eq!(
        f.store
            .introspect(IntrospectRequest::new("garbage", &app.client))?,
        Introspection::inactive()
    );
    assert_eq!(
        serde_json::to_string(&Introspection::inactive())?,
        r#"{"active":false}"#
    );
    Ok(())
}

fn r13_an_expired_token_is_inactive_before_any_purge<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    f.clock.advance(86_399);
    assert!(is_valid(&f.store, access(&tokens)));
    f.clock.advance(1);
    assert!(matches!(
        f.store.validate(access(&tokens)),
        Err(Error::InactiveToken)
    ));
    assert_eq!(
        f.store
            .introspect(IntrospectRequest::new(access(&tokens), &app.client))?,
        Introspection::inactive()
    );
    assert_eq!(
        Error::InactiveToken.oauth_code(),
        Some(OAuthErrorCode::InvalidToken)
    );
    Ok(())
}

#[test]
fn r13_validation_never_writes() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let before: Vec<_> = Table::ALL.iter().map(|t| backend.entries(*t)).collect();
    for _ in 0..3 {
        f.store.validate(access(&tokens))?;
        f.store
            .introspect(IntrospectRequest::new(refresh(&tokens), &app.client))?;
    }
    let after: Vec<_> = Table::ALL.iter().map(|t| backend.entries(*t)).collect();
    assert_eq!(before, after);
    Ok(())
}

// ---------------------------------------------------------------- R14

fn r14_purge_removes_what_expired_and_nothing_live<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().purge_batch_size(3));
    let prio = prioticket_app(&f.store);
    let pretix = pretix_app(&f.store);
    let expiring: Vec<_> = (0..5)
        .map(|_| {
            f.store
                .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))
        })
        .collect::<Result<_, _>>()?;
    let _stale_code = f
        .store
        .issue_code(AuthorizationRequest::new(pretix.id, "alice"))?;
    let long_lived = code_flow(&f.store, &pretix, "alice");
    f.clock.advance(3_600);
    let fresh = f
        .store
        .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;

    let report = f.store.purge_expired()?;
    assert_eq!(report.access_tokens, 5);
    assert_eq!(
        report.grants, 5,
        "client-credentials grants end with their token"
    );
    // The pending code, and the exchanged one kept until its expiry for R05.
    assert_eq!(report.codes, 2);
    assert!(!report.more);
    assert!(is_valid(&f.store, access(&fresh)));
    assert!(is_valid(&f.store, access(&long_lived)));
    for tokens in &expiring {
        assert!(!is_valid(&f.store, access(tokens)));
    }
    assert_eq!(
        f.store
            .grants_of_client(&prio.id, &PageRequest::first(100))?
            .items
            .len(),
        1
    );
    // The pretix access token expires; its refresh token (no expiry) keeps the grant.
    f.clock.advance(86_400);
    let report = f.store.purge_expired()?;
    assert_eq!((report.access_tokens, report.grants), (2, 1));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&long_lived), &pretix.client))
            .is_ok()
    );
    Ok(())
}

#[test]
fn r14_purge_reads_only_the_due_entries() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let prio = prioticket_app(&f.store);
    let pretix = pretix_app(&f.store);
    for i in 0..200 {
        code_flow(&f.store, &pretix, &format!("user{i}"));
    }
    for _ in 0..10 {
        f.store
            .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;
    }
    // The 200 exchanged codes go first, after their 60 s.
    f.clock.advance(60);
    assert_eq!(f.store.purge_expired()?.codes, 200);
    f.clock.advance(3_540);
    let before = backend.scanned(Table::Expiry);
    let report = f.store.purge_expired()?;
    assert_eq!((report.access_tokens, report.codes), (10, 0));
    let visited = backend.scanned(Table::Expiry) - before;
    // The 200 live pretix access tokens are never visited; only the due ones are.
    assert!(
        visited <= 10,
        "purge visited {visited} expiry entries to remove 10"
    );
    Ok(())
}

fn r14_consumed_refresh_tokens_are_kept_for_reuse_detection_until_retention_ends<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().consumed_refresh_retention(Some(Duration::from_secs(1_000))));
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    f.clock.advance(999);
    assert_eq!(f.store.purge_expired()?.consumed_refresh_tokens, 0);
    f.clock.advance(1);
    let report = f.store.purge_expired()?;
    assert_eq!(report.consumed_refresh_tokens, 1);
    // Forgotten: presenting it now is an unknown token, and revokes nothing.
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client)),
        Err(Error::UnknownRefreshToken)
    ));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&rotated), &app.client))
            .is_ok()
    );
    Ok(())
}

// ---------------------------------------------------------------- R15

fn r15_grants_are_listed_in_pages_with_client_name_and_times<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let eventpop = eventpop_app(&f.store);
    let ticketpark = ticketpark_app(&f.store);
    for _ in 0..3 {
        code_flow(&f.store, &pretix, "alice");
    }
    let e = code_flow(&f.store, &eventpop, "alice");
    f.store
        .issue_for_subject(IssueRequest::new(&ticketpark.client, "alice"))?;
    code_flow(&f.store, &pretix, "bob");
    f.clock.advance(100);
    f.store
        .refresh(RefreshRequest::new(refresh(&e), &eventpop.client))?;

    let mut seen = Vec::new();
    let mut page = f.store.grants_of_subject("alice", &PageRequest::first(2))?;
    loop {
        assert!(page.items.len() <= 2);
        seen.extend(page.items.clone());
        match page.next.clone() {
            Some(cursor) => {
                page = f
                    .store
                    .grants_of_subject("alice", &PageRequest::after(cursor, 2))?;
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let eventpop_grant = seen.iter().find(|g| g.client_id == eventpop.id).unwrap();
    assert_eq!(eventpop_grant.client_name, "eventpop-partner");
    assert_eq!(eventpop_grant.scope, scope("public"));
    assert_eq!(eventpop_grant.created_at, T0);
    assert_eq!(eventpop_grant.last_refreshed_at, Some(T0 + 100));
    assert_eq!(eventpop_grant.origin, GrantOrigin::AuthorizationCode);
    assert!(seen.iter().any(|g| g.origin == GrantOrigin::Password));
    assert_eq!(
        f.store
            .grants_of_client(&pretix.id, &PageRequest::first(10))?
            .items
            .len(),
        4
    );
    assert!(
        f.store
            .grants_of_subject("alice", &PageRequest::after("!!", 2))
            .is_err()
    );
    Ok(())
}

// ---------------------------------------------------------------- R16

fn r16_requested_scope_must_lie_within_the_clients_scopes<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let error = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").scope(scope("read admin")))
        .unwrap_err();
    assert!(matches!(error, Error::ScopeNotAllowed));
    assert_eq!(error.oauth_code(), Some(OAuthErrorCode::InvalidScope));
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").scope(scope("profile read")))?;
    let tokens = f
        .store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client))?;
    assert_eq!(tokens.scope.to_string(), "profile read");
    // No scope requested: the client's registered scopes.
    assert_eq!(
        code_flow(&f.store, &app, "bob").scope,
        scope("profile read write")
    );
    let prio = prioticket_app(&f.store);
    assert!(matches!(
        f.store.issue_client_credentials(
            ClientCredentialsRequest::new(&prio.client).scope(scope("other"))
        ),
        Err(Error::ScopeNotAllowed)
    ));
    Ok(())
}

#[test]
fn r16_scope_strings_follow_rfc6749_section_3_3() -> TestResult {
    assert_eq!(scope("write read read"), scope("read write"));
    for bad in ["read  write", " read", "re\"ad", "caf\u{e9}"] {
        let error = Scope::parse(bad).unwrap_err();
        assert_eq!(
            error.oauth_code(),
            Some(OAuthErrorCode::InvalidScope),
            "{bad:?}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- R17

fn r17_consent_is_recorded_and_queried_as_a_set<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    assert!(!has_consent(&f.store, &app.id, "alice", &scope("profile"))?);
    f.store
        .record_consent(NewConsent::new(app.id, "alice", scope("profile")))?;
    f.clock.advance(5);
    f.store
        .record_consent(NewConsent::new(app.id, "alice", scope("read")))?;
    assert!(has_consent(&f.store, &app.id, "alice", &scope("profile"))?);
    assert!(has_consent(
        &f.store,
        &app.id,
        "alice",
        &scope("read profile")
    )?);
    assert!(!has_consent(&f.store, &app.id, "alice", &scope("write"))?);
    assert!(!has_consent(&f.store, &app.id, "bob", &scope("profile"))?);
    let consent = f.store.consent(&app.id, "alice")?.unwrap();
    assert_eq!(
        (consent.scope, consent.granted_at),
        (scope("profile read"), T0 + 5)
    );
    assert!(matches!(
        f.store
            .record_consent(NewConsent::new(app.id, "alice", scope("admin"))),
        Err(Error::ScopeNotAllowed)
    ));
    f.store.revoke_client_grants(&app.id)?;
    assert!(f.store.consent(&app.id, "alice")?.is_none());
    Ok(())
}

// ---------------------------------------------------------------- R18

fn r18_every_expiry_decision_follows_the_injected_clock<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let prio = prioticket_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let cc = f
        .store
        .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;
    assert_eq!(tokens.created_at, T0);
    // Moved forward, the clock decides expiry.
    f.clock.set(T0 + 3_599);
    assert!(is_valid(&f.store, access(&cc)));
    f.clock.set(T0 + 3_600);
    assert!(!is_valid(&f.store, access(&cc)));
    // Moved back, it does not bring an expired token back: the store's time
    // never runs backwards (it stands still until the clock catches up).
    f.clock.set(T0 + 3_599);
    assert!(!is_valid(&f.store, access(&cc)));
    assert_eq!(f.store.now(), T0 + 3_600);
    f.clock.set(T0 + 3_700);
    assert_eq!(f.store.now(), T0 + 3_700);
    Ok(())
}

// ---------------------------------------------------------------- R19

#[test]
fn r19_an_acknowledged_operation_survives_reopening_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("r19.redb");
    let (app, tokens) = {
        let store = Store::open(&path, Config::default())?;
        let app = pretix_app(&store);
        let tokens = code_flow(&store, &app, "alice");
        let rotated = store.refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
        (app, rotated)
    };
    let store = Store::open(&path, Config::default())?;
    assert!(is_valid(&store, access(&tokens)));
    let client = authenticated(&store, &app.id, Some(app.secret()));
    assert!(
        store
            .refresh(RefreshRequest::new(refresh(&tokens), &client))
            .is_ok()
    );
    Ok(())
}

fn r19_concurrent_refreshes_of_one_token_have_exactly_one_winner<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    for _round in 0..10 {
        let f = make(Config::builder());
        let app = pretix_app(&f.store);
        let tokens = code_flow(&f.store, &app, "alice");
        let presented = refresh(&tokens).to_owned();
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| {
                        f.store
                            .refresh(RefreshRequest::new(&presented, &app.client))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1);
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| matches!(e, Error::RefreshTokenReused | Error::UnknownRefreshToken))
        );
        // Grace 0: the reuse revoked the family, the winner's pair included.
        assert!(!is_valid(&f.store, access(winners[0])));
    }
    Ok(())
}

#[test]
fn r19_a_failed_operation_leaves_no_partial_effect() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let before: Vec<_> = Table::ALL.iter().map(|t| backend.entries(*t)).collect();
    // Each of these fails after reading, before or while deciding.
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client).scope(scope("admin")))
            .is_err()
    );
    assert!(
        f.store
            .refresh(RefreshRequest::new(
                refresh(&tokens),
                &pretix_app(&f.store).client
            ))
            .is_err()
    );
    let after: Vec<_> = Table::ALL
        .iter()
        .filter(|t| **t != Table::Clients)
        .map(|t| backend.entries(*t))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .zip(Table::ALL)
        .filter(|(_, t)| *t != Table::Clients)
        .map(|(e, _)| e)
        .collect();
    assert_eq!(before, after);
    Ok(())
}

// ---------------------------------------------------------------- R20

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

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
rule_suite!(
    r01_secrets_are_long_random_and_never_in_debug_output,
    r02_issued_strings_carry_kind_prefixes,
    r03_client_authentication_checks_the_secret,
    r03_rotating_the_secret_fails_the_old_one_at_once,
    r03_deleting_a_client_revokes_everything_of_it,
    r03_update_get_and_list_clients,
    r04_codes_live_60_seconds_by_default,
    r04_code_lifetime_cannot_exceed_600_seconds,
    r04_exchange_requires_the_same_client_and_redirect_uri_and_failures_change_nothing,
    r04_pkce_s256_and_plain,
    r05_code_replay_fails_and_revokes_the_grant_it_produced,
    r06_code_exchange_issues_a_pair_with_the_rfc6749_response_fields,
    r06_password_grant_and_per_client_lifetime,
    r06_client_credentials_issue_access_only_and_many_at_once,
    r06_no_refresh_token_without_the_refresh_grant_type,
    r07_refresh_rotates_the_pair_in_the_same_grant,
    r07_scope_may_narrow_but_not_widen,
    r07_another_client_or_an_expired_token_fails_and_changes_nothing,
    r08_reuse_of_a_consumed_refresh_token_revokes_the_family,
    r08_grace_period_yields_a_new_pair_and_keeps_the_previous_one,
    r08_reuse_after_the_grace_period_revokes,
    r09_revoking_an_access_token_leaves_its_refresh_token_working,
    r10_revoking_a_refresh_token_revokes_its_access_token_and_grant,
    r10_revoking_an_already_rotated_refresh_token_ends_its_grant,
    r11_revocation_is_quiet_for_inactive_tokens_and_refused_for_other_clients,
    r12_revoke_all_grants_of_a_subject,
    r12_revoke_all_grants_of_a_client,
    r12_revoke_one_subject_at_one_client_forgets_the_consent,
    r13_validation_and_introspection,
    r13_an_expired_token_is_inactive_before_any_purge,
    r14_purge_removes_what_expired_and_nothing_live,
    r14_consumed_refresh_tokens_are_kept_for_reuse_detection_until_retention_ends,
    r15_grants_are_listed_in_pages_with_client_name_and_times,
    r16_requested_scope_must_lie_within_the_clients_scopes,
    r17_consent_is_recorded_and_queried_as_a_set,
    r18_every_expiry_decision_follows_the_injected_clock,
    r19_concurrent_refreshes_of_one_token_have_exactly_one_winner,
    r20_malformed_input_gets_typed_errors,
);
