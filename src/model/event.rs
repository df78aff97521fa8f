//! Events: what happened in the store, told to the host after the
//! transaction that did it committed (never for one that did not), so that
//! a detected refresh-token theft is more than an `Err` returned to one
//! request. Register a listener with
//! [`ConfigBuilder::on_event`](crate::ConfigBuilder::on_event).

use serde::Serialize;

use crate::model::ids::{ClientId, GrantId};

/// One thing that happened. Carries ids, the subject and the time, never a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// When, by the store's time (Unix seconds).
    pub at: u64,
    /// The client concerned, if one is.
    pub client_id: Option<ClientId>,
    /// The resource owner concerned, if one is.
    pub subject: Option<String>,
    /// The grant concerned, if one is.
    pub grant_id: Option<GrantId>,
    /// The id of the request that made the change, when the host named one
    /// ([`with_request_id`](crate::with_request_id); `grantdb-axum` names
    /// every HTTP request's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What an [`Event`] reports. In JSON, a snake-case word (with its count,
/// for the bulk ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A client was registered.
    ClientRegistered,
    /// A client's secret was rotated (R03).
    ClientSecretRotated,
    /// A client's registration was changed.
    ClientUpdated,
    /// A client was deleted, with every grant of it (R03).
    ClientDeleted {
        /// Grants ended.
        grants: u64,
    },
    /// An authorization code was issued (R04).
    CodeIssued,
    /// A code was exchanged for tokens (R06).
    CodeExchanged,
    /// An exchanged code was presented again: its grant was revoked (R05).
    CodeReplayed,
    /// Tokens were issued in a new grant (password, client credentials).
    TokensIssued,
    /// A refresh rotated a pair (R07).
    TokensRefreshed,
    /// A consumed refresh token came back within the grace period and got a
    /// new pair (R08).
    RefreshGraceReuse,
    /// A consumed refresh token came back: theft; its grant was revoked (R08).
    RefreshReuseDetected,
    /// An access token was revoked (R09).
    AccessTokenRevoked,
    /// A refresh token was revoked with its grant (R10).
    GrantRevoked,
    /// Every grant of a subject was revoked (R12).
    SubjectRevoked {
        /// Grants ended.
        grants: u64,
    },
    /// Every grant of a client was revoked (R12).
    ClientGrantsRevoked {
        /// Grants ended.
        grants: u64,
    },
    /// A subject removed an authorized application (R12).
    SubjectAtClientRevoked {
        /// Grants ended.
        grants: u64,
    },
    /// A purge batch removed expired entries (R14).
    Purged {
        /// Entries removed.
        removed: u64,
    },
    /// A consent was recorded (R17).
    ConsentRecorded,
    /// A subject withdrew its consent to a client (R22).
    ConsentWithdrawn,
    /// One grant was ended by its subject ("sign out this device", R21).
    GrantEndedBySubject,
    /// Every grant of a sign-in session was revoked (R26: OpenID Connect logout).
    SessionRevoked {
        /// Grants ended.
        grants: u64,
    },
    /// A new grant made a subject's oldest grant end: the subject had
    /// reached its grant limit (R23).
    GrantLimitEndedOldest,
    /// A client pushed an authorization request (R30).
    RequestPushed,
    /// A device authorization request started (R31).
    DeviceAuthorizationStarted,
    /// The user approved a device request (R31).
    DeviceApproved,
    /// The user denied a device request (R31).
    DeviceDenied,
    /// Too many wrong user codes: a window of refusals began (R31).
    UserCodeAttemptsExceeded,
    /// A spent device code was presented again: its grant was revoked (R32).
    DeviceCodeReplayed,
    /// Every record naming a subject was erased (R34). The event names no
    /// subject.
    SubjectErased {
        /// Grants ended.
        grants: u64,
    },
}

impl EventKind {
    /// Whether the event reports a suspected attack: a replayed code or a
    /// reused refresh token (a host logs these at WARN).
    pub fn is_security_relevant(&self) -> bool {
        matches!(
            self,
            EventKind::CodeReplayed
                | EventKind::RefreshReuseDetected
                | EventKind::DeviceCodeReplayed
                | EventKind::UserCodeAttemptsExceeded
        )
    }
}

/// The host's listener.
pub(crate) type Listener = std::sync::Arc<dyn Fn(&Event) + Send + Sync>;
