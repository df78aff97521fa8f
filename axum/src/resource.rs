//! Resource servers: the access token of a request (RFC 6750 §2: the
//! `Authorization` header; the `access_token` query parameter only when the
//! host allows it), checked through the store, with the challenges RFC 6750
//! §3 asks for; a DPoP-bound token (RFC 9449 §7) must come with the `DPoP`
//! scheme and a proof by its key for this very request. As an extractor
//! ([`ValidToken`]) for a handler, or as a tower layer ([`RequireToken`])
//! for a whole router, with a scope guard and an audience check.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use grantdb::kv::Backend;
use grantdb::kv::redb::RedbBackend;
use grantdb::{Confirmation, Endpoint, ErrorResponse, OAuthErrorCode, Scope, Secret, TokenInfo};
use http::request::Parts;
use http::{HeaderMap, Request, header};

use crate::config::OAuth;
use crate::error::OAuthError;
use crate::params::Params;

/// How a request presented its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenScheme {
    /// `Authorization: Bearer` (RFC 6750 §2.1) or the query (§2.3).
    Bearer,
    /// `Authorization: DPoP`, with a `DPoP` proof header (RFC 9449 §7.1).
    Dpop,
}

/// The access token a request carries, not yet checked.
#[derive(Debug, Clone)]
pub struct BearerToken {
    /// The token.
    pub token: Secret,
    /// How it came.
    pub scheme: TokenScheme,
}

impl BearerToken {
    /// Reads the token of a request from its `headers` and, when
    /// `query_allowed`, its `query` (RFC 6750 §2.3). No token at all (no
    /// `Authorization` header, or another scheme such as `Basic`) is the bare
    /// challenge of §3.1 (401, no error code); a malformed one, or two at
    /// once, `invalid_request`.
    pub fn read(
        headers: &HeaderMap,
        query: Option<&str>,
        query_allowed: bool,
    ) -> Result<BearerToken, OAuthError> {
        let malformed = || OAuthError::invalid_request("malformed access token");
        let from_header = match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let text = value.to_str().map_err(|_| malformed())?;
                let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
                let token = token.trim();
                let scheme = if scheme.eq_ignore_ascii_case("bearer") {
                    Some(TokenScheme::Bearer)
                } else if scheme.eq_ignore_ascii_case("dpop") {
                    Some(TokenScheme::Dpop)
                } else {
                    // Another scheme carries no access token.
                    None
                };
                match scheme {
                    Some(_) if token.is_empty() || token.contains(' ') => return Err(malformed()),
                    Some(scheme) => Some(BearerToken {
                        token: Secret::from(token),
                        scheme,
                    }),
                    None => None,
                }
            }
        };
        let from_query = if query_allowed {
            Params::from_query(query)?
                .get("access_token")
                .map(|token| BearerToken {
                    token: Secret::from(token),
                    scheme: TokenScheme::Bearer,
                })
        } else {
            None
        };
        match (from_header, from_query) {
            // RFC 6750 §2: "Clients MUST NOT use more than one method".
            (Some(_), Some(_)) => Err(malformed()),
            (Some(token), None) | (None, Some(token)) => Ok(token),
            (None, None) => Err(OAuthError(ErrorResponse::missing_bearer_token())),
        }
    }
}

/// As an extractor in a router whose state is an [`OAuth`] (a host with a
/// state of its own calls [`BearerToken::read`], or takes [`ValidToken`]).
impl<B: Backend> FromRequestParts<OAuth<B>> for BearerToken {
    type Rejection = OAuthError;

    async fn from_request_parts(parts: &mut Parts, oauth: &OAuth<B>) -> Result<Self, OAuthError> {
        BearerToken::read(
            &parts.headers,
            parts.uri.query(),
            oauth.config().query_bearer,
        )
    }
}

/// An access token the store accepted for this request: active, for this
/// resource server when it names itself (an audience), and proved by its
/// key when it is DPoP-bound. Dereferences to what the store knows of it.
///
/// The type parameter is the store's backend (redb by default); the state
/// of the router must give an [`OAuth`] of it (`OAuth<B>: FromRef<S>`).
pub struct ValidToken<B: Backend = RedbBackend> {
    /// What the store knows of the token.
    pub info: TokenInfo,
    backend: PhantomData<fn() -> B>,
}

impl<B: Backend> ValidToken<B> {
    /// `insufficient_scope` (403, RFC 6750 §3.1) unless the token carries
    /// every scope of `scope` (`"read write"`).
    pub fn require_scope(&self, scope: &str) -> Result<(), OAuthError> {
        let needed = Scope::parse(scope).map_err(|_| {
            OAuthError(ErrorResponse::from_code(
                OAuthErrorCode::ServerError,
                "the resource server asks for a malformed scope",
            ))
        })?;
        if needed.is_subset(&self.info.scope) {
            Ok(())
        } else {
            Err(OAuthError(ErrorResponse::insufficient_scope(
                needed.as_str(),
            )))
        }
    }
}

impl<B: Backend> Clone for ValidToken<B> {
    fn clone(&self) -> Self {
        ValidToken {
            info: self.info.clone(),
            backend: PhantomData,
        }
    }
}

impl<B: Backend> std::fmt::Debug for ValidToken<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidToken")
            .field("info", &self.info)
            .finish()
    }
}

impl<B: Backend> std::ops::Deref for ValidToken<B> {
    type Target = TokenInfo;

    fn deref(&self) -> &TokenInfo {
        &self.info
    }
}

impl<S: Send + Sync, B: Backend> FromRequestParts<S> for ValidToken<B>
where
    OAuth<B>: FromRef<S>,
{
    type Rejection = OAuthError;

    /// The token [`RequireToken`] already checked, or the request's token
    /// checked now (with the configured audience, no scope).
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, OAuthError> {
        if let Some(token) = parts.extensions.get::<ValidToken<B>>() {
            return Ok(token.clone());
        }
        let oauth = OAuth::<B>::from_ref(state);
        let guard = Guard {
            audience: oauth.config().audience.clone(),
            scope: None,
            oauth,
        };
        guard.check(parts).await
    }
}

/// What a request's token must satisfy.
struct Guard<B: Backend> {
    oauth: OAuth<B>,
    audience: Option<String>,
    scope: Option<String>,
}

impl<B: Backend> Clone for Guard<B> {
    fn clone(&self) -> Self {
        Guard {
            oauth: self.oauth.clone(),
            audience: self.audience.clone(),
            scope: self.scope.clone(),
        }
    }
}

impl<B: Backend> Guard<B> {
    async fn check(&self, parts: &Parts) -> Result<ValidToken<B>, OAuthError> {
        let config = self.oauth.config();
        let presented = BearerToken::read(&parts.headers, parts.uri.query(), config.query_bearer)?;
        let challenge = Challenge(presented.scheme);
        let store = self.oauth.store();
        let token = presented.token.expose();
        let checked = match &self.audience {
            Some(audience) => store.validate_for(token, audience).await,
            None => store.validate(token).await,
        };
        let info = checked.map_err(|error| challenge.refuse(&error))?;
        match (&info.cnf, presented.scheme) {
            (None, TokenScheme::Bearer) => {}
            (Some(Confirmation::DpopJkt(_)), TokenScheme::Dpop) => {
                self.check_proof(parts, &info, token).await?;
            }
            (Some(Confirmation::DpopJkt(_)), TokenScheme::Bearer) => {
                // RFC 9449 §7.2: a DPoP-bound token is no bearer token.
                return Err(Challenge(TokenScheme::Dpop).invalid_token("the token is DPoP-bound"));
            }
            (None, TokenScheme::Dpop) => {
                return Err(challenge.invalid_token("the token is not DPoP-bound"));
            }
            // The TLS client certificate is the host's to see (RFC 8705
            // §3): a host that terminates mutual TLS compares it with
            // `TokenInfo::cnf` itself.
            (Some(_), _) => {
                return Err(challenge.invalid_token("the token is bound to a certificate"));
            }
        }
        let valid = ValidToken {
            info,
            backend: PhantomData,
        };
        if let Some(scope) = &self.scope {
            valid.require_scope(scope)?;
        }
        Ok(valid)
    }

    /// The request's DPoP proof: by the token's key, for this method and
    /// URL, over this token (RFC 9449 §7.1).
    #[cfg(feature = "dpop")]
    async fn check_proof(
        &self,
        parts: &Parts,
        info: &TokenInfo,
        token: &str,
    ) -> Result<(), OAuthError> {
        let refuse = Challenge::invalid_proof;
        let proof = parts
            .headers
            .get("dpop")
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| refuse("the request has no DPoP proof".to_owned()))?;
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path(), |original| original.0.path());
        let url = format!("{}{path}", self.oauth.config().origin_of_resources());
        let verified = crate::dpop::verify(
            &self.oauth,
            &info.client_id,
            proof,
            &parts.method,
            &url,
            Some(token),
        )
        .await
        .map_err(|error| refuse(error.to_string()))?;
        if Some(&verified.confirmation) == info.cnf.as_ref() {
            Ok(())
        } else {
            Err(refuse(
                "the DPoP proof is by another key than the token's".to_owned(),
            ))
        }
    }

    /// Without the `dpop` feature a proof cannot be checked: a DPoP-bound
    /// token is refused.
    #[cfg(not(feature = "dpop"))]
    #[allow(clippy::unused_async)] // The same signature as with the feature.
    async fn check_proof(&self, _: &Parts, _: &TokenInfo, _: &str) -> Result<(), OAuthError> {
        Err(Challenge(TokenScheme::Dpop)
            .invalid_token("this server does not check DPoP proofs (feature `dpop`)"))
    }
}

/// The `algs` of a `DPoP` challenge (RFC 9449 §7.1): the asymmetric
/// algorithms a proof may be signed with.
pub(crate) const DPOP_ALGS: &str = "ES256 ES384 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA";

/// The `WWW-Authenticate` challenge of a refusal, in the scheme the token
/// came with (RFC 6750 §3, RFC 9449 §7.1).
#[derive(Clone, Copy)]
struct Challenge(TokenScheme);

impl Challenge {
    fn refuse(self, error: &grantdb::Error) -> OAuthError {
        self.in_scheme(ErrorResponse::new(error, Endpoint::Resource))
    }

    fn invalid_token(self, description: &str) -> OAuthError {
        self.in_scheme(ErrorResponse::from_code(
            OAuthErrorCode::InvalidToken,
            description,
        ))
    }

    fn in_scheme(self, answer: ErrorResponse) -> OAuthError {
        match self.0 {
            TokenScheme::Bearer => OAuthError(answer),
            TokenScheme::Dpop => Challenge::dpop(answer),
        }
    }

    #[cfg(feature = "dpop")]
    fn invalid_proof(description: String) -> OAuthError {
        // RFC 9449 §7.1: 401 with a DPoP challenge naming the code.
        let mut answer = ErrorResponse::from_code(OAuthErrorCode::InvalidDpopProof, description);
        answer.status = 401;
        Challenge::dpop(answer)
    }

    /// The answer with a `DPoP` challenge naming its error code (in place
    /// of the `Bearer` one).
    fn dpop(mut answer: ErrorResponse) -> OAuthError {
        if answer.status == 401 || answer.www_authenticate.is_some() {
            answer.www_authenticate = Some(format!(
                "DPoP algs=\"{}\", error=\"{}\"",
                DPOP_ALGS, answer.error
            ));
        }
        OAuthError(answer)
    }
}

/// A tower layer that lets through only requests with a valid access token
/// (and, when set, the scope and audience it asks for), answering every
/// other with its RFC 6750 challenge; the handlers behind it take the
/// checked token as [`ValidToken`] without checking again. Add it with
/// `Router::route_layer`, so that an unknown path stays `404`.
pub struct RequireToken<B: Backend = RedbBackend> {
    guard: Guard<B>,
}

impl<B: Backend> Clone for RequireToken<B> {
    fn clone(&self) -> Self {
        RequireToken {
            guard: self.guard.clone(),
        }
    }
}

impl<B: Backend> std::fmt::Debug for RequireToken<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireToken")
            .field("audience", &self.guard.audience)
            .field("scope", &self.guard.scope)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> RequireToken<B> {
    /// Requires a valid token of `oauth`'s store (for the configured
    /// audience, if any).
    pub fn new(oauth: &OAuth<B>) -> RequireToken<B> {
        RequireToken {
            guard: Guard {
                audience: oauth.config().audience.clone(),
                scope: None,
                oauth: oauth.clone(),
            },
        }
    }

    /// Requires every scope of `scope` (`"read write"`) too.
    pub fn scope(mut self, scope: impl Into<String>) -> RequireToken<B> {
        self.guard.scope = Some(scope.into());
        self
    }

    /// Requires a token for `audience` (RFC 8707: a token issued for other
    /// resources only is `invalid_token`).
    pub fn audience(mut self, audience: impl Into<String>) -> RequireToken<B> {
        self.guard.audience = Some(audience.into());
        self
    }
}

impl<S, B: Backend> tower_layer::Layer<S> for RequireToken<B> {
    type Service = RequireTokenService<S, B>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireTokenService {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// The service of [`RequireToken`].
pub struct RequireTokenService<S, B: Backend = RedbBackend> {
    inner: S,
    guard: Guard<B>,
}

impl<S: Clone, B: Backend> Clone for RequireTokenService<S, B> {
    fn clone(&self) -> Self {
        RequireTokenService {
            inner: self.inner.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<S: std::fmt::Debug, B: Backend> std::fmt::Debug for RequireTokenService<S, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireTokenService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, Body> tower_service::Service<Request<Body>> for RequireTokenService<S, B>
where
    S: tower_service::Service<Request<Body>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send,
    B: Backend,
    Body: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh one
        // waits for the next `poll_ready` (tower's usual move).
        let fresh = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, fresh);
        let guard = self.guard.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match guard.check(&parts).await {
                Ok(token) => {
                    parts.extensions.insert(token);
                    let response = ready.call(Request::from_parts(parts, body)).await?;
                    Ok(response.into_response())
                }
                Err(refusal) => Ok(refusal.into_response()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_token_comes_in_one_place_only() {
        let read = BearerToken::read(&authorization("Bearer abc"), None, false).unwrap();
        assert_eq!(
            (read.token.expose(), read.scheme),
            ("abc", TokenScheme::Bearer)
        );
        let read = BearerToken::read(&authorization("DPoP abc"), None, false).unwrap();
        assert_eq!(read.scheme, TokenScheme::Dpop);
        // The query only when allowed.
        let query = Some("access_token=xyz");
        let missing = BearerToken::read(&HeaderMap::new(), query, false).unwrap_err();
        assert_eq!((missing.status().as_u16(), missing.code()), (401, ""));
        let read = BearerToken::read(&HeaderMap::new(), query, true).unwrap();
        assert_eq!(read.token.expose(), "xyz");
        // Both at once, or a malformed header: invalid_request.
        let both = BearerToken::read(&authorization("Bearer abc"), query, true).unwrap_err();
        assert_eq!(both.code(), "invalid_request");
        for bad in ["Bearer", "Bearer a b", "bearer  "] {
            let error = BearerToken::read(&authorization(bad), None, false).unwrap_err();
            assert_eq!(error.code(), "invalid_request", "{bad}");
        }
        // Another scheme is no token at all.
        let basic =
            BearerToken::read(&authorization("Basic Zm9vOmJhcg=="), None, false).unwrap_err();
        assert_eq!((basic.status().as_u16(), basic.code()), (401, ""));
    }
}
