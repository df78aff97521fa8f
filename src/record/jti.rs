//! `proof_jtis` table: `keyed hash of a DPoP proof's jti → JtiRecord` (R26).

use serde::{Deserialize, Serialize};

use super::Record;
use crate::kv::Table;

/// A proof id seen, remembered until its proof can no longer be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JtiRecord {
    /// First seen (Unix seconds).
    pub seen_at: u64,
    /// Until when a proof with this id would still be accepted, so a replay
    /// must be refused; purge removes the record then.
    pub until: u64,
}

impl Record for JtiRecord {
    const TABLE: Table = Table::ProofJtis;
    const NAME: &'static str = "proof jti";
    super::no_extension!();

    fn check(&self) -> Result<(), &'static str> {
        if self.until <= self.seen_at {
            return Err("until");
        }
        Ok(())
    }
}
