//! The seeds' four dialects through the crate's router: pretix's code flow
//! with refresh and revocation, Ticketpark's password grant with 600 s
//! tokens, Eventpop's body credentials, `created_at` and `?access_token=`,
//! Prioticket's JSON client credentials with several tokens active at once.

use std::time::Duration;

use grantdb::{GrantType, LifetimeOverrides, NewClient, RefreshLifetime};
use serde_json::{Value, json};

use crate::support::{PASSWORD, Served, TestResult, redirect_params};

fn lifetime(seconds: u64) -> LifetimeOverrides {
    LifetimeOverrides::default().access(Duration::from_secs(seconds))
}

/// pretix: "Connect with pretix": the code flow (Basic authentication),
/// 86,400 s access tokens, refresh tokens that never expire, revocation.
#[test]
fn pretix_code_flow_refresh_and_revoke() -> TestResult {
    let served = Served::start();
    let pretix = served.register(
        NewClient::confidential("pretix connector")
            .redirect_uri("https://connector.example/callback")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read write profile")?
            .lifetimes(lifetime(86_400).refresh(RefreshLifetime::Never)),
    );
    let approved = served
        .http
        .get(served.url("/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", pretix.id.as_str()),
            ("state", "st"),
            ("scope", "read write"),
        ])
        .send()?;
    let params = redirect_params(&approved);
    let tokens: Value = served
        .post_basic(
            "/oauth/token",
            &pretix,
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
            ],
        )
        .json()?;
    assert_eq!(tokens["expires_in"], 86_400);
    assert_eq!(tokens["scope"], "read write");
    served.clock.advance(365 * 86_400);
    let refreshed: Value = served
        .post_basic(
            "/oauth/token",
            &pretix,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .json()?;
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(served.me_status(access), 200);
    let revoked = served.post_basic(
        "/oauth/revoke",
        &pretix,
        &[
            ("token", refreshed["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
        ],
    );
    assert_eq!(revoked.status(), 200);
    assert_eq!(served.me_status(access), 401);
    Ok(())
}

/// Ticketpark: the password grant with the credentials in the body and
/// 600 s access tokens.
#[test]
fn ticketpark_password_grant_with_600_second_tokens() -> TestResult {
    let served = Served::start();
    let ticketpark = served.register(
        NewClient::confidential("ticketpark")
            .grant_types([GrantType::Password, GrantType::RefreshToken])
            .scopes("read write")?
            .lifetimes(lifetime(600)),
    );
    let secret = ticketpark.secret.clone().unwrap();
    let response = served
        .http
        .post(served.url("/oauth/token"))
        .form(&[
            ("client_id", ticketpark.id.as_str()),
            ("client_secret", secret.as_str()),
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()?;
    let tokens: Value = response.json()?;
    assert_eq!(tokens["expires_in"], 600);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(served.me_status(access), 200);
    served.clock.advance(600);
    assert_eq!(served.me_status(access), 401);
    Ok(())
}

/// Eventpop: body credentials at the token endpoint, `created_at` in the
/// answer, the access token in the query at the API.
#[test]
fn eventpop_body_credentials_created_at_and_query_token() -> TestResult {
    let served = Served::start_with(|config| config.query_bearer(true));
    let eventpop = served.register(
        NewClient::confidential("eventpop partner")
            .redirect_uri("https://partner.example/eventpop/callback")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("public")?
            .lifetimes(lifetime(7_200)),
    );
    let code = served.code(&[("response_type", "code"), ("client_id", &eventpop.id)]);
    let secret = eventpop.secret.clone().unwrap();
    let tokens: Value = served
        .http
        .post(served.url("/oauth/token"))
        .form(&[
            ("client_id", eventpop.id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", "https://partner.example/eventpop/callback"),
            ("grant_type", "authorization_code"),
        ])
        .send()?
        .json()?;
    assert_eq!(tokens["expires_in"], 7_200);
    assert_eq!(tokens["created_at"], served.store.now());
    let access = tokens["access_token"].as_str().unwrap();
    let me = served
        .http
        .get(served.url("/me"))
        .query(&[("access_token", access)])
        .send()?;
    assert_eq!(me.status(), 200);
    Ok(())
}

/// Prioticket: client credentials in a JSON body, Basic authentication,
/// 3,600 s tokens, several active at once.
#[test]
fn prioticket_json_client_credentials_with_several_active_tokens() -> TestResult {
    let served = Served::start();
    let scope = "https://www.prioticketapis.com/auth/distributor.booking";
    let prio = served.register(
        NewClient::confidential("prioticket distributor")
            .grant_types([GrantType::ClientCredentials])
            .scopes(scope)?
            .lifetimes(lifetime(3_600)),
    );
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let answer: Value = served
            .http
            .post(served.url("/oauth/token"))
            .basic_auth(&prio.id, prio.secret.as_deref())
            .json(&json!({ "grant_type": "client_credentials", "scope": scope }))
            .send()?
            .json()?;
        assert_eq!(answer["expires_in"], 3_600);
        assert!(answer.get("refresh_token").is_none());
        tokens.push(answer["access_token"].as_str().unwrap().to_owned());
    }
    for token in &tokens {
        assert!(
            served.store.validate(token).is_ok(),
            "every token stays active"
        );
    }
    Ok(())
}
