//! What an operation runs with besides its transaction: the configuration,
//! the key set, the operation's time (R18) and the strings minted ahead.

use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::{Minted, Minter, Secret};
use crate::engine::premint::{self, Premints};
use crate::error::Result;
use crate::model::config::Config;
use crate::record::Seal;

/// What every rule may consult besides the transaction.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub config: &'a Config,
    pub minter: &'a Minter,
    /// Seals records; the transaction a rule gets carries it too.
    pub seal: &'a Seal,
    /// The time of this operation (R18), read once so every decision in it agrees.
    pub now: u64,
    /// Strings the calling thread minted ahead for this operation.
    pub premints: Option<&'a Premints>,
}

impl<'a> Ctx<'a> {
    /// A context whose strings are `minted` ahead first.
    pub(crate) fn with_premints<'b>(&self, minted: &'b Premints) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            premints: Some(minted),
            ..*self
        }
    }

    /// Mints a string of `kind`: the one minted ahead for this operation
    /// when there is one, else a fresh one.
    pub(crate) fn mint(&self, kind: TokenKind) -> Result<(Secret, Minted)> {
        premint::mint(self.premints, self.minter, kind)
    }

    /// This context at `time` if that is later than its own time.
    ///
    /// An operation on existing records runs no earlier than the latest time
    /// they record, so that what it writes never says it came first (a clock
    /// that stepped back, or another node of a fleet whose clock is ahead):
    /// time, as the store records it, never runs backwards.
    pub(crate) fn at_least(&self, time: u64) -> Self {
        Ctx {
            now: self.now.max(time),
            ..*self
        }
    }
}
