//! The token endpoint (RFC 6749 §3.2, §5): each grant type, and each error.

use grantdb::{GrantType, NewClient};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, PkceCodeChallenge, RedirectUrl,
    RefreshToken, TokenResponse, TokenUrl,
};
use serde_json::Value;

use crate::support::{REDIRECT, Registered, Served, TestResult};

/// The `oauth2` crate, as a third-party client, through the code flow with
/// PKCE and a refresh (RFC 6749 §4.1, §6; RFC 7636).
#[test]
fn a_third_party_client_runs_the_code_flow_with_pkce_and_refreshes() -> TestResult {
    let served = Served::start();
    let registered = served.code_client();
    let client = BasicClient::new(ClientId::new(registered.id.clone()))
        .set_client_secret(ClientSecret::new(registered.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(served.url("/authorize"))?)
        .set_token_uri(TokenUrl::new(served.url("/oauth/token"))?)
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned())?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("read".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let answer = served.http.get(url).send()?;
    let params = crate::support::redirect_params(&answer);
    assert_eq!(params["state"], *state.secret());
    // RFC 9207: the issuer comes back with the code.
    assert_eq!(params["iss"], served.base);
    let http = oauth2::reqwest::blocking::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request(&http)?;
    let refresh = tokens.refresh_token().expect("a refresh token");
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .request(&http)?;
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );
    let info = served.store.validate(refreshed.access_token().secret())?;
    assert_eq!(info.subject.as_deref(), Some("alice"));
    assert_eq!(info.scope.as_str(), "read");
    Ok(())
}

/// RFC 6749 §5.1: a token response is never cached.
#[test]
fn token_responses_are_not_cached() -> TestResult {
    let served = Served::start();
    let client = served.service_client();
    let response = served.post_basic(
        "/oauth/token",
        &client,
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json()?;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read write");
    Ok(())
}

/// A refused token request: what it is, who asks, the form, the status and
/// the error code.
type Refusal<'a> = (
    &'a str,
    &'a Registered,
    Vec<(&'a str, &'a str)>,
    u16,
    &'a str,
);

/// The errors of RFC 6749 §5.2, each with its status and, for a client that
/// failed to authenticate, a `Basic` challenge.
#[test]
fn each_token_error_has_its_code_status_and_headers() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let service = served.service_client();
    let wrong_secret = Registered {
        id: client.id.clone(),
        secret: Some("not-the-secret".to_owned()),
    };
    let cases: Vec<Refusal<'_>> = vec![
        ("no grant_type", &client, vec![], 400, "invalid_request"),
        (
            "unknown grant type",
            &client,
            vec![("grant_type", "magic")],
            400,
            "unsupported_grant_type",
        ),
        (
            "no code",
            &client,
            vec![("grant_type", "authorization_code")],
            400,
            "invalid_request",
        ),
        (
            "unknown code",
            &client,
            vec![("grant_type", "authorization_code"), ("code", "nonsense")],
            400,
            "invalid_grant",
        ),
        (
            "unknown refresh token",
            &client,
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "nonsense"),
            ],
            400,
            "invalid_grant",
        ),
        (
            "wrong secret",
            &wrong_secret,
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            "grant type not registered",
            &client,
            vec![("grant_type", "client_credentials")],
            400,
            "unauthorized_client",
        ),
        (
            "scope beyond the client's",
            &service,
            vec![("grant_type", "client_credentials"), ("scope", "admin")],
            400,
            "invalid_scope",
        ),
        (
            "malformed scope",
            &service,
            vec![("grant_type", "client_credentials"), ("scope", "a\"b")],
            400,
            "invalid_scope",
        ),
        (
            "password grant the client may not use",
            &service,
            vec![
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "x"),
            ],
            400,
            "unauthorized_client",
        ),
    ];
    for (case, who, form, status, code) in cases {
        let response = served.post_basic("/oauth/token", who, &form);
        assert_eq!(response.status().as_u16(), status, "{case}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{case}");
        let challenge = response.headers().get("www-authenticate").cloned();
        let body: Value = response.json()?;
        assert_eq!(body["error"], code, "{case}");
        if status == 401 {
            assert!(challenge.unwrap().to_str()?.starts_with("Basic "), "{case}");
        }
    }
    Ok(())
}

/// R04, R05: PKCE must match (RFC 7636 §4.6), and a code is exchanged once.
#[test]
fn r04_r05_a_code_needs_its_verifier_and_is_exchanged_once() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let code = served.code(&[
        ("response_type", "code"),
        ("client_id", &client.id),
        ("code_challenge", crate::support::CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let exchange = |verifier: &str| {
        served.post_basic(
            "/oauth/token",
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", verifier),
            ],
        )
    };
    let wrong = exchange("wrong-verifier-wrong-verifier-wrong-verifier-0");
    assert_eq!(wrong.status(), 400);
    assert_eq!(wrong.json::<Value>()?["error"], "invalid_grant");
    // R04: a failed check changes nothing; R05: a second exchange fails.
    assert_eq!(exchange(crate::support::VERIFIER).status(), 200);
    let replay = exchange(crate::support::VERIFIER);
    assert_eq!(replay.status(), 400);
    assert_eq!(replay.json::<Value>()?["error"], "invalid_grant");
    Ok(())
}

/// The password grant (RFC 6749 §4.3) is offered only with a host's check,
/// and a wrong password is `invalid_grant`.
#[test]
fn the_password_grant_is_the_hosts_to_offer() -> TestResult {
    let client_of = |served: &Served| {
        served.register(
            NewClient::confidential("password client")
                .grant_types([GrantType::Password, GrantType::RefreshToken])
                .scopes("read")
                .unwrap(),
        )
    };
    let served = Served::start();
    let client = client_of(&served);
    let attempt = |password: &str| {
        served.post_basic(
            "/oauth/token",
            &client,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ],
        )
    };
    let ok = attempt(crate::support::PASSWORD);
    assert_eq!(ok.status(), 200);
    let tokens: Value = ok.json()?;
    assert!(tokens["refresh_token"].is_string());
    let wrong = attempt("guess");
    assert_eq!(wrong.status(), 400);
    assert_eq!(wrong.json::<Value>()?["error"], "invalid_grant");

    let without = Served::start_with(|mut config| {
        config.password = None;
        config
    });
    let client = client_of(&without);
    let refused = without.post_basic(
        "/oauth/token",
        &client,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
        ],
    );
    assert_eq!(refused.json::<Value>()?["error"], "unsupported_grant_type");
    Ok(())
}

/// The device grant (RFC 8628): authorization, then polling until the user
/// answers (`authorization_pending`, `slow_down` when polled too fast), then
/// the tokens, once.
#[test]
fn a_device_polls_until_the_user_approves() -> TestResult {
    let served = Served::start();
    let device = served.register(
        NewClient::public("tv app")
            .grant_types([GrantType::DeviceCode, GrantType::RefreshToken])
            .scopes("read")
            .unwrap(),
    );
    let started: Value = served
        .http
        .post(served.url("/oauth/device_authorization"))
        .form(&[("client_id", device.id.as_str()), ("scope", "read")])
        .send()?
        .json()?;
    assert_eq!(started["verification_uri"], served.url("/device"));
    let user_code = started["user_code"].as_str().unwrap();
    assert_eq!(
        started["verification_uri_complete"],
        format!("{}?user_code={user_code}", served.url("/device"))
    );
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let poll = || -> Value {
        served
            .http
            .post(served.url("/oauth/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code.as_str()),
                ("client_id", device.id.as_str()),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(poll()["error"], "authorization_pending");
    assert_eq!(poll()["error"], "slow_down", "polled again without waiting");
    served.store.approve_device(grantdb::DeviceApproval::new(
        user_code,
        "alice",
        grantdb::AttemptKey::new("alice"),
    ))?;
    served.clock.advance(60);
    let tokens = poll();
    assert!(tokens["access_token"].is_string(), "{tokens}");
    served.clock.advance(60);
    assert_eq!(poll()["error"], "invalid_grant", "the tokens come once");
    Ok(())
}

/// The device authorization endpoint's own errors: an unknown client, a
/// client not registered for the device grant.
#[test]
fn device_authorization_refuses_unknown_and_unregistered_clients() -> TestResult {
    let served = Served::start();
    let service = served.service_client();
    let unknown = served
        .http
        .post(served.url("/oauth/device_authorization"))
        .form(&[("client_id", "pCJ3yvtcSmWb3bHkmGT9Aw")])
        .send()?;
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.json::<Value>()?["error"], "invalid_client");
    let unregistered = served.post_basic("/oauth/device_authorization", &service, &[]);
    assert_eq!(unregistered.status(), 400);
    assert_eq!(
        unregistered.json::<Value>()?["error"],
        "unauthorized_client"
    );
    Ok(())
}
