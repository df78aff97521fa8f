//! The reference authorization server: routes, shared state, and how it runs.
//! `main.rs` wraps it in a command line; `tests/server.rs` runs it in-process.

pub mod errors;
pub mod oauth;
pub mod pages;
pub mod params;
pub mod requests;
pub mod scopes;
pub mod serve;
pub mod session;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use grantdb::{
    AsyncStore, ConfigBuilder, Event, GrantType, LifetimeOverrides, Maintenance, NewClient,
    RefreshLifetime, Store,
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
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            server_name: "grantdb reference server".to_owned(),
            secure_cookies: false,
            session_lifetime: Duration::from_hours(1),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// The token store, for async handlers.
    pub store: AsyncStore,
    /// Demo users, checked by the login form and the password grant.
    pub users: users::Users,
    /// Browser sessions of the authorization pages.
    pub sessions: session::Sessions,
    /// Name, cookie and timeout settings.
    pub settings: Settings,
    /// Renders the Prometheus text at `/metrics`.
    pub metrics: PrometheusHandle,
    /// Purges expired tokens every minute while the server runs.
    pub _maintenance: Maintenance,
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
            users: users::Users::demo(),
            sessions: session::Sessions::new(settings.session_lifetime, settings.secure_cookies),
            settings,
            metrics: metrics_handle(),
            _maintenance: maintenance,
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

/// The process's Prometheus recorder (the `metrics` facade has one per
/// process), installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder already installed: this one renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Every route of the server: its own paths, and each seed's documented
/// paths as aliases, so a client written against a seed's documentation
/// works by changing only the host.
pub fn router(state: Arc<AppState>) -> Router {
    let authorize = || get(oauth::authorize_page).post(oauth::authorize_decision);
    let body_timeout = state.settings.body_read_timeout;
    Router::new()
        .route("/oauth/authorize", authorize())
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/par", post(requests::par))
        .route(
            "/oauth/device_authorization",
            post(requests::device_authorization),
        )
        .route(
            "/device",
            get(requests::device_form).post(requests::device_decision),
        )
        .route("/oauth/revoke_token", post(oauth::revoke))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/oauth/introspect", post(oauth::introspect))
        .route("/oauth/style.css", get(pages::stylesheet))
        .route("/api/v1/me", get(oauth::me))
        // pretix: https://pretix.eu/api/v1/oauth/{authorize,token,revoke_token}
        .route("/api/v1/oauth/authorize", authorize())
        .route("/api/v1/oauth/token", post(oauth::token))
        .route("/api/v1/oauth/revoke_token", post(oauth::revoke))
        // Ticketpark: https://api.ticketpark.ch/oauth/v2/token
        .route("/oauth/v2/token", post(oauth::token))
        // Eventpop: https://www.eventpop.me/oauth/token and /api/public/me
        .route("/api/public/me", get(oauth::me))
        // Prioticket: POST /v3.8/distributor/oauth2/token
        .route("/v3.8/distributor/oauth2/token", post(oauth::token))
        .route("/metrics", get(metrics_page))
        .layer(axum::middleware::from_fn(move |request, next| {
            serve::read_body_within(body_timeout, request, next)
        }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// `GET /metrics`: the store's counters and histograms, Prometheus text.
async fn metrics_page(axum::extract::State(app): axum::extract::State<Arc<AppState>>) -> String {
    app.metrics.render()
}

/// Serves `state` on `listener` until the future is dropped, with the
/// header and body read timeouts of its settings.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    let header_timeout = state.settings.header_read_timeout;
    serve::accept_loop(listener, router(state), header_timeout).await
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
