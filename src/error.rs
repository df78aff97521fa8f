//! The one error type of the crate, and its mapping to RFC 6749 §5.2 error codes.
//!
//! Every variant says what went wrong without carrying any secret: a token, code or
//! client secret never appears in an error, only the kind of thing that failed.

use std::fmt;

use crate::crypto::kinds::TokenKind;
use crate::kv::table::Table;

/// Result alias used throughout grantdb.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The RFC 6749 §5.2 error codes (plus RFC 6750's `invalid_token`), as a server
/// should put them in the `error` field of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// `invalid_request`: a parameter is missing, malformed or repeated.
    InvalidRequest,
    /// `invalid_client`: client authentication failed.
    InvalidClient,
    /// `invalid_grant`: the code or refresh token is invalid, expired, revoked,
    /// does not match the redirect URI, or was issued to another client.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this grant type.
    UnauthorizedClient,
    /// `unsupported_grant_type`: the server does not know the grant type.
    UnsupportedGrantType,
    /// `unsupported_response_type` (RFC 6749 §4.1.2.1): the authorization
    /// server does not support this `response_type`.
    UnsupportedResponseType,
    /// `unsupported_token_type` (RFC 7009 §2.2.1): the server cannot revoke
    /// tokens of the type the `token_type_hint` names.
    UnsupportedTokenType,
    /// `invalid_scope`: the scope is malformed or exceeds what is allowed.
    InvalidScope,
    /// `invalid_token` (RFC 6750 §3.1): the bearer token is not active.
    InvalidToken,
    /// `insufficient_scope` (RFC 6750 §3.1): the token lacks a scope the
    /// resource needs.
    InsufficientScope,
    /// `invalid_target` (RFC 8707 §2): a resource indicator is malformed or
    /// not one the grant covers.
    InvalidTarget,
    /// `invalid_request_uri` (RFC 9101 §7, RFC 9126 §4): the `request_uri`
    /// is unknown, expired, used or another client's.
    InvalidRequestUri,
    /// `invalid_dpop_proof` (RFC 9449 §5, §7.1): the DPoP proof is
    /// malformed, for another request, stale, replayed or by another key.
    InvalidDpopProof,
    /// `authorization_pending` (RFC 8628 §3.5): the user has not answered yet.
    AuthorizationPending,
    /// `slow_down` (RFC 8628 §3.5): poll less often (the interval grew by 5 s).
    SlowDown,
    /// `access_denied`: the user denied the request.
    AccessDenied,
    /// `expired_token` (RFC 8628 §3.5): the device code expired.
    ExpiredToken,
    /// `server_error`: the server failed (RFC 6749 §4.1.2.1).
    ServerError,
    /// `temporarily_unavailable`: try again later (RFC 6749 §4.1.2.1).
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The code as it appears on the wire (`"invalid_grant"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::InsufficientScope => "insufficient_scope",
            OAuthErrorCode::InvalidTarget => "invalid_target",
            OAuthErrorCode::InvalidRequestUri => "invalid_request_uri",
            OAuthErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthErrorCode::AuthorizationPending => "authorization_pending",
            OAuthErrorCode::SlowDown => "slow_down",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::ExpiredToken => "expired_token",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The endpoint a host answers an error at: the same error can call for
/// different codes (see [`Error::oauth_code_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// The authorization endpoint (RFC 6749 §4.1.2.1).
    Authorization,
    /// The token endpoint (RFC 6749 §5.2).
    Token,
    /// The revocation endpoint (RFC 7009).
    Revocation,
    /// The introspection endpoint (RFC 7662).
    Introspection,
    /// A resource server checking a bearer token (RFC 6750 §3.1).
    Resource,
}

/// Why an input string was refused before any database read (R20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// Empty where a value is required.
    Empty,
    /// Longer than the limit given.
    TooLong {
        /// The maximum length in bytes.
        max: usize,
    },
    /// Holds a character the format does not allow.
    BadCharacter,
    /// Does not have the structure the format requires.
    BadStructure,
    /// A value is given twice where a set is expected.
    Duplicate,
    /// More values than the limit given.
    TooMany {
        /// The most allowed.
        max: usize,
    },
    /// Well formed, but refused by policy (a redirect URI's scheme or host).
    NotAllowed,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Empty => f.write_str("is empty"),
            InputError::TooLong { max } => write!(f, "is longer than {max} bytes"),
            InputError::BadCharacter => f.write_str("contains a character that is not allowed"),
            InputError::BadStructure => f.write_str("is not well formed"),
            InputError::Duplicate => f.write_str("contains a duplicate value"),
            InputError::TooMany { max } => write!(f, "has more than {max} values"),
            InputError::NotAllowed => f.write_str("is not allowed by policy"),
        }
    }
}

/// Why a stored value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than a version byte and a checksum.
    TooShort,
    /// Written by a record format this build does not know.
    UnknownVersion {
        /// The version byte found.
        found: u8,
    },
    /// The seal (or, in a format 1 record, the checksum) does not match: the
    /// value was damaged, changed or moved.
    ChecksumMismatch,
    /// The body is not a valid encoding of the record.
    Body {
        /// The record kind.
        record: &'static str,
    },
    /// A field decoded, but holds a value the record cannot have.
    InvalidField {
        /// The record kind.
        record: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A key does not have the layout its table uses.
    BadKey,
    /// An index entry, whose value is always empty, holds one.
    IndexValue,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort => f.write_str("value too short"),
            DecodeError::UnknownVersion { found } => write!(f, "unknown record version {found}"),
            DecodeError::ChecksumMismatch => f.write_str("checksum mismatch"),
            DecodeError::Body { record } => write!(f, "undecodable {record} record"),
            DecodeError::InvalidField { record, field } => {
                write!(f, "{record} record has an invalid {field}")
            }
            DecodeError::BadKey => f.write_str("malformed key"),
            DecodeError::IndexValue => f.write_str("an index entry holds a value"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Everything that can go wrong in grantdb.
///
/// Variants that are rule violations carry the rule's name in their documentation
/// and map to an RFC 6749 §5.2 code through [`Error::oauth_code`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    // ----- malformed input (R02, R16, R20) -----
    /// A token, code or secret does not have the shape grantdb issues: wrong
    /// prefix, length, alphabet or checksum (R02). No database read was made.
    MalformedToken {
        /// The kind of string that was expected.
        expected: TokenKind,
    },
    /// A client id is not a well-formed grantdb client id.
    MalformedClientId,
    /// A scope string breaks RFC 6749 §3.3 (R16).
    MalformedScope {
        /// What is wrong with it.
        reason: InputError,
    },
    /// A redirect URI is not an absolute URI without a fragment.
    MalformedRedirectUri {
        /// What is wrong with it.
        reason: InputError,
    },
    /// A resource indicator is not an absolute URI without a fragment, or
    /// there are too many (RFC 8707 §2).
    MalformedResource {
        /// What is wrong with it.
        reason: InputError,
    },
    /// Some other argument is malformed (subject, name, PKCE verifier, nonce, ...).
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        reason: InputError,
    },

    // ----- clients (R03) -----
    /// No client has this id.
    UnknownClient,
    /// The client secret is wrong, missing for a confidential client, or given
    /// for a public one (R03).
    ClientAuthenticationFailed,
    /// A client with the id a registration chose exists already (R03):
    /// `ensure_client` compares instead of registering.
    ClientExists,
    /// The `grant_type` value is not one grantdb knows.
    UnsupportedGrantType,
    /// The `response_type` of an authorization request is not `code`.
    UnsupportedResponseType,
    /// A `token_type_hint` names a type grantdb does not issue (RFC 7009
    /// §2.2.1).
    UnsupportedTokenType,
    /// The client may not use this grant type.
    GrantTypeNotAllowed {
        /// The grant type that was refused.
        grant_type: crate::GrantType,
    },
    /// The requested scope is not within what the client or grant allows (R16, R07).
    ScopeNotAllowed,
    /// The redirect URI is not one the client registered, or differs from the one
    /// given at authorization (R04).
    RedirectUriMismatch,
    /// The client has no redirect URI registered (it cannot use the code flow).
    NoRedirectUri,

    // ----- codes (R04, R05) -----
    /// No such authorization code (or it was removed with its client).
    UnknownCode,
    /// The code's lifetime has passed (R04).
    CodeExpired,
    /// The code was already exchanged; the grant it produced has been revoked (R05).
    CodeReplayed,
    /// The code was issued to another client (R04).
    CodeClientMismatch,
    /// The PKCE verifier does not match the stored challenge, or is missing
    /// while a challenge was stored, or is present while none was (R04, RFC 7636).
    PkceMismatch,

    // ----- tokens (R07, R08, R11, R13) -----
    /// No such active refresh token.
    UnknownRefreshToken,
    /// The refresh token's lifetime has passed (R07).
    RefreshTokenExpired,
    /// A consumed refresh token was presented again: its whole grant has been
    /// revoked (R08).
    RefreshTokenReused,
    /// The token was issued to another client (R07, R11).
    TokenClientMismatch,
    /// A token request names a resource its grant does not cover: a refresh
    /// or an exchange may narrow the resources, never widen them (R25).
    InvalidTarget,
    /// The grant is bound to a key or certificate (DPoP, mutual TLS) and the
    /// request did not present the same one (R24). Nothing changes.
    ConfirmationMismatch,
    /// The access token is valid but not for this resource (R25):
    /// `invalid_token` at a resource server.
    WrongAudience,
    /// The subject holds as many grants as the configured limit allows and
    /// the limit refuses new ones (R23). `invalid_grant` at the token endpoint.
    GrantLimitReached,
    /// The access token is not active: unknown, expired, revoked or of the wrong
    /// kind (R13). Maps to RFC 6750 `invalid_token`.
    InactiveToken,
    /// The client must push its authorization requests first (RFC 9126 §6,
    /// R30): `invalid_request`.
    PushedRequestRequired,
    /// The `request_uri` is unknown, expired, already used or pushed by
    /// another client (R30): `invalid_request_uri`.
    UnknownRequestUri,
    /// The device code is unknown or another client's (R31):
    /// `invalid_grant`.
    UnknownDeviceCode,
    /// The user code is unknown, expired or already answered (R31). The
    /// wrong attempt was counted (its counter committed).
    UnknownUserCode,
    /// Too many wrong user codes in this window, for this attempt key or
    /// for all (RFC 8628 §5.1, R31): try again after `retry_after` seconds.
    TooManyAttempts {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The store remembers as many DPoP proof ids as its caps allow, for this
    /// client or for all (R27, `ConfigBuilder::proof_claim_limits`): the
    /// proof was not claimed; retry after `retry_after` seconds. Nothing
    /// was written. `temporarily_unavailable`.
    ProofClaimsFull {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// A feed consumer's cursor names entries the feed no longer has
    /// (retention removed them) or never had (the cursor is past the
    /// latest entry: a database restored from an older backup): the
    /// consumer must resynchronise (R33). Never a silent gap.
    FeedResync {
        /// The cursor asked with.
        cursor: u64,
        /// The oldest sequence number the feed may still hold.
        oldest: u64,
        /// The latest sequence number recorded (0: none yet).
        latest: u64,
    },
    /// The user has not answered the device request yet (R32):
    /// `authorization_pending`. The poll's time was recorded.
    AuthorizationPending,
    /// The device polled sooner than its interval allows (R32): `slow_down`;
    /// the interval grew by 5 seconds (committed).
    SlowDown,
    /// The user denied the device request (R32): `access_denied`.
    DeviceAccessDenied,
    /// The device code expired before the user approved it (R32):
    /// `expired_token`.
    DeviceCodeExpired,
    /// A device code that already produced tokens was presented again: the
    /// grant it produced has been revoked (R32, as R05 for codes).
    DeviceCodeReplayed,

    // ----- opening, configuration, storage (R19, R20) -----
    /// A configuration value is out of range.
    InvalidConfig {
        /// Which setting and why.
        reason: &'static str,
    },
    /// The hashing key given does not match the fingerprint the database recorded.
    WrongHashingKey,
    /// The database was created with a host-supplied hashing key, and none was given.
    HashingKeyRequired,
    /// The configured key ring lacks keys the database still uses (active or
    /// retired, not removed): their fingerprints.
    MissingHashingKeys {
        /// The fingerprints of the missing keys.
        fingerprints: Vec<crate::KeyFingerprint>,
    },
    /// A key-ring change that the ring's rules refuse (retiring the last
    /// active key, removing a key not retired, adding a key twice, …).
    KeyRing {
        /// What the rule is.
        reason: &'static str,
    },
    /// The database file is not a grantdb database (another program wrote it, or
    /// its grantdb tables are missing).
    NotAGrantdbDatabase,
    /// The database was written by a format version this build cannot read.
    UnsupportedFormatVersion {
        /// The version the file records.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// Another process (or another `Store` in this one) has the database open.
    DatabaseInUse,
    /// A file grantdb creates or opens was not used, because using it would
    /// not be safe: the path is a symbolic link or not a regular file, the
    /// file lets others read the hashing key it would hold, or it appeared
    /// while grantdb was about to create it (an import's target, a staging
    /// file). Nothing was written to it.
    UnsafeFile {
        /// The path.
        path: std::path::PathBuf,
        /// What is wrong with it, and what to do.
        reason: String,
    },
    /// A logical backup could not be imported, and nothing was: an entry is
    /// not valid (`line`: its position, counting from 1), or the backup as a
    /// whole is not (no meta entries, a broken invariant).
    BadBackup {
        /// The entry's position in the backup (its line), when one entry is at fault.
        line: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// The operation needs the only handle on the store, and clones are alive.
    StoreShared,
    /// The disk (or the quota) is full: the write was not made. Reads still
    /// work, and the store recovers by itself once space is freed; purge and
    /// revocation free space (see `docs/design.md`, "Failures").
    DiskFull,
    /// The storage engine met an I/O error other than a full disk. The
    /// operation was not made; the store reopens its engine before the next
    /// write.
    Io {
        /// What kind of I/O error it was.
        kind: std::io::ErrorKind,
        /// The error itself.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A stored record failed to decode or failed its checksum: damage done
    /// outside grantdb (grantdb never writes a record it would refuse).
    Corrupted {
        /// The table holding the record.
        table: Table,
        /// What failed.
        source: DecodeError,
    },
    /// The database server cannot be reached, or lost the connection
    /// before the operation's commit was sent: nothing was written. Retry
    /// (a fleet whose primary failed is writable again once a standby is
    /// promoted). A token endpoint answers `temporarily_unavailable` (503).
    Unavailable {
        /// The connection's own error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The transaction lost its race with concurrent ones every time it was
    /// tried (a shared database retries a serialization failure 30 times):
    /// nothing was written. Retry; a bulk operation retries with smaller
    /// transactions by itself. A token endpoint answers
    /// `temporarily_unavailable` (503).
    Contended,
    /// The connection was lost while the operation's commit was on its way:
    /// it may or may not have been applied. Never reported as success nor as
    /// a rule's answer; the host answers 500 and the client retries what it
    /// can (a refresh retried after a commit that did happen is a reuse:
    /// the grace period of R08 covers it when configured).
    CommitOutcomeUnknown {
        /// The connection's own error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The storage engine failed for another reason (a damaged file, a closed
    /// database, a database server error).
    Storage {
        /// The engine's own error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    /// The RFC 6749 §5.2 (or RFC 6750) error code a server should return, when one applies.
    ///
    /// Storage, configuration and corruption errors have none: a server answers
    /// them with a 500 and logs the error.
    pub fn oauth_code(&self) -> Option<OAuthErrorCode> {
        use OAuthErrorCode as C;
        Some(match self {
            Error::MalformedRedirectUri { .. }
            | Error::InvalidArgument { .. }
            | Error::PushedRequestRequired
            | Error::UnknownUserCode => C::InvalidRequest,
            Error::UnsupportedGrantType => C::UnsupportedGrantType,
            Error::UnsupportedResponseType => C::UnsupportedResponseType,
            Error::UnsupportedTokenType => C::UnsupportedTokenType,
            Error::MalformedScope { .. } | Error::ScopeNotAllowed => C::InvalidScope,
            Error::MalformedResource { .. } | Error::InvalidTarget => C::InvalidTarget,
            Error::MalformedClientId | Error::UnknownClient | Error::ClientAuthenticationFailed => {
                C::InvalidClient
            }
            Error::GrantTypeNotAllowed { .. } | Error::NoRedirectUri => C::UnauthorizedClient,
            Error::MalformedToken { .. }
            | Error::RedirectUriMismatch
            | Error::UnknownCode
            | Error::CodeExpired
            | Error::CodeReplayed
            | Error::CodeClientMismatch
            | Error::PkceMismatch
            | Error::UnknownRefreshToken
            | Error::RefreshTokenExpired
            | Error::RefreshTokenReused
            | Error::TokenClientMismatch
            | Error::ConfirmationMismatch
            | Error::GrantLimitReached
            | Error::UnknownDeviceCode
            | Error::DeviceCodeReplayed => C::InvalidGrant,
            Error::InactiveToken | Error::WrongAudience => C::InvalidToken,
            Error::UnknownRequestUri => C::InvalidRequestUri,
            Error::TooManyAttempts { .. }
            | Error::ProofClaimsFull { .. }
            | Error::Contended
            | Error::Unavailable { .. } => C::TemporarilyUnavailable,
            Error::AuthorizationPending => C::AuthorizationPending,
            Error::SlowDown => C::SlowDown,
            Error::DeviceAccessDenied => C::AccessDenied,
            Error::DeviceCodeExpired => C::ExpiredToken,
            Error::InvalidConfig { .. }
            | Error::FeedResync { .. }
            | Error::ClientExists
            | Error::WrongHashingKey
            | Error::HashingKeyRequired
            | Error::MissingHashingKeys { .. }
            | Error::KeyRing { .. }
            | Error::NotAGrantdbDatabase
            | Error::UnsupportedFormatVersion { .. }
            | Error::DatabaseInUse
            | Error::UnsafeFile { .. }
            | Error::BadBackup { .. }
            | Error::StoreShared
            | Error::DiskFull
            | Error::Io { .. }
            | Error::Corrupted { .. }
            | Error::CommitOutcomeUnknown { .. }
            | Error::Storage { .. } => return None,
        })
    }

    /// The error code for an answer at `endpoint`, when one applies:
    /// [`Error::oauth_code`], except where the endpoint's RFC says otherwise.
    ///
    /// * At a resource server, a malformed or inactive bearer token is
    ///   `invalid_token` (RFC 6750 §3.1); at the token endpoint a malformed
    ///   refresh token or code is `invalid_grant` (RFC 6749 §5.2).
    /// * At the authorization endpoint, whose errors go back to the client in
    ///   a redirect (RFC 6749 §4.1.2.1), an unknown client or a malformed
    ///   request is `invalid_request`.
    pub fn oauth_code_at(&self, endpoint: Endpoint) -> Option<OAuthErrorCode> {
        use OAuthErrorCode as C;
        match (endpoint, self) {
            (Endpoint::Resource, Error::MalformedToken { .. } | Error::InactiveToken) => {
                Some(C::InvalidToken)
            }
            (
                Endpoint::Authorization,
                Error::UnknownClient
                | Error::MalformedClientId
                | Error::RedirectUriMismatch
                | Error::MalformedRedirectUri { .. }
                | Error::InvalidArgument { .. },
            ) => Some(C::InvalidRequest),
            _ => self.oauth_code(),
        }
    }

    /// The error's name as a label (snake case: `refresh_token_reused`), for
    /// metrics and spans.
    pub fn label(&self) -> &'static str {
        match self {
            Error::MalformedToken { .. } => "malformed_token",
            Error::MalformedClientId => "malformed_client_id",
            Error::MalformedScope { .. } => "malformed_scope",
            Error::MalformedRedirectUri { .. } => "malformed_redirect_uri",
            Error::InvalidArgument { .. } => "invalid_argument",
            Error::UnknownClient => "unknown_client",
            Error::ClientExists => "client_exists",
            Error::ClientAuthenticationFailed => "client_authentication_failed",
            Error::UnsupportedGrantType => "unsupported_grant_type",
            Error::UnsupportedResponseType => "unsupported_response_type",
            Error::UnsupportedTokenType => "unsupported_token_type",
            Error::GrantTypeNotAllowed { .. } => "grant_type_not_allowed",
            Error::ScopeNotAllowed => "scope_not_allowed",
            Error::RedirectUriMismatch => "redirect_uri_mismatch",
            Error::NoRedirectUri => "no_redirect_uri",
            Error::UnknownCode => "unknown_code",
            Error::CodeExpired => "code_expired",
            Error::CodeReplayed => "code_replayed",
            Error::CodeClientMismatch => "code_client_mismatch",
            Error::PkceMismatch => "pkce_mismatch",
            Error::UnknownRefreshToken => "unknown_refresh_token",
            Error::RefreshTokenExpired => "refresh_token_expired",
            Error::RefreshTokenReused => "refresh_token_reused",
            Error::TokenClientMismatch => "token_client_mismatch",
            Error::PushedRequestRequired => "pushed_request_required",
            Error::UnknownRequestUri => "unknown_request_uri",
            Error::UnknownDeviceCode => "unknown_device_code",
            Error::UnknownUserCode => "unknown_user_code",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::ProofClaimsFull { .. } => "proof_claims_full",
            Error::FeedResync { .. } => "feed_resync",
            Error::Contended => "contended",
            Error::AuthorizationPending => "authorization_pending",
            Error::SlowDown => "slow_down",
            Error::DeviceAccessDenied => "device_access_denied",
            Error::DeviceCodeExpired => "device_code_expired",
            Error::DeviceCodeReplayed => "device_code_replayed",
            Error::GrantLimitReached => "grant_limit_reached",
            Error::MalformedResource { .. } => "malformed_resource",
            Error::InvalidTarget => "invalid_target",
            Error::ConfirmationMismatch => "confirmation_mismatch",
            Error::WrongAudience => "wrong_audience",
            Error::InactiveToken => "inactive_token",
            Error::InvalidConfig { .. } => "invalid_config",
            Error::WrongHashingKey => "wrong_hashing_key",
            Error::HashingKeyRequired => "hashing_key_required",
            Error::MissingHashingKeys { .. } => "missing_hashing_keys",
            Error::KeyRing { .. } => "key_ring",
            Error::NotAGrantdbDatabase => "not_a_grantdb_database",
            Error::UnsupportedFormatVersion { .. } => "unsupported_format_version",
            Error::DatabaseInUse => "database_in_use",
            Error::UnsafeFile { .. } => "unsafe_file",
            Error::BadBackup { .. } => "bad_backup",
            Error::StoreShared => "store_shared",
            Error::DiskFull => "disk_full",
            Error::Io { .. } => "io",
            Error::Corrupted { .. } => "corrupted",
            Error::Storage { .. } => "storage",
            Error::Unavailable { .. } => "unavailable",
            Error::CommitOutcomeUnknown { .. } => "commit_outcome_unknown",
        }
    }

    /// Whether the operation that returned this error still committed changes.
    ///
    /// True only for the rule violations whose answer is a revocation: a replayed
    /// code (R05) and a reused refresh token (R08). Every other error leaves the
    /// database exactly as it was.
    pub fn committed_changes(&self) -> bool {
        matches!(
            self,
            Error::CodeReplayed
                | Error::RefreshTokenReused
                | Error::DeviceCodeReplayed
                // A device's poll is recorded, a slow one's interval grown,
                // a wrong user code counted (R31, R32).
                | Error::AuthorizationPending
                | Error::SlowDown
                | Error::UnknownUserCode
        )
    }

    /// Whether the error is the storage engine's, failing the whole
    /// transaction (and every operation sharing it), rather than one
    /// operation's.
    pub fn is_storage_failure(&self) -> bool {
        matches!(
            self,
            Error::DiskFull
                | Error::Io { .. }
                | Error::Storage { .. }
                | Error::Unavailable { .. }
                | Error::CommitOutcomeUnknown { .. }
        )
    }

    pub(crate) fn storage(source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Storage {
            source: Box::new(source),
        }
    }

    /// An I/O error, typed: a full disk or quota is [`Error::DiskFull`].
    pub(crate) fn io(error: std::io::Error) -> Error {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Error::DiskFull,
            kind => Error::Io {
                kind,
                source: Box::new(error),
            },
        }
    }

    /// The message of a variant that carries nothing to show.
    fn fixed_message(&self) -> Option<&'static str> {
        Some(match self {
            Error::PkceMismatch => "the PKCE code verifier does not match",
            Error::UnknownRefreshToken => "unknown refresh token",
            Error::RefreshTokenExpired => "the refresh token has expired",
            Error::RefreshTokenReused => {
                "the refresh token was already used; every token of its grant is revoked"
            }
            Error::TokenClientMismatch => "the token was issued to another client",
            Error::RedirectUriMismatch => {
                "the redirect URI does not match a registered or authorized one"
            }
            Error::CodeReplayed => {
                "the authorization code was already used; the tokens issued from it are revoked"
            }
            Error::CodeClientMismatch => "the authorization code was issued to another client",
            Error::GrantLimitReached => "the subject holds as many grants as its limit allows",
            Error::ConfirmationMismatch => "the grant is bound to another key or certificate",
            Error::WrongHashingKey => {
                "the hashing key does not match the one this database was created with"
            }
            Error::HashingKeyRequired => {
                "this database uses a host-supplied hashing key, and none was configured"
            }
            Error::StoreShared => {
                "the operation needs the only handle on the store; other clones are alive"
            }
            Error::PushedRequestRequired => {
                "this client must push its authorization requests first"
            }
            Error::UnknownRequestUri => {
                "the request_uri is unknown, expired, used or another client's"
            }
            Error::UnknownDeviceCode => "the device code is unknown",
            Error::UnknownUserCode => "the user code is unknown, expired or answered",
            Error::AuthorizationPending => "the user has not answered yet",
            Error::SlowDown => "polling too often: the interval grew by 5 seconds",
            Error::DeviceAccessDenied => "the user denied the request",
            Error::DeviceCodeExpired => "the device code expired",
            Error::DeviceCodeReplayed => {
                "the device code was used already: the grant it produced has been revoked"
            }
            Error::Unavailable { .. } => {
                "the database cannot be reached: nothing was written; retry"
            }
            Error::Contended => {
                "the transaction kept losing races with concurrent ones: nothing was written; retry"
            }
            Error::CommitOutcomeUnknown { .. } => {
                "the connection was lost during the commit: the operation may or may not have been applied"
            }
            _ => return None,
        })
    }

    /// The same failure for another caller of a failed group commit: the
    /// variant and kind are kept, the engine's error is carried as text.
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::DiskFull => Error::DiskFull,
            Error::Contended => Error::Contended,
            Error::Io { kind, source } => Error::Io {
                kind: *kind,
                source: chain_text(source.as_ref()).into(),
            },
            Error::Storage { source } => Error::Storage {
                source: chain_text(source.as_ref()).into(),
            },
            Error::Unavailable { source } => Error::Unavailable {
                source: chain_text(source.as_ref()).into(),
            },
            Error::CommitOutcomeUnknown { source } => Error::CommitOutcomeUnknown {
                source: chain_text(source.as_ref()).into(),
            },
            other => Error::Storage {
                source: other.to_string().into(),
            },
        }
    }
}

/// An error and its sources as one text (`db error: ERROR: ...`): what a
/// duplicate carries, since the engine's error itself is not `Clone`.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MalformedToken { expected } => {
                write!(f, "malformed {expected}: wrong prefix, length or checksum")
            }
            Error::MalformedClientId => f.write_str("malformed client id"),
            Error::MalformedScope { reason } => write!(f, "malformed scope: it {reason}"),
            Error::MalformedRedirectUri { reason } => {
                write!(f, "malformed redirect URI: it {reason}")
            }
            Error::InvalidArgument { what, reason } => write!(f, "invalid {what}: it {reason}"),
            Error::UnknownClient => f.write_str("unknown client"),
            Error::ClientExists => f.write_str("a client with this id exists already"),
            Error::ClientAuthenticationFailed => f.write_str("client authentication failed"),
            Error::UnsupportedGrantType => f.write_str("unsupported grant type"),
            Error::UnsupportedResponseType => f.write_str("unsupported response type"),
            Error::UnsupportedTokenType => f.write_str("unsupported token type hint"),
            Error::GrantTypeNotAllowed { grant_type } => {
                write!(f, "the client may not use the {grant_type} grant type")
            }
            Error::ScopeNotAllowed => f.write_str("the requested scope is not allowed"),
            Error::NoRedirectUri => f.write_str("the client has no redirect URI registered"),
            Error::UnknownCode => f.write_str("unknown authorization code"),
            Error::CodeExpired => f.write_str("the authorization code has expired"),
            Error::PkceMismatch
            | Error::UnknownRefreshToken
            | Error::RefreshTokenExpired
            | Error::RefreshTokenReused
            | Error::TokenClientMismatch
            | Error::RedirectUriMismatch
            | Error::CodeReplayed
            | Error::CodeClientMismatch
            | Error::GrantLimitReached
            | Error::ConfirmationMismatch
            | Error::WrongHashingKey
            | Error::HashingKeyRequired
            | Error::StoreShared
            | Error::PushedRequestRequired
            | Error::UnknownRequestUri
            | Error::UnknownDeviceCode
            | Error::UnknownUserCode
            | Error::AuthorizationPending
            | Error::SlowDown
            | Error::DeviceAccessDenied
            | Error::DeviceCodeExpired
            | Error::DeviceCodeReplayed
            | Error::Unavailable { .. }
            | Error::Contended
            | Error::CommitOutcomeUnknown { .. } => {
                f.write_str(self.fixed_message().unwrap_or_default())
            }
            Error::TooManyAttempts { retry_after } => write!(
                f,
                "too many wrong user codes: try again in {retry_after} seconds"
            ),
            Error::ProofClaimsFull { retry_after } => write!(
                f,
                "the store remembers as many DPoP proof ids as it may: try again in {retry_after} seconds"
            ),
            Error::FeedResync {
                cursor,
                oldest,
                latest,
            } => write!(
                f,
                "feed cursor {cursor} cannot resume: the feed holds {oldest} to {latest}; resynchronise"
            ),
            Error::MalformedResource { reason } => write!(f, "malformed resource: it {reason}"),
            Error::InvalidTarget => f.write_str("the grant does not cover this resource"),
            Error::WrongAudience => f.write_str("the token is not for this resource"),
            Error::InactiveToken => f.write_str("the token is not active"),
            Error::InvalidConfig { reason } => write!(f, "invalid configuration: {reason}"),
            Error::MissingHashingKeys { fingerprints } => {
                f.write_str(
                    "the key ring lacks hashing keys this database still uses; fingerprints:",
                )?;
                fingerprints.iter().try_for_each(|fp| write!(f, " {fp}"))
            }
            Error::KeyRing { reason } => write!(f, "key ring: {reason}"),
            Error::NotAGrantdbDatabase => f.write_str("the file is not a grantdb database"),
            Error::UnsupportedFormatVersion { found, supported } => write!(
                f,
                "the database has format version {found}; this build reads up to {supported}"
            ),
            Error::DatabaseInUse => f.write_str("the database is already open elsewhere"),
            Error::UnsafeFile { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::BadBackup {
                line: Some(line),
                reason,
            } => write!(f, "bad backup, line {line}: {reason}"),
            Error::BadBackup { line: None, reason } => write!(f, "bad backup: {reason}"),
            Error::DiskFull => f.write_str("the disk is full"),
            Error::Io { .. } => f.write_str("I/O error"),
            // The details are the source's (`Error::source`), not repeated here.
            Error::Corrupted { table, .. } => write!(f, "corrupted record in table {table}"),
            Error::Storage { .. } => f.write_str("storage engine error"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Corrupted { source, .. } => Some(source),
            Error::Storage { source }
            | Error::Unavailable { source }
            | Error::CommitOutcomeUnknown { source }
            | Error::Io { source, .. } => Some(source.as_ref()),
            Error::MalformedToken { .. }
            | Error::MalformedClientId
            | Error::MalformedScope { .. }
            | Error::MalformedRedirectUri { .. }
            | Error::InvalidArgument { .. }
            | Error::UnknownClient
            | Error::ClientAuthenticationFailed
            | Error::ClientExists
            | Error::UnsupportedGrantType
            | Error::UnsupportedResponseType
            | Error::UnsupportedTokenType
            | Error::GrantTypeNotAllowed { .. }
            | Error::ScopeNotAllowed
            | Error::RedirectUriMismatch
            | Error::NoRedirectUri
            | Error::UnknownCode
            | Error::CodeExpired
            | Error::CodeReplayed
            | Error::CodeClientMismatch
            | Error::PkceMismatch
            | Error::UnknownRefreshToken
            | Error::RefreshTokenExpired
            | Error::RefreshTokenReused
            | Error::TokenClientMismatch
            | Error::GrantLimitReached
            | Error::MalformedResource { .. }
            | Error::InvalidTarget
            | Error::ConfirmationMismatch
            | Error::WrongAudience
            | Error::InactiveToken
            | Error::PushedRequestRequired
            | Error::UnknownRequestUri
            | Error::UnknownDeviceCode
            | Error::UnknownUserCode
            | Error::TooManyAttempts { .. }
            | Error::ProofClaimsFull { .. }
            | Error::FeedResync { .. }
            | Error::Contended
            | Error::AuthorizationPending
            | Error::SlowDown
            | Error::DeviceAccessDenied
            | Error::DeviceCodeExpired
            | Error::DeviceCodeReplayed
            | Error::InvalidConfig { .. }
            | Error::WrongHashingKey
            | Error::HashingKeyRequired
            | Error::MissingHashingKeys { .. }
            | Error::KeyRing { .. }
            | Error::NotAGrantdbDatabase
            | Error::UnsupportedFormatVersion { .. }
            | Error::DatabaseInUse
            | Error::UnsafeFile { .. }
            | Error::BadBackup { .. }
            | Error::StoreShared
            | Error::DiskFull => None,
        }
    }
}
