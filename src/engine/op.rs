//! What the engine knows of an operation, written once beside its rule in
//! `ops/`: the name its spans and metrics carry, how its write transaction
//! is grouped with others, and which strings it mints (minted ahead, on the
//! caller's thread: see [`crate::engine::premint`]).
//!
//! ```text
//! // ops/tokens.rs
//! pub(crate) const REFRESH: Op = Op::grows("refresh").minting(&[TokenKind::Access, TokenKind::Refresh]);
//! // api/tokens.rs
//! self.write(&ops::tokens::REFRESH, Some(&client_id), move |kv, ctx| ops::tokens::refresh(kv, ctx, &request))
//! ```

use crate::crypto::kinds::TokenKind;
use crate::kv::Isolation;

/// One operation of the store, as the engine runs and observes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op {
    /// Its name in spans and in the `operation` label of metrics.
    pub name: &'static str,
    /// What its write does to the database, and so how it is grouped.
    pub grouping: Grouping,
    /// The strings it mints when it succeeds.
    pub mints: &'static [TokenKind],
    /// How its transaction must be isolated on a shared backend.
    pub isolation: Isolation,
}

/// What a write does to the database's size, and how it is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grouping {
    /// A read: no write transaction at all.
    Read,
    /// May grow the database; shares a transaction with concurrent writers,
    /// and is refused while the disk is full.
    Grows,
    /// Frees space (a revocation); shares a transaction, and runs on a full
    /// disk.
    Frees,
    /// Frees space and may write a great deal (bulk revocation, purge,
    /// client deletion, a key-ring change): a transaction of its own.
    FreesAlone,
}

impl Op {
    /// A read named `name`.
    pub(crate) const fn read(name: &'static str) -> Op {
        Op::new(name, Grouping::Read)
    }

    /// A write that may grow the database.
    pub(crate) const fn grows(name: &'static str) -> Op {
        Op::new(name, Grouping::Grows)
    }

    /// A write that frees space.
    pub(crate) const fn frees(name: &'static str) -> Op {
        Op::new(name, Grouping::Frees)
    }

    /// A write that frees space and may write a great deal.
    pub(crate) const fn frees_alone(name: &'static str) -> Op {
        Op::new(name, Grouping::FreesAlone)
    }

    /// The operation, minting `kinds` when it succeeds.
    pub(crate) const fn minting(self, kinds: &'static [TokenKind]) -> Op {
        Op {
            mints: kinds,
            ..self
        }
    }

    /// The operation, content with row locks on a shared backend
    /// ([`Isolation::RowLocks`]): every row that decides its outcome it
    /// also writes, and so does every operation that could change that
    /// outcome (see `docs/design.md`, "Row locks for refreshes").
    pub(crate) const fn row_locked(self) -> Op {
        Op {
            isolation: Isolation::RowLocks,
            ..self
        }
    }

    const fn new(name: &'static str, grouping: Grouping) -> Op {
        Op {
            name,
            grouping,
            mints: &[],
            isolation: Isolation::Serializable,
        }
    }
}
