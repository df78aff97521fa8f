//! OAuth error responses: RFC 6749 §5.2 bodies with the right status, and
//! `WWW-Authenticate` on 401.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use grantdb::{Error, OAuthErrorCode};
use serde::Serialize;

/// An error as the token, revocation and introspection endpoints return it.
#[derive(Debug)]
pub struct OAuthError {
    /// The RFC 6749 §5.2 code (or `server_error`).
    pub code: &'static str,
    /// A human-readable description (never a secret).
    pub description: String,
    /// 400, 401 or 500.
    pub status: StatusCode,
    /// The scheme to name in `WWW-Authenticate` on a 401.
    pub challenge: &'static str,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuthError {
    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError {
            code: "invalid_request",
            description: description.into(),
            status: StatusCode::BAD_REQUEST,
            challenge: "Basic",
        }
    }

    /// `invalid_client` (401) naming `challenge` in `WWW-Authenticate`.
    pub fn invalid_client(challenge: &'static str) -> OAuthError {
        OAuthError {
            code: "invalid_client",
            description: "client authentication failed".into(),
            status: StatusCode::UNAUTHORIZED,
            challenge,
        }
    }

    /// The response for a grantdb error. Client authentication failures are
    /// 401 (RFC 6749 §5.2); other rule violations 400; storage trouble 500.
    pub fn from_store(error: &Error, challenge: &'static str) -> OAuthError {
        match error.oauth_code() {
            Some(OAuthErrorCode::InvalidClient) => OAuthError::invalid_client(challenge),
            Some(code) => OAuthError {
                code: code.as_str(),
                description: error.to_string(),
                status: StatusCode::BAD_REQUEST,
                challenge,
            },
            None => OAuthError {
                code: "server_error",
                description: "the token store failed".into(),
                status: StatusCode::INTERNAL_SERVER_ERROR,
                challenge,
            },
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code,
            error_description: &self.description,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = format!("{} realm=\"grantdb\"", self.challenge);
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// A 401 from a resource endpoint (RFC 6750 §3).
pub fn bearer_error(status: StatusCode, code: &str) -> Response {
    let challenge = format!("Bearer realm=\"grantdb\", error=\"{code}\"");
    let mut response = (status, Json(serde_json::json!({ "error": code }))).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
