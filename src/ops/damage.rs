//! How an operation that walks many records treats one that is damaged.
//!
//! `Corrupted` means damage done outside grantdb; grantdb never writes a
//! record it would refuse. An operation on one token or code meets a damaged
//! record as an error: its answer would be wrong otherwise. An operation that
//! walks many records (purge, bulk revocation, client deletion, export,
//! statistics) must not be held hostage by one of them: it skips the damaged
//! record, leaves it in place for `verify` to name and an operator to repair,
//! and counts it.

use crate::record::Records;
use std::cell::Cell;

use crate::error::{Error, Result};
use crate::record::{self, Record};

/// Fail on a damaged record, or skip and count it.
pub(crate) struct Damage {
    skip: bool,
    skipped: Cell<u64>,
}

impl Damage {
    /// A damaged record is an error (one-record operations).
    pub(crate) fn fail() -> Damage {
        Damage {
            skip: false,
            skipped: Cell::new(0),
        }
    }

    /// A damaged record is skipped and counted (walks over many records).
    pub(crate) fn skip() -> Damage {
        Damage {
            skip: true,
            skipped: Cell::new(0),
        }
    }

    /// Reads a record; a damaged one, when skipping, reads as absent.
    pub(crate) fn load<R: Record>(&self, kv: &impl Records, key: &[u8]) -> Result<Option<R>> {
        match record::load::<R>(kv, key) {
            Err(Error::Corrupted { .. }) if self.skip => {
                self.skipped.set(self.skipped.get() + 1);
                Ok(None)
            }
            other => other,
        }
    }

    /// Damaged records skipped so far.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.get()
    }
}
