//! `grants` table: `grant_id → GrantRecord`.

use serde::{Deserialize, Serialize};

use super::code::MAX_SUBJECT_LEN;
use super::{Record, text_ok};
use crate::grant::GrantOrigin;
use crate::kv::Table;
use crate::scope::Scope;

/// A token family: every token issued from one code, password or
/// client-credentials request, and all their refresh descendants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GrantRecord {
    pub client: [u8; 16],
    /// `None` for client credentials.
    pub subject: Option<String>,
    pub scope: Scope,
    pub origin: GrantOrigin,
    pub created_at: u64,
    pub last_refreshed_at: Option<u64>,
}

impl Record for GrantRecord {
    const TABLE: Table = Table::Grants;
    const NAME: &'static str = "grant";

    fn check(&self) -> Result<(), &'static str> {
        match (&self.subject, self.origin) {
            (None, GrantOrigin::ClientCredentials) => {}
            (Some(subject), GrantOrigin::AuthorizationCode | GrantOrigin::Password)
                if !subject.is_empty() && text_ok(subject, MAX_SUBJECT_LEN) => {}
            _ => return Err("subject"),
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
