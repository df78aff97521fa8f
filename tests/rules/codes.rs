//! R04, R05: codes are short-lived and single-use, and a replay revokes what the code produced (`ops/codes.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthorizationRequest, CodeExchange, Config, ConfigBuilder, Error, GrantType, NewClient,
    OAuthErrorCode, PageRequest, PkceChallenge, PkceMethod, RefreshRequest,
};
use std::time::Duration;

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

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r04_codes_live_60_seconds_by_default,
    r04_code_lifetime_cannot_exceed_600_seconds,
    r04_exchange_requires_the_same_client_and_redirect_uri_and_failures_change_nothing,
    r04_pkce_s256_and_plain,
    r05_code_replay_fails_and_revokes_the_grant_it_produced,
);
