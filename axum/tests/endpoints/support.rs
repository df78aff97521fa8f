//! A server for the tests: the crate's router over an in-memory store with
//! a manual clock, on a bound loopback port, with a stub authorization page
//! (it approves every valid request as `alice`, or denies it when the
//! request says `deny=1`), a protected `/me` (the extractor) and `/api/*`
//! (the layer, scope `read`); and the clients and DPoP proofs to drive it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use grantdb::{AsyncStore, Event, GrantType, ManualClock, NewClient, Store};
use grantdb_axum::{AuthorizationQuery, OAuth, OAuthConfig, RequireToken, ValidToken};
use reqwest::blocking::Client as Http;
use serde_json::{Value, json};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A running server.
pub struct Served {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub base: String,
    /// Its store.
    pub store: Store,
    /// Its clock.
    pub clock: ManualClock,
    /// What the store told its listener.
    pub events: Arc<Mutex<Vec<Event>>>,
    /// An HTTP client that does not follow redirects.
    pub http: Http,
    _runtime: tokio::runtime::Runtime,
}

/// The demo user's password at the password grant.
pub const PASSWORD: &str = "wonderland";

impl Served {
    /// The crate's defaults, with the password grant offered.
    pub fn start() -> Served {
        Served::start_with(|config| config)
    }

    /// With the configuration `configure` makes of the defaults.
    pub fn start_with(configure: impl FnOnce(OAuthConfig) -> OAuthConfig) -> Served {
        let clock = ManualClock::new(1_800_000_000);
        let events = Arc::new(Mutex::new(Vec::new()));
        let heard = Arc::clone(&events);
        let config = grantdb::Config::builder()
            .clock(clock.handle())
            .on_event(move |event| heard.lock().unwrap().push(event.clone()))
            .build()
            .unwrap();
        let store = Store::in_memory(config).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = configure(OAuthConfig::new(&base).password_grant(
            |attempt: grantdb_axum::PasswordAttempt| async move {
                (attempt.username == "alice" && attempt.password.expose() == PASSWORD)
                    .then(|| "alice".to_owned())
            },
        ));
        let oauth = OAuth::new(AsyncStore::new(store.clone()), config);
        runtime.spawn(async move { axum::serve(listener, app(&oauth)).await });
        let http = Http::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Served {
            base,
            store,
            clock,
            events,
            http,
            _runtime: runtime,
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers `client`: its id and secret.
    pub fn register(&self, client: NewClient) -> Registered {
        let registered = self.store.register_client(client).unwrap();
        Registered {
            id: registered.client.id.to_string(),
            secret: registered.secret.map(|s| s.expose().to_owned()),
        }
    }

    /// A confidential client of the code flow with refresh, redirecting to
    /// `https://client.example/cb`.
    pub fn code_client(&self) -> Registered {
        self.register(
            NewClient::confidential("code client")
                .redirect_uri(REDIRECT)
                .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
                .scopes("read write profile")
                .unwrap(),
        )
    }

    /// A confidential client of the client credentials grant.
    pub fn service_client(&self) -> Registered {
        self.register(
            NewClient::confidential("service")
                .grant_types([GrantType::ClientCredentials])
                .scopes("read write")
                .unwrap(),
        )
    }

    /// `POST` a form to `path` as `client` with HTTP Basic.
    pub fn post_basic(
        &self,
        path: &str,
        client: &Registered,
        form: &[(&str, &str)],
    ) -> reqwest::blocking::Response {
        self.http
            .post(self.url(path))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(form)
            .send()
            .unwrap()
    }

    /// `GET /me` with `token` as a bearer token: the status.
    pub fn me_status(&self, token: &str) -> u16 {
        let response = self.http.get(self.url("/me")).bearer_auth(token).send();
        response.unwrap().status().as_u16()
    }

    /// `POST` a form to `path` as `client` with HTTP Basic and, when given,
    /// the DPoP proof `proof`.
    pub fn post_proved(
        &self,
        path: &str,
        client: &Registered,
        proof: Option<String>,
        form: &[(&str, &str)],
    ) -> reqwest::blocking::Response {
        let mut request = self
            .http
            .post(self.url(path))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(form);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send().unwrap()
    }

    /// The code of an approved authorization request with `query`.
    pub fn code(&self, query: &[(&str, &str)]) -> String {
        let response = self
            .http
            .get(self.url("/authorize"))
            .query(query)
            .send()
            .unwrap();
        assert_eq!(response.status(), 303, "{:?}", response.text());
        redirect_params(&response)["code"].clone()
    }

    /// Tokens of the code flow (with PKCE) for `client`.
    pub fn tokens(&self, client: &Registered) -> Value {
        let code = self.code(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        let response = self.post_basic(
            "/oauth/token",
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
            ],
        );
        let status = response.status();
        let tokens: Value = response.json().unwrap();
        assert_eq!(status, 200, "{tokens}");
        tokens
    }
}

/// The redirect URI of [`Served::code_client`].
pub const REDIRECT: &str = "https://client.example/cb";
/// RFC 7636 appendix B's verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// See [`VERIFIER`].
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A registered client.
pub struct Registered {
    /// Its id.
    pub id: String,
    /// Its secret (none for a public client).
    pub secret: Option<String>,
}

/// The query parameters of a redirect's `Location`.
pub fn redirect_params(
    response: &reqwest::blocking::Response,
) -> std::collections::HashMap<String, String> {
    let location = response.headers()["location"].to_str().unwrap();
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    serde_urlencoded::from_str(query).unwrap()
}

/// The host's routes around the crate's: the stub authorization page and
/// two protected resources.
fn app(oauth: &OAuth) -> Router {
    Router::new()
        .route("/authorize", get(authorize))
        .route("/me", get(me))
        .merge(
            Router::new()
                .route("/api/data", get(data).post(data))
                .route_layer(RequireToken::new(oauth).scope("read")),
        )
        .merge(
            Router::new()
                .route("/orders/list", get(data))
                .route_layer(RequireToken::new(oauth).audience("https://orders.example")),
        )
        .with_state(oauth.clone())
        .merge(oauth.router())
}

async fn authorize(
    State(oauth): State<OAuth>,
    AuthorizationQuery(params): AuthorizationQuery,
) -> Response {
    match oauth.check_authorization(&params).await {
        Ok(request) if params.get("deny").is_some() => oauth.deny(&request),
        Ok(request) => oauth.approve(&request, "alice", None).await,
        Err(refusal) => refusal.into_response_for(&oauth),
    }
}

async fn me(token: ValidToken) -> Response {
    axum::Json(json!({ "subject": token.subject, "scope": token.scope.as_str() })).into_response()
}

async fn data(token: ValidToken) -> Response {
    axum::Json(json!({ "client_id": token.client_id.to_string() })).into_response()
}
