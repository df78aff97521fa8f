//! R13: validation and introspection, one read and never a write (`ops/validate.rs`).

use crate::support::*;
use grantdb::kv::{Backend, Table};
use grantdb::{
    Config, ConfigBuilder, Endpoint, Error, IntrospectRequest, Introspection, OAuthErrorCode,
    RefreshRequest,
};

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

#[test]
fn r13_a_resource_server_answers_invalid_token_a_token_endpoint_invalid_grant() -> TestResult {
    let f = fixture();
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    // Empty, garbage, a bad checksum, a refresh token where an access token
    // belongs: refused before any read.
    let garbage = one_char_changed(access(&tokens));
    for presented in ["", "garbage", garbage.as_str(), refresh(&tokens)] {
        let error = f.store.validate(presented).unwrap_err();
        assert_eq!(
            error.oauth_code_at(Endpoint::Resource),
            Some(OAuthErrorCode::InvalidToken),
            "{presented:?}: {error:?}"
        );
    }
    f.store.revoke(access(&tokens), &app.client)?;
    let inactive = f.store.validate(access(&tokens)).unwrap_err();
    assert_eq!(
        inactive.oauth_code_at(Endpoint::Resource),
        Some(OAuthErrorCode::InvalidToken)
    );
    let at_token_endpoint = f
        .store
        .refresh(RefreshRequest::new("gdbrt_nope", &app.client))
        .unwrap_err();
    assert_eq!(
        at_token_endpoint.oauth_code_at(Endpoint::Token),
        Some(OAuthErrorCode::InvalidGrant)
    );
    assert_eq!(
        Error::UnknownClient.oauth_code_at(Endpoint::Authorization),
        Some(OAuthErrorCode::InvalidRequest)
    );
    assert_eq!(
        Error::UnknownClient.oauth_code_at(Endpoint::Token),
        Some(OAuthErrorCode::InvalidClient)
    );
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r13_validation_and_introspection,
    r13_an_expired_token_is_inactive_before_any_purge,
);
