//! R16: requested scopes within the client's, RFC 6749 §3.3 strings (`model/scope.rs`, `ops/mod.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthorizationRequest, ClientCredentialsRequest, CodeExchange, Config, ConfigBuilder, Error,
    IssueRequest, OAuthErrorCode, RefreshRequest, Scope,
};

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

fn r16_an_empty_scope_named_in_a_request_is_malformed<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let pretix = pretix_app(&f.store);
    let app = password_app(&f.store, "ticketpark");
    let empty = Scope::parse("")?;
    let malformed = |result: Result<_, Error>| {
        matches!(result, Err(Error::MalformedScope { .. }))
            && result
                .err()
                .and_then(|e| e.oauth_code())
                .is_some_and(|code| code == OAuthErrorCode::InvalidScope)
    };
    assert!(malformed(
        f.store
            .issue_code(AuthorizationRequest::new(pretix.id, "alice").scope(empty.clone()))
            .map(drop)
    ));
    assert!(malformed(
        f.store
            .issue_for_subject(IssueRequest::new(&app.client, "alice").scope(empty.clone()))
            .map(drop)
    ));
    let tokens = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    assert!(malformed(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client).scope(empty.clone()))
            .map(drop)
    ));
    // Nothing changed: the pair still works and refreshes.
    assert!(is_valid(&f.store, access(&tokens)));
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert_eq!(rotated.scope, scope("read write"));
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r16_requested_scope_must_lie_within_the_clients_scopes,
    r16_an_empty_scope_named_in_a_request_is_malformed,
);
