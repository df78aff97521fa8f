//! The tables grantdb keeps: a leaf of the crate (it imports nothing of it),
//! so that the error type can name one.

use std::fmt;

/// Every table grantdb keeps. The on-disk layout of each is tabled in
/// `docs/design.md`; key encodings live in `src/record/keys.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Table {
    /// Format version, hashing-key fingerprint, generated key.
    Meta,
    /// `client_id → ClientRecord`.
    Clients,
    /// `code hash → CodeRecord`.
    Codes,
    /// `(client_id, grant_id) → GrantRecord`.
    Grants,
    /// `token hash → TokenRecord` (access and refresh tokens).
    Tokens,
    /// `(removal time, kind, id) → ()`: what purge removes, in time order.
    Expiry,
    /// `(grant_id, token hash) → ()`: consumed refresh tokens of each grant.
    Consumed,
    /// `(subject, client_id, kind, id) → ()`: grants and codes of a subject.
    BySubject,
    /// `(client_id, code hash) → ()`: pending and exchanged codes of a client.
    ClientCodes,
    /// `(client_id, subject) → ConsentRecord`.
    Consents,
    /// `(session id, client_id, kind, id) → ()`: grants and codes of a
    /// sign-in session (format 3).
    BySession,
    /// `proof jti hash → JtiRecord`: DPoP proof ids seen (format 3).
    ProofJtis,
    /// `request id → PushedRecord`: pushed authorization requests (RFC 9126,
    /// format 5).
    PushedRequests,
    /// `device code id → DeviceRecord`: device authorization requests
    /// (RFC 8628, format 5).
    DeviceCodes,
    /// `user code hash → UserCodeRecord`: the device request a user code
    /// names (format 5).
    UserCodes,
    /// `window ‖ scope ‖ key hash → AttemptsRecord`: wrong user codes
    /// counted per window (RFC 8628 §5.1, format 5).
    DeviceAttempts,
    /// `sequence number → FeedRecord`: the change feed, in commit order
    Feed,
    /// `consumer name → cursor`: where each named feed consumer stands
    /// (the change feed).
    FeedConsumers,
    /// `subject id ‖ sequence number → ()`: the feed entries that name a
    /// subject, for erasure (the change feed).
    FeedSubjects,
}

impl Table {
    /// How many tables there are.
    pub const COUNT: usize = 19;

    /// All tables, in a fixed order.
    pub const ALL: [Table; Table::COUNT] = [
        Table::Meta,
        Table::Clients,
        Table::Codes,
        Table::Grants,
        Table::Tokens,
        Table::Expiry,
        Table::Consumed,
        Table::BySubject,
        Table::ClientCodes,
        Table::Consents,
        Table::BySession,
        Table::ProofJtis,
        Table::PushedRequests,
        Table::DeviceCodes,
        Table::UserCodes,
        Table::DeviceAttempts,
        Table::Feed,
        Table::FeedConsumers,
        Table::FeedSubjects,
    ];

    /// The table's name in the storage engine.
    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "grantdb_meta",
            Table::Clients => "clients",
            Table::Codes => "codes",
            Table::Grants => "grants",
            Table::Tokens => "tokens",
            Table::Expiry => "expiry",
            Table::Consumed => "consumed_refresh",
            Table::BySubject => "by_subject",
            Table::ClientCodes => "client_codes",
            Table::Consents => "consents",
            Table::BySession => "by_session",
            Table::ProofJtis => "proof_jtis",
            Table::PushedRequests => "pushed_requests",
            Table::DeviceCodes => "device_codes",
            Table::UserCodes => "user_codes",
            Table::DeviceAttempts => "device_attempts",
            Table::Feed => "feed",
            Table::FeedConsumers => "feed_consumers",
            Table::FeedSubjects => "feed_subjects",
        }
    }

    /// Position in [`Table::ALL`], for per-table arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// A byte that names the table in record checksums.
    pub(crate) fn tag(self) -> u8 {
        self as u8
    }
}

impl serde::Serialize for Table {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
