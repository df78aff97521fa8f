//! # grantdb
//!
//! An embeddable OAuth 2.0 token store on [redb](https://docs.rs/redb): clients,
//! authorization codes, grants (token families), access and refresh tokens, and
//! consents, with the lifecycle rules an authorization server needs.
//!
//! * Tokens, codes and client secrets are stored only as keyed BLAKE3 hashes: a
//!   stolen database file holds no usable credential (R01).
//! * Issued strings carry a kind prefix and a checksum, so a malformed token is
//!   refused before any read and a leaked one is recognisable (R02).
//! * Refresh rotation, reuse detection, code-replay revocation and cascades each
//!   happen in one transaction (R05, R07, R08, R19).
//! * Expiry indexes make purging cost what it removes, never a scan of what stays
//!   (R14).
//!
//! ```
//! use grantdb::{
//!     AuthorizationRequest, CodeExchange, Config, GrantType, NewClient, RefreshRequest, Store,
//! };
//!
//! let store = Store::in_memory(Config::default())?;
//! let app = store.register_client(
//!     NewClient::confidential("pretalx")
//!         .redirect_uri("https://pretalx.com")
//!         .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
//!         .scopes("read write")?,
//! )?;
//! let client_id = app.client.id;
//!
//! // The user approved: issue a code.
//! let code = store.issue_code(AuthorizationRequest::new(client_id, "user-42"))?;
//! // At the token endpoint the client authenticates, then exchanges the code.
//! let secret = app.secret.as_ref().map(|s| s.expose());
//! let client = store.authenticate_client(&client_id, secret)?;
//! let tokens = store.exchange_code(CodeExchange::new(code.code.expose(), &client))?;
//! assert_eq!(store.validate(tokens.access_token.expose())?.subject.as_deref(), Some("user-42"));
//!
//! // Rotation: the old access token dies at once (R07).
//! let refresh = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
//! let rotated = store.refresh(RefreshRequest::new(refresh, &client))?;
//! assert!(store.validate(tokens.access_token.expose()).is_err());
//! assert!(store.validate(rotated.access_token.expose()).is_ok());
//! # Ok::<(), grantdb::Error>(())
//! ```
//!
//! See `docs/design.md` for the on-disk layout and the cost of each rule.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api;
mod crypto;
mod engine;
mod error;
pub mod kv;
mod model;
mod ops;
#[cfg(feature = "oxide-auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oxide-auth")))]
pub mod oxide;
mod record;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use api::async_store::AsyncStore;
pub use api::operator::{import, import_into};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use api::request_id::scope_request_id;
pub use api::request_id::with_request_id;
pub use api::store::{Maintenance, Store};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use api::subscription::ChangeStream;
pub use crypto::kinds::{KeyFingerprint, TokenKind};
pub use crypto::secret::{HashingKey, Secret, TokenId, TokenPrefixes};
pub use engine::commit::WriteStats;
pub use engine::meta::FORMAT_VERSION;
#[cfg(feature = "metrics")]
pub use engine::observe::describe_metrics;
pub use error::{DecodeError, Endpoint, Error, InputError, OAuthErrorCode, Result};
pub use kv::redb::SpaceStats;
pub use model::binding::{
    AuthSession, Confirmation, MAX_AMR, MAX_RESOURCE_LEN, MAX_RESOURCES, MAX_SESSION_TEXT_LEN,
    check_resources,
};
pub use model::client::{
    AuthenticatedClient, ChosenSecret, Client, ClientKind, ClientUpdate, Ensured,
    LifetimeOverrides, MAX_CODE_LIFETIME, NewClient, RefreshLifetime, RegisteredClient, SecretHash,
};
pub use model::clock::{Clock, ManualClock, SystemClock};
pub use model::config::{Config, ConfigBuilder, DEFAULT_HOT_TOKENS, Durability};
pub use model::device::{DeviceAuthorization, DeviceFlow, PendingDevice};
pub use model::error_response::ErrorResponse;
pub use model::event::{Event, EventKind};
pub use model::feed::{
    Change, ChangeClass, ChangeKind, ChangePage, DEFAULT_FEED_RETENTION, EndReason, FeedConfig,
    FeedSubject,
};
pub use model::grant::{GrantOrigin, GrantRef, GrantSummary};
pub use model::grant_type::GrantType;
pub use model::ids::{ClientId, GrantId};
pub use model::key_info::{KeyId, KeyInfo, KeyState};
pub use model::limits::{AtGrantLimit, DEFAULT_GRANTS_PER_SUBJECT, GrantLimits};
pub use model::operator::{
    ExportEntry, ExportSummary, Problem, StorageWarning, StoreStats, VerifyReport,
};
pub use model::page::{Page, PageRequest};
pub use model::pkce::{PkceChallenge, PkceMethod};
pub use model::request::{
    AttemptKey, AuthorizationRequest, ClientCredentialsRequest, CodeExchange, DeviceApproval,
    IntrospectRequest, IssueRequest, NewConsent, PushRequest, PushedApproval, RefreshRequest,
    TokenTypeHint,
};
pub use model::response::{
    BulkRevocation, CodeInfo, Consent, Introspection, IssuedCode, NoExtensions, ProofJti,
    PurgeReport, PushedAuthorization, PushedRequest, RefreshState, RefreshTokenInfo, Revocation,
    TokenInfo, TokenResponse, TokenType,
};
pub use model::scope::{MAX_SCOPE_LEN, Scope};
pub use model::uri::{MAX_REDIRECT_URI_LEN, RedirectUriPolicy};
pub use record::decode_any;
