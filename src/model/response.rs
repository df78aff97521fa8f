//! What operations return: token responses, codes, validation and
//! introspection results, revocation and purge reports, consents.

use serde::{Deserialize, Serialize};

use crate::crypto::secret::Secret;
use crate::model::binding::{AuthSession, Confirmation};
use crate::model::grant::GrantRef;
use crate::model::ids::{ClientId, GrantId};
use crate::model::scope::Scope;

/// The `token_type` of a token response (RFC 6749 §7.1) or an introspection
/// (RFC 7662 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TokenType {
    /// `"Bearer"` (RFC 6750); `"bearer"` is read as the same.
    #[serde(rename = "Bearer", alias = "bearer")]
    Bearer,
    /// `"refresh_token"`: an introspected refresh token.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// `"DPoP"` (RFC 9449 §5): an access token bound to a DPoP key.
    #[serde(rename = "DPoP")]
    DPoP,
}

/// An unknown id, for fields a parsed response does not carry.
fn unknown_grant() -> GrantId {
    GrantId([0; 16])
}

fn unknown_client() -> ClientId {
    ClientId([0; 16])
}

/// A successful token response (RFC 6749 §5.1), plus `created_at` as Eventpop
/// returns it. Serialises to exactly the JSON a token endpoint sends, and
/// parses it back (hosts and their tests read responses).
///
/// The fields marked "not serialised" are for the host (an OpenID Connect
/// layer needs the subject and nonce to mint an ID token); a parsed response
/// has them empty (ids all zero).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// Always [`TokenType::Bearer`].
    pub token_type: TokenType,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token, when the client may refresh (R06).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The refresh token's expiry, Unix seconds, when it has one. Not
    /// serialised (RFC 6749 has no field for it).
    #[serde(skip)]
    pub refresh_expires_at: Option<u64>,
    /// The granted scope.
    #[serde(default, skip_serializing_if = "Scope::is_empty")]
    pub scope: Scope,
    /// Issue time, Unix seconds.
    pub created_at: u64,
    /// The grant (token family) the tokens belong to. Not serialised.
    #[serde(skip, default = "unknown_grant")]
    pub grant_id: GrantId,
    /// The client. Not serialised.
    #[serde(skip, default = "unknown_client")]
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
    /// The sign-in the grant came from, kept across refreshes, for an ID
    /// token's `auth_time`, `acr`, `amr` and `sid`. Not serialised.
    #[serde(skip)]
    pub auth_session: Option<AuthSession>,
    /// The access token's audiences (RFC 8707); empty: not restricted. Not
    /// serialised.
    #[serde(skip)]
    pub resources: Vec<String>,
}

impl TokenResponse {
    /// The grant the tokens belong to (for
    /// [`Store::revoke_grant`](crate::Store::revoke_grant) and
    /// [`Store::grant`](crate::Store::grant)).
    pub fn grant_ref(&self) -> GrantRef {
        GrantRef::new(self.client_id, self.grant_id)
    }
}

/// What claiming a DPoP proof id found (R27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProofJti {
    /// Never seen (or seen so long ago that its proof is no longer
    /// accepted): now remembered; accept the proof.
    FirstUse,
    /// Seen before, within its validity: refuse the proof (RFC 9449 §11.1).
    Replay,
}

/// A newly issued authorization code.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuedCode {
    /// The code, to append to the redirect URI.
    pub code: Secret,
    /// Where to send the user: the redirect URI given, or the client's default.
    pub redirect_uri: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

/// What a valid access token grants (R13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
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
    /// The resources the token is for (RFC 8707); empty: not restricted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aud: Vec<String>,
    /// The key or certificate a request with this token must prove (RFC 9449,
    /// RFC 8705): the resource server compares it with the DPoP proof's key
    /// or the TLS client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// An RFC 7662 introspection response: serialises to the JSON an
/// introspection endpoint sends, and parses it back.
///
/// `E` carries host extension fields, flattened into the JSON object (any
/// `Serialize`/`Deserialize` struct); [`NoExtensions`] by default. grantdb
/// fills `iss` from [`ConfigBuilder::issuer`](crate::ConfigBuilder::issuer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct Introspection<E = NoExtensions> {
    /// Whether the token is active (R13).
    pub active: bool,
    /// Granted scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The client it was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// The resource owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `"Bearer"` for access tokens, `"refresh_token"` for refresh tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<TokenType>,
    /// Expiry, Unix seconds (absent for refresh tokens that never expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issue time, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// The issuer (the configured one), for an active token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audiences the token is for, when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aud: Vec<String>,
    /// The key or certificate the token is bound to (RFC 9449 §6.2, RFC 8705 §3.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// When the user authenticated, for a grant that recorded its sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// The sign-in's authentication context class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The sign-in's authentication methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The sign-in session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Host extension fields, flattened into the object.
    #[serde(flatten)]
    pub extensions: E,
}

/// No extension fields in an [`Introspection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NoExtensions {}

impl Introspection {
    /// `{"active": false}`, the answer for every token that is not active.
    pub fn inactive() -> Introspection {
        Introspection::default()
    }
}

impl<E> Introspection<E> {
    /// The same response with host extension fields, flattened into the
    /// JSON object.
    ///
    /// ```
    /// # use grantdb::Introspection;
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Tenant { tenant: String }
    /// let json = serde_json::to_string(
    ///     &Introspection::inactive().with_extensions(Tenant { tenant: "acme".into() }),
    /// )?;
    /// assert_eq!(json, r#"{"active":false,"tenant":"acme"}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn with_extensions<X>(self, extensions: X) -> Introspection<X> {
        Introspection {
            active: self.active,
            scope: self.scope,
            client_id: self.client_id,
            sub: self.sub,
            token_type: self.token_type,
            exp: self.exp,
            iat: self.iat,
            iss: self.iss,
            aud: self.aud,
            cnf: self.cnf,
            auth_time: self.auth_time,
            acr: self.acr,
            amr: self.amr,
            sid: self.sid,
            extensions,
        }
    }
}

/// A refresh token, as [`Store::refresh_state`](crate::Store::refresh_state) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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

/// What a revocation did (RFC 7009). In JSON and in `Display`, a word:
/// `access_token`, `grant`, `not_active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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

impl std::fmt::Display for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Revocation::AccessToken => "access token revoked",
            Revocation::Grant => "refresh token revoked with its grant",
            Revocation::NotActive => "not an active token: nothing to revoke",
        })
    }
}

/// What a bulk revocation ended (R12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct BulkRevocation {
    /// Grants ended, each with every token of it.
    pub grants: u64,
    /// Damaged records skipped: grants or codes whose record could not be
    /// read. They stay where they are; [`Store::verify`](crate::Store::verify)
    /// names them (see `docs/design.md`, "Failures").
    pub damaged: u64,
}

impl BulkRevocation {
    /// Both counts added.
    pub(crate) fn plus(&self, other: &BulkRevocation) -> BulkRevocation {
        BulkRevocation {
            grants: self.grants + other.grants,
            damaged: self.damaged + other.damaged,
        }
    }
}

/// What one purge removed (R14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
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
    /// DPoP proof ids past the time their proofs could be accepted (R26).
    pub proof_jtis: u64,
    /// Pushed authorization requests never used (R30).
    pub pushed_requests: u64,
    /// Device requests past their expiry, with their user codes (R31).
    pub device_requests: u64,
    /// Windows of wrong user codes that ended (R31).
    pub attempt_windows: u64,
    /// Change-feed entries past their retention, or acknowledged by every
    /// named consumer (R33).
    pub feed_entries: u64,
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
            + self.proof_jtis
            + self.pushed_requests
            + self.device_requests
            + self.attempt_windows
            + self.feed_entries
    }

    pub(crate) fn add(&mut self, other: &PurgeReport) {
        self.codes += other.codes;
        self.access_tokens += other.access_tokens;
        self.refresh_tokens += other.refresh_tokens;
        self.consumed_refresh_tokens += other.consumed_refresh_tokens;
        self.grants += other.grants;
        self.proof_jtis += other.proof_jtis;
        self.pushed_requests += other.pushed_requests;
        self.device_requests += other.device_requests;
        self.attempt_windows += other.attempt_windows;
        self.feed_entries += other.feed_entries;
        self.damaged += other.damaged;
        self.more = other.more;
    }
}

/// A subject's recorded approval of a client (R17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
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

impl Consent {
    /// Whether the consent covers every scope of `requested`, so that the
    /// approval prompt can be skipped (R17). An empty request covers
    /// nothing: "consent to nothing" is never a reason to skip the prompt
    /// (R16).
    pub fn covers(&self, requested: &Scope) -> bool {
        !requested.is_empty() && requested.is_subset(&self.scope)
    }
}

/// A pushed authorization request's answer (RFC 9126 §2.2): serialises as
/// the endpoint's JSON.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PushedRequest {
    /// `urn:ietf:params:oauth:request_uri:` and a single-use secret bound to
    /// the client; only its keyed hash is stored.
    pub request_uri: Secret,
    /// Seconds it stays usable.
    pub expires_in: u64,
}

/// A pushed request as the authorization endpoint reads it back (R30): what
/// to show the user, and where to send them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushedAuthorization {
    /// The client that pushed it.
    pub client_id: ClientId,
    /// Where the code goes: the request's redirect URI or the client's default.
    pub redirect_uri: String,
    /// The scope it asks for, resolved against the client's.
    pub scope: Scope,
    /// The `state` to hand back with the code.
    pub state: Option<String>,
    /// The OpenID Connect nonce.
    pub nonce: Option<String>,
    /// The resources it asks for.
    pub resources: Vec<String>,
    /// When the `request_uri` stops working (Unix seconds).
    pub expires_at: u64,
}
