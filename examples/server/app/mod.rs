//! The reference authorization server: routes, shared state, and how it runs.
//! The OAuth endpoints are grantdb-axum's; this server adds its pages
//! (sign-in, consent, the device code), sessions, users and the seeds' paths.
//! `main.rs` wraps it in a command line; `tests/http` runs it in-process.

pub mod authorize;
pub mod device;
pub mod pages;
pub mod scopes;
pub mod serve;
pub mod session;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::routing::{get, post};

use grantdb::{
    AsyncStore, ConfigBuilder, Event, GrantType, LifetimeOverrides, Maintenance, NewClient,
    RefreshLifetime, Store,
};
use grantdb_axum::{
    OAuth, OAuthConfig, PasswordAttempt, device_authorization, introspect, par, revoke, token,
};
use metrics_exporter_prometheus::PrometheusHandle;

/// Requests larger than this are refused with 413 before they are parsed.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How the server presents itself and how long it waits.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The name the pages show as the server asking for consent.
    pub server_name: String,
    /// Whether the session cookie carries `Secure`: set it when the server is
    /// reached over HTTPS (directly or behind a TLS-terminating proxy).
    pub secure_cookies: bool,
    /// How long a browser session (and a login) lasts.
    pub session_lifetime: Duration,
    /// How long a client may take to send a request's headers (slowloris).
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_read_timeout: Duration,
    /// The issuer (RFC 8414), the base of the device verification URI and
    /// of the URLs DPoP proofs name; `None`: `http://` and the address the
    /// server listens on.
    pub issuer: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            server_name: "grantdb reference server".to_owned(),
            secure_cookies: false,
            session_lifetime: Duration::from_hours(1),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            issuer: None,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// The token store, for async handlers.
    pub store: AsyncStore,
    /// Demo users, checked by the login form and the password grant.
    pub users: Arc<users::Users>,
    /// Browser sessions of the authorization pages.
    pub sessions: session::Sessions,
    /// Name, cookie and timeout settings.
    pub settings: Settings,
    /// Renders the Prometheus text at `/metrics`.
    pub metrics: PrometheusHandle,
    /// Purges expired tokens every minute while the server runs.
    pub maintenance: Maintenance,
}

impl AppState {
    /// State over `store` with the default settings and the demo users;
    /// starts the in-process purge.
    pub fn new(store: Store) -> Arc<AppState> {
        AppState::with_settings(store, Settings::default())
    }

    /// State over `store` with `settings`.
    pub fn with_settings(store: Store, settings: Settings) -> Arc<AppState> {
        let maintenance = store.start_maintenance(Duration::from_mins(1));
        Arc::new(AppState {
            store: AsyncStore::new(store),
            users: Arc::new(users::Users::demo()),
            sessions: session::Sessions::new(settings.session_lifetime, settings.secure_cookies),
            settings,
            metrics: metrics_handle(),
            maintenance,
        })
    }
}

/// The store configuration of the server: a listener that logs what the
/// store tells, a suspected attack (a replayed code, a reused refresh token)
/// at WARN.
pub fn config() -> ConfigBuilder {
    grantdb::Config::builder().on_event(log_event)
}

fn log_event(event: &Event) {
    let (client, grant) = (
        event.client_id.map(|id| id.to_string()),
        event.grant_id.map(|id| id.to_string()),
    );
    if event.kind.is_security_relevant() {
        tracing::warn!(kind = ?event.kind, ?client, subject = ?event.subject, ?grant, "token family revoked");
    } else {
        tracing::info!(kind = ?event.kind, ?client, ?grant, "store event");
    }
}

/// The histogram buckets, in seconds: from a cached read (tens of
/// microseconds) to a slow durable commit.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// The process's Prometheus recorder (the `metrics` facade has one per
/// process), installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Histograms with buckets (the exporter's default is a summary,
            // whose quantiles cannot be aggregated across servers).
            let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
            let recorder = match builder.set_buckets(LATENCY_BUCKETS) {
                Ok(with_buckets) => with_buckets,
                // Only an empty bucket list is refused.
                Err(_) => metrics_exporter_prometheus::PrometheusBuilder::new(),
            }
            .build_recorder();
            let handle = recorder.handle();
            // Another recorder already installed: this one renders nothing.
            if metrics::set_global_recorder(recorder).is_ok() {
                grantdb::describe_metrics();
                grantdb_axum::describe_metrics();
            }
            handle
        })
        .clone()
}

/// The state of the routes: this server's, and the OAuth endpoints' (the
/// store and grantdb-axum's configuration).
#[derive(Clone)]
pub struct Routed {
    /// Pages, sessions, users, settings.
    pub app: Arc<AppState>,
    /// The OAuth endpoints.
    pub oauth: OAuth,
}

impl FromRef<Routed> for OAuth {
    fn from_ref(routed: &Routed) -> OAuth {
        routed.oauth.clone()
    }
}

impl FromRef<Routed> for Arc<AppState> {
    fn from_ref(routed: &Routed) -> Arc<AppState> {
        Arc::clone(&routed.app)
    }
}

/// The OAuth endpoints' configuration: the issuer, the password grant
/// checked against the demo users, bearer tokens in the query too (pretix
/// and Eventpop clients send them there), the body limit.
pub fn oauth_config(app: &AppState, issuer: &str) -> OAuthConfig {
    let users = Arc::clone(&app.users);
    OAuthConfig::new(issuer)
        .password_grant(move |attempt: PasswordAttempt| {
            // The same throttle as the sign-in page (a refusal, throttled or
            // not, is `invalid_grant`). Argon2 is slow on purpose: off the
            // runtime's threads.
            let users = Arc::clone(&users);
            async move {
                let from = attempt.remote_addr.map(|addr| addr.ip());
                let checked = tokio::task::spawn_blocking(move || {
                    users
                        .check(&attempt.username, attempt.password.expose(), from)
                        .map(str::to_owned)
                        .ok()
                });
                checked.await.ok().flatten()
            }
        })
        .query_bearer(true)
        .max_body(BODY_LIMIT)
        .request_id_header(axum::http::HeaderName::from_static("x-request-id"))
}

/// Every route of the server, for `issuer`: its own paths, and each seed's
/// documented paths as aliases, so a client written against a seed's
/// documentation works by changing only the host.
pub fn router(state: Arc<AppState>, issuer: &str) -> Router {
    let oauth = OAuth::new(state.store.clone(), oauth_config(&state, issuer));
    let authorize = || get(authorize::page).post(authorize::decision);
    let body_timeout = state.settings.body_read_timeout;
    let body_limit = oauth.body_limit();
    let routed = Routed { app: state, oauth };
    Router::new()
        .route("/oauth/authorize", authorize())
        .route("/oauth/token", post(token))
        .route("/oauth/par", post(par))
        .route("/oauth/device_authorization", post(device_authorization))
        .route("/device", get(device::form).post(device::decision))
        .route("/oauth/revoke_token", post(revoke))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/introspect", post(introspect))
        .route("/oauth/style.css", get(pages::stylesheet))
        .route("/api/v1/me", get(authorize::me))
        // pretix: https://pretix.eu/api/v1/oauth/{authorize,token,revoke_token}
        .route("/api/v1/oauth/authorize", authorize())
        .route("/api/v1/oauth/token", post(token))
        .route("/api/v1/oauth/revoke_token", post(revoke))
        // Ticketpark: https://api.ticketpark.ch/oauth/v2/token
        .route("/oauth/v2/token", post(token))
        // Eventpop: https://www.eventpop.me/oauth/token and /api/public/me
        .route("/api/public/me", get(authorize::me))
        // Prioticket: POST /v3.8/distributor/oauth2/token
        .route("/v3.8/distributor/oauth2/token", post(token))
        .route("/metrics", get(metrics_page))
        .layer(axum::middleware::from_fn(move |request, next| {
            serve::read_body_within(body_timeout, request, next)
        }))
        .layer(body_limit)
        .with_state(routed)
}

/// `GET /metrics`: the store's and the endpoints' counters and histograms,
/// Prometheus text.
async fn metrics_page(State(app): State<Arc<AppState>>) -> String {
    app.metrics.render()
}

/// Serves `state` on `listener` until the future is dropped, with the
/// header and body read timeouts of its settings.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    let issuer = match &state.settings.issuer {
        Some(issuer) => issuer.clone(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let header_timeout = state.settings.header_read_timeout;
    serve::accept_loop(listener, router(state, &issuer), header_timeout).await
}

/// The four seeds' clients with their lifetimes: pretix 86,400 s access and
/// refresh tokens that never expire; Ticketpark 600 s; Eventpop 7,200 s;
/// Prioticket 3,600 s client-credentials tokens.
pub fn seed_clients() -> Result<Vec<NewClient>, grantdb::Error> {
    let lifetime = |seconds| LifetimeOverrides::default().access(Duration::from_secs(seconds));
    Ok(vec![
        NewClient::confidential("pretix connector")
            .redirect_uri("http://127.0.0.1:9000/callback")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read write profile")?
            .lifetimes(lifetime(86_400).refresh(RefreshLifetime::Never)),
        NewClient::confidential("ticketpark integration")
            .grant_types([GrantType::Password, GrantType::RefreshToken])
            .scopes("read write")?
            .lifetimes(lifetime(600)),
        NewClient::confidential("eventpop partner")
            .redirect_uri("http://127.0.0.1:9000/eventpop/callback")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("public")?
            .lifetimes(lifetime(7_200)),
        NewClient::confidential("prioticket distributor")
            .grant_types([GrantType::ClientCredentials])
            .scopes("https://www.prioticketapis.com/auth/distributor.booking")?
            .lifetimes(lifetime(3_600)),
    ])
}
