//! Request parameters as RFC 6749 wants them read: from a query string, a
//! form body or a JSON body (Prioticket sends JSON), each parameter at most
//! once (RFC 6749 §3.1, §3.2: "Request and response parameters MUST NOT be
//! included more than once") but for RFC 8707's `resource`, which may
//! repeat; an empty value counts as absent. Every refusal is an RFC 6749
//! §5.2 `invalid_request`, never axum's plain-text rejection.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::{HeaderMap, header};

use crate::error::OAuthError;

/// The parameters that may be given more than once (RFC 8707 §2).
const REPEATABLE: &[&str] = &["resource"];

/// The parameters of one request.
#[derive(Debug, Default, Clone)]
pub struct Params {
    single: HashMap<String, String>,
    resources: Vec<String>,
}

impl Params {
    /// A parameter's value, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.single
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// A parameter that must be present: `invalid_request` if it is not.
    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }

    /// The `resource` parameters (RFC 8707), in the order given.
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// Parameters from name–value pairs; a parameter given twice is
    /// `invalid_request` (but `resource`).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Params, OAuthError> {
        let mut params = Params::default();
        for (name, value) in pairs {
            // The form decoder replaces what is not UTF-8 with U+FFFD rather
            // than failing; no OAuth parameter holds that character, so one
            // that does was not UTF-8 (RFC 6749 Appendix B).
            if name.contains(char::REPLACEMENT_CHARACTER)
                || value.contains(char::REPLACEMENT_CHARACTER)
            {
                return Err(OAuthError::invalid_request("a parameter is not UTF-8"));
            }
            if REPEATABLE.contains(&name.as_str()) {
                if !value.is_empty() {
                    params.resources.push(value);
                }
                continue;
            }
            if params.single.insert(name.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name} is repeated"
                )));
            }
        }
        Ok(params)
    }

    /// The parameters of a query string.
    pub fn from_query(query: Option<&str>) -> Result<Params, OAuthError> {
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or_default())
            .map_err(|_| OAuthError::invalid_request("malformed query string"))?;
        Params::from_pairs(pairs)
    }

    /// The parameters of a request body:
    /// `application/x-www-form-urlencoded` (also when no content type is
    /// given), or `application/json` with string (or number) members.
    pub fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("application/x-www-form-urlencoded");
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media_type.as_str() {
            "application/x-www-form-urlencoded" => {
                let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
                    .map_err(|_| OAuthError::invalid_request("malformed form body"))?;
                Params::from_pairs(pairs)
            }
            "application/json" => Params::from_pairs(json_pairs(body)?),
            _ => Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded or application/json",
            )),
        }
    }
}

/// A JSON object's members as pairs, repeats kept (a map would keep only
/// the last of a repeated member, and a repeat must be refused).
fn json_pairs(body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let JsonPairs(members) = serde_json::from_slice(body)
        .map_err(|_| OAuthError::invalid_request("malformed JSON body"))?;
    let mut pairs = Vec::with_capacity(members.len());
    for (name, value) in members {
        match value {
            serde_json::Value::String(text) => pairs.push((name, text)),
            serde_json::Value::Number(number) => pairs.push((name, number.to_string())),
            // RFC 8707 in JSON: an array of resources.
            serde_json::Value::Array(values) if REPEATABLE.contains(&name.as_str()) => {
                for value in values {
                    let serde_json::Value::String(text) = value else {
                        return Err(OAuthError::invalid_request(format!(
                            "parameter {name} must be strings"
                        )));
                    };
                    pairs.push((name.clone(), text));
                }
            }
            _ => {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name} must be a string"
                )));
            }
        }
    }
    Ok(pairs)
}

/// A JSON object's members in order, repeats kept.
struct JsonPairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonPairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<JsonPairs, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = JsonPairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(JsonPairs(pairs))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// An extractor: the request's headers and its body's parameters. A body
/// over the route's limit (axum's `DefaultBodyLimit`; the router of this
/// crate sets [`OAuthConfig::max_body`](crate::OAuthConfig::max_body)) is
/// `413` with an `invalid_request` body.
#[derive(Debug, Clone)]
pub struct OAuthForm {
    /// The request's headers (client authentication, DPoP).
    pub headers: HeaderMap,
    /// The body's parameters.
    pub params: Params,
    /// The client's address, when the server records it (axum's
    /// `ConnectInfo<SocketAddr>`: `into_make_service_with_connect_info`).
    pub remote_addr: Option<std::net::SocketAddr>,
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<OAuthForm, OAuthError> {
        let headers = request.headers().clone();
        let remote_addr = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0);
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    OAuthError::body_too_large()
                } else {
                    OAuthError::invalid_request("the body could not be read")
                }
            })?;
        let params = Params::from_body(&headers, &body)?;
        Ok(OAuthForm {
            headers,
            params,
            remote_addr,
        })
    }
}
