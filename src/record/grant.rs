//! `grants` table: `grant_id → GrantRecord`.

use serde::{Deserialize, Serialize};

use super::Record;
use super::code::MAX_SUBJECT_LEN;
use crate::kv::table::Table;
use crate::model::grant::GrantOrigin;
use crate::model::scope::Scope;
use crate::model::text::text_ok;

/// A token family: every token issued from one code, password or
/// client-credentials request, and all their refresh descendants. Stored
/// under `client_id ‖ grant_id`, so the client is in the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GrantRecord {
    /// `None` for client credentials.
    pub subject: Option<String>,
    pub scope: Scope,
    pub origin: GrantOrigin,
    pub created_at: u64,
    pub last_refreshed_at: Option<u64>,
    /// Ids of the grant's live-class tokens: its access tokens and
    /// unconsumed refresh tokens. When the last one goes, the grant ends.
    /// (Consumed refresh tokens are listed in the `consumed_refresh` table.)
    pub live: Vec<[u8; 16]>,
    /// Opaque host data carried over from the code (see
    /// [`AuthorizationRequest::host_data`](crate::AuthorizationRequest::host_data)).
    pub host_data: Option<Vec<u8>>,
    /// Fields of record version 3 (see [`super::ext`]).
    #[serde(skip)]
    pub ext: super::ext::GrantExt,
}

impl Record for GrantRecord {
    const TABLE: Table = Table::Grants;
    const NAME: &'static str = "grant";
    type Ext = super::ext::GrantExt;

    fn ext(&self) -> &super::ext::GrantExt {
        &self.ext
    }

    fn with_ext(self, ext: super::ext::GrantExt) -> Self {
        GrantRecord { ext, ..self }
    }

    fn check(&self) -> Result<(), &'static str> {
        self.ext.check()?;
        match (&self.subject, self.origin) {
            (None, GrantOrigin::ClientCredentials) => {}
            (
                Some(subject),
                GrantOrigin::AuthorizationCode | GrantOrigin::Password | GrantOrigin::DeviceCode,
            ) if !subject.is_empty() && text_ok(subject, MAX_SUBJECT_LEN) => {}
            _ => return Err("subject"),
        }
        if self
            .host_data
            .as_ref()
            .is_some_and(|d| d.len() > super::code::MAX_HOST_DATA_LEN)
        {
            return Err("host_data");
        }
        if self
            .last_refreshed_at
            .is_some_and(|at| at < self.created_at)
        {
            return Err("last_refreshed_at");
        }
        Ok(())
    }
}
