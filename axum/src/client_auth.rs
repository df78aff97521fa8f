//! Client authentication at the token, revocation, introspection, PAR and
//! device authorization endpoints (RFC 6749 §2.3): HTTP Basic, with both
//! parts form-decoded (§2.3.1), or `client_id` and `client_secret` in the
//! body, never both (`invalid_request`); a public client names itself with
//! `client_id` alone. The answer is the [`AuthenticatedClient`] grantdb's
//! token operations take.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use grantdb::kv::Backend;
use grantdb::{AuthenticatedClient, ClientId, Secret};
use http::{HeaderMap, header};

use crate::config::OAuth;
use crate::error::OAuthError;
use crate::params::Params;

/// How a client said who it is.
#[derive(Debug)]
pub enum Presented {
    /// HTTP Basic (RFC 6749 §2.3.1).
    Basic {
        /// The client id, decoded.
        id: String,
        /// The secret, decoded.
        secret: Secret,
    },
    /// `client_id` and `client_secret` in the body.
    Body {
        /// The `client_id` parameter.
        id: String,
        /// The `client_secret` parameter.
        secret: Secret,
    },
    /// A public client: `client_id` only.
    Public {
        /// The `client_id` parameter.
        id: String,
    },
}

/// Reads how the client of a request authenticates, without checking it.
pub fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let basic = basic(headers)?;
    match (basic, params.get("client_secret")) {
        // RFC 6749 §2.3: "The client MUST NOT use more than one authentication
        // method in each request" (Prioticket's 400 list says so too).
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "more than one client authentication method",
        )),
        (Some((id, secret)), None) => {
            if params.get("client_id").is_some_and(|named| named != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            Ok(Presented::Basic { id, secret })
        }
        (None, Some(secret)) => Ok(Presented::Body {
            id: params.required("client_id")?.to_owned(),
            secret: Secret::from(secret),
        }),
        (None, None) => match params.get("client_id") {
            Some(id) => Ok(Presented::Public { id: id.to_owned() }),
            None => Err(OAuthError::invalid_client()),
        },
    }
}

/// Authenticates the client of a request: `invalid_client` (401, a `Basic`
/// challenge) when it does not.
pub async fn authenticate<B: Backend>(
    oauth: &OAuth<B>,
    headers: &HeaderMap,
    params: &Params,
) -> Result<AuthenticatedClient, OAuthError> {
    let (id, secret) = match presented(headers, params)? {
        Presented::Basic { id, secret } | Presented::Body { id, secret } => (id, Some(secret)),
        Presented::Public { id } => (id, None),
    };
    let id: ClientId = id.parse().map_err(|_| OAuthError::invalid_client())?;
    oauth
        .store()
        .authenticate_client(&id, secret.as_ref().map(Secret::expose))
        .await
        .map_err(|error| OAuthError::token(&error))
}

/// Decodes `Authorization: Basic`; `None` when the request has no
/// `Authorization` header. Anything malformed is `invalid_client`.
fn basic(headers: &HeaderMap) -> Result<Option<(String, Secret)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = OAuthError::invalid_client;
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, credentials) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = STANDARD
        .decode(credentials.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Some((
        form_decoded(id).ok_or_else(malformed)?,
        Secret::from(form_decoded(secret).ok_or_else(malformed)?),
    )))
}

/// RFC 6749 §2.3.1: the client id and secret are
/// `application/x-www-form-urlencoded` before they are joined and encoded.
fn form_decoded(part: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={part}"))
        .ok()
        .and_then(|mut pairs| pairs.pop())
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_basic(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_one_method_only() {
        let encoded = STANDARD.encode("my%20client:s%2Bcret");
        let headers = with_basic(&format!("Basic {encoded}"));
        match presented(&headers, &Params::default()).unwrap() {
            Presented::Basic { id, secret } => {
                assert_eq!(id, "my client");
                assert_eq!(secret.expose(), "s+cret");
            }
            other => panic!("{other:?}"),
        }
        let both = Params::from_pairs(vec![("client_secret".into(), "x".into())]).unwrap();
        assert_eq!(
            presented(&headers, &both).unwrap_err().code(),
            "invalid_request"
        );
        for bad in [
            "Basic",
            "Basic !!!",
            "Bearer abc",
            &format!("Basic {}", STANDARD.encode("nocolon")),
        ] {
            let error = presented(&with_basic(bad), &Params::default()).unwrap_err();
            assert_eq!(
                (error.code(), error.status().as_u16()),
                ("invalid_client", 401),
                "{bad}"
            );
        }
    }
}
