//! `codes` table: `code hash → CodeRecord`.

use serde::{Deserialize, Serialize};

use super::Record;
use crate::kv::table::Table;
use crate::model::pkce::PkceChallenge;
use crate::model::scope::Scope;
use crate::model::text::text_ok;

/// Longest subject, in bytes.
pub(crate) const MAX_SUBJECT_LEN: usize = 1024;
/// Longest OpenID Connect nonce, in bytes.
pub(crate) const MAX_NONCE_LEN: usize = 512;
/// Most bytes of opaque host data on a code or grant.
pub(crate) const MAX_HOST_DATA_LEN: usize = 4_096;

/// An authorization code, bound to everything the exchange must match (R04).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CodeRecord {
    /// `BLAKE3-keyed(key, kind ‖ id ‖ secret)`: checks a presented code (R01).
    pub verifier: [u8; 16],
    pub client: [u8; 16],
    pub subject: String,
    pub scope: Scope,
    /// The redirect URI given at authorization; `None` when the default was used.
    pub redirect_uri: Option<String>,
    pub pkce: Option<PkceChallenge>,
    pub nonce: Option<String>,
    pub issued_at: u64,
    pub expires_at: u64,
    /// Set at the exchange: the grant it produced, revoked on replay (R05).
    pub exchanged_into: Option<[u8; 16]>,
    /// Opaque host data, handed on to the grant at the exchange.
    pub host_data: Option<Vec<u8>>,
    /// Fields of record version 3 (see [`super::ext`]).
    #[serde(skip)]
    pub ext: super::ext::CodeExt,
}

impl Record for CodeRecord {
    const TABLE: Table = Table::Codes;
    const NAME: &'static str = "code";
    type Ext = super::ext::CodeExt;

    fn ext(&self) -> &super::ext::CodeExt {
        &self.ext
    }

    fn with_ext(self, ext: super::ext::CodeExt) -> Self {
        CodeRecord { ext, ..self }
    }

    fn check(&self) -> Result<(), &'static str> {
        self.ext.check()?;
        if self.subject.is_empty() || !text_ok(&self.subject, MAX_SUBJECT_LEN) {
            return Err("subject");
        }
        if self
            .redirect_uri
            .as_deref()
            .is_some_and(|uri| crate::model::uri::check_redirect_uri(uri).is_err())
        {
            return Err("redirect_uri");
        }
        if let Some(pkce) = &self.pkce
            && PkceChallenge::new(pkce.method, pkce.challenge.clone()).is_err()
        {
            return Err("pkce");
        }
        if self
            .nonce
            .as_deref()
            .is_some_and(|n| !text_ok(n, MAX_NONCE_LEN))
        {
            return Err("nonce");
        }
        if self
            .host_data
            .as_ref()
            .is_some_and(|d| d.len() > MAX_HOST_DATA_LEN)
        {
            return Err("host_data");
        }
        if self.expires_at <= self.issued_at {
            return Err("expires_at");
        }
        Ok(())
    }
}
