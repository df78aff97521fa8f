//! The reference server (`examples/server`), started in-process on a free port
//! and driven end to end: with the `oauth2` crate wherever a seed's flow fits
//! it, and with plain HTTP where a seed's dialect needs it. Each test names the
//! seed it stands for.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

#[path = "../examples/server/app/mod.rs"]
#[allow(dead_code, missing_docs)]
mod app;

use std::collections::HashMap;

use base64::Engine as _;
use grantdb::{ManualClock, NewClient, Store};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    RedirectUrl, RefreshToken, ResourceOwnerPassword, ResourceOwnerUsername, RevocationUrl, Scope,
    StandardRevocableToken, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use reqwest::blocking::Client as Http;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A running server, its store and its clock.
struct Server {
    base: String,
    store: Store,
    clock: ManualClock,
    http: Http,
    _runtime: tokio::runtime::Runtime,
}

/// A registered seed client.
struct Registered {
    id: String,
    secret: String,
    redirect: String,
}

impl Server {
    fn start() -> Server {
        let now = grantdb::Clock::now(&grantdb::SystemClock);
        let clock = ManualClock::new(now);
        let store = Store::in_memory(app::config().clock(clock.handle()).build().unwrap()).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(app::serve(listener, app::AppState::new(store.clone())));
        let http = Http::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Server {
            base,
            store,
            clock,
            http,
            _runtime: runtime,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers seed client `index` of `app::seed_clients()`.
    fn seed(&self, index: usize) -> Registered {
        let client: NewClient = app::seed_clients().unwrap().remove(index);
        let registered = self.store.register_client(&client).unwrap();
        Registered {
            id: registered.client.id.to_string(),
            secret: registered
                .secret
                .map(|s| s.expose().to_owned())
                .unwrap_or_default(),
            redirect: client.redirect_uris.first().cloned().unwrap_or_default(),
        }
    }

    /// An `oauth2` client for `registered`, authenticating as `auth`.
    fn oauth2(
        &self,
        registered: &Registered,
        auth: AuthType,
    ) -> oauth2::Client<
        oauth2::basic::BasicErrorResponse,
        oauth2::basic::BasicTokenResponse,
        oauth2::basic::BasicTokenIntrospectionResponse,
        StandardRevocableToken,
        oauth2::basic::BasicRevocationErrorResponse,
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
        oauth2::EndpointSet,
    > {
        let redirect = if registered.redirect.is_empty() {
            "http://127.0.0.1:9/unused".to_owned()
        } else {
            registered.redirect.clone()
        };
        BasicClient::new(ClientId::new(registered.id.clone()))
            .set_client_secret(ClientSecret::new(registered.secret.clone()))
            .set_auth_uri(AuthUrl::new(self.url("/oauth/authorize")).unwrap())
            .set_token_uri(TokenUrl::new(self.url("/oauth/token")).unwrap())
            // The oauth2 crate insists on HTTPS for revocation (RFC 7009 §2):
            // the test hands it an https URL and plays the TLS-terminating
            // proxy in front of the plain-HTTP server (see `TlsProxy`).
            .set_revocation_url(
                RevocationUrl::new(
                    self.url("/oauth/revoke_token")
                        .replacen("http://", "https://", 1),
                )
                .unwrap(),
            )
            .set_redirect_uri(RedirectUrl::new(redirect).unwrap())
            .set_auth_type(auth)
    }

    /// Plays the browser: opens the authorization URL, logs in and answers the
    /// consent page; returns the redirect's query parameters and the session
    /// cookie.
    fn approve(
        &self,
        authorize_url: &str,
        decision: &str,
    ) -> (HashMap<String, String>, Option<String>) {
        let page = self.http.get(authorize_url).send().unwrap();
        assert_eq!(page.status(), StatusCode::OK, "the consent page");
        assert!(page.text().unwrap().contains("asks for access"));
        let mut form: Vec<(String, String)> = url_query(authorize_url);
        form.push(("username".into(), "admin@localhost".into()));
        form.push(("password".into(), "admin".into()));
        form.push(("decision".into(), decision.into()));
        let answer = self
            .http
            .post(self.url("/oauth/authorize"))
            .form(&form)
            .send()
            .unwrap();
        assert!(answer.status().is_redirection(), "{}", answer.status());
        let cookie = answer
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .map(str::to_owned);
        (redirect_params(&answer), cookie)
    }

    fn me(&self, token: &str) -> reqwest::blocking::Response {
        self.http
            .get(self.url("/api/v1/me"))
            .bearer_auth(token)
            .send()
            .unwrap()
    }

    fn post_token(
        &self,
        form: &[(&str, &str)],
        basic: Option<&Registered>,
    ) -> reqwest::blocking::Response {
        let mut request = self.http.post(self.url("/oauth/token")).form(form);
        if let Some(client) = basic {
            request = request.basic_auth(&client.id, Some(&client.secret));
        }
        request.send().unwrap()
    }
}

/// Forwards the oauth2 crate's `https://127.0.0.1…` requests to the test
/// server's plain HTTP port, as a TLS-terminating proxy would.
struct TlsProxy<'a>(&'a Http);

impl oauth2::SyncHttpClient for TlsProxy<'_> {
    type Error = oauth2::HttpClientError<reqwest::Error>;

    fn call(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, Self::Error> {
        let (mut parts, body) = request.into_parts();
        let plain = parts.uri.to_string().replacen("https://", "http://", 1);
        parts.uri = plain.parse().expect("a valid URI");
        self.0.call(oauth2::HttpRequest::from_parts(parts, body))
    }
}

fn url_query(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    serde_urlencoded::from_str(query).unwrap()
}

fn redirect_params(response: &reqwest::blocking::Response) -> HashMap<String, String> {
    let location = response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap();
    url_query(location).into_iter().collect()
}

fn json(response: reqwest::blocking::Response) -> serde_json::Value {
    response.json().unwrap()
}

// ------------------------------------------------------------ pretix

#[test]
fn pretix_authorization_code_with_pkce_refresh_and_revoke() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let client = server.oauth2(&pretix, AuthType::BasicAuth);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let (params, _) = server.approve(url.as_str(), "approve");
    assert_eq!(params.get("state"), Some(csrf.secret()), "state comes back");
    let code = params.get("code").expect("a code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request(&server.http)?;
    assert_eq!(tokens.expires_in().map(|d| d.as_secs()), Some(86_400));
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().expect("a refresh token").clone();

    let profile = json(server.me(&access));
    assert_eq!(profile["email"], "admin@localhost");
    assert_eq!(profile["fullname"], "John Doe");
    assert_eq!(profile["timezone"], "Europe/Berlin");

    // Refresh: "The previous access token will instantly become invalid."
    let rotated = client
        .exchange_refresh_token(&refresh)
        .request(&server.http)?;
    assert_eq!(server.me(&access).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.me(rotated.access_token().secret()).status(),
        StatusCode::OK
    );

    // Revoking the refresh token revokes the connected access token too.
    let new_refresh = rotated
        .refresh_token()
        .expect("a new refresh token")
        .clone();
    client
        .revoke_token(StandardRevocableToken::RefreshToken(new_refresh.clone()))?
        .request(&TlsProxy(&server.http))?;
    assert_eq!(
        server.me(rotated.access_token().secret()).status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        client
            .exchange_refresh_token(&new_refresh)
            .request(&server.http)
            .is_err()
    );
    Ok(())
}

#[test]
fn pretix_deny_redirects_with_access_denied_and_state() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let client = server.oauth2(&pretix, AuthType::BasicAuth);
    let (url, csrf) = client.authorize_url(CsrfToken::new_random).url();
    let (params, _) = server.approve(url.as_str(), "deny");
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert_eq!(params.get("state"), Some(csrf.secret()));
    assert!(!params.contains_key("code"));
    Ok(())
}

#[test]
fn pretix_approval_prompt_auto_skips_the_page_for_profile_only() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let authorize = |scope: &str, prompt: bool| {
        let mut url = format!(
            "{}?client_id={}&response_type=code&scope={scope}&state=xyz",
            server.url("/oauth/authorize"),
            pretix.id
        );
        if prompt {
            url.push_str("&approval_prompt=auto");
        }
        url
    };
    // First time: the page, then consent.
    let (params, cookie) = server.approve(&authorize("profile", true), "approve");
    assert!(params.contains_key("code"));
    let cookie = cookie.expect("a session cookie");
    // Again with approval_prompt=auto: straight back with a code.
    let again = server
        .http
        .get(authorize("profile", true))
        .header("cookie", &cookie)
        .send()?;
    assert!(again.status().is_redirection());
    let params = redirect_params(&again);
    assert!(params.contains_key("code"));
    assert_eq!(params.get("state").map(String::as_str), Some("xyz"));
    // Without the flag, or for more than profile, the user is asked again.
    let page = server
        .http
        .get(authorize("profile", false))
        .header("cookie", &cookie)
        .send()?;
    assert_eq!(page.status(), StatusCode::OK);
    let page = server
        .http
        .get(authorize("read+write", true))
        .header("cookie", &cookie)
        .send()?;
    assert_eq!(page.status(), StatusCode::OK);
    Ok(())
}

#[test]
fn pretix_unknown_client_or_unregistered_redirect_never_redirects() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    for query in [
        "client_id=AAAAAAAAAAAAAAAAAAAAAA&response_type=code".to_owned(),
        format!(
            "client_id={}&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2F",
            pretix.id
        ),
        "response_type=code".to_owned(),
    ] {
        let response = server
            .http
            .get(format!("{}?{query}", server.url("/oauth/authorize")))
            .send()?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(response.headers().get("location").is_none());
    }
    Ok(())
}

#[test]
fn pretix_code_replay_fails_and_kills_the_first_tokens() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let client = server.oauth2(&pretix, AuthType::BasicAuth);
    let (url, _) = client.authorize_url(CsrfToken::new_random).url();
    let (params, _) = server.approve(url.as_str(), "approve");
    let code = AuthorizationCode::new(params["code"].clone());
    let first = client.exchange_code(code.clone()).request(&server.http)?;
    let replay = server.post_token(
        &[
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
        ],
        Some(&pretix),
    );
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(replay)["error"], "invalid_grant");
    assert_eq!(
        server.me(first.access_token().secret()).status(),
        StatusCode::UNAUTHORIZED
    );
    Ok(())
}

#[test]
fn pretix_refresh_reuse_revokes_the_family() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let client = server.oauth2(&pretix, AuthType::BasicAuth);
    let (url, _) = client.authorize_url(CsrfToken::new_random).url();
    let (params, _) = server.approve(url.as_str(), "approve");
    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .request(&server.http)?;
    let old = tokens.refresh_token().unwrap().clone();
    let rotated = client.exchange_refresh_token(&old).request(&server.http)?;
    let reuse = server.post_token(
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", old.secret()),
        ],
        Some(&pretix),
    );
    assert_eq!(reuse.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(reuse)["error"], "invalid_grant");
    assert_eq!(
        server.me(rotated.access_token().secret()).status(),
        StatusCode::UNAUTHORIZED
    );
    // The theft shows on /metrics (Prometheus text): counted by outcome, and
    // as a reuse detection.
    let metrics = server.http.get(server.url("/metrics")).send()?.text()?;
    assert!(
        metrics.contains("grantdb_reuse_detected_total"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("grantdb_operations_total")
                && line.contains("operation=\"refresh\"")
                && line.contains("outcome=\"refresh_token_reused\"")),
        "{metrics}"
    );
    assert!(metrics.contains("grantdb_commit_seconds"), "{metrics}");
    Ok(())
}

#[test]
fn an_rfc6750_challenge_for_a_request_without_a_token_has_no_error_code() -> TestResult {
    let server = Server::start();
    let answer = server.http.get(server.url("/api/v1/me")).send()?;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.headers()["www-authenticate"].to_str()?,
        "Bearer realm=\"grantdb\""
    );
    let bad = server.me("gdbat_not-a-token");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()?
            .contains("error=\"invalid_token\"")
    );
    Ok(())
}

#[test]
fn pretix_wrong_redirect_uri_and_wrong_secret() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let client = server.oauth2(&pretix, AuthType::BasicAuth);
    let (url, _) = client.authorize_url(CsrfToken::new_random).url();
    let (params, _) = server.approve(url.as_str(), "approve");
    let code = params["code"].clone();
    let wrong_redirect = server.post_token(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://evil.example/cb"),
        ],
        Some(&pretix),
    );
    assert_eq!(wrong_redirect.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(wrong_redirect)["error"], "invalid_grant");
    let impostor = Registered {
        secret: "gdbcs_wrong".into(),
        ..server.seed(0)
    };
    let wrong_secret = server.post_token(
        &[("grant_type", "authorization_code"), ("code", &code)],
        Some(&impostor),
    );
    assert_eq!(wrong_secret.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong_secret
            .headers()
            .get("www-authenticate")
            .is_some_and(|v| v.to_str().unwrap().starts_with("Basic"))
    );
    assert_eq!(json(wrong_secret)["error"], "invalid_client");
    // The failures changed nothing: the code still works once.
    let ok = server.post_token(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &pretix.redirect),
        ],
        Some(&pretix),
    );
    assert_eq!(ok.status(), StatusCode::OK);
    Ok(())
}

// ------------------------------------------------------------ Ticketpark

#[test]
fn ticketpark_password_grant_600_second_tokens_and_refresh() -> TestResult {
    let server = Server::start();
    let ticketpark = server.seed(1);
    let client = server.oauth2(&ticketpark, AuthType::BasicAuth);
    let tokens = client
        .exchange_password(
            &ResourceOwnerUsername::new("john@domain.ch".into()),
            &ResourceOwnerPassword::new("secretabc123".into()),
        )
        .request(&server.http)?;
    assert_eq!(tokens.expires_in().map(|d| d.as_secs()), Some(600));
    let refresh: RefreshToken = tokens.refresh_token().unwrap().clone();
    assert_eq!(
        server.me(tokens.access_token().secret()).status(),
        StatusCode::OK
    );
    server.clock.advance(600);
    assert_eq!(
        server.me(tokens.access_token().secret()).status(),
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    let renewed = client
        .exchange_refresh_token(&refresh)
        .request(&server.http)?;
    assert_eq!(
        json(server.me(renewed.access_token().secret()))["email"],
        "john@domain.ch"
    );
    let wrong = client
        .exchange_password(
            &ResourceOwnerUsername::new("john@domain.ch".into()),
            &ResourceOwnerPassword::new("guess".into()),
        )
        .request(&server.http);
    assert!(wrong.is_err());
    Ok(())
}

// ------------------------------------------------------------ Eventpop

#[test]
fn eventpop_body_authentication_created_at_and_query_token() -> TestResult {
    let server = Server::start();
    let eventpop = server.seed(2);
    let client = server.oauth2(&eventpop, AuthType::RequestBody);
    let (url, _) = client.authorize_url(CsrfToken::new_random).url();
    let (params, _) = server.approve(url.as_str(), "approve");
    // Eventpop's payload: client_id and client_secret in the body.
    let response = server.post_token(
        &[
            ("client_id", &eventpop.id),
            ("client_secret", &eventpop.secret),
            ("code", &params["code"]),
            ("redirect_uri", &eventpop.redirect),
            ("grant_type", "authorization_code"),
        ],
        None,
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json(response);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 7_200);
    assert_eq!(body["scope"], "public");
    assert!(
        body["created_at"]
            .as_u64()
            .is_some_and(|t| t > 1_500_000_000)
    );
    let access = body["access_token"].as_str().unwrap();
    // The access token as a query parameter.
    let me = server
        .http
        .get(format!(
            "{}?access_token={access}",
            server.url("/api/v1/me")
        ))
        .send()?;
    assert_eq!(me.status(), StatusCode::OK);
    // The oauth2 crate with body authentication refreshes too.
    let refresh = RefreshToken::new(body["refresh_token"].as_str().unwrap().to_owned());
    assert!(
        client
            .exchange_refresh_token(&refresh)
            .request(&server.http)
            .is_ok()
    );
    Ok(())
}

// ------------------------------------------------------------ Prioticket

#[test]
fn prioticket_client_credentials_json_body_and_many_active_tokens() -> TestResult {
    let server = Server::start();
    let prio = server.seed(3);
    let client = server.oauth2(&prio, AuthType::BasicAuth);
    let scope = "https://www.prioticketapis.com/auth/distributor.booking";
    let first = client
        .exchange_client_credentials()
        .add_scope(Scope::new(scope.into()))
        .request(&server.http)?;
    assert_eq!(first.expires_in().map(|d| d.as_secs()), Some(3_600));
    assert!(first.refresh_token().is_none());
    // Prioticket's own request: a JSON body with Basic authentication.
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&prio.id, Some(&prio.secret))
        .json(&serde_json::json!({ "grant_type": "client_credentials", "scope": scope }))
        .send()?;
    assert_eq!(response.status(), StatusCode::OK);
    let second = json(response);
    assert_eq!(second["scope"], scope);
    // Both are active at once.
    for token in [
        first.access_token().secret().as_str(),
        second["access_token"].as_str().unwrap(),
    ] {
        assert_eq!(server.me(token).status(), StatusCode::OK);
    }
    // Introspection for an authenticated client.
    let introspection = server
        .http
        .post(server.url("/oauth/introspect"))
        .basic_auth(&prio.id, Some(&prio.secret))
        .form(&[("token", first.access_token().secret().as_str())])
        .send()?;
    let body = json(introspection);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], prio.id);
    Ok(())
}

#[test]
fn prioticket_repeated_parameters_and_two_authentication_methods_are_invalid_request() -> TestResult
{
    let server = Server::start();
    let prio = server.seed(3);
    let repeated = server.post_token(
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
        Some(&prio),
    );
    assert_eq!(repeated.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(repeated)["error"], "invalid_request");
    let both = server.post_token(
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &prio.secret),
        ],
        Some(&prio),
    );
    assert_eq!(both.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(both)["error"], "invalid_request");
    let unknown = server.post_token(&[("grant_type", "urn:example:magic")], Some(&prio));
    assert_eq!(json(unknown)["error"], "unsupported_grant_type");
    let no_auth = server.post_token(&[("grant_type", "client_credentials")], None);
    assert_eq!(no_auth.status(), StatusCode::UNAUTHORIZED);
    assert!(no_auth.headers().get("www-authenticate").is_some());
    let not_allowed = server.post_token(
        &[
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
        ],
        Some(&prio),
    );
    assert_eq!(json(not_allowed)["error"], "unauthorized_client");
    Ok(())
}

// ------------------------------------------------------------ bad input, all seeds

#[test]
fn malformed_headers_garbage_and_oversized_bodies_never_give_500() -> TestResult {
    let server = Server::start();
    let prio = server.seed(3);
    let token = server
        .store
        .issue_client_credentials(&prio.id.parse()?, None)?
        .access_token
        .expose()
        .to_owned();
    for header in [
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer a b",
        "bearer",
        "Token x",
        "\u{7f}",
    ] {
        let status = server
            .http
            .get(server.url("/api/v1/me"))
            .header("authorization", header)
            .send()
            .map_or(StatusCode::BAD_REQUEST, |r| r.status());
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
            "{header:?}: {status}"
        );
    }
    let both = server
        .http
        .get(format!("{}?access_token={token}", server.url("/api/v1/me")))
        .bearer_auth(&token)
        .send()?;
    assert_eq!(
        both.status(),
        StatusCode::BAD_REQUEST,
        "two ways of sending a token"
    );
    assert_eq!(
        server.me("gdbat_nonsense").status(),
        StatusCode::UNAUTHORIZED
    );
    let garbage_bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, b'=', 0x80],
        ),
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[1,2,3]".to_vec()),
        (
            "application/json",
            br#"{"grant_type": {"nested": true}}"#.to_vec(),
        ),
        ("text/plain", b"grant_type=client_credentials".to_vec()),
    ];
    for (content_type, body) in garbage_bodies {
        let response = server
            .http
            .post(server.url("/oauth/token"))
            .basic_auth(&prio.id, Some(&prio.secret))
            .header("content-type", content_type)
            .body(body)
            .send()?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{content_type}");
        assert_eq!(json(response)["error"], "invalid_request");
    }
    let oversized = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&prio.id, Some(&prio.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&pad={}",
            "x".repeat(app::BODY_LIMIT * 2)
        ))
        .send()?;
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let basic_garbage = server
        .http
        .post(server.url("/oauth/token"))
        .header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("no-colon")
            ),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()?;
    assert_eq!(basic_garbage.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[test]
fn revocation_endpoints_follow_rfc7009() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let other = server.seed(0);
    let tokens = server
        .store
        .issue_client_credentials(&server.seed(3).id.parse()?, None)?;
    let _ = tokens;
    let client = server.oauth2(&pretix, AuthType::BasicAuth);
    let (url, _) = client.authorize_url(CsrfToken::new_random).url();
    let (params, _) = server.approve(url.as_str(), "approve");
    let issued = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .request(&server.http)?;
    let access = issued.access_token().secret().clone();
    let revoke = |path: &str, who: &Registered, token: &str| {
        server
            .http
            .post(server.url(path))
            .basic_auth(&who.id, Some(&who.secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .unwrap()
    };
    // Another client's token: refused, nothing changes.
    assert_eq!(
        revoke("/oauth/revoke", &other, &access).status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(server.me(&access).status(), StatusCode::OK);
    // Unknown and malformed tokens: 200 (RFC 7009 §2.2).
    assert_eq!(
        revoke("/oauth/revoke", &pretix, "garbage").status(),
        StatusCode::OK
    );
    // Revoking the access token leaves the refresh token working (R09).
    assert_eq!(
        revoke("/oauth/revoke", &pretix, &access).status(),
        StatusCode::OK
    );
    assert_eq!(server.me(&access).status(), StatusCode::UNAUTHORIZED);
    assert!(
        client
            .exchange_refresh_token(issued.refresh_token().unwrap())
            .request(&server.http)
            .is_ok()
    );
    Ok(())
}
