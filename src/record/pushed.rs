//! `pushed_requests` table: `request id → PushedRecord` (RFC 9126, R30).

use serde::{Deserialize, Serialize};

use super::ext::StoredConfirmation;
use super::{MAX_NONCE_LEN, Record};
use crate::kv::table::Table;
use crate::model::pkce::PkceChallenge;
use crate::model::scope::Scope;
use crate::model::text::text_ok;

/// Longest `state` parameter kept with a pushed request, in bytes.
pub(crate) const MAX_STATE_LEN: usize = 1_024;

/// An authorization request a client pushed, kept until it is used once or
/// expires. Holds the request as the client sent it: it is checked again
/// against the client when a code is issued from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PushedRecord {
    /// `BLAKE3-keyed(key, kind ‖ id ‖ secret)` of the `request_uri` (R01).
    pub verifier: [u8; 16],
    pub client: [u8; 16],
    pub redirect_uri: Option<String>,
    pub scope: Option<Scope>,
    pub state: Option<String>,
    pub pkce: Option<PkceChallenge>,
    pub nonce: Option<String>,
    pub resources: Vec<String>,
    pub dpop_jkt: Option<StoredConfirmation>,
    pub issued_at: u64,
    pub expires_at: u64,
}

impl Record for PushedRecord {
    const TABLE: Table = Table::PushedRequests;
    const NAME: &'static str = "pushed request";
    super::no_extension!();

    fn check(&self) -> Result<(), &'static str> {
        if self
            .redirect_uri
            .as_deref()
            .is_some_and(|uri| crate::model::uri::check_redirect_uri(uri).is_err())
        {
            return Err("redirect_uri");
        }
        if self
            .state
            .as_deref()
            .is_some_and(|s| !text_ok(s, MAX_STATE_LEN))
        {
            return Err("state");
        }
        if self
            .nonce
            .as_deref()
            .is_some_and(|n| !text_ok(n, MAX_NONCE_LEN))
        {
            return Err("nonce");
        }
        if self.expires_at <= self.issued_at {
            return Err("expires_at");
        }
        Ok(())
    }
}
