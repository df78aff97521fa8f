//! Resource servers (RFC 6750): the extractor, the layer, the scope guard
//! and the audience check.

use grantdb::{ClientCredentialsRequest, GrantType, NewClient};
use serde_json::Value;

use crate::support::{Served, TestResult};

fn client_credentials(served: &Served, scope: &str, resources: &[&str]) -> String {
    let client = served.service_client();
    let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
    for resource in resources {
        form.push(("resource", resource));
    }
    let tokens: Value = served
        .post_basic("/oauth/token", &client, &form)
        .json()
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// RFC 6750 §3.1: no token is a bare challenge (401, no error code); a
/// token that is not valid is `invalid_token` (401); a valid one passes.
#[test]
fn the_extractor_answers_rfc6750_challenges() -> TestResult {
    let served = Served::start();
    let tokens = served.tokens(&served.code_client());
    let access = tokens["access_token"].as_str().unwrap();

    let none = served.http.get(served.url("/me")).send()?;
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"grantdb\""
    );
    assert!(none.text()?.is_empty(), "a bare challenge has no body");

    let basic = served
        .http
        .get(served.url("/me"))
        .basic_auth("a", Some("b"))
        .send()?;
    assert_eq!(basic.status(), 401, "another scheme is no token");

    let invalid = served
        .http
        .get(served.url("/me"))
        .bearer_auth("not-a-token")
        .send()?;
    assert_eq!(invalid.status(), 401);
    assert!(
        invalid.headers()["www-authenticate"]
            .to_str()?
            .contains("error=\"invalid_token\"")
    );
    assert_eq!(invalid.json::<Value>()?["error"], "invalid_token");

    let ok = served
        .http
        .get(served.url("/me"))
        .bearer_auth(access)
        .send()?;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>()?["subject"], "alice");

    // Expired (R06's lifetime passed): invalid_token.
    served.clock.advance(86_401);
    let expired = served
        .http
        .get(served.url("/me"))
        .bearer_auth(access)
        .send()?;
    assert_eq!(expired.status(), 401);
    Ok(())
}

/// RFC 6750 §2.3: the query carries a token only when the host allows it
/// (Eventpop does); never both the header and the query.
#[test]
fn a_token_in_the_query_only_when_allowed() -> TestResult {
    let strict = Served::start();
    let access = client_credentials(&strict, "read", &[]);
    let refused = strict
        .http
        .get(strict.url("/api/data"))
        .query(&[("access_token", &access)])
        .send()?;
    assert_eq!(refused.status(), 401);

    let lenient = Served::start_with(|config| config.query_bearer(true));
    let access = client_credentials(&lenient, "read", &[]);
    let taken = lenient
        .http
        .get(lenient.url("/api/data"))
        .query(&[("access_token", &access)])
        .send()?;
    assert_eq!(taken.status(), 200);
    let both = lenient
        .http
        .get(lenient.url("/api/data"))
        .query(&[("access_token", &access)])
        .bearer_auth(&access)
        .send()?;
    assert_eq!(both.status(), 400);
    assert_eq!(both.json::<Value>()?["error"], "invalid_request");
    Ok(())
}

/// RFC 6750 §3.1: the layer's scope guard answers `insufficient_scope`
/// (403, the scope in the challenge); the handler behind it sees the token.
#[test]
fn the_layer_guards_a_router_by_scope() -> TestResult {
    let served = Served::start();
    let writer = client_credentials(&served, "write", &[]);
    let reader = client_credentials(&served, "read", &[]);
    let refused = served
        .http
        .get(served.url("/api/data"))
        .bearer_auth(&writer)
        .send()?;
    assert_eq!(refused.status(), 403);
    let challenge = refused.headers()["www-authenticate"].to_str()?.to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"read\""),
        "{challenge}"
    );
    assert_eq!(refused.json::<Value>()?["error"], "insufficient_scope");
    let passed = served
        .http
        .post(served.url("/api/data"))
        .bearer_auth(&reader)
        .send()?;
    assert_eq!(passed.status(), 200);
    assert!(passed.json::<Value>()?["client_id"].is_string());
    // The layer is on the routes only: an unknown path stays 404.
    let unknown = served.http.get(served.url("/api/nothing")).send()?;
    assert_eq!(unknown.status(), 404);
    Ok(())
}

/// RFC 8707: a resource server that names itself takes tokens for it (or
/// for no resource in particular), never tokens for other resources only.
#[test]
fn the_audience_check_refuses_tokens_for_other_resources() -> TestResult {
    let served = Served::start();
    let for_orders = client_credentials(&served, "read", &["https://orders.example"]);
    let for_billing = client_credentials(&served, "read", &["https://billing.example"]);
    let unrestricted = client_credentials(&served, "read", &[]);
    let status = |token: &str| {
        served
            .http
            .get(served.url("/orders/list"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(status(&for_orders), 200);
    assert_eq!(status(&unrestricted), 200);
    assert_eq!(status(&for_billing), 401);
    Ok(())
}

/// The configured audience applies to the extractor too.
#[test]
fn the_extractor_checks_the_configured_audience() -> TestResult {
    let served = Served::start_with(|config| config.audience("https://me.example"));
    let client = served.register(
        NewClient::confidential("svc")
            .grant_types([GrantType::ClientCredentials])
            .scopes("read")
            .unwrap(),
    );
    let authenticated = served
        .store
        .authenticate_client(&client.id.parse()?, client.secret.as_deref())?;
    let issue = |resource: &str| {
        let request =
            ClientCredentialsRequest::new(&authenticated).resources([resource.to_owned()]);
        served
            .store
            .issue_client_credentials(request)
            .unwrap()
            .access_token
    };
    let mine = issue("https://me.example");
    let theirs = issue("https://other.example");
    let status = |token: &str| {
        served
            .http
            .get(served.url("/me"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(status(mine.expose()), 200);
    assert_eq!(status(theirs.expose()), 401);
    Ok(())
}
