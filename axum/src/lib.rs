//! The OAuth 2.0 endpoints of an authorization server on
//! [grantdb](https://docs.rs/grantdb), for [axum]: a host mounts one
//! [`Router`] and writes its sign-in and consent pages, nothing else.
//!
//! * **Endpoints** ([`OAuth::router`], or each handler on paths of the
//!   host's choosing): the token endpoint ([`token`]: `authorization_code`
//!   with PKCE, `refresh_token`, `client_credentials`, `password` when the
//!   host offers it, the device grant), revocation ([`revoke`], RFC 7009),
//!   introspection ([`introspect`], RFC 7662, for callers the host's policy
//!   allows), pushed authorization requests ([`par`], RFC 9126) and device
//!   authorization ([`device_authorization`], RFC 8628). Each answers with
//!   the RFC's status codes, JSON bodies and headers (`Cache-Control:
//!   no-store`; `WWW-Authenticate: Basic` for a client that failed to
//!   authenticate).
//! * **The authorization endpoint without its pages**:
//!   [`OAuth::check_authorization`] checks a whole request before any page
//!   and says whether an error may go back to the client or must be shown;
//!   [`OAuth::approve`] and [`OAuth::deny`] complete it with the redirect
//!   (`code`, `state`, and `iss` as RFC 9207 asks).
//! * **Resource servers**: [`ValidToken`] (an extractor), [`RequireToken`]
//!   (a tower layer), a scope guard ([`ValidToken::require_scope`]) and an
//!   audience check ([`OAuthConfig::audience`]); a DPoP-bound token must come
//!   with a proof by its key.
//! * **Requests read as OAuth reads them** ([`OAuthForm`], [`Params`]):
//!   form or JSON bodies, repeated parameters refused, a size limit, every
//!   refusal an RFC 6749 §5.2 error, never axum's plain-text rejections;
//!   client authentication ([`authenticate`]) by HTTP Basic (form-decoded,
//!   RFC 6749 §2.3.1) or the body, never both.
//!
//! # Example
//!
//! An authorization server with a client declared at start-up, a consent
//! page that approves a fixed user, and a protected route:
//!
//! ```no_run
//! use axum::Router;
//! use axum::response::{IntoResponse, Response};
//! use axum::routing::get;
//! use grantdb::{AsyncStore, Config, NewClient, Store};
//! use grantdb_axum::{AuthorizationQuery, OAuth, OAuthConfig, ValidToken};
//!
//! /// The host's page: here it approves every valid request as "alice".
//! async fn authorize(
//!     axum::extract::State(oauth): axum::extract::State<OAuth>,
//!     AuthorizationQuery(params): AuthorizationQuery,
//! ) -> Response {
//!     match oauth.check_authorization(&params).await {
//!         Ok(request) => oauth.approve(&request, "alice", None).await,
//!         Err(refusal) => refusal.into_response_for(&oauth),
//!     }
//! }
//!
//! async fn me(token: ValidToken) -> Response {
//!     match token.require_scope("profile") {
//!         Ok(()) => format!("hello {}", token.subject.as_deref().unwrap_or("client")).into_response(),
//!         Err(refusal) => refusal.into_response(),
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::open("auth.redb", Config::default())?;
//! // The same file at every start: created once, compared after.
//! let client: NewClient = serde_json::from_str(
//!     r#"{"id": "pCJ3yvtcSmWb3bHkmGT9Aw", "name": "shop app", "kind": "public",
//!         "redirect_uris": ["https://shop.example/callback"],
//!         "grant_types": ["authorization_code", "refresh_token"], "scopes": "profile"}"#,
//! )?;
//! store.ensure_client(client)?;
//!
//! let oauth = OAuth::new(AsyncStore::new(store), OAuthConfig::new("https://auth.example"));
//! let app = Router::new()
//!     .route("/oauth/authorize", get(authorize))
//!     .route("/me", get(me))
//!     .with_state(oauth.clone())
//!     .merge(oauth.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! * `dpop` (default): DPoP proofs (RFC 9449) at the token and PAR
//!   endpoints and at resource servers. Without it, a request with a proof
//!   is refused rather than given an unbound token.
//! * `tracing`: a span per request (endpoint, request id, status,
//!   outcome), with the store's spans inside.
//! * `metrics`: `grantdb_http_requests_total` (by endpoint and outcome) and
//!   `grantdb_http_request_duration_seconds` (a histogram, by endpoint);
//!   [`describe_metrics`] gives their help texts.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authorize;
mod client_auth;
mod config;
mod device;
#[cfg(feature = "dpop")]
pub mod dpop;
mod error;
mod introspect;
mod observe;
mod par;
mod params;
mod resource;
mod revoke;
mod token;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use grantdb::kv::Backend;

pub use authorize::{Authorization, AuthorizationError, AuthorizationQuery};
pub use client_auth::{Presented, authenticate, presented};
pub use config::{IntrospectionPolicy, OAuth, OAuthConfig, PasswordAttempt, PasswordCheck};
pub use device::device_authorization;
pub use error::{OAuthError, no_store};
pub use introspect::introspect;
#[cfg(feature = "metrics")]
pub use observe::describe_metrics;
pub use par::par;
pub use params::{OAuthForm, Params};
pub use resource::{BearerToken, RequireToken, RequireTokenService, TokenScheme, ValidToken};
pub use revoke::revoke;
pub use token::token;

/// The paths [`OAuth::router`] serves the endpoints at.
pub mod paths {
    /// The token endpoint (RFC 6749 §3.2).
    pub const TOKEN: &str = "/oauth/token";
    /// The revocation endpoint (RFC 7009).
    pub const REVOKE: &str = "/oauth/revoke";
    /// The introspection endpoint (RFC 7662).
    pub const INTROSPECT: &str = "/oauth/introspect";
    /// The pushed authorization request endpoint (RFC 9126).
    pub const PAR: &str = "/oauth/par";
    /// The device authorization endpoint (RFC 8628).
    pub const DEVICE_AUTHORIZATION: &str = "/oauth/device_authorization";
}

impl<B: Backend> OAuth<B> {
    /// The endpoints at their [`paths`], with the configured body limit, for
    /// a host to [`merge`](Router::merge) into its own router (of any state).
    /// A host that wants other paths, or more than one path for an endpoint
    /// (a provider's documented aliases), routes the handlers itself and
    /// adds [`OAuth::body_limit`].
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route(paths::TOKEN, post(token::<B>))
            .route(paths::REVOKE, post(revoke::<B>))
            .route(paths::INTROSPECT, post(introspect::<B>))
            .route(paths::PAR, post(par::<B>))
            .route(paths::DEVICE_AUTHORIZATION, post(device_authorization::<B>))
            .layer(self.body_limit())
            .with_state(self.clone())
    }

    /// The body limit of the configuration, as an axum layer: larger bodies
    /// are refused (`413`, an `invalid_request` body) before they are read
    /// whole.
    pub fn body_limit(&self) -> DefaultBodyLimit {
        DefaultBodyLimit::max(self.config().max_body)
    }
}
