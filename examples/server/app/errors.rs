//! OAuth error responses, as `grantdb::ErrorResponse` says them: RFC 6749
//! §5.2 (or RFC 6750 §3) bodies with the right status and
//! `WWW-Authenticate`, and `Cache-Control: no-store`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use grantdb::{Endpoint, Error, ErrorResponse, OAuthErrorCode};

/// An error as an endpoint answers it.
#[derive(Debug)]
pub struct OAuthError(pub ErrorResponse);

impl OAuthError {
    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError(ErrorResponse::invalid_request(description))
    }

    /// `invalid_client` (401, `Basic` challenge).
    pub fn invalid_client() -> OAuthError {
        OAuthError(ErrorResponse::from_code(
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        ))
    }

    /// `invalid_grant` with a description (a wrong resource-owner password).
    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError(ErrorResponse::from_code(
            OAuthErrorCode::InvalidGrant,
            description,
        ))
    }

    /// The answer for a grantdb error at the token, revocation or
    /// introspection endpoint.
    pub fn from_store(error: &Error) -> OAuthError {
        OAuthError(ErrorResponse::new(error, Endpoint::Token))
    }
}

impl From<ErrorResponse> for OAuthError {
    fn from(answer: ErrorResponse) -> OAuthError {
        OAuthError(answer)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let answer = self.0;
        let status =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = if answer.has_body() {
            (status, Json(&answer)).into_response()
        } else {
            status.into_response()
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = answer
            .www_authenticate
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
