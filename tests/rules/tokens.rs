//! R06–R08, R24, R25: issuing, refresh with rotation and reuse detection, sender-constrained tokens and audiences (`ops/tokens.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthorizationRequest, ClientCredentialsRequest, CodeExchange, Config, ConfigBuilder,
    Confirmation, Error, GrantType, IntrospectRequest, IssueRequest, NewClient, OAuthErrorCode,
    PageRequest, RefreshRequest, TokenType,
};
use std::time::Duration;

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

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
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
    r24_a_key_bound_grant_refreshes_only_with_its_key,
    r24_a_code_bound_with_dpop_jkt_goes_only_with_that_key,
    r24_certificate_bound_and_unbound_grants,
    r25_tokens_carry_their_audiences_and_refresh_narrows_never_widens,
);
