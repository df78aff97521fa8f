//! The minimal examples, started on a free port and driven end to end:
//! `examples/minimal_server.rs` through the code flow with PKCE (the
//! `oauth2` crate as the client), refresh, revocation and introspection;
//! `examples/resource_server.rs` through its layer's scope and audience
//! checks.

use crate::support::TestResult;
use crate::{minimal_server, resource_server};

use grantdb::{Config, Store};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};
use reqwest::Method;
use reqwest::blocking::Client as Http;
use serde_json::Value;

/// Serves `app` on a free port: its base URL (also its issuer) and the
/// runtime that serves it.
fn serve(app: impl FnOnce(&str) -> axum::Router) -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app(&base);
    runtime.spawn(async move { axum::serve(listener, router).await });
    (base, runtime)
}

fn no_redirects() -> Http {
    Http::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[test]
fn the_minimal_server_serves_the_code_flow_refresh_revocation_and_introspection() -> TestResult {
    let store = Store::in_memory(Config::default())?;
    let created = minimal_server::ensure_clients(&store)?;
    assert_eq!(created.len(), 2);
    // Declarative: a second start registers nothing.
    assert!(minimal_server::ensure_clients(&store)?.is_empty());
    let secret = |name: &str| {
        let client = created.iter().find(|c| c.client.name == name).unwrap();
        (
            client.client.id.to_string(),
            client.secret.as_ref().unwrap().expose().to_owned(),
        )
    };
    let (shop_id, shop_secret) = secret("shop");
    let (job_id, job_secret) = secret("reporting job");
    let (base, _runtime) = serve(|issuer| minimal_server::app(store.clone(), issuer));
    let http = no_redirects();

    let shop = BasicClient::new(ClientId::new(shop_id.clone()))
        .set_client_secret(ClientSecret::new(shop_secret.clone()))
        .set_auth_uri(AuthUrl::new(format!("{base}/authorize"))?)
        .set_token_uri(TokenUrl::new(format!("{base}/oauth/token"))?)
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:9000/callback".into())?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = shop
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("orders".into()))
        .set_pkce_challenge(challenge)
        .url();
    let answer = http.get(url.as_str()).send()?;
    let location = reqwest::Url::parse(answer.headers()["location"].to_str()?)?;
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], *state.secret());
    assert_eq!(params["iss"], base);
    let tokens = shop
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request(&http)?;
    let orders = |token: &str| {
        http.get(format!("{base}/api/orders"))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    let answer: Value = orders(tokens.access_token().secret()).json()?;
    assert_eq!(answer["orders_of"], "alice");

    let refreshed = shop
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request(&http)?;
    let access = refreshed.access_token().secret().clone();
    assert_eq!(orders(&access).status(), 200);

    // The reporting job (confidential) may introspect.
    let introspect = |token: &str| -> Value {
        http.post(format!("{base}/oauth/introspect"))
            .basic_auth(&job_id, Some(&job_secret))
            .form(&[("token", token)])
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let active = introspect(&access);
    assert_eq!(
        (active["active"].as_bool(), active["sub"].as_str()),
        (Some(true), Some("alice"))
    );

    // RFC 7009 (the oauth2 crate sends revocations over https only).
    let revoked = http
        .post(format!("{base}/oauth/revoke"))
        .basic_auth(&shop_id, Some(&shop_secret))
        .form(&[(
            "token",
            refreshed.refresh_token().unwrap().secret().as_str(),
        )])
        .send()?;
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        introspect(&access)["active"],
        false,
        "revoking the refresh token ends the grant"
    );
    assert_eq!(orders(&access).status(), 401);

    // Client credentials for the job; the route's scope guard.
    let job: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&job_id, Some(&job_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()?
        .json()?;
    let answer: Value = orders(job["access_token"].as_str().unwrap()).json()?;
    assert_eq!(answer["orders_of"], job_id);
    let profile_only = shop
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    assert_eq!(http.get(profile_only.0.as_str()).send()?.status(), 303);
    Ok(())
}

#[test]
fn the_resource_server_example_guards_its_routes_by_scope_and_audience() -> TestResult {
    let store = Store::in_memory(Config::default())?;
    let registered = store.register_client(resource_server::client()?)?;
    let (id, secret) = (
        registered.client.id.to_string(),
        registered.secret.unwrap().expose().to_owned(),
    );
    let (base, _runtime) = serve(|issuer| resource_server::app(store.clone(), issuer));
    let http = no_redirects();
    let token = |scope: &str, resource: &str| -> String {
        let answer: Value = http
            .post(format!("{base}/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("resource", resource),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        answer["access_token"].as_str().unwrap().to_owned()
    };
    let reader = token("orders:read", resource_server::AUDIENCE);
    let writer = token("orders:write", resource_server::AUDIENCE);
    let elsewhere = token("orders:read orders:write", "https://billing.example");
    let call = |method: Method, token: &str| {
        http.request(method, format!("{base}/orders"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(call(Method::GET, &reader), 200);
    assert_eq!(call(Method::POST, &reader), 403, "insufficient_scope");
    assert_eq!(call(Method::POST, &writer), 200);
    assert_eq!(call(Method::GET, &writer), 403);
    assert_eq!(
        call(Method::GET, &elsewhere),
        401,
        "a token for another resource"
    );
    assert_eq!(http.get(format!("{base}/orders")).send()?.status(), 401);
    Ok(())
}
