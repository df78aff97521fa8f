//! Revocation (RFC 7009) and introspection (RFC 7662).

use grantdb::{ClientKind, GrantType, NewClient};
use serde_json::Value;

use crate::support::{Registered, Served, TestResult};

/// RFC 7009 §2.1: revoking a refresh token revokes its grant (R10), and the
/// access token with it; an unknown token, or one revoked already, is `200`
/// all the same (§2.2).
#[test]
fn r10_revoking_a_refresh_token_ends_its_grant_and_unknown_tokens_are_200() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let tokens = served.tokens(&client);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    for hint in ["refresh_token", "refresh_token", ""] {
        let response = served.post_basic(
            "/oauth/revoke",
            &client,
            &[("token", refresh), ("token_type_hint", hint)],
        );
        assert_eq!(response.status(), 200);
    }
    assert!(served.store.validate(access).is_err());
    let unknown = served.post_basic("/oauth/revoke", &client, &[("token", "whatever")]);
    assert_eq!(unknown.status(), 200);
    Ok(())
}

/// RFC 7009: the token must be named, the client authenticated, and a
/// `token_type_hint` this server does not issue is `unsupported_token_type`
/// (§2.2.1).
#[test]
fn r11_revocation_errors() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let tokens = served.tokens(&client);
    let access = tokens["access_token"].as_str().unwrap();
    let unsupported = served.post_basic(
        "/oauth/revoke",
        &client,
        &[("token", access), ("token_type_hint", "id_token")],
    );
    assert_eq!(unsupported.status(), 400);
    assert_eq!(
        unsupported.json::<Value>()?["error"],
        "unsupported_token_type"
    );
    assert!(served.store.validate(access).is_ok(), "nothing was revoked");
    let missing = served.post_basic("/oauth/revoke", &client, &[]);
    assert_eq!(missing.json::<Value>()?["error"], "invalid_request");
    let stranger = Registered {
        id: client.id.clone(),
        secret: Some("wrong".to_owned()),
    };
    let unauthenticated = served.post_basic("/oauth/revoke", &stranger, &[("token", access)]);
    assert_eq!(unauthenticated.status(), 401);
    assert!(
        unauthenticated.headers()["www-authenticate"]
            .to_str()?
            .starts_with("Basic")
    );
    // R11: another client's active token is refused (RFC 7009 §2.1), and
    // it stays valid.
    let other = served.code_client();
    let response = served.post_basic("/oauth/revoke", &other, &[("token", access)]);
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>()?["error"], "invalid_grant");
    assert!(served.store.validate(access).is_ok());
    Ok(())
}

/// RFC 7662 §2.2: what an active token carries; `{"active": false}` once it
/// is revoked or for a token never issued.
#[test]
fn introspection_answers_active_tokens_and_inactive_ones() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let resource = served.service_client();
    let tokens = served.tokens(&client);
    let access = tokens["access_token"].as_str().unwrap();
    let introspect = |token: &str| -> Value {
        let response = served.post_basic("/oauth/introspect", &resource, &[("token", token)]);
        assert_eq!(response.status(), 200);
        response.json().unwrap()
    };
    let active = introspect(access);
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], "alice");
    assert_eq!(active["client_id"], client.id);
    let mut scope: Vec<&str> = active["scope"].as_str().unwrap().split(' ').collect();
    scope.sort_unstable();
    assert_eq!(scope, ["profile", "read", "write"]);
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(
        introspect("never-issued"),
        serde_json::json!({ "active": false })
    );
    served.post_basic("/oauth/revoke", &client, &[("token", access)]);
    assert_eq!(introspect(access)["active"], false);
    Ok(())
}

/// RFC 7662 §2.1: the caller authenticates and is authorized by the host's
/// policy (by default, confidential clients); anyone else is `401`.
#[test]
fn introspection_is_for_callers_the_policy_allows() -> TestResult {
    let served = Served::start_with(|config| {
        config.introspection_policy(|caller| caller.client().name == "resource server")
    });
    let client = served.code_client();
    let access = served.tokens(&client)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let resource_server = served.register(
        NewClient::confidential("resource server")
            .grant_types([GrantType::ClientCredentials])
            .scopes("")
            .unwrap(),
    );
    let allowed = served.post_basic("/oauth/introspect", &resource_server, &[("token", &access)]);
    assert_eq!(allowed.json::<Value>()?["active"], true);
    let refused = served.post_basic("/oauth/introspect", &client, &[("token", &access)]);
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.json::<Value>()?["error"], "invalid_client");

    // The default policy: a public client may not introspect.
    let defaults = Served::start();
    let public = defaults.register(
        NewClient::public("spa")
            .redirect_uri("https://spa.example/cb")
            .grant_types([GrantType::AuthorizationCode])
            .scopes("read")
            .unwrap(),
    );
    assert_eq!(
        defaults.store.client(&public.id.parse()?)?.unwrap().kind,
        ClientKind::Public
    );
    let refused = defaults
        .http
        .post(defaults.url("/oauth/introspect"))
        .form(&[("client_id", public.id.as_str()), ("token", "x")])
        .send()?;
    assert_eq!(refused.status(), 401);
    let missing = defaults.post_basic("/oauth/introspect", &defaults.service_client(), &[]);
    assert_eq!(missing.json::<Value>()?["error"], "invalid_request");
    Ok(())
}
