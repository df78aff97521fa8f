//! `proof_jtis` table: `keyed hash of a DPoP proof's jti → JtiRecord` (R26).

use serde::{Deserialize, Serialize};

use super::Record;
use crate::kv::table::Table;

/// A proof id seen, remembered until its proof can no longer be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JtiRecord {
    /// First seen (Unix seconds).
    pub seen_at: u64,
    /// Until when a proof with this id would still be accepted, so a replay
    /// must be refused; purge removes the record then.
    pub until: u64,
    /// Fields of record version 3 (see [`super::ext`]).
    #[serde(skip)]
    pub ext: JtiExt,
}

/// What a proof id record carries beyond its first version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct JtiExt {
    /// The ring key its id was computed under; `None` for key 1 (before
    /// the key ring). A key is not removed while proof ids claimed under it
    /// can still be replayed (R29).
    pub key: Option<u8>,
}

impl JtiExt {
    /// The id of the key the record's id was computed under.
    pub(crate) fn key_id(self) -> u8 {
        self.key.unwrap_or(1)
    }
}

impl Record for JtiRecord {
    const TABLE: Table = Table::ProofJtis;
    const NAME: &'static str = "proof jti";
    type Ext = JtiExt;

    fn ext(&self) -> &JtiExt {
        &self.ext
    }

    fn with_ext(self, ext: JtiExt) -> Self {
        JtiRecord { ext, ..self }
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.until <= self.seen_at {
            return Err("until");
        }
        Ok(())
    }
}
