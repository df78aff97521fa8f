//! Request parameters and client authentication, as RFC 6749 wants them read.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use grantdb::{AsyncStore, AuthenticatedClient, ClientId};

use super::errors::OAuthError;

/// Request parameters, each present once.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// A parameter's value, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be present.
    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }

    /// Pairs into parameters; a repeated one is `invalid_request` (RFC 6749 §3.1, §3.2).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Params, OAuthError> {
        let mut map = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if map.insert(name.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name} is repeated"
                )));
            }
        }
        Ok(Params(map))
    }

    /// A query string.
    pub fn from_query(query: Option<&str>) -> Result<Params, OAuthError> {
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or_default())
            .map_err(|_| OAuthError::invalid_request("malformed query string"))?;
        Params::from_pairs(pairs)
    }

    /// A request body: `application/x-www-form-urlencoded`, or JSON as
    /// Prioticket sends it.
    pub fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
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
            "application/json" => {
                // Read as pairs, not a map: a map would keep the last of a
                // repeated key, and a repeat must be refused (RFC 6749 §3.2).
                let JsonPairs(object) = serde_json::from_slice(body)
                    .map_err(|_| OAuthError::invalid_request("malformed JSON body"))?;
                let mut pairs = Vec::with_capacity(object.len());
                for (name, value) in object {
                    let value = match value {
                        serde_json::Value::String(text) => text,
                        serde_json::Value::Number(number) => number.to_string(),
                        _ => {
                            return Err(OAuthError::invalid_request(format!(
                                "parameter {name} must be a string"
                            )));
                        }
                    };
                    pairs.push((name, value));
                }
                Params::from_pairs(pairs)
            }
            _ => Err(OAuthError::invalid_request("unsupported content type")),
        }
    }
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

/// How the client said who it is.
enum Presented {
    /// HTTP Basic (RFC 6749 §2.3.1; pretix, Ticketpark, Prioticket).
    Basic { id: String, secret: String },
    /// `client_id` and `client_secret` in the body (Eventpop).
    Body { id: String, secret: String },
    /// A public client: `client_id` only.
    Public { id: String },
}

/// Decodes `Authorization: Basic`; `None` when the header is absent.
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client();
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
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    let unescape = |part: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={part}"))
            .ok()
            .and_then(|mut pairs| pairs.pop())
            .map(|(_, value)| value)
    };
    Ok(Some((
        unescape(id).ok_or_else(malformed)?,
        unescape(secret).ok_or_else(malformed)?,
    )))
}

fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let header = basic(headers)?;
    let body_secret = params.get("client_secret");
    match (header, body_secret) {
        // Prioticket's 400 list: "utilizes more than one mechanism for authenticating the client".
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "more than one client authentication method",
        )),
        (Some((id, secret)), None) => {
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            Ok(Presented::Basic { id, secret })
        }
        (None, Some(secret)) => Ok(Presented::Body {
            id: params.required("client_id")?.to_owned(),
            secret: secret.to_owned(),
        }),
        (None, None) => match params.get("client_id") {
            Some(id) => Ok(Presented::Public { id: id.to_owned() }),
            None => Err(OAuthError::invalid_client()),
        },
    }
}

/// Authenticates the client of a token, revocation or introspection request.
pub async fn authenticate(
    store: &AsyncStore,
    headers: &HeaderMap,
    params: &Params,
) -> Result<AuthenticatedClient, OAuthError> {
    let (id, secret) = match presented(headers, params)? {
        Presented::Basic { id, secret } | Presented::Body { id, secret } => (id, Some(secret)),
        Presented::Public { id } => (id, None),
    };
    let id: ClientId = id.parse().map_err(|_| OAuthError::invalid_client())?;
    store
        .authenticate_client(&id, secret.as_deref())
        .await
        .map_err(|error| OAuthError::from_store(&error))
}
