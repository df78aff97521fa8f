//! What operations return: token responses, codes, validation and
//! introspection results, revocation and purge reports, consents.

use serde::Serialize;

use crate::ids::{ClientId, GrantId};
use crate::scope::Scope;
use crate::secret::Secret;

/// A successful token response (RFC 6749 §5.1), plus `created_at` as Eventpop
/// returns it. Serialises to exactly the JSON a token endpoint sends.
///
/// The fields marked "not serialised" are for the host (an OpenID Connect
/// layer needs the subject and nonce to mint an ID token).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token, when the client may refresh (R06).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The granted scope.
    #[serde(skip_serializing_if = "Scope::is_empty")]
    pub scope: Scope,
    /// Issue time, Unix seconds.
    pub created_at: u64,
    /// The grant (token family) the tokens belong to. Not serialised.
    #[serde(skip)]
    pub grant_id: GrantId,
    /// The client. Not serialised.
    #[serde(skip)]
    pub client_id: ClientId,
    /// The resource owner (`None` for client credentials). Not serialised.
    #[serde(skip)]
    pub subject: Option<String>,
    /// The OpenID Connect nonce given at authorization. Not serialised.
    #[serde(skip)]
    pub nonce: Option<String>,
    /// The grant's opaque host data (see
    /// [`AuthorizationRequest::host_data`](crate::AuthorizationRequest::host_data)).
    /// Not serialised.
    #[serde(skip)]
    pub host_data: Option<Vec<u8>>,
}

/// A newly issued authorization code.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    /// The code, to append to the redirect URI.
    pub code: Secret,
    /// Where to send the user: the redirect URI given, or the client's default.
    pub redirect_uri: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

/// What a valid access token grants (R13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The resource owner (`None` for client credentials).
    pub subject: Option<String>,
    /// The granted scope.
    pub scope: Scope,
    /// Its grant.
    pub grant_id: GrantId,
    /// Issue time, Unix seconds.
    pub issued_at: u64,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

/// An RFC 7662 introspection response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Introspection {
    /// Whether the token is active (R13).
    pub active: bool,
    /// Granted scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The client it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// The resource owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `"Bearer"` for access tokens, `"refresh_token"` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry, Unix seconds (absent for refresh tokens that never expire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issue time, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

impl Introspection {
    /// `{"active": false}`, the answer for every token that is not active.
    pub fn inactive() -> Introspection {
        Introspection::default()
    }
}

/// A refresh token, as [`Store::refresh_state`](crate::Store::refresh_state) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenInfo {
    /// The client it was issued to.
    pub client_id: ClientId,
    /// Its grant.
    pub grant_id: GrantId,
    /// The resource owner.
    pub subject: Option<String>,
    /// Its scope.
    pub scope: Scope,
    /// Expiry, Unix seconds (`None`: never).
    pub expires_at: Option<u64>,
}

/// What presenting a refresh token would do now (R07, R08), read without
/// changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshState {
    /// Active: a refresh rotates it.
    Active(RefreshTokenInfo),
    /// Consumed, inside the reuse grace period: a refresh yields a new pair.
    Grace(RefreshTokenInfo),
    /// Consumed, past the grace period: a refresh revokes its grant.
    Reused(RefreshTokenInfo),
    /// Unknown, expired, forgotten, revoked or malformed.
    Inactive,
}

/// An authorization code, as [`Store::inspect_code`](crate::Store::inspect_code) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The resource owner who approved it.
    pub subject: String,
    /// The scope approved.
    pub scope: Scope,
    /// The redirect URI given at authorization, if one was.
    pub redirect_uri: Option<String>,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// Whether it was already exchanged.
    pub exchanged: bool,
    /// The opaque host data attached at authorization.
    pub host_data: Option<Vec<u8>>,
}

/// What a revocation did (RFC 7009).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// An access token was revoked; its refresh token still works (R09).
    AccessToken,
    /// A refresh token was revoked, and with it its whole grant (R10).
    Grant,
    /// Nothing to revoke, and nothing changed (R11): the string is not an
    /// active access or refresh token (unknown, expired, already revoked, or
    /// not even well formed; a malformed one is refused before any read, R02).
    /// RFC 7009 §2.2 answers all of these with 200.
    NotActive,
}

/// What a bulk revocation ended (R12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct BulkRevocation {
    /// Grants ended, each with every token of it.
    pub grants: u64,
    /// Damaged records skipped: grants or codes whose record could not be
    /// read. They stay where they are; [`Store::verify`](crate::Store::verify)
    /// names them (see `docs/design.md`, "Failures").
    pub damaged: u64,
}

/// What one purge removed (R14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PurgeReport {
    /// Expired authorization codes.
    pub codes: u64,
    /// Expired access tokens.
    pub access_tokens: u64,
    /// Expired refresh tokens.
    pub refresh_tokens: u64,
    /// Consumed refresh tokens whose retention ended.
    pub consumed_refresh_tokens: u64,
    /// Grants left with no live token (with their consumed refresh tokens).
    pub grants: u64,
    /// Damaged records met and skipped: their expiry entries are dropped, the
    /// records stay for [`Store::verify`](crate::Store::verify) to name.
    pub damaged: u64,
    /// Whether expired entries remain (the batch limit was reached).
    pub more: bool,
}

impl PurgeReport {
    /// Total entries removed.
    pub fn removed(&self) -> u64 {
        self.codes
            + self.access_tokens
            + self.refresh_tokens
            + self.consumed_refresh_tokens
            + self.grants
    }

    pub(crate) fn add(&mut self, other: &PurgeReport) {
        self.codes += other.codes;
        self.access_tokens += other.access_tokens;
        self.refresh_tokens += other.refresh_tokens;
        self.consumed_refresh_tokens += other.consumed_refresh_tokens;
        self.grants += other.grants;
        self.damaged += other.damaged;
        self.more = other.more;
    }
}

/// A subject's recorded approval of a client (R17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consent {
    /// The client approved.
    pub client_id: ClientId,
    /// The approving subject.
    pub subject: String,
    /// Every scope approved so far.
    pub scope: Scope,
    /// When the latest approval was recorded (Unix seconds).
    pub granted_at: u64,
}
