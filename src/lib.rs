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
//! use grantdb::{AuthorizationRequest, CodeExchange, Config, GrantType, NewClient, Store};
//!
//! let store = Store::in_memory(Config::default())?;
//! let app = store.register_client(
//!     &NewClient::confidential("pretalx")
//!         .redirect_uri("https://pretalx.com")
//!         .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
//!         .scopes("read write")?,
//! )?;
//! let client_id = app.client.id;
//!
//! // The user approved: issue a code, then exchange it at the token endpoint.
//! let code = store.issue_code(&AuthorizationRequest::new(client_id, "user-42"))?;
//! let tokens = store.exchange_code(&CodeExchange::new(code.code.expose(), client_id))?;
//! assert_eq!(store.validate(tokens.access_token.expose())?.subject.as_deref(), Some("user-42"));
//!
//! // Rotation: the old access token dies at once (R07).
//! let refresh = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
//! let rotated = store.refresh(refresh, &client_id, None)?;
//! assert!(store.validate(tokens.access_token.expose()).is_err());
//! assert!(store.validate(rotated.access_token.expose()).is_ok());
//! # Ok::<(), grantdb::Error>(())
//! ```
//!
//! See `docs/design.md` for the on-disk layout and the cost of each rule.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod account;
mod admin;
#[cfg(feature = "tokio")]
mod async_store;
mod binding;
mod client;
mod clock;
mod commit;
mod config;
mod device;
mod error;
mod error_response;
mod event;
mod grant;
mod ids;
mod key_rotation;
mod keyring;
mod keys;
pub mod kv;
mod limits;
mod meta;
mod migrate;
mod observe;
mod ops;
#[cfg(feature = "oxide-auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oxide-auth")))]
pub mod oxide;
mod periodic;
mod pkce;
mod pushed;
mod random;
mod record;
mod request;
mod response;
mod scope;
mod secret;
mod sessions;
mod store;
mod uri;
mod verify;

pub use admin::{ExportEntry, ExportSummary, StoreStats, import, import_into};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use async_store::AsyncStore;
pub use binding::{
    AuthSession, Confirmation, MAX_AMR, MAX_RESOURCE_LEN, MAX_RESOURCES, MAX_SESSION_TEXT_LEN,
    check_resources,
};
pub use client::{
    Client, ClientKind, ClientUpdate, GrantType, LifetimeOverrides, NewClient, RefreshLifetime,
    RegisteredClient,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use commit::WriteStats;
pub use config::{Config, ConfigBuilder, Durability, MAX_CODE_LIFETIME};
pub use device::{DeviceAuthorization, DeviceFlow, PendingDevice};
pub use error::{Endpoint, Error, InputError, OAuthErrorCode, Result};
pub use error_response::ErrorResponse;
pub use event::{Event, EventKind};
pub use grant::{GrantOrigin, GrantSummary, Page, PageRequest};
pub use ids::{ClientId, GrantId};
pub use keyring::{KeyId, KeyInfo, KeyState};
pub use kv::redb::SpaceStats;
pub use limits::{AtGrantLimit, GrantLimits};
pub use meta::FORMAT_VERSION;
pub use pkce::{PkceChallenge, PkceMethod};
pub use record::{DecodeError, decode_any};
pub use request::{AuthorizationRequest, CodeExchange, IssueOptions, PushRequest, RefreshRequest};
pub use response::{
    BulkRevocation, CodeInfo, Consent, Introspection, IssuedCode, NoExtensions, ProofJti,
    PurgeReport, PushedAuthorization, PushedRequest, RefreshState, RefreshTokenInfo, Revocation,
    TokenInfo, TokenResponse, TokenType,
};
pub use scope::{MAX_SCOPE_LEN, Scope};
pub use secret::{HashingKey, KeyFingerprint, Secret, TokenId, TokenKind, TokenPrefixes};
pub use store::{Maintenance, Store};
pub use uri::{MAX_REDIRECT_URI_LEN, RedirectUriPolicy};
pub use verify::{Problem, VerifyReport};
