//! The record fields added in record version 3 (database formats 3 and 4), stored
//! after the version 2 body: resources (RFC 8707), confirmations (RFC 9449,
//! RFC 8705) and sign-in data (OpenID Connect). A version 2 record reads as
//! having none of them.
//!
//! The stored shapes are this module's own, not the public types': the
//! public types may change their JSON, the file may not change its bytes.

use serde::{Deserialize, Serialize};

use crate::model::binding::{AuthSession, Confirmation, MAX_RESOURCE_LEN, MAX_RESOURCES};

/// A confirmation as stored: kind and thumbprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StoredConfirmation {
    Dpop(String),
    Certificate(String),
}

impl From<&Confirmation> for StoredConfirmation {
    fn from(confirmation: &Confirmation) -> StoredConfirmation {
        match confirmation {
            Confirmation::DpopJkt(t) => StoredConfirmation::Dpop(t.clone()),
            Confirmation::CertificateSha256(t) => StoredConfirmation::Certificate(t.clone()),
        }
    }
}

impl StoredConfirmation {
    /// The public value; `None` if the stored thumbprint is malformed.
    pub(crate) fn to_public(&self) -> Option<Confirmation> {
        match self {
            StoredConfirmation::Dpop(t) => Confirmation::dpop(t.clone()).ok(),
            StoredConfirmation::Certificate(t) => Confirmation::certificate(t.clone()).ok(),
        }
    }
}

/// A sign-in as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct StoredSession {
    pub auth_time: Option<u64>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub sid: Option<String>,
}

impl From<&AuthSession> for StoredSession {
    fn from(session: &AuthSession) -> StoredSession {
        StoredSession {
            auth_time: session.auth_time,
            acr: session.acr.clone(),
            amr: session.amr.clone(),
            sid: session.sid.clone(),
        }
    }
}

impl StoredSession {
    /// The public value.
    pub(crate) fn to_public(&self) -> AuthSession {
        let mut session = AuthSession::new().amr(self.amr.clone());
        session.auth_time = self.auth_time;
        session.acr.clone_from(&self.acr);
        session.sid.clone_from(&self.sid);
        session
    }

    fn is_valid(&self) -> bool {
        self.to_public().check().is_ok()
    }
}

/// Whether stored resources are a well-formed set: within the bounds, no
/// fragment, sorted, no repeats. Only the shape: a resource accepted by an
/// earlier build's parser (the WHATWG one of the `url` crate, more lenient
/// than the RFC 3986 parser input is checked with now) still reads.
fn resources_ok(resources: &[String]) -> bool {
    resources.len() <= MAX_RESOURCES
        && resources
            .iter()
            .all(|r| !r.is_empty() && r.len() <= MAX_RESOURCE_LEN && !r.contains('#'))
        && resources.windows(2).all(|pair| pair[0] < pair[1])
}

fn confirmation_ok(cnf: Option<&StoredConfirmation>) -> bool {
    cnf.is_none_or(|cnf| cnf.to_public().is_some())
}

/// What a client carries beyond format 3.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct ClientExt {
    /// The id of the ring key the secret's hash is under; `None` for a
    /// secret hashed before the key ring (key 1).
    pub secret_key: Option<u8>,
    /// Codes only through pushed authorization requests (R30).
    pub require_pushed_requests: bool,
}

impl ClientExt {
    /// The id of the key the secret's hash is under.
    pub(crate) fn secret_key_id(&self) -> u8 {
        self.secret_key.unwrap_or(1)
    }
}

/// What a code carries beyond format 2.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct CodeExt {
    /// The resources the authorization covers (RFC 8707).
    pub resources: Vec<String>,
    /// The DPoP key the authorization was bound to (`dpop_jkt`, RFC 9449 §10):
    /// the exchange must present it.
    pub dpop_jkt: Option<StoredConfirmation>,
    /// The sign-in it came from.
    pub session: Option<StoredSession>,
}

impl CodeExt {
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if !resources_ok(&self.resources) {
            return Err("resources");
        }
        if !confirmation_ok(self.dpop_jkt.as_ref()) {
            return Err("dpop_jkt");
        }
        if self.session.as_ref().is_some_and(|s| !s.is_valid()) {
            return Err("session");
        }
        Ok(())
    }
}

/// What a grant carries beyond format 2.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct GrantExt {
    /// Every resource the grant covers; its tokens name all or some.
    pub resources: Vec<String>,
    /// The key or certificate every refresh must present (R24).
    pub cnf: Option<StoredConfirmation>,
    /// The sign-in it came from, kept across refreshes.
    pub session: Option<StoredSession>,
    /// The OpenID Connect nonce of its code.
    pub nonce: Option<String>,
}

impl GrantExt {
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if !resources_ok(&self.resources) {
            return Err("resources");
        }
        if !confirmation_ok(self.cnf.as_ref()) {
            return Err("cnf");
        }
        if self.session.as_ref().is_some_and(|s| !s.is_valid()) {
            return Err("session");
        }
        if self
            .nonce
            .as_deref()
            .is_some_and(|n| !crate::model::text::text_ok(n, super::MAX_NONCE_LEN))
        {
            return Err("nonce");
        }
        Ok(())
    }

    /// The session id, if the grant has one.
    pub(crate) fn sid(&self) -> Option<&str> {
        self.session.as_ref().and_then(|s| s.sid.as_deref())
    }
}

/// What a token carries beyond format 2, so that validation stays one read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct TokenExt {
    /// The audiences (resources) the token is for; empty: not restricted.
    pub aud: Vec<String>,
    /// The key or certificate a resource server must see with it.
    pub cnf: Option<StoredConfirmation>,
}

impl TokenExt {
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if !resources_ok(&self.aud) {
            return Err("aud");
        }
        if !confirmation_ok(self.cnf.as_ref()) {
            return Err("cnf");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::binding::check_resources;

    /// R20 with the format discipline: input is checked strictly, but a
    /// resource an earlier build accepted (its WHATWG parser took a space
    /// or a non-ASCII host) still reads from a stored record.
    #[test]
    fn r20_stored_resources_are_checked_for_shape_only() {
        let earlier = [
            "https://a.example/a b".to_owned(),
            "https://bücher.example/".to_owned(),
        ];
        assert!(resources_ok(&earlier));
        assert!(earlier.iter().all(|r| check_resources(&[r]).is_err()));
        for damaged in [
            vec![
                "https://b.example/".to_owned(),
                "https://a.example/".to_owned(),
            ],
            vec![
                "https://a.example/".to_owned(),
                "https://a.example/".to_owned(),
            ],
            vec!["https://a.example/#f".to_owned()],
            vec![String::new()],
            vec!["x".repeat(MAX_RESOURCE_LEN + 1)],
        ] {
            assert!(!resources_ok(&damaged), "{damaged:?}");
        }
    }
}
