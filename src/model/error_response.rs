//! An error as an HTTP endpoint answers it: the status, the RFC 6749 §5.2 (or
//! RFC 6750 §3) JSON body and the `WWW-Authenticate` challenge, so that no
//! host has to write the table again.

use serde::{Deserialize, Serialize};

use crate::error::{Endpoint, Error, OAuthErrorCode};

/// The answer to a failed request, ready for any HTTP library.
///
/// ```
/// use grantdb::{Endpoint, Error, ErrorResponse};
/// let answer = ErrorResponse::new(&Error::InactiveToken, Endpoint::Resource);
/// assert_eq!(answer.status, 401);
/// assert_eq!(
///     answer.www_authenticate.as_deref(),
///     Some(r#"Bearer realm="grantdb", error="invalid_token""#)
/// );
/// assert_eq!(serde_json::to_string(&answer)?, r#"{"error":"invalid_token","error_description":"the token is not active"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The HTTP status: 400, 401, 403, 500 or 503.
    #[serde(skip, default = "bad_request")]
    pub status: u16,
    /// The error code (`invalid_grant`, `invalid_token`, ...).
    pub error: String,
    /// A description for the developer of the client; never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The `WWW-Authenticate` header value, when the status is 401.
    #[serde(skip)]
    pub www_authenticate: Option<String>,
}

fn bad_request() -> u16 {
    400
}

/// The realm named in challenges unless [`ErrorResponse::realm`] says another.
const DEFAULT_REALM: &str = "grantdb";

impl ErrorResponse {
    /// The answer for `error` at `endpoint`:
    ///
    /// * token, revocation and introspection endpoints (RFC 6749 §5.2): a
    ///   failed client authentication is 401 `invalid_client` with a `Basic`
    ///   challenge; any other rule violation 400 with its code;
    /// * a resource server (RFC 6750 §3.1): an inactive or malformed token is
    ///   401 `invalid_token` with a `Bearer` challenge;
    /// * the authorization endpoint: 400 with the code (a host usually puts it
    ///   in the redirect instead, RFC 6749 §4.1.2.1);
    /// * a full disk or an I/O error: 503 `temporarily_unavailable`; any other
    ///   storage failure 500 `server_error`, described without internals.
    pub fn new(error: &Error, endpoint: Endpoint) -> ErrorResponse {
        let Some(code) = error.oauth_code_at(endpoint) else {
            let (status, code) = if matches!(error, Error::DiskFull | Error::Io { .. }) {
                (503, OAuthErrorCode::TemporarilyUnavailable)
            } else {
                (500, OAuthErrorCode::ServerError)
            };
            return ErrorResponse {
                status,
                error: code.as_str().to_owned(),
                error_description: Some("the token store failed".to_owned()),
                www_authenticate: None,
            };
        };
        let mut answer = ErrorResponse {
            status: 400,
            error: code.as_str().to_owned(),
            error_description: Some(error.to_string()),
            www_authenticate: None,
        };
        match (endpoint, code) {
            (Endpoint::Resource, OAuthErrorCode::InvalidToken) => {
                answer.status = 401;
                answer.www_authenticate = Some(bearer_challenge(DEFAULT_REALM, Some(code)));
            }
            (_, OAuthErrorCode::InvalidClient) => {
                answer.status = 401;
                answer.www_authenticate = Some(format!("Basic realm=\"{DEFAULT_REALM}\""));
            }
            _ => {}
        }
        answer
    }

    /// An answer for a code the host decides itself (a malformed request, a
    /// wrong resource-owner password): 401 with a `Basic` challenge for
    /// `invalid_client`, 401 with a `Bearer` challenge for `invalid_token`,
    /// 403 for `insufficient_scope`, 500 or 503 for the server's own, 400
    /// otherwise.
    pub fn from_code(code: OAuthErrorCode, description: impl Into<String>) -> ErrorResponse {
        let (status, www_authenticate) = match code {
            OAuthErrorCode::InvalidClient => {
                (401, Some(format!("Basic realm=\"{DEFAULT_REALM}\"")))
            }
            OAuthErrorCode::InvalidToken => {
                (401, Some(bearer_challenge(DEFAULT_REALM, Some(code))))
            }
            OAuthErrorCode::InsufficientScope => {
                (403, Some(bearer_challenge(DEFAULT_REALM, Some(code))))
            }
            OAuthErrorCode::ServerError => (500, None),
            OAuthErrorCode::TemporarilyUnavailable => (503, None),
            _ => (400, None),
        };
        ErrorResponse {
            status,
            error: code.as_str().to_owned(),
            error_description: Some(description.into()),
            www_authenticate,
        }
    }

    /// 400 `invalid_request` with a description (a parameter missing or
    /// repeated, a malformed body).
    pub fn invalid_request(description: impl Into<String>) -> ErrorResponse {
        ErrorResponse::from_code(OAuthErrorCode::InvalidRequest, description)
    }

    /// RFC 6750 §3.1: a request to a resource server with no token at all is
    /// 401 with a challenge and no error code.
    pub fn missing_bearer_token() -> ErrorResponse {
        ErrorResponse {
            status: 401,
            error: String::new(),
            error_description: None,
            www_authenticate: Some(bearer_challenge(DEFAULT_REALM, None)),
        }
    }

    /// RFC 6750 §3.1: the token is valid but lacks `scope`: 403.
    pub fn insufficient_scope(scope: &str) -> ErrorResponse {
        let code = OAuthErrorCode::InsufficientScope;
        ErrorResponse {
            status: 403,
            error: code.as_str().to_owned(),
            error_description: Some(format!("the token lacks the scope {scope}")),
            www_authenticate: Some(format!(
                "{}, scope=\"{scope}\"",
                bearer_challenge(DEFAULT_REALM, Some(code))
            )),
        }
    }

    /// The same answer with `realm` in its challenge.
    pub fn realm(mut self, realm: &str) -> ErrorResponse {
        if let Some(challenge) = &mut self.www_authenticate {
            *challenge = challenge.replacen(
                &format!("realm=\"{DEFAULT_REALM}\""),
                &format!("realm=\"{}\"", realm.replace(['"', '\\'], "")),
                1,
            );
        }
        self
    }

    /// Whether there is a body to send (a bare RFC 6750 challenge has none).
    pub fn has_body(&self) -> bool {
        !self.error.is_empty()
    }
}

fn bearer_challenge(realm: &str, code: Option<OAuthErrorCode>) -> String {
    match code {
        Some(code) => format!("Bearer realm=\"{realm}\", error=\"{}\"", code.as_str()),
        None => format!("Bearer realm=\"{realm}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenKind;

    #[test]
    fn each_endpoint_gets_its_status_code_and_challenge() {
        let token = ErrorResponse::new(&Error::ClientAuthenticationFailed, Endpoint::Token);
        assert_eq!(
            (token.status, token.error.as_str()),
            (401, "invalid_client")
        );
        assert_eq!(
            token.www_authenticate.as_deref(),
            Some("Basic realm=\"grantdb\"")
        );
        let grant = ErrorResponse::new(&Error::RefreshTokenReused, Endpoint::Token);
        assert_eq!((grant.status, grant.error.as_str()), (400, "invalid_grant"));
        assert!(grant.www_authenticate.is_none());
        let malformed = Error::MalformedToken {
            expected: TokenKind::Access,
        };
        let resource = ErrorResponse::new(&malformed, Endpoint::Resource).realm("api");
        assert_eq!(
            (resource.status, resource.error.as_str()),
            (401, "invalid_token")
        );
        assert_eq!(
            resource.www_authenticate.as_deref(),
            Some("Bearer realm=\"api\", error=\"invalid_token\"")
        );
        let missing = ErrorResponse::missing_bearer_token();
        assert!(!missing.has_body());
        assert_eq!(
            missing.www_authenticate.as_deref(),
            Some("Bearer realm=\"grantdb\"")
        );
        let full = ErrorResponse::new(&Error::DiskFull, Endpoint::Token);
        assert_eq!(
            (full.status, full.error.as_str()),
            (503, "temporarily_unavailable")
        );
        let scope = ErrorResponse::insufficient_scope("write");
        assert_eq!(scope.status, 403);
        assert!(
            scope
                .www_authenticate
                .is_some_and(|c| c.ends_with("error=\"insufficient_scope\", scope=\"write\""))
        );
    }
}
