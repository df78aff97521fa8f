//! `tokens` table: `token hash → TokenRecord`, access and refresh tokens alike.

use serde::{Deserialize, Serialize};

use super::Record;
use super::code::MAX_SUBJECT_LEN;
use crate::kv::table::Table;
use crate::model::scope::Scope;
use crate::model::text::text_ok;

/// Which of the two token kinds a record is. Part of the on-disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum StoredTokenKind {
    Access,
    Refresh,
}

/// When a refresh token was consumed by rotation, how many grace-period
/// reuses it has served since (R08), and until when it is kept for reuse
/// detection (`None`: until its grant ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Consumed {
    pub at: u64,
    pub reuses: u32,
    pub retain_until: Option<u64>,
}

/// One access or refresh token. It carries its grant's client, subject and
/// scope so that validation is a single point read (R13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenRecord {
    pub kind: StoredTokenKind,
    /// `BLAKE3-keyed(key, kind ‖ id ‖ secret)`: checks a presented token (R01).
    pub verifier: [u8; 16],
    pub grant: [u8; 16],
    pub client: [u8; 16],
    pub subject: Option<String>,
    pub scope: Scope,
    pub issued_at: u64,
    /// `None`: never expires (refresh tokens by default).
    pub expires_at: Option<u64>,
    /// For a refresh token, its connected access token; for an access token,
    /// the refresh token issued with it. Cleared when the partner goes.
    pub partner: Option<[u8; 16]>,
    /// Refresh tokens only: set when rotation consumed it.
    pub consumed: Option<Consumed>,
    /// Fields of record version 3 (see [`super::ext`]).
    #[serde(skip)]
    pub ext: super::ext::TokenExt,
}

impl TokenRecord {
    /// Whether the token is usable at `now`: not consumed and not expired (R13).
    pub(crate) fn is_live_at(&self, now: u64) -> bool {
        self.consumed.is_none() && !self.is_expired_at(now)
    }

    /// Whether its lifetime has passed at `now`.
    pub(crate) fn is_expired_at(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// When purge removes it: at expiry, or for a consumed refresh token at the
    /// end of its retention if that comes first (R14). `None`: never by time.
    pub(crate) fn removal_time(&self) -> Option<u64> {
        let retention = self.consumed.and_then(|consumed| consumed.retain_until);
        match (self.expires_at, retention) {
            (Some(expiry), Some(retention)) => Some(expiry.min(retention)),
            (expiry, retention) => expiry.or(retention),
        }
    }
}

impl Record for TokenRecord {
    const TABLE: Table = Table::Tokens;
    const NAME: &'static str = "token";
    type Ext = super::ext::TokenExt;

    fn ext(&self) -> &super::ext::TokenExt {
        &self.ext
    }

    fn with_ext(self, ext: super::ext::TokenExt) -> Self {
        TokenRecord { ext, ..self }
    }

    fn check(&self) -> Result<(), &'static str> {
        self.ext.check()?;
        if self
            .subject
            .as_deref()
            .is_some_and(|s| s.is_empty() || !text_ok(s, MAX_SUBJECT_LEN))
        {
            return Err("subject");
        }
        if self.expires_at.is_some_and(|at| at <= self.issued_at) {
            return Err("expires_at");
        }
        match (self.kind, self.consumed) {
            (StoredTokenKind::Access, Some(_)) => Err("consumed"),
            (StoredTokenKind::Access, None) if self.expires_at.is_none() => Err("expires_at"),
            (_, Some(consumed))
                if self.partner.is_some()
                    || consumed.at < self.issued_at
                    || consumed
                        .retain_until
                        .is_some_and(|until| until <= consumed.at) =>
            {
                Err("consumed")
            }
            _ => Ok(()),
        }
    }
}
