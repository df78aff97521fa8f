//! The authorization endpoint's checks and answers (RFC 6749 §4.1, RFC 9207,
//! RFC 9126), through the host's stub page.

use grantdb::{GrantType, NewClient};
use serde_json::Value;

use crate::support::{CHALLENGE, REDIRECT, Served, TestResult, redirect_params};

/// RFC 6749 §4.1.2.1: with an unknown client or a redirect URI it did not
/// register, the error is shown, never redirected (an open redirector
/// otherwise).
#[test]
fn errors_that_cannot_go_back_are_shown() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let cases: [&[(&str, &str)]; 4] = [
        &[("response_type", "code")],
        &[
            ("response_type", "code"),
            ("client_id", "pCJ3yvtcSmWb3bHkmGT9Aw"),
        ],
        &[("response_type", "code"), ("client_id", "not an id")],
        &[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("redirect_uri", "https://evil.example/cb"),
        ],
    ];
    for query in cases {
        let response = served
            .http
            .get(served.url("/authorize"))
            .query(query)
            .send()?;
        assert_eq!(response.status(), 400, "{query:?}");
        assert!(response.headers().get("location").is_none(), "{query:?}");
    }
    Ok(())
}

/// RFC 6749 §4.1.2.1: every other error goes back to the registered
/// redirect URI with `error`, `state` and (RFC 9207) `iss`.
#[test]
fn other_errors_go_back_to_the_client_with_state_and_iss() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let public = served.register(
        NewClient::public("spa")
            .redirect_uri(REDIRECT)
            .grant_types([GrantType::AuthorizationCode])
            .scopes("read")
            .unwrap(),
    );
    let service = served.register(
        NewClient::confidential("no code grant")
            .redirect_uri(REDIRECT)
            .grant_types([GrantType::ClientCredentials])
            .scopes("read")
            .unwrap(),
    );
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("client_id", &client.id)], "unsupported_response_type"),
        (
            vec![("client_id", &client.id), ("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            vec![
                ("client_id", &client.id),
                ("response_type", "code"),
                ("scope", "admin"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("client_id", &client.id),
                ("response_type", "code"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("client_id", &client.id),
                ("response_type", "code"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S512"),
            ],
            "invalid_request",
        ),
        (
            vec![("client_id", &public.id), ("response_type", "code")],
            "invalid_request",
        ),
        (
            vec![("client_id", &service.id), ("response_type", "code")],
            "unauthorized_client",
        ),
        (
            vec![
                ("client_id", &client.id),
                ("response_type", "code"),
                ("resource", "not a uri"),
            ],
            "invalid_target",
        ),
        (
            vec![
                ("client_id", &client.id),
                ("response_type", "code"),
                ("deny", "1"),
            ],
            "access_denied",
        ),
    ];
    for (mut query, code) in cases {
        query.push(("state", "xyz"));
        let response = served
            .http
            .get(served.url("/authorize"))
            .query(&query)
            .send()?;
        assert_eq!(response.status(), 303, "{query:?}");
        assert!(
            response.headers()["location"]
                .to_str()?
                .starts_with(REDIRECT),
            "{query:?}"
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        let params = redirect_params(&response);
        assert_eq!(params["error"], code, "{query:?}");
        assert_eq!(params["state"], "xyz");
        assert_eq!(params["iss"], served.base);
    }
    Ok(())
}

/// An approved request comes back with its code, the state and `iss`; the
/// code is bound to the redirect URI the request named (RFC 6749 §4.1.3).
#[test]
fn an_approved_request_returns_a_code_bound_to_its_redirect_uri() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let response = served
        .http
        .get(served.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("redirect_uri", REDIRECT),
            ("state", "s1"),
            ("scope", "read"),
        ])
        .send()?;
    let params = redirect_params(&response);
    assert_eq!(
        (params["state"].as_str(), params["iss"].as_str()),
        ("s1", served.base.as_str())
    );
    let without_redirect = served.post_basic(
        "/oauth/token",
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
        ],
    );
    assert_eq!(without_redirect.json::<Value>()?["error"], "invalid_grant");
    let with_redirect = served.post_basic(
        "/oauth/token",
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(with_redirect.status(), 200);
    assert_eq!(with_redirect.json::<Value>()?["scope"], "read");
    Ok(())
}

/// RFC 9126: a pushed request (201, a `request_uri`), then the
/// authorization by that URI alone, once; the push is checked as the
/// request would be (R30).
#[test]
fn r30_a_pushed_request_is_checked_then_used_once() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let pushed = served.post_basic(
        "/oauth/par",
        &client,
        &[
            ("response_type", "code"),
            ("state", "p1"),
            ("scope", "read"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    assert_eq!(pushed.status(), 201);
    assert_eq!(pushed.headers()["cache-control"], "no-store");
    let pushed: Value = pushed.json()?;
    let request_uri = pushed["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert!(pushed["expires_in"].as_u64().unwrap() > 0);
    let authorize = || {
        served
            .http
            .get(served.url("/authorize"))
            .query(&[
                ("client_id", client.id.as_str()),
                ("request_uri", request_uri),
            ])
            .send()
            .unwrap()
    };
    let approved = authorize();
    let params = redirect_params(&approved);
    assert_eq!(params["state"], "p1");
    let tokens = served.post_basic(
        "/oauth/token",
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("code_verifier", crate::support::VERIFIER),
        ],
    );
    assert_eq!(tokens.json::<Value>()?["scope"], "read");
    let again = authorize();
    assert_eq!(again.status(), 400, "a request_uri is single use");
    assert!(again.headers().get("location").is_none());

    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("state", "x")], "unsupported_response_type"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            vec![("response_type", "code"), ("request_uri", "urn:x")],
            "invalid_request",
        ),
        (
            vec![("response_type", "code"), ("scope", "admin")],
            "invalid_scope",
        ),
        (
            vec![
                ("response_type", "code"),
                ("redirect_uri", "https://evil.example/cb"),
            ],
            "invalid_request",
        ),
        (
            vec![("response_type", "code"), ("code_challenge", "short")],
            "invalid_request",
        ),
        (
            vec![("response_type", "code"), ("dpop_jkt", "not-a-thumbprint")],
            "invalid_request",
        ),
    ];
    for (form, code) in cases {
        let response = served.post_basic("/oauth/par", &client, &form);
        assert_eq!(response.status(), 400, "{form:?}");
        assert_eq!(response.json::<Value>()?["error"], code, "{form:?}");
    }
    Ok(())
}

/// RFC 9126 §4: a `request_uri` is bound to the client that pushed it: named
/// with another client's id it is shown as an error, never redirected, and
/// stays usable by its own client.
#[test]
fn a_request_uri_of_another_client_is_refused() -> TestResult {
    let served = Served::start();
    let owner = served.code_client();
    let thief = served.code_client();
    let pushed: Value = served
        .post_basic("/oauth/par", &owner, &[("response_type", "code")])
        .json()?;
    let request_uri = pushed["request_uri"].as_str().unwrap();
    let stolen = served
        .http
        .get(served.url("/authorize"))
        .query(&[
            ("client_id", thief.id.as_str()),
            ("request_uri", request_uri),
        ])
        .send()?;
    assert_eq!(stolen.status(), 400);
    assert!(stolen.headers().get("location").is_none());
    let own = served
        .http
        .get(served.url("/authorize"))
        .query(&[
            ("client_id", owner.id.as_str()),
            ("request_uri", request_uri),
        ])
        .send()?;
    assert_eq!(own.status(), 303);
    Ok(())
}
