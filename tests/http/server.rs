//! The reference server (`examples/server`), started in-process on a free port
//! and driven end to end: with the `oauth2` crate wherever a seed's flow fits
//! it, and with plain HTTP where a seed's dialect needs it. Each test names the
//! seed it stands for.

use crate::app;
use crate::support::TestResult;

use std::collections::HashMap;

use base64::Engine as _;
use grantdb::ClientCredentialsRequest;
use grantdb::{ManualClock, NewClient, Store};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    RedirectUrl, RefreshToken, ResourceOwnerPassword, ResourceOwnerUsername, RevocationUrl, Scope,
    StandardRevocableToken, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use reqwest::blocking::Client as Http;

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
        Server::start_with(app::Settings::default())
    }

    /// A server with `settings` (cookie flags, session lifetime, timeouts).
    fn start_with(settings: app::Settings) -> Server {
        let now = grantdb::Clock::now(&grantdb::SystemClock);
        let clock = ManualClock::new(now);
        let store = Store::in_memory(app::config().clock(clock.handle()).build().unwrap()).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(app::serve(
            listener,
            app::AppState::with_settings(store.clone(), settings),
        ));
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
        let registered = self.store.register_client(client.clone()).unwrap();
        Registered {
            id: registered.client.id.to_string(),
            secret: registered
                .secret
                .map(|s| s.expose().to_owned())
                .unwrap_or_default(),
            redirect: client.redirect_uris.first().cloned().unwrap_or_default(),
        }
    }

    /// `registered`, authenticated with its secret.
    fn authenticated(&self, registered: &Registered) -> grantdb::AuthenticatedClient {
        let id = registered.id.parse().unwrap();
        let secret = Some(registered.secret.as_str()).filter(|s| !s.is_empty());
        self.store.authenticate_client(&id, secret).unwrap()
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

    /// Opens an authorization URL as a browser would, sending `cookie` if
    /// given: the page and the session cookie it set, if any.
    fn open_page(&self, authorize_url: &str, cookie: Option<&str>) -> (Page, Option<String>) {
        let mut request = self.http.get(authorize_url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let page = request.send().unwrap();
        assert_eq!(page.status(), StatusCode::OK, "the consent page");
        let set = session_cookie(&page);
        (Page(page.text().unwrap()), set)
    }

    /// Submits the consent form of `page` in session `cookie`, with `extra`
    /// fields added: what a browser sends when the user presses a button.
    fn submit(
        &self,
        page: &Page,
        cookie: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::blocking::Response {
        let mut form = page.hidden_fields();
        form.extend(
            extra
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        self.http
            .post(self.url("/oauth/authorize"))
            .header("cookie", cookie)
            .form(&form)
            .send()
            .unwrap()
    }

    /// Plays the browser: opens the authorization URL, signs in and answers
    /// the consent page; returns the redirect's query parameters and the
    /// session cookie of the signed-in user.
    fn approve(
        &self,
        authorize_url: &str,
        decision: &str,
    ) -> (HashMap<String, String>, Option<String>) {
        let (page, cookie) = self.open_page(authorize_url, None);
        assert!(page.0.contains("asks for access"));
        let cookie = cookie.expect("a new session sets its cookie");
        let answer = self.submit(
            &page,
            &cookie,
            &[
                ("username", "admin@localhost"),
                ("password", "admin"),
                ("decision", decision),
            ],
        );
        assert!(answer.status().is_redirection(), "{}", answer.status());
        (redirect_params(&answer), session_cookie(&answer))
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

/// An HTML page of the server.
struct Page(String);

impl Page {
    /// The `<input type=hidden>` fields of the page's form, unescaped.
    fn hidden_fields(&self) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        let mut rest = self.0.as_str();
        while let Some(start) = rest.find("<input type=hidden name=\"") {
            rest = &rest[start + "<input type=hidden name=\"".len()..];
            let (name, after) = rest.split_once("\" value=\"").unwrap();
            let (value, after) = after.split_once('"').unwrap();
            fields.push((unescape(name), unescape(value)));
            rest = after;
        }
        fields
    }

    /// The value of hidden field `name`.
    fn hidden(&self, name: &str) -> Option<String> {
        self.hidden_fields()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The `name=value` of the session cookie a response sets.
fn session_cookie(response: &reqwest::blocking::Response) -> Option<String> {
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
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
        .issue_client_credentials(ClientCredentialsRequest::new(&server.authenticated(&prio)))?
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
        .issue_client_credentials(ClientCredentialsRequest::new(
            &server.authenticated(&server.seed(3)),
        ))?;
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

// ------------------------------------------------------------ the authorization pages

/// The pretix authorization URL for `scope` (none when empty).
fn pretix_authorize(server: &Server, pretix: &Registered, scope: &str) -> String {
    let mut url = format!(
        "{}?client_id={}&response_type=code&state=s1",
        server.url("/oauth/authorize"),
        pretix.id
    );
    if !scope.is_empty() {
        url.push_str("&scope=");
        url.push_str(scope);
    }
    url
}

const SIGN_IN: [(&str, &str); 3] = [
    ("username", "admin@localhost"),
    ("password", "admin"),
    ("decision", "approve"),
];

#[test]
fn the_consent_form_is_refused_without_its_csrf_token_or_from_another_origin() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let (page, cookie) = server.open_page(&pretix_authorize(&server, &pretix, "read"), None);
    let cookie = cookie.expect("a session cookie");
    let csrf = page
        .hidden("csrf_token")
        .expect("the form carries a CSRF token");
    let mut form = page.hidden_fields();
    form.retain(|(name, _)| name != "csrf_token");
    form.extend(
        SIGN_IN
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    let post = |cookie: Option<&str>, csrf: Option<&str>, origin: Option<&str>| {
        let mut fields = form.clone();
        if let Some(csrf) = csrf {
            fields.push(("csrf_token".into(), csrf.into()));
        }
        let mut request = server
            .http
            .post(server.url("/oauth/authorize"))
            .form(&fields);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().unwrap()
    };
    // Login CSRF: a cross-site form carries the attacker's own token, or
    // none, and the browser sends no cookie (SameSite=Lax) or the victim's.
    let (attacker_page, _) = server.open_page(&pretix_authorize(&server, &pretix, "read"), None);
    let attacker_csrf = attacker_page.hidden("csrf_token").unwrap();
    let refused = [
        post(None, Some(&csrf), None),
        post(Some(&cookie), None, None),
        post(Some(&cookie), Some(&attacker_csrf), None),
        post(Some(&cookie), Some(&csrf), Some("https://evil.example")),
        post(Some(&cookie), Some(&csrf), Some("null")),
    ];
    for answer in refused {
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        assert!(answer.headers().get("location").is_none());
        assert!(answer.headers().get("set-cookie").is_none(), "no sign-in");
        assert!(answer.text()?.contains("could not be verified"));
    }
    // The same form from this server's own page goes through.
    let accepted = post(Some(&cookie), Some(&csrf), Some(&server.base));
    assert!(accepted.status().is_redirection());
    assert!(redirect_params(&accepted).contains_key("code"));
    Ok(())
}

#[test]
fn authorization_pages_and_redirects_cannot_be_framed_or_cached() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let page = server
        .http
        .get(pretix_authorize(&server, &pretix, "read"))
        .send()?;
    let error = server
        .http
        .get(server.url("/oauth/authorize?client_id=nobody&response_type=code"))
        .send()?;
    let redirect = server
        .http
        .get(pretix_authorize(&server, &pretix, "admin"))
        .send()?;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    assert!(redirect.status().is_redirection());
    for answer in [&page, &error, &redirect] {
        let header = |name: &str| answer.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("x-frame-options"), "DENY");
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
        assert_eq!(header("cache-control"), "no-store");
    }
    Ok(())
}

#[test]
fn session_cookies_are_httponly_lax_secure_when_told_and_expire() -> TestResult {
    let plain = Server::start();
    let pretix = plain.seed(0);
    let page = plain
        .http
        .get(pretix_authorize(&plain, &pretix, "read"))
        .send()?;
    let flags = page.headers()["set-cookie"].to_str()?.to_owned();
    assert!(
        flags.contains("HttpOnly") && flags.contains("SameSite=Lax"),
        "{flags}"
    );
    assert!(!flags.contains("Secure"), "plain HTTP: {flags}");

    let lifetime = std::time::Duration::from_millis(1500);
    let tls = Server::start_with(app::Settings {
        secure_cookies: true,
        session_lifetime: lifetime,
        ..app::Settings::default()
    });
    let pretix = tls.seed(0);
    let url = pretix_authorize(&tls, &pretix, "profile") + "&approval_prompt=auto";
    let (page, first) = tls.open_page(&url, None);
    let first = first.unwrap();
    let answer = tls.submit(&page, &first, &SIGN_IN);
    let flags = answer.headers()["set-cookie"].to_str()?.to_owned();
    assert!(flags.contains("; Secure"), "{flags}");
    let signed_in = session_cookie(&answer).unwrap();
    assert_ne!(signed_in, first, "signing in starts a new session id");
    // The pre-sign-in id is worth nothing now (no session fixation).
    let (page, _) = tls.open_page(&url, Some(&first));
    assert!(page.0.contains("name=password"));
    // Signed in: the user is known, the prompt skipped.
    let again = tls.http.get(&url).header("cookie", &signed_in).send()?;
    assert!(again.status().is_redirection());
    // Once the session has lived its lifetime, the user signs in again.
    std::thread::sleep(lifetime + std::time::Duration::from_millis(200));
    let (page, renewed) = tls.open_page(&url, Some(&signed_in));
    assert!(page.0.contains("name=password"), "expired session");
    assert!(renewed.is_some_and(|c| c != signed_in));
    Ok(())
}

#[test]
fn a_signed_in_user_sees_only_approve_and_deny() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let url = pretix_authorize(&server, &pretix, "read");
    let (_, cookie) = server.approve(&url, "approve");
    let cookie = cookie.unwrap();
    let (page, set) = server.open_page(&url, Some(&cookie));
    assert!(set.is_none(), "the session goes on");
    assert!(
        page.0
            .contains("Signed in as <strong>admin@localhost</strong>")
    );
    assert!(!page.0.contains("name=password"));
    let answer = server.submit(&page, &cookie, &[("decision", "approve")]);
    assert!(redirect_params(&answer).contains_key("code"));
    Ok(())
}

#[test]
fn the_whole_authorization_request_is_checked_before_the_sign_in_form() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let public = server
        .store
        .register_client(
            NewClient::public("mobile app")
                .redirect_uri("http://127.0.0.1:9000/app")
                .grant_types([grantdb::GrantType::AuthorizationCode])
                .scopes("read")?,
        )?
        .client
        .id;
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGrSc5ZOVsc";
    let cases = [
        (
            format!("client_id={}&response_type=code&scope=admin", pretix.id),
            "invalid_scope",
        ),
        (
            format!(
                "client_id={}&response_type=code&scope=read+admin",
                pretix.id
            ),
            "invalid_scope",
        ),
        (
            format!(
                "client_id={}&response_type=code&scope=bad%22scope",
                pretix.id
            ),
            "invalid_scope",
        ),
        (
            format!(
                "client_id={}&response_type=code&code_challenge={challenge}&code_challenge_method=S512",
                pretix.id
            ),
            "invalid_request",
        ),
        (
            format!(
                "client_id={}&response_type=code&code_challenge_method=S256",
                pretix.id
            ),
            "invalid_request",
        ),
        (
            format!(
                "client_id={}&response_type=code&code_challenge=short",
                pretix.id
            ),
            "invalid_request",
        ),
        (
            format!("client_id={public}&response_type=code"),
            "invalid_request",
        ),
        (
            format!("client_id={}&response_type=token", pretix.id),
            "unsupported_response_type",
        ),
        (
            format!("client_id={}", pretix.id),
            "unsupported_response_type",
        ),
    ];
    for (query, error) in cases {
        let answer = server
            .http
            .get(format!(
                "{}?{query}&state=s2",
                server.url("/oauth/authorize")
            ))
            .send()?;
        assert!(
            answer.status().is_redirection(),
            "{query}: {}",
            answer.status()
        );
        let location = answer.headers()["location"].to_str()?;
        // No redirect_uri in the request: back to the registered one, absolute.
        assert!(
            location.starts_with("http://127.0.0.1:9000/"),
            "{query}: {location}"
        );
        let params = redirect_params(&answer);
        assert_eq!(params["error"], error, "{query}");
        assert_eq!(params["state"], "s2", "{query}");
    }
    // A client without the code grant (Ticketpark) and no redirect URI: a page.
    let ticketpark = server.seed(1);
    let answer = server
        .http
        .get(format!(
            "{}?client_id={}&response_type=code",
            server.url("/oauth/authorize"),
            ticketpark.id
        ))
        .send()?;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert!(answer.headers().get("location").is_none());
    Ok(())
}

#[test]
fn the_consent_page_lists_the_scope_that_will_be_granted_with_descriptions() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    // No scope in the request: the client's registered scope, listed in full.
    let url = pretix_authorize(&server, &pretix, "");
    let (page, _) = server.open_page(&url, None);
    for (scope, description) in [
        ("read", "See your events, orders and settings"),
        ("write", "Change your events, orders and settings"),
        ("profile", "See your name, email address"),
    ] {
        assert!(
            page.0
                .contains(&format!("<span class=scope-name>{scope}</span>")),
            "{scope}"
        );
        assert!(page.0.contains(description), "{description}");
    }
    assert!(
        page.0.contains("grantdb reference server"),
        "the server asking"
    );
    assert!(page.0.contains("pretix connector"), "the client's name");
    assert!(
        page.0.contains("<strong>127.0.0.1:9000</strong>"),
        "where the user goes back"
    );
    // And the token carries exactly what the page listed.
    let (params, _) = server.approve(&url, "approve");
    let tokens = server.post_token(
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
        ],
        Some(&pretix),
    );
    assert_eq!(json(tokens)["scope"], "profile read write");
    Ok(())
}

#[test]
fn sign_in_errors_show_next_to_their_field_and_keep_the_username() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let (page, cookie) = server.open_page(&pretix_authorize(&server, &pretix, "read"), None);
    let cookie = cookie.unwrap();
    let wrong = server.submit(
        &page,
        &cookie,
        &[
            ("username", "admin@localhost"),
            ("password", "nope"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(wrong.status(), StatusCode::OK);
    let wrong = wrong.text()?;
    assert!(
        wrong.contains("value=\"admin@localhost\""),
        "the username is kept"
    );
    assert!(wrong.contains("<p id=password-error class=field-error role=alert>"));
    assert!(wrong.contains("aria-invalid=true aria-describedby=password-error"));
    let empty = server.submit(
        &page,
        &cookie,
        &[
            ("username", ""),
            ("password", "admin"),
            ("decision", "approve"),
        ],
    );
    assert!(empty.text()?.contains("<p id=username-error"));
    // Every input has a label.
    for id in ["username", "password"] {
        assert!(wrong.contains(&format!("<label for={id}>")), "{id}");
    }
    Ok(())
}

#[test]
fn json_token_requests_with_a_repeated_key_are_invalid_request() -> TestResult {
    let server = Server::start();
    let prio = server.seed(3);
    let answer = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&prio.id, Some(&prio.secret))
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"password","grant_type":"client_credentials"}"#)
        .send()?;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body = json(answer);
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("repeated")
    );
    Ok(())
}

#[test]
fn a_resource_request_with_basic_credentials_gets_a_bare_bearer_challenge() -> TestResult {
    let server = Server::start();
    for path in ["/api/v1/me", "/api/public/me"] {
        let answer = server
            .http
            .get(server.url(path))
            .basic_auth("admin@localhost", Some("admin"))
            .send()?;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{path}");
        // RFC 6750 §3.1: no bearer token at all → no error code.
        assert_eq!(
            answer.headers()["www-authenticate"].to_str()?,
            "Bearer realm=\"grantdb\""
        );
    }
    Ok(())
}

#[test]
fn slow_headers_and_slow_bodies_lose_their_connection() -> TestResult {
    use std::io::{Read as _, Write as _};
    let timeout = std::time::Duration::from_secs(1);
    let server = Server::start_with(app::Settings {
        header_read_timeout: timeout,
        body_read_timeout: timeout,
        ..app::Settings::default()
    });
    let address = server.base.trim_start_matches("http://").to_owned();
    // Without the timeouts, the server would wait for ever: the read below
    // would give up after 15 s with WouldBlock/TimedOut and the test fail.
    let read_all = |stream: &mut std::net::TcpStream| {
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer) {
            Ok(_) => Ok(String::from_utf8_lossy(&answer).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(String::new()),
            Err(e) => Err(e),
        }
    };
    // Headers that never finish (slowloris): the connection is closed.
    let mut headers = std::net::TcpStream::connect(&address)?;
    headers.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")?;
    let answer = read_all(&mut headers)?;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // A body that never finishes: 408 and closed.
    let mut body = std::net::TcpStream::connect(&address)?;
    body.write_all(
        b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type",
    )?;
    let answer = read_all(&mut body)?;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    Ok(())
}

// ------------------------------------------------------------ the seeds' own URLs

#[test]
fn pretix_documented_paths_serve_the_whole_flow() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let url = format!(
        "{}?client_id={}&response_type=code&scope=read+write&redirect_uri=http://127.0.0.1:9000/callback",
        server.url("/api/v1/oauth/authorize"),
        pretix.id
    );
    let (params, _) = server.approve(&url, "approve");
    let post = |path: &str, form: &[(&str, &str)]| {
        server
            .http
            .post(server.url(path))
            .basic_auth(&pretix.id, Some(&pretix.secret))
            .form(form)
            .send()
            .unwrap()
    };
    let tokens = json(post(
        "/api/v1/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", "http://127.0.0.1:9000/callback"),
        ],
    ));
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(server.me(access).status(), StatusCode::OK);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let revoked = post("/api/v1/oauth/revoke_token", &[("token", refresh)]);
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(server.me(access).status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[test]
fn ticketpark_documented_token_path_serves_the_password_grant() -> TestResult {
    let server = Server::start();
    let ticketpark = server.seed(1);
    let answer = server
        .http
        .post(server.url("/oauth/v2/token"))
        .basic_auth(&ticketpark.id, Some(&ticketpark.secret))
        .form(&[
            ("grant_type", "password"),
            ("username", "john@domain.ch"),
            ("password", "secretabc123"),
        ])
        .send()?;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(json(answer)["expires_in"], 600);
    Ok(())
}

#[test]
fn eventpop_documented_profile_path_takes_the_token_in_header_or_query() -> TestResult {
    let server = Server::start();
    let eventpop = server.seed(2);
    let url = format!(
        "{}?client_id={}&response_type=code",
        server.url("/oauth/authorize"),
        eventpop.id
    );
    let (params, _) = server.approve(&url, "approve");
    let tokens = server
        .http
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("client_id", &eventpop.id),
            ("client_secret", &eventpop.secret),
        ])
        .send()?;
    let token = json(tokens)["access_token"].as_str().unwrap().to_owned();
    let header = server
        .http
        .get(server.url("/api/public/me"))
        .bearer_auth(&token)
        .send()?;
    assert_eq!(json(header)["email"], "admin@localhost");
    let query = server
        .http
        .get(format!(
            "{}?access_token={token}",
            server.url("/api/public/me")
        ))
        .send()?;
    assert_eq!(json(query)["email"], "admin@localhost");
    Ok(())
}

#[test]
fn prioticket_documented_token_path_serves_client_credentials_in_json() -> TestResult {
    let server = Server::start();
    let prio = server.seed(3);
    let scope = "https://www.prioticketapis.com/auth/distributor.booking";
    let answer = server
        .http
        .post(server.url("/v3.8/distributor/oauth2/token"))
        .basic_auth(&prio.id, Some(&prio.secret))
        .json(&serde_json::json!({ "grant_type": "client_credentials", "scope": scope }))
        .send()?;
    assert_eq!(answer.status(), StatusCode::OK);
    let body = json(answer);
    assert_eq!(body["scope"], scope);
    assert_eq!(body["expires_in"], 3600);
    Ok(())
}

// ------------------------------------------------------------ the README walk

/// The README's hand-run pretix flow, split where the user pastes the code:
/// the lines up to it, and the lines after it.
fn readme_walk() -> (String, String) {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("The pretix flow by hand")
        .expect("the walk is in the README");
    let block = readme[start..]
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("the walk is a sh block")
        .0;
    let (before, after) = block
        .split_once("\nCODE=")
        .expect("the walk has a CODE= line");
    let after = after.split_once('\n').map_or("", |(_, rest)| rest);
    (before.to_owned(), after.to_owned())
}

fn run_sh(script: &str) -> String {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "{script}\n{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_readme_walk_works_as_written() -> TestResult {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("GRANTDB_REQUIRE_BROWSER").is_none(),
            "CI needs curl for the README walk"
        );
        eprintln!("README walk skipped: curl is not installed");
        return Ok(());
    }
    let server = Server::start();
    let pretix = server.seed(0);
    let host = server.base.trim_start_matches("http://");
    let (before, after) = readme_walk();
    let credentials = format!("ID={}; SECRET={}", pretix.id, pretix.secret);
    let here = |part: &str| {
        part.replace("127.0.0.1:8080", host)
            .lines()
            .filter(|line| !line.starts_with("ID="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Step 1: the URL to open, then the browser's part.
    let url = run_sh(&format!("{credentials}\n{}", here(&before)));
    let (params, _) = server.approve(url.trim(), "approve");
    assert_eq!(params["state"], "xyz");
    // Steps 2 to 5, with the code pasted.
    let output = run_sh(&format!(
        "{credentials}\nCODE={}\n{}",
        params["code"],
        here(&after)
    ));
    let lines: Vec<&str> = output.lines().collect();
    assert!(lines[0].contains("\"refresh_token\""), "step 2: {output}");
    assert!(
        lines[1].contains("\"email\":\"admin@localhost\""),
        "step 3: {output}"
    );
    assert_eq!(
        lines.last(),
        Some(&"401"),
        "step 5 ends the grant: {output}"
    );
    Ok(())
}

// ------------------------------------------------------------ RFC 8628, RFC 9126

/// Answers the device's user code on `/device` as a user in a browser
/// would: opens the page (a session and its CSRF token), signs in and
/// presses `decision`. Returns the answer page.
fn answer_device(server: &Server, user_code: &str, decision: &str) -> String {
    let page = server
        .http
        .get(server.url(&format!("/device?user_code={user_code}")))
        .send()
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = session_cookie(&page).expect("a session");
    let page = Page(page.text().unwrap());
    assert!(
        page.0.contains(user_code),
        "verification_uri_complete fills the code in"
    );
    let answer = server
        .http
        .post(server.url("/device"))
        .header("cookie", &cookie)
        .header("origin", server.base.as_str())
        .form(&[
            ("csrf_token", page.hidden("csrf_token").unwrap().as_str()),
            ("user_code", user_code),
            ("username", "admin@localhost"),
            ("password", "admin"),
            ("decision", decision),
        ])
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.text().unwrap()
}

/// A check-in scanner (public client of the device grant) and an `oauth2`
/// client for it.
fn scanner(
    server: &Server,
) -> (
    grantdb::ClientId,
    BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
) {
    let registered = server
        .store
        .register_client(
            NewClient::public("check-in scanner")
                .grant_types([
                    grantdb::GrantType::DeviceCode,
                    grantdb::GrantType::RefreshToken,
                ])
                .scopes("read")
                .unwrap(),
        )
        .unwrap();
    let client = BasicClient::new(ClientId::new(registered.client.id.to_string()))
        .set_auth_type(AuthType::RequestBody)
        .set_device_authorization_url(
            oauth2::DeviceAuthorizationUrl::new(server.url("/oauth/device_authorization")).unwrap(),
        )
        .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap());
    (registered.client.id, client)
}

#[test]
fn device_flow_with_the_oauth2_crate_polls_slows_down_and_gets_tokens_once() -> TestResult {
    let server = Server::start();
    let (_, client) = scanner(&server);
    let details: oauth2::StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("read".into()))
        .request(&server.http)?;
    assert_eq!(details.interval().as_secs(), 5);
    assert_eq!(details.expires_in().as_secs(), 600);
    let user_code = details.user_code().secret().clone();
    let complete = details
        .verification_uri_complete()
        .unwrap()
        .secret()
        .clone();
    assert_eq!(
        complete,
        format!("{}/device?user_code={user_code}", server.base)
    );

    // The crate sleeps between polls; the test's "sleep" moves the store's
    // clock instead. The first time it moves nothing, so the second poll
    // comes too soon: slow_down (the crate then waits 5 s more). The second
    // time the user approves on their phone, and the clock moves on.
    let sleeps = std::cell::Cell::new(0);
    let tokens = client.exchange_device_access_token(&details).request(
        &server.http,
        |interval: std::time::Duration| {
            sleeps.set(sleeps.get() + 1);
            match sleeps.get() {
                1 => {}
                2 => {
                    assert_eq!(interval.as_secs(), 10, "slow_down added 5 s");
                    let done = answer_device(&server, &user_code, "approve");
                    assert!(done.contains("Device connected"), "{done}");
                    server.clock.advance(interval.as_secs());
                }
                _ => server.clock.advance(interval.as_secs()),
            }
        },
        None,
    )?;
    assert_eq!(sleeps.get(), 2, "pending, slow_down, then the tokens");
    let profile = json(server.me(tokens.access_token().secret()));
    assert_eq!(profile["email"], "admin@localhost");
    assert!(tokens.refresh_token().is_some());

    // The device code is spent: presenting it again revokes what it gave.
    server.clock.advance(30);
    let again = server.post_token(
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", details.device_code().secret()),
            ("client_id", client.client_id().as_str()),
        ],
        None,
    );
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(again)["error"], "invalid_grant");
    assert_eq!(
        server.me(tokens.access_token().secret()).status(),
        StatusCode::UNAUTHORIZED
    );
    Ok(())
}

#[test]
fn device_flow_denied_is_access_denied_and_a_wrong_code_is_refused_on_the_page() -> TestResult {
    let server = Server::start();
    let (_, client) = scanner(&server);
    let details: oauth2::StandardDeviceAuthorizationResponse =
        client.exchange_device_code().request(&server.http)?;
    // Vowels never appear in a user code, whatever the store draws.
    let wrong = answer_device(&server, "AAAAA-AAAAA", "approve");
    assert!(
        wrong.contains("not one a device is waiting with"),
        "{wrong}"
    );
    let denied = answer_device(&server, details.user_code().secret(), "deny");
    assert!(denied.contains("Request denied"));
    let result = client
        .exchange_device_access_token(&details)
        .request(&server.http, |_| {}, None);
    match result {
        Err(oauth2::RequestTokenError::ServerResponse(error)) => assert_eq!(
            error.error(),
            &oauth2::DeviceCodeErrorResponseType::AccessDenied
        ),
        other => panic!("expected access_denied, got {other:?}"),
    }
    Ok(())
}

#[test]
fn pushed_authorization_request_then_the_code_flow_with_the_oauth2_crate() -> TestResult {
    let server = Server::start();
    let pretix = server.seed(0);
    let client = server.oauth2(&pretix, AuthType::BasicAuth);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    // RFC 9126 §2.1: the client pushes the whole request, authenticated.
    let pushed = server
        .http
        .post(server.url("/oauth/par"))
        .basic_auth(&pretix.id, Some(&pretix.secret))
        .form(&[
            ("response_type", "code"),
            ("redirect_uri", pretix.redirect.as_str()),
            ("scope", "read"),
            ("state", "af0ifjsldkj"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()?;
    assert_eq!(pushed.status(), StatusCode::CREATED, "RFC 9126 §2.2");
    assert_eq!(pushed.headers()["cache-control"], "no-store");
    let pushed = json(pushed);
    assert_eq!(pushed["expires_in"], 60);
    let request_uri = pushed["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    // The authorization endpoint then takes only client_id and request_uri.
    let mut authorize = url::Url::parse(&server.url("/oauth/authorize"))?;
    authorize
        .query_pairs_mut()
        .append_pair("client_id", &pretix.id)
        .append_pair("request_uri", &request_uri);
    let (params, _) = server.approve(authorize.as_str(), "approve");
    assert_eq!(params.get("state").map(String::as_str), Some("af0ifjsldkj"));
    let code = params.get("code").expect("a code").clone();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request(&server.http)?;
    assert_eq!(
        server.me(tokens.access_token().secret()).status(),
        StatusCode::OK
    );

    // Used once: the same request_uri is refused with a page.
    let again = server.http.get(authorize.as_str()).send()?;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.text()?.contains("expired or was used"));
    // A pushed request pointing at another is invalid_request.
    let nested = server
        .http
        .post(server.url("/oauth/par"))
        .basic_auth(&pretix.id, Some(&pretix.secret))
        .form(&[
            ("response_type", "code"),
            ("request_uri", request_uri.as_str()),
        ])
        .send()?;
    assert_eq!(nested.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(nested)["error"], "invalid_request");
    Ok(())
}

// ------------------------------------------------------------ the server under attack (issue 24 §5)

/// Password guessing: five failures per user per minute, twenty per
/// address; past them even the right password is not checked. At most 5
/// guesses a minute for one account is 7,200 a day, where the reference
/// server took 2,898 a second before.
#[test]
fn password_guessing_is_throttled_per_user_and_per_address() -> TestResult {
    use app::users::{FAILURES_PER_ADDRESS, FAILURES_PER_USER, Refused, Users};
    let users = Users::demo();
    let attacker: std::net::IpAddr = "192.0.2.7".parse()?;
    let mut checked = 0;
    for guess in 0..20 {
        match users.check("john@domain.ch", &format!("guess-{guess}"), Some(attacker)) {
            Err(Refused::Wrong) => checked += 1,
            Err(Refused::Throttled { retry_after }) => assert!((1..=60).contains(&retry_after)),
            Ok(_) => panic!("a wrong password signed in"),
        }
    }
    assert_eq!(checked, FAILURES_PER_USER, "guesses checked in a window");
    // The right password, even from elsewhere, waits for the window too.
    let elsewhere: std::net::IpAddr = "198.51.100.1".parse()?;
    assert!(matches!(
        users.check("john@domain.ch", "secretabc123", Some(elsewhere)),
        Err(Refused::Throttled { .. })
    ));
    // Another user is not locked out by guesses at john...
    assert_eq!(
        users.check("admin@localhost", "admin", Some(elsewhere)),
        Ok("admin@localhost")
    );
    // ... but one address spraying many accounts is, past its own limit.
    let mut checked = 0;
    for n in 0..40 {
        if users.check(&format!("user{n}@example.com"), "password1", Some(attacker))
            == Err(Refused::Wrong)
        {
            checked += 1;
        }
    }
    // The five failures at john count for the address too.
    assert_eq!(checked, FAILURES_PER_ADDRESS - FAILURES_PER_USER);
    Ok(())
}

/// The password grant goes through the same throttle: after five wrong
/// passwords, the right one is refused too (`invalid_grant`).
#[test]
fn ticketpark_password_grant_is_throttled() -> TestResult {
    let server = Server::start();
    let ticketpark = server.seed(1);
    let attempt = |password: &str| {
        server.post_token(
            &[
                ("grant_type", "password"),
                ("username", "john@domain.ch"),
                ("password", password),
            ],
            Some(&ticketpark),
        )
    };
    for n in 0..app::users::FAILURES_PER_USER {
        assert_eq!(
            json(attempt(&format!("wrong-{n}")))["error"],
            "invalid_grant"
        );
    }
    let throttled = attempt("secretabc123");
    assert_eq!(throttled.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(throttled)["error"], "invalid_grant");
    Ok(())
}

/// A session flood (100,001 cookieless page views) never pushes out a
/// signed-in user's session, and anonymous sessions stay capped.
#[test]
fn a_session_flood_never_evicts_a_signed_in_session() -> TestResult {
    let sessions = app::session::Sessions::new(std::time::Duration::from_hours(1), false);
    let admin = sessions.start(Some("admin@localhost".to_owned()));
    for _ in 0..100_001 {
        sessions.start(None);
    }
    let (anonymous, signed_in) = sessions.counts();
    assert_eq!(anonymous, 100_000);
    assert_eq!(signed_in, 1);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", format!("sid={}", admin.id).parse()?);
    let still = sessions
        .current(&headers)
        .expect("the signed-in session survives");
    assert_eq!(still.subject.as_deref(), Some("admin@localhost"));
    Ok(())
}
