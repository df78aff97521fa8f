//! The change feed: what changed in the store, appended in the same
//! transaction as the change, in commit order, with a sequence number a
//! consumer resumes from (R33). A resource server drops the validations it
//! cached for the grants the feed ends; an OpenID provider sends
//! back-channel logout tokens for the sessions that ended; an operator
//! reads an audit trail. Entries carry ids, reasons and times, never a
//! secret or a token string; the subject only as
//! [`FeedConfig::subject`] says.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto::secret::TokenId;
use crate::model::ids::{ClientId, GrantId};

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Change {
    /// Its sequence number: 1 for the first change ever recorded, one more
    /// for each after, in commit order. A consumer's cursor is the last
    /// sequence number it has handled.
    pub seq: u64,
    /// When the change committed, by the store's time (Unix seconds).
    pub at: u64,
    /// What changed.
    pub kind: ChangeKind,
    /// The client concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// The grant concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<GrantId>,
    /// The sign-in session (OpenID Connect `sid`) of the grant or logout, if
    /// the host named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The tokens that stopped being valid: for a grant that ended, its live
    /// access and refresh tokens; for an access token revoked alone, that
    /// one. Ids, not credentials ([`Store::token_id`](crate::Store::token_id)
    /// finds a string's id).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenId>,
    /// The subject in plain text, when [`FeedSubject::Plain`] is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The subject's keyed hash, when [`FeedSubject::Hashed`] is configured
    /// (the default): [`Store::feed_subject_id`](crate::Store::feed_subject_id)
    /// gives it for a subject the consumer knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<String>,
    /// The hashing key concerned, for key-ring changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<u8>,
    /// The id of the request that made the change, when the host named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What a [`Change`] records. In JSON, a snake-case word (with its reason
/// for an ended grant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// A grant ended before its time: every token of it stopped being valid.
    GrantEnded {
        /// Why.
        reason: EndReason,
    },
    /// An access token was revoked alone (R09); its grant lives on.
    AccessTokenRevoked,
    /// A sign-in session ended (R26): every grant of it ended (each has its
    /// own [`ChangeKind::GrantEnded`]).
    SessionEnded,
    /// A subject withdrew its consent to a client (R22).
    ConsentWithdrawn,
    /// Every record naming a subject was erased (R34). The entry names no
    /// subject.
    SubjectErased,
    /// A client was registered.
    ClientRegistered,
    /// A client's registration was changed.
    ClientUpdated,
    /// A client's secret was rotated (R03).
    ClientSecretRotated,
    /// A client was deleted (its grants have their own entries).
    ClientDeleted,
    /// A hashing key joined the ring.
    KeyAdded,
    /// A hashing key stopped minting and verifying.
    KeyRetired,
    /// A hashing key left the ring.
    KeyRemoved,
    /// Tokens were issued in a new grant.
    TokensIssued,
    /// A refresh rotated a pair.
    TokensRefreshed,
    /// An authorization code was issued.
    CodeIssued,
}

/// Why a grant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// Its client revoked it (RFC 7009, R10), or an operator did.
    Revoked,
    /// A consumed refresh token of it came back: theft (R08).
    RefreshReuse,
    /// Its authorization code was presented again (R05).
    CodeReplay,
    /// Its device code was presented again (R32).
    DeviceCodeReplay,
    /// Its subject signed out of it, or of everything (R12, R21).
    Subject,
    /// Its sign-in session ended (R26).
    Logout,
    /// Every grant of its client was revoked (R12).
    ClientRevoked,
    /// Its client was deleted (R03).
    ClientDeleted,
    /// Its subject reached the grant limit and it was the oldest (R23).
    GrantLimit,
    /// Its subject was erased (R34).
    SubjectErased,
}

/// The classes of changes the feed can record; each [`ChangeKind`] is in
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeClass {
    /// What ends credentials: grants ended, tokens revoked, sessions ended,
    /// consents withdrawn, subjects erased, clients deleted, keys retired
    /// and removed. Recorded by default.
    Endings,
    /// Clients registered, updated and their secrets rotated; keys added.
    Administration,
    /// Tokens and codes issued, pairs rotated.
    Issuance,
}

impl ChangeKind {
    /// The class it is recorded in.
    pub fn class(&self) -> ChangeClass {
        match self {
            ChangeKind::GrantEnded { .. }
            | ChangeKind::AccessTokenRevoked
            | ChangeKind::SessionEnded
            | ChangeKind::ConsentWithdrawn
            | ChangeKind::SubjectErased
            | ChangeKind::ClientDeleted
            | ChangeKind::KeyRetired
            | ChangeKind::KeyRemoved => ChangeClass::Endings,
            ChangeKind::ClientRegistered
            | ChangeKind::ClientUpdated
            | ChangeKind::ClientSecretRotated
            | ChangeKind::KeyAdded => ChangeClass::Administration,
            ChangeKind::TokensIssued | ChangeKind::TokensRefreshed | ChangeKind::CodeIssued => {
                ChangeClass::Issuance
            }
        }
    }
}

/// How the feed names a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum FeedSubject {
    /// Not at all.
    Omitted,
    /// As a keyed hash (`subject_id`), which a consumer that knows the
    /// subject can compute and nobody else can invert (the default).
    #[default]
    Hashed,
    /// In plain text (`subject`).
    Plain,
}

/// What the change feed records and keeps (R33).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedConfig {
    pub(crate) endings: bool,
    pub(crate) administration: bool,
    pub(crate) issuance: bool,
    pub(crate) subject: FeedSubject,
    pub(crate) retention: Duration,
}

/// How long feed entries are kept by default: 7 days.
pub const DEFAULT_FEED_RETENTION: Duration = Duration::from_hours(7 * 24);

impl Default for FeedConfig {
    /// Endings recorded, subjects hashed, 7 days of retention.
    fn default() -> FeedConfig {
        FeedConfig {
            endings: true,
            administration: false,
            issuance: false,
            subject: FeedSubject::Hashed,
            retention: DEFAULT_FEED_RETENTION,
        }
    }
}

impl FeedConfig {
    /// A feed that records nothing.
    pub fn off() -> FeedConfig {
        FeedConfig {
            endings: false,
            ..FeedConfig::default()
        }
    }

    /// Whether changes of `class` are recorded.
    pub fn record(mut self, class: ChangeClass, on: bool) -> FeedConfig {
        match class {
            ChangeClass::Endings => self.endings = on,
            ChangeClass::Administration => self.administration = on,
            ChangeClass::Issuance => self.issuance = on,
        }
        self
    }

    /// How entries name a subject (default [`FeedSubject::Hashed`]).
    pub fn subject(mut self, subject: FeedSubject) -> FeedConfig {
        self.subject = subject;
        self
    }

    /// How long an entry is kept (default 7 days): purge removes older
    /// ones through the expiry index, and those every named consumer has
    /// acknowledged sooner.
    pub fn retention(mut self, retention: Duration) -> FeedConfig {
        self.retention = retention;
        self
    }

    /// Whether changes of `class` are recorded.
    pub fn records(&self, class: ChangeClass) -> bool {
        match class {
            ChangeClass::Endings => self.endings,
            ChangeClass::Administration => self.administration,
            ChangeClass::Issuance => self.issuance,
        }
    }

    /// Whether anything is recorded.
    pub fn records_anything(&self) -> bool {
        self.endings || self.administration || self.issuance
    }
}

/// A page of the feed, from [`Store::changes_since`](crate::Store::changes_since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChangePage {
    /// The entries after the cursor asked for, in order.
    pub changes: Vec<Change>,
    /// The cursor to ask with next: the last entry's sequence number, or
    /// the cursor asked with when there was none.
    pub next: u64,
}
