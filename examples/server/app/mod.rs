//! The reference authorization server: routes, shared state, and how it runs.
//! `main.rs` wraps it in a command line; `tests/server.rs` runs it in-process.

pub mod errors;
pub mod oauth;
pub mod pages;
pub mod params;
pub mod users;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::time::Duration;

use grantdb::{GrantType, LifetimeOverrides, NewClient, RefreshLifetime, Store};
use parking_lot::Mutex;

/// Requests larger than this are refused with 413 before they are parsed.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler shares.
pub struct AppState {
    /// The token store.
    pub store: Store,
    /// Demo users, checked by the login form and the password grant.
    pub users: users::Users,
    /// Logged-in browser sessions: session id → subject.
    pub sessions: Mutex<HashMap<String, String>>,
}

impl AppState {
    /// State over `store`, with the demo users.
    pub fn new(store: Store) -> Arc<AppState> {
        Arc::new(AppState {
            store,
            users: users::Users::demo(),
            sessions: Mutex::new(HashMap::new()),
        })
    }
}

/// Every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/oauth/authorize",
            get(oauth::authorize_page).post(oauth::authorize_decision),
        )
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke_token", post(oauth::revoke))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/oauth/introspect", post(oauth::introspect))
        .route("/api/v1/me", get(oauth::me))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves `state` on `listener` until the future is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
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
