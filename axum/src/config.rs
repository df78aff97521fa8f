//! What a host decides: its issuer, whether it offers the password grant
//! (and how a password is checked), who may introspect, whether a bearer
//! token may come in the query, the body limit, the request id header.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use grantdb::kv::Backend;
use grantdb::kv::redb::RedbBackend;
use grantdb::{AsyncStore, AuthenticatedClient, ClientKind, Secret};
use http::HeaderName;

/// A resource owner's credentials at the token endpoint (the password
/// grant, RFC 6749 §4.3), for the host to check.
#[derive(Debug)]
#[non_exhaustive]
pub struct PasswordAttempt {
    /// The `username` parameter.
    pub username: String,
    /// The `password` parameter.
    pub password: Secret,
    /// The client asking (authenticated).
    pub client: AuthenticatedClient,
    /// The address the request came from, when the server records it
    /// (`ConnectInfo<SocketAddr>`): for throttling guesses per address.
    pub remote_addr: Option<std::net::SocketAddr>,
}

/// The host's password check: the subject the credentials belong to, or
/// `None` (`invalid_grant`).
pub type PasswordCheck = Arc<
    dyn Fn(PasswordAttempt) -> Pin<Box<dyn Future<Output = Option<String>> + Send>> + Send + Sync,
>;

/// Who may introspect (RFC 7662 §2.1: the protected resource is
/// authorized): answers whether the authenticated caller may.
pub type IntrospectionPolicy = Arc<dyn Fn(&AuthenticatedClient) -> bool + Send + Sync>;

/// How the endpoints behave. Built with [`OAuthConfig::new`] and setters.
#[derive(Clone)]
#[non_exhaustive]
pub struct OAuthConfig {
    /// The authorization server's issuer identifier (RFC 8414 §2), an
    /// `https` URL without query or fragment: the `iss` of authorization
    /// responses (RFC 9207), the base of the device verification URI and of
    /// the endpoints' URLs a DPoP proof names.
    pub issuer: String,
    /// The password grant, when the host offers it.
    pub password: Option<PasswordCheck>,
    /// Who may introspect. Default: confidential clients.
    pub introspection: IntrospectionPolicy,
    /// Whether a resource server takes the bearer token from the
    /// `access_token` query parameter (RFC 6750 §2.3; Eventpop does). Default
    /// false: the header only.
    pub query_bearer: bool,
    /// The largest request body the endpoints read (default 64 KiB); larger
    /// is `413`.
    pub max_body: usize,
    /// Where users enter a device's code (RFC 8628 §3.2); default
    /// `{issuer}/device`.
    pub device_verification_uri: String,
    /// How old a DPoP proof may be (its `iat`, either way: default 300 s).
    pub dpop_max_age: Duration,
    /// The request header that names a request (`x-request-id`): spans and
    /// the store's events carry it. `None`: requests are not named.
    pub request_id_header: Option<HeaderName>,
    /// The resource this server is (RFC 8707), when it is a resource server
    /// that names itself: [`ValidToken`](crate::ValidToken) and
    /// [`RequireToken`](crate::RequireToken) then take only tokens for it
    /// (or for no resource in particular).
    pub audience: Option<String>,
    /// The origin (`https://api.example`) at which the resource server is
    /// reached, for the URL a DPoP proof names (RFC 9449 §4.3); `None`: the
    /// issuer's.
    pub resource_origin: Option<String>,
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("issuer", &self.issuer)
            .field("password_grant", &self.password.is_some())
            .field("query_bearer", &self.query_bearer)
            .field("max_body", &self.max_body)
            .field("device_verification_uri", &self.device_verification_uri)
            .field("dpop_max_age", &self.dpop_max_age)
            .field("request_id_header", &self.request_id_header)
            .field("audience", &self.audience)
            .field("resource_origin", &self.resource_origin)
            .finish_non_exhaustive()
    }
}

impl OAuthConfig {
    /// The defaults for the authorization server `issuer`
    /// (`https://auth.example`).
    pub fn new(issuer: impl Into<String>) -> OAuthConfig {
        let issuer = issuer.into().trim_end_matches('/').to_owned();
        OAuthConfig {
            device_verification_uri: format!("{issuer}/device"),
            issuer,
            password: None,
            introspection: Arc::new(|caller| caller.client().kind == ClientKind::Confidential),
            query_bearer: false,
            max_body: 64 * 1024,
            dpop_max_age: Duration::from_mins(5),
            request_id_header: None,
            audience: None,
            resource_origin: None,
        }
    }

    /// Offers the password grant (RFC 6749 §4.3), with `check` as the
    /// password check. The client must also be allowed the grant type.
    pub fn password_grant<F, Fut>(mut self, check: F) -> OAuthConfig
    where
        F: Fn(PasswordAttempt) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<String>> + Send + 'static,
    {
        self.password = Some(Arc::new(move |attempt| Box::pin(check(attempt))));
        self
    }

    /// Sets who may introspect.
    pub fn introspection_policy(
        mut self,
        policy: impl Fn(&AuthenticatedClient) -> bool + Send + Sync + 'static,
    ) -> OAuthConfig {
        self.introspection = Arc::new(policy);
        self
    }

    /// Takes bearer tokens from the query too (RFC 6750 §2.3).
    pub fn query_bearer(mut self, allowed: bool) -> OAuthConfig {
        self.query_bearer = allowed;
        self
    }

    /// Sets the largest request body.
    pub fn max_body(mut self, bytes: usize) -> OAuthConfig {
        self.max_body = bytes;
        self
    }

    /// Sets the device verification URI.
    pub fn device_verification_uri(mut self, uri: impl Into<String>) -> OAuthConfig {
        self.device_verification_uri = uri.into();
        self
    }

    /// Sets how old a DPoP proof may be.
    pub fn dpop_max_age(mut self, age: Duration) -> OAuthConfig {
        self.dpop_max_age = age;
        self
    }

    /// Names requests by the header `name` (`x-request-id`).
    pub fn request_id_header(mut self, name: HeaderName) -> OAuthConfig {
        self.request_id_header = Some(name);
        self
    }

    /// Takes only access tokens for `resource` (RFC 8707) at the resource
    /// server's extractors and layer.
    pub fn audience(mut self, resource: impl Into<String>) -> OAuthConfig {
        self.audience = Some(resource.into());
        self
    }

    /// Sets the origin the resource server is reached at (for DPoP).
    pub fn resource_origin(mut self, origin: impl Into<String>) -> OAuthConfig {
        self.resource_origin = Some(origin.into().trim_end_matches('/').to_owned());
        self
    }

    /// The origin of the resource server: the one set, or the issuer's
    /// scheme and authority.
    #[cfg(feature = "dpop")]
    pub(crate) fn origin_of_resources(&self) -> &str {
        if let Some(origin) = &self.resource_origin {
            return origin;
        }
        let after_scheme = self.issuer.find("://").map_or(0, |at| at + 3);
        let end = self.issuer[after_scheme..]
            .find('/')
            .map_or(self.issuer.len(), |at| after_scheme + at);
        &self.issuer[..end]
    }
}

/// The endpoints' shared state: the store and the configuration. Cheap to
/// clone; axum state of every handler of this crate (and, through
/// [`FromRef`](axum::extract::FromRef), of a host's own state).
pub struct OAuth<B: Backend = RedbBackend> {
    store: AsyncStore<B>,
    config: Arc<OAuthConfig>,
}

impl<B: Backend> Clone for OAuth<B> {
    fn clone(&self) -> Self {
        OAuth {
            store: self.store.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<B: Backend> std::fmt::Debug for OAuth<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> OAuth<B> {
    /// The endpoints over `store`, configured by `config`.
    pub fn new(store: AsyncStore<B>, config: OAuthConfig) -> OAuth<B> {
        OAuth {
            store,
            config: Arc::new(config),
        }
    }

    /// The store.
    pub fn store(&self) -> &AsyncStore<B> {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }
}
