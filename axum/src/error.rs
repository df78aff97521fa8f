//! Errors as an OAuth endpoint answers them: grantdb's [`ErrorResponse`]
//! (the RFC 6749 §5.2 or RFC 6750 §3 body, the status, the
//! `WWW-Authenticate` challenge) as an axum response, with
//! `Cache-Control: no-store` (RFC 6749 §5.1, §5.2).

use axum::Json;
use axum::response::{IntoResponse, Response};
use grantdb::{Endpoint, Error, ErrorResponse, OAuthErrorCode};
use http::{HeaderValue, StatusCode, header};

use crate::observe::Outcome;

/// An error as an endpoint answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError(pub ErrorResponse);

impl OAuthError {
    /// `invalid_request` (400) with a description.
    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError(ErrorResponse::invalid_request(description))
    }

    /// `invalid_client` (401 with a `Basic` challenge: RFC 6749 §5.2).
    pub fn invalid_client() -> OAuthError {
        OAuthError(ErrorResponse::from_code(
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        ))
    }

    /// `invalid_grant` (400) with a description (a wrong resource-owner
    /// password, say).
    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError(ErrorResponse::from_code(
            OAuthErrorCode::InvalidGrant,
            description,
        ))
    }

    /// `unauthorized_client` (400): the client may not do this.
    pub fn unauthorized_client(description: impl Into<String>) -> OAuthError {
        OAuthError(ErrorResponse::from_code(
            OAuthErrorCode::UnauthorizedClient,
            description,
        ))
    }

    /// `invalid_dpop_proof` (400 at the token and PAR endpoints, RFC 9449
    /// §5): the request's DPoP proof does not check out.
    pub fn invalid_dpop_proof(description: impl Into<String>) -> OAuthError {
        OAuthError(ErrorResponse::from_code(
            OAuthErrorCode::InvalidDpopProof,
            description,
        ))
    }

    /// `413` with an `invalid_request` body: the request body is over the
    /// limit.
    pub fn body_too_large() -> OAuthError {
        let mut answer = ErrorResponse::invalid_request("the request body is too large");
        answer.status = 413;
        OAuthError(answer)
    }

    /// The answer to a store error at `endpoint`.
    pub fn at(endpoint: Endpoint, error: &Error) -> OAuthError {
        OAuthError(ErrorResponse::new(error, endpoint))
    }

    /// The answer to a store error at the token endpoint (and at the
    /// revocation, introspection, PAR and device authorization endpoints,
    /// which answer client and request errors as it does).
    pub fn token(error: &Error) -> OAuthError {
        OAuthError::at(Endpoint::Token, error)
    }

    /// The OAuth error code (`"invalid_grant"`), empty for a bare
    /// challenge.
    pub fn code(&self) -> &str {
        &self.0.error
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<ErrorResponse> for OAuthError {
    fn from(answer: ErrorResponse) -> OAuthError {
        OAuthError(answer)
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.error_description {
            Some(description) => write!(f, "{}: {description}", self.0.error),
            None => write!(f, "{}", self.status()),
        }
    }
}

impl std::error::Error for OAuthError {}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let answer = self.0;
        let mut response = if answer.has_body() {
            (status, Json(&answer)).into_response()
        } else {
            status.into_response()
        };
        response
            .extensions_mut()
            .insert(Outcome(static_code(&answer.error)));
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = answer
            .www_authenticate
            .as_deref()
            .and_then(|challenge| HeaderValue::from_str(challenge).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// The error code as a metric label: one of the codes an endpoint answers,
/// so that a label never carries text a client chose.
fn static_code(code: &str) -> &'static str {
    const CODES: &[&str] = &[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "unsupported_response_type",
        "unsupported_token_type",
        "invalid_scope",
        "invalid_token",
        "insufficient_scope",
        "invalid_target",
        "invalid_request_uri",
        "invalid_dpop_proof",
        "authorization_pending",
        "slow_down",
        "access_denied",
        "expired_token",
        "server_error",
        "temporarily_unavailable",
    ];
    match code {
        "" => "unauthenticated",
        code => CODES
            .iter()
            .find(|known| **known == code)
            .copied()
            .unwrap_or("error"),
    }
}

/// A JSON answer that must not be cached: it carries a credential (RFC 6749
/// §5.1: `Cache-Control: no-store`, and `Pragma: no-cache` for HTTP/1.0
/// caches).
pub fn no_store(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
