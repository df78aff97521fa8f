//! What a grant and its tokens are bound to beyond their client: the key or
//! certificate that must accompany them (RFC 9449 DPoP, RFC 8705 mutual TLS),
//! the resources they are for (RFC 8707), and the sign-in they came from
//! (OpenID Connect). The host checks proofs and signatures; grantdb keeps the
//! bindings with the grant, in the same transactions, and hands them back.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, InputError, Result};
use crate::model::text::text_ok;

/// Most resources a request may name (RFC 8707).
pub const MAX_RESOURCES: usize = 8;
/// Longest resource URI, in bytes.
pub const MAX_RESOURCE_LEN: usize = 512;
/// Longest `acr` or `sid`, in bytes.
pub const MAX_SESSION_TEXT_LEN: usize = 255;
/// Most `amr` values.
pub const MAX_AMR: usize = 16;
/// Longest `amr` value, in bytes.
const MAX_AMR_LEN: usize = 64;

/// A proof-of-possession confirmation (the `cnf` claim, RFC 7800): what a
/// client must prove it holds to use a token. In JSON, `{"jkt": "…"}` or
/// `{"x5t#S256": "…"}`, as RFC 9449 §6 and RFC 8705 §3.1 write it.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Confirmation {
    /// DPoP (RFC 9449): the JWK SHA-256 thumbprint of the client's key.
    DpopJkt(String),
    /// Mutual TLS (RFC 8705): the SHA-256 thumbprint of the client certificate.
    CertificateSha256(String),
}

/// Checks a base64url SHA-256 thumbprint: 43 characters, 32 bytes.
fn check_thumbprint(what: &'static str, thumbprint: &str) -> Result<()> {
    let decoded = URL_SAFE_NO_PAD.decode(thumbprint);
    if thumbprint.len() == 43 && decoded.is_ok_and(|bytes| bytes.len() == 32) {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what,
            reason: InputError::BadStructure,
        })
    }
}

impl Confirmation {
    /// A DPoP key binding from its JWK SHA-256 thumbprint (base64url, as the
    /// `jkt` claim and the `dpop_jkt` parameter carry it).
    pub fn dpop(jkt: impl Into<String>) -> Result<Confirmation> {
        let jkt = jkt.into();
        check_thumbprint("dpop_jkt", &jkt)?;
        Ok(Confirmation::DpopJkt(jkt))
    }

    /// A certificate binding from the certificate's SHA-256 thumbprint
    /// (base64url, as `x5t#S256` carries it).
    pub fn certificate(x5t_s256: impl Into<String>) -> Result<Confirmation> {
        let thumbprint = x5t_s256.into();
        check_thumbprint("x5t#S256", &thumbprint)?;
        Ok(Confirmation::CertificateSha256(thumbprint))
    }

    /// The thumbprint.
    pub fn thumbprint(&self) -> &str {
        match self {
            Confirmation::DpopJkt(t) | Confirmation::CertificateSha256(t) => t,
        }
    }

    /// The `cnf` member name: `jkt` or `x5t#S256`.
    pub fn member(&self) -> &'static str {
        match self {
            Confirmation::DpopJkt(_) => "jkt",
            Confirmation::CertificateSha256(_) => "x5t#S256",
        }
    }
}

/// Thumbprints are public values (hashes of public keys), shown in full.
impl fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Confirmation({}: {})", self.member(), self.thumbprint())
    }
}

impl Serialize for Confirmation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.member(), self.thumbprint())?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Confirmation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Cnf {
            jkt: Option<String>,
            #[serde(rename = "x5t#S256")]
            x5t_s256: Option<String>,
        }
        let cnf = Cnf::deserialize(deserializer)?;
        let confirmation = match (cnf.jkt, cnf.x5t_s256) {
            (Some(jkt), None) => Confirmation::dpop(jkt),
            (None, Some(x5t)) => Confirmation::certificate(x5t),
            _ => {
                return Err(serde::de::Error::custom(
                    "cnf holds exactly one of jkt and x5t#S256",
                ));
            }
        };
        confirmation.map_err(serde::de::Error::custom)
    }
}

/// Checks and normalises resource indicators (RFC 8707 §2): absolute URIs
/// without a fragment, at most [`MAX_RESOURCES`] of at most
/// [`MAX_RESOURCE_LEN`] bytes; returned sorted, without repeats (a set).
pub fn check_resources<S: AsRef<str>>(resources: &[S]) -> Result<Vec<String>> {
    let malformed = |reason| Error::MalformedResource { reason };
    if resources.len() > MAX_RESOURCES {
        return Err(malformed(InputError::TooMany { max: MAX_RESOURCES }));
    }
    let mut checked = Vec::with_capacity(resources.len());
    for resource in resources {
        let resource = resource.as_ref();
        if resource.is_empty() {
            return Err(malformed(InputError::Empty));
        }
        if resource.len() > MAX_RESOURCE_LEN {
            return Err(malformed(InputError::TooLong {
                max: MAX_RESOURCE_LEN,
            }));
        }
        // RFC 8707 §2: "an absolute URI ... MUST NOT include a fragment
        // component" (RFC 3986 §4.3: a URI with a scheme).
        match fluent_uri::Uri::parse(resource) {
            Ok(uri) if uri.fragment().is_none() => {}
            _ => return Err(malformed(InputError::BadStructure)),
        }
        checked.push(resource.to_owned());
    }
    checked.sort_unstable();
    checked.dedup();
    Ok(checked)
}

/// The sign-in a grant came from, as OpenID Connect needs it to mint ID
/// tokens: given at authorization (or to the password grant), kept with the
/// grant across refreshes, returned on exchange, refresh, listing and
/// introspection. All optional.
///
/// ```
/// use grantdb::AuthSession;
///
/// let session = AuthSession::new()
///     .auth_time(1_700_000_000)
///     .acr("urn:example:loa:2")
///     .amr(["pwd", "otp"])
///     .sid("a5f1e0c2");
/// assert_eq!(session.amr, ["pwd", "otp"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthSession {
    /// When the user authenticated (Unix seconds): `auth_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// Authentication context class reference: `acr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods: `amr`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The sign-in session id (`sid`, OpenID Connect front- and back-channel
    /// logout): every grant and pending code of one session id can be
    /// revoked at once with [`Store::revoke_session`](crate::Store::revoke_session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl AuthSession {
    /// An empty session.
    pub fn new() -> AuthSession {
        AuthSession::default()
    }

    /// Sets `auth_time`.
    #[must_use]
    pub fn auth_time(mut self, at: u64) -> AuthSession {
        self.auth_time = Some(at);
        self
    }

    /// Sets `acr`.
    #[must_use]
    pub fn acr(mut self, acr: impl Into<String>) -> AuthSession {
        self.acr = Some(acr.into());
        self
    }

    /// Sets `amr`.
    #[must_use]
    pub fn amr<S: Into<String>>(mut self, methods: impl IntoIterator<Item = S>) -> AuthSession {
        self.amr = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `sid`.
    #[must_use]
    pub fn sid(mut self, sid: impl Into<String>) -> AuthSession {
        self.sid = Some(sid.into());
        self
    }

    /// Checks every field: non-empty text without control characters, within
    /// its length limit.
    pub(crate) fn check(&self) -> Result<()> {
        let text = |what, value: &str, max| {
            if value.is_empty() || !text_ok(value, max) {
                Err(Error::InvalidArgument {
                    what,
                    reason: if value.is_empty() {
                        InputError::Empty
                    } else if value.len() > max {
                        InputError::TooLong { max }
                    } else {
                        InputError::BadCharacter
                    },
                })
            } else {
                Ok(())
            }
        };
        if let Some(acr) = &self.acr {
            text("acr", acr, MAX_SESSION_TEXT_LEN)?;
        }
        if let Some(sid) = &self.sid {
            text("sid", sid, MAX_SESSION_TEXT_LEN)?;
        }
        if self.amr.len() > MAX_AMR {
            return Err(Error::InvalidArgument {
                what: "amr",
                reason: InputError::TooMany { max: MAX_AMR },
            });
        }
        for method in &self.amr {
            text("amr", method, MAX_AMR_LEN)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    #[test]
    fn confirmations_are_checked_and_speak_rfc_json() {
        let dpop = Confirmation::dpop(JKT).unwrap();
        assert_eq!(
            serde_json::to_string(&dpop).unwrap(),
            format!(r#"{{"jkt":"{JKT}"}}"#)
        );
        let cert = Confirmation::certificate(JKT).unwrap();
        let json = serde_json::to_string(&cert).unwrap();
        assert_eq!(json, format!(r#"{{"x5t#S256":"{JKT}"}}"#));
        assert_eq!(serde_json::from_str::<Confirmation>(&json).unwrap(), cert);
        for bad in ["", "short", &JKT[1..], &format!("{JKT}A"), "!!!"] {
            assert!(Confirmation::dpop(bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<Confirmation>(r#"{"jkt":"x"}"#).is_err());
        assert!(serde_json::from_str::<Confirmation>("{}").is_err());
    }

    #[test]
    fn resources_are_absolute_uris_without_fragment_kept_as_a_set() {
        let checked = check_resources(&[
            "https://b.example/",
            "https://a.example/api",
            "https://b.example/",
        ])
        .unwrap();
        assert_eq!(checked, ["https://a.example/api", "https://b.example/"]);
        for bad in [
            "",
            "relative/path",
            "https://a.example/#frag",
            "https://a.example/#",
            "no scheme",
            "https://a.example/a b",
        ] {
            assert!(
                matches!(
                    check_resources(&[bad]),
                    Err(Error::MalformedResource { .. })
                ),
                "{bad:?}"
            );
        }
        let many: Vec<String> = (0..=MAX_RESOURCES)
            .map(|i| format!("https://r{i}.example/"))
            .collect();
        assert!(check_resources(&many).is_err());
    }

    #[test]
    fn session_fields_are_bounded_text() {
        assert!(
            AuthSession::new()
                .acr("loa2")
                .amr(["pwd"])
                .sid("s1")
                .check()
                .is_ok()
        );
        assert!(AuthSession::new().acr("").check().is_err());
        assert!(AuthSession::new().sid("a\nb").check().is_err());
        assert!(
            AuthSession::new()
                .amr(vec!["m"; MAX_AMR + 1])
                .check()
                .is_err()
        );
    }
}
