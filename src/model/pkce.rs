//! PKCE (RFC 7636): code challenges stored with a code, verifiers checked at exchange.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::{Error, InputError};

/// How the challenge was derived from the verifier (RFC 7636 §4.2). In JSON:
/// `"S256"`, `"plain"`, as `code_challenge_method` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PkceMethod {
    /// `S256`: `challenge = BASE64URL(SHA256(verifier))`.
    S256,
    /// `plain`: `challenge = verifier` (RFC 9700 recommends `S256`).
    #[serde(rename = "plain")]
    Plain,
}

impl PkceMethod {
    /// Parses `code_challenge_method`; absent means `plain` (RFC 7636 §4.3).
    pub fn parse(text: Option<&str>) -> Result<PkceMethod, Error> {
        match text {
            None | Some("plain") => Ok(PkceMethod::Plain),
            Some("S256") => Ok(PkceMethod::S256),
            Some(_) => Err(Error::InvalidArgument {
                what: "code_challenge_method",
                reason: InputError::BadStructure,
            }),
        }
    }
}

impl fmt::Display for PkceMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PkceMethod::S256 => "S256",
            PkceMethod::Plain => "plain",
        })
    }
}

/// A PKCE code challenge as sent in the authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PkceChallenge {
    /// The transformation used.
    pub method: PkceMethod,
    /// The `code_challenge` value.
    pub challenge: String,
}

impl PkceChallenge {
    /// A checked challenge: 43 to 128 unreserved characters (RFC 7636 §4.2).
    pub fn new(method: PkceMethod, challenge: impl Into<String>) -> Result<PkceChallenge, Error> {
        let challenge = challenge.into();
        check_pkce_string("code_challenge", &challenge)?;
        if method == PkceMethod::S256 && challenge.len() != 43 {
            // BASE64URL of a 32-byte SHA-256 digest is always 43 characters.
            return Err(Error::InvalidArgument {
                what: "code_challenge",
                reason: InputError::BadStructure,
            });
        }
        Ok(PkceChallenge { method, challenge })
    }

    /// Whether `verifier` answers this challenge, compared in constant time.
    pub(crate) fn is_answered_by(&self, verifier: &str) -> bool {
        let derived = match self.method {
            PkceMethod::Plain => verifier.to_owned(),
            PkceMethod::S256 => URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())),
        };
        // Comparing digests keeps the comparison constant-time whatever the lengths.
        blake3::hash(derived.as_bytes()) == blake3::hash(self.challenge.as_bytes())
    }
}

/// RFC 7636 §4.1: `43*128unreserved`, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
pub(crate) fn check_pkce_string(what: &'static str, value: &str) -> Result<(), Error> {
    if !(43..=128).contains(&value.len()) {
        return Err(Error::InvalidArgument {
            what,
            reason: InputError::BadStructure,
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err(Error::InvalidArgument {
            what,
            reason: InputError::BadCharacter,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = PkceChallenge::new(
            PkceMethod::S256,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .unwrap();
        assert!(challenge.is_answered_by(verifier));
        assert!(!challenge.is_answered_by("dBjftJeZ4CVP-mB92K27uhbUJU1p1r7wW1gFWFOEjXX"));
    }

    #[test]
    fn plain_and_malformed() {
        let verifier = "a".repeat(43);
        let plain = PkceChallenge::new(PkceMethod::Plain, verifier.clone()).unwrap();
        assert!(plain.is_answered_by(&verifier));
        assert!(!plain.is_answered_by(&"b".repeat(43)));
        assert!(PkceChallenge::new(PkceMethod::Plain, "short").is_err());
        assert!(PkceChallenge::new(PkceMethod::S256, "a".repeat(44)).is_err());
        assert!(PkceMethod::parse(Some("S512")).is_err());
    }
}
