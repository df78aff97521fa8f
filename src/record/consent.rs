//! `consents` table: `(client_id, subject) → ConsentRecord`.

use serde::{Deserialize, Serialize};

use super::Record;
use crate::kv::table::Table;
use crate::model::scope::Scope;

/// The scopes a subject has approved for a client (R17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConsentRecord {
    pub scope: Scope,
    pub granted_at: u64,
}

impl Record for ConsentRecord {
    const TABLE: Table = Table::Consents;
    const NAME: &'static str = "consent";
    super::no_extension!();

    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
}
