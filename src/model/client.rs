//! Clients (applications): what a host registers, and what it reads back.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::kinds::KeyFingerprint;
use crate::crypto::secret::Secret;
use crate::error::{Error, InputError};
use crate::model::grant_type::GrantType;
use crate::model::ids::ClientId;
use crate::model::scope::Scope;

impl FromStr for GrantType {
    type Err = Error;
    /// Parses a `grant_type` value; unknown values are `unsupported_grant_type`.
    fn from_str(text: &str) -> Result<GrantType, Error> {
        GrantType::ALL
            .into_iter()
            .find(|grant_type| grant_type.as_str() == text)
            .ok_or(Error::UnsupportedGrantType)
    }
}

/// The longest an authorization code may live (R04: 600 s).
pub const MAX_CODE_LIFETIME: u64 = 600;

/// Whether a client can keep a secret (RFC 6749 §2.1).
///
/// The variant order is part of the on-disk format. In JSON:
/// `"confidential"`, `"public"` (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientKind {
    /// A server-side application holding a client secret.
    Confidential,
    /// A browser or native app: no secret, must use PKCE for the code flow.
    Public,
}

/// How long refresh tokens live.
///
/// The variant order is part of the on-disk format. In JSON: `"never"`, or
/// `{"absolute_seconds": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefreshLifetime {
    /// Refresh tokens never expire (pretix); they end when revoked.
    Never,
    /// Absolute lifetime, counted from the grant's creation: rotation does not
    /// extend it, so a token family ends at `created + lifetime` at the latest.
    AbsoluteSeconds(u64),
}

/// Lifetimes that override the store-wide defaults for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LifetimeOverrides {
    /// Access token lifetime in seconds.
    pub access_seconds: Option<u64>,
    /// Refresh token lifetime.
    pub refresh: Option<RefreshLifetime>,
    /// Authorization code lifetime in seconds (at most 600, R04).
    pub code_seconds: Option<u64>,
}

impl LifetimeOverrides {
    /// Overrides the access token lifetime.
    pub fn access(mut self, lifetime: Duration) -> LifetimeOverrides {
        self.access_seconds = Some(lifetime.as_secs());
        self
    }

    /// Overrides the refresh token lifetime.
    pub fn refresh(mut self, lifetime: RefreshLifetime) -> LifetimeOverrides {
        self.refresh = Some(lifetime);
        self
    }

    /// Overrides the code lifetime.
    pub fn code(mut self, lifetime: Duration) -> LifetimeOverrides {
        self.code_seconds = Some(lifetime.as_secs());
        self
    }

    /// `other`'s values where it has them, else `self`'s.
    pub(crate) fn overlaid_by(self, other: LifetimeOverrides) -> LifetimeOverrides {
        LifetimeOverrides {
            access_seconds: other.access_seconds.or(self.access_seconds),
            refresh: other.refresh.or(self.refresh),
            code_seconds: other.code_seconds.or(self.code_seconds),
        }
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.access_seconds == Some(0) {
            return Err(Error::InvalidConfig {
                reason: "the access token lifetime must be at least 1 second",
            });
        }
        if matches!(self.refresh, Some(RefreshLifetime::AbsoluteSeconds(0))) {
            return Err(Error::InvalidConfig {
                reason: "the refresh token lifetime must be at least 1 second",
            });
        }
        if self
            .code_seconds
            .is_some_and(|s| s == 0 || s > MAX_CODE_LIFETIME)
        {
            return Err(Error::InvalidConfig {
                reason: "the code lifetime must be 1 to 600 seconds (R04)",
            });
        }
        Ok(())
    }
}

/// A client to register.
///
/// ```
/// use grantdb::{NewClient, GrantType};
/// let app = NewClient::confidential("pretalx")
///     .redirect_uri("https://pretalx.com")
///     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
///     .scopes("read write profile")?;
/// # Ok::<(), grantdb::Error>(())
/// ```
///
/// A declarative client names its id, and its secret or the secret's hash,
/// so that it can come from a configuration file or a secret manager and be
/// ensured at every start ([`Store::ensure_client`](crate::Store::ensure_client)).
/// It reads from JSON (or any serde format); unknown fields are refused:
///
/// ```
/// let app: grantdb::NewClient = serde_json::from_str(r#"{
///     "id": "pCJ3yvtcSmWb3bHkmGT9Aw",
///     "name": "prioticket distributor",
///     "grant_types": ["client_credentials"],
///     "scopes": "bookings"
/// }"#)?;
/// assert_eq!(app.id.map(|id| id.to_string()).as_deref(), Some("pCJ3yvtcSmWb3bHkmGT9Aw"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewClient {
    /// The id to register under (a declarative client); `None` draws a
    /// random one.
    pub id: Option<ClientId>,
    /// The secret of a confidential client, given by the caller (once; only
    /// its keyed hash is stored), or its hash from another store of the same
    /// key; `None` mints a new one.
    pub secret: Option<ChosenSecret>,
    /// Display name shown to users on the consent page.
    pub name: String,
    /// Exact redirect URIs; the first is the default.
    pub redirect_uris: Vec<String>,
    /// Confidential (gets a secret) or public.
    pub kind: ClientKind,
    /// The grant types it may use.
    pub grant_types: Vec<GrantType>,
    /// The scopes it may request.
    pub scopes: Scope,
    /// Lifetimes that differ from the store's defaults.
    pub lifetimes: LifetimeOverrides,
    /// Codes only through pushed authorization requests (RFC 9126 §6, R30).
    pub require_pushed_requests: bool,
}

impl NewClient {
    /// A confidential client (it will receive a secret) with no grant types yet.
    pub fn confidential(name: impl Into<String>) -> NewClient {
        NewClient::new(name, ClientKind::Confidential)
    }

    /// A public client (no secret; PKCE required for the code flow).
    pub fn public(name: impl Into<String>) -> NewClient {
        NewClient::new(name, ClientKind::Public)
    }

    fn new(name: impl Into<String>, kind: ClientKind) -> NewClient {
        NewClient {
            id: None,
            secret: None,
            name: name.into(),
            redirect_uris: Vec::new(),
            kind,
            grant_types: Vec::new(),
            scopes: Scope::empty(),
            lifetimes: LifetimeOverrides::default(),
            require_pushed_requests: false,
        }
    }

    /// Registers the client under `id` instead of a random one.
    pub fn id(mut self, id: ClientId) -> NewClient {
        self.id = Some(id);
        self
    }

    /// Gives the client `secret` instead of minting one: a client secret in
    /// grantdb's shape (its prefix and checksum), as
    /// [`Store::new_client_secret`](crate::Store::new_client_secret) or
    /// `grantdb clients secret` make one, kept in a secret manager. Only its
    /// keyed hash is stored.
    pub fn secret(mut self, secret: impl Into<Secret>) -> NewClient {
        self.secret = Some(ChosenSecret::Plain(secret.into()));
        self
    }

    /// Gives the client the secret whose hash `hash` is (from
    /// [`Store::client_secret_hash`](crate::Store::client_secret_hash) of a
    /// store with the same hashing key).
    pub fn secret_hash(mut self, hash: SecretHash) -> NewClient {
        self.secret = Some(ChosenSecret::Hashed(hash));
        self
    }

    /// Adds a redirect URI (the first added is the default).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> NewClient {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Sets the allowed grant types.
    pub fn grant_types(mut self, grant_types: impl IntoIterator<Item = GrantType>) -> NewClient {
        self.grant_types = grant_types.into_iter().collect();
        self
    }

    /// Sets the allowed scopes from a space-delimited string.
    pub fn scopes(mut self, scopes: &str) -> Result<NewClient, Error> {
        self.scopes = Scope::parse(scopes)?;
        Ok(self)
    }

    /// Sets per-client lifetimes.
    pub fn lifetimes(mut self, lifetimes: LifetimeOverrides) -> NewClient {
        self.lifetimes = lifetimes;
        self
    }

    /// Requires pushed authorization requests (RFC 9126 §6): codes are
    /// issued only from a `request_uri` the client pushed (R30).
    pub fn require_pushed_requests(mut self) -> NewClient {
        self.require_pushed_requests = true;
        self
    }
}

/// The secret a caller gives a client it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChosenSecret {
    /// The secret itself (grantdb's shape): hashed under the minting key.
    Plain(Secret),
    /// Its hash under a key of the ring.
    Hashed(SecretHash),
}

/// A client secret's keyed hash and the key it is under, as
/// `<key fingerprint>:<hash>` (32 hex digits, a colon, 22 base64url
/// characters): no secret, only what a store with the same key verifies
/// it with.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash {
    /// The key it is hashed under.
    pub key: KeyFingerprint,
    pub(crate) verifier: [u8; 16],
}

impl fmt::Display for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key, URL_SAFE_NO_PAD.encode(self.verifier))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({self})")
    }
}

impl FromStr for SecretHash {
    type Err = Error;
    fn from_str(text: &str) -> Result<SecretHash, Error> {
        let bad = Error::InvalidArgument {
            what: "secret hash",
            reason: InputError::BadStructure,
        };
        let (key, verifier) = text.split_once(':').ok_or(bad.duplicate())?;
        let key = KeyFingerprint::from_hex(key).ok_or(bad.duplicate())?;
        let verifier = URL_SAFE_NO_PAD
            .decode(verifier)
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .ok_or(bad)?;
        Ok(SecretHash { key, verifier })
    }
}

impl Serialize for SecretHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SecretHash, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A [`NewClient`] as a configuration file writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientSpec {
    name: String,
    #[serde(default)]
    id: Option<ClientId>,
    #[serde(default = "confidential")]
    kind: ClientKind,
    #[serde(default)]
    redirect_uris: Vec<String>,
    grant_types: Vec<GrantType>,
    #[serde(default)]
    scopes: Scope,
    #[serde(default)]
    lifetimes: LifetimeOverrides,
    #[serde(default)]
    require_pushed_requests: bool,
    #[serde(default)]
    secret: Option<Secret>,
    #[serde(default)]
    secret_hash: Option<SecretHash>,
}

fn confidential() -> ClientKind {
    ClientKind::Confidential
}

/// Reads a client from its configuration (`name` and `grant_types`
/// required; `kind` confidential unless said; a `secret` or a `secret_hash`,
/// not both, and only for a confidential client).
impl<'de> Deserialize<'de> for NewClient {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<NewClient, D::Error> {
        let spec = ClientSpec::deserialize(deserializer)?;
        let secret = match (spec.secret, spec.secret_hash) {
            (Some(_), Some(_)) => {
                return Err(serde::de::Error::custom(
                    "a client has a secret or a secret_hash, not both",
                ));
            }
            (Some(secret), None) => Some(ChosenSecret::Plain(secret)),
            (None, Some(hash)) => Some(ChosenSecret::Hashed(hash)),
            (None, None) => None,
        };
        if secret.is_some() && spec.kind == ClientKind::Public {
            return Err(serde::de::Error::custom("a public client has no secret"));
        }
        Ok(NewClient {
            id: spec.id,
            secret,
            name: spec.name,
            redirect_uris: spec.redirect_uris,
            kind: spec.kind,
            grant_types: spec.grant_types,
            scopes: spec.scopes,
            lifetimes: spec.lifetimes,
            require_pushed_requests: spec.require_pushed_requests,
        })
    }
}

/// What [`Store::ensure_client`](crate::Store::ensure_client) found.
#[derive(Debug)]
#[non_exhaustive]
pub enum Ensured {
    /// The client did not exist: it is registered now.
    Created(RegisteredClient),
    /// The client exists as described.
    Unchanged(Client),
    /// The client exists, but these fields differ from the description
    /// (`"name"`, `"redirect_uris"`, `"kind"`, `"grant_types"`, `"scopes"`,
    /// `"lifetimes"`, `"require_pushed_requests"`, `"secret"`). Nothing was
    /// changed: [`Store::update_client`](crate::Store::update_client) or
    /// [`Store::rotate_client_secret`](crate::Store::rotate_client_secret)
    /// makes them agree.
    Differs {
        /// The client as stored.
        client: Client,
        /// The fields that differ.
        fields: Vec<&'static str>,
    },
}

/// Changes to a registered client; `None` leaves a field as it is.
///
/// Changes apply to what is issued from now on; tokens already issued keep
/// their scope and expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New redirect URIs (replacing all).
    pub redirect_uris: Option<Vec<String>>,
    /// New grant types (replacing all).
    pub grant_types: Option<Vec<GrantType>>,
    /// New allowed scopes.
    pub scopes: Option<Scope>,
    /// New lifetime overrides (replacing all).
    pub lifetimes: Option<LifetimeOverrides>,
    /// Require pushed authorization requests from now on, or stop (R30).
    pub require_pushed_requests: Option<bool>,
}

impl ClientUpdate {
    /// An update that changes nothing yet.
    pub fn new() -> ClientUpdate {
        ClientUpdate::default()
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> ClientUpdate {
        self.name = Some(name.into());
        self
    }

    /// Replaces the redirect URIs.
    pub fn redirect_uris<S: Into<String>>(mut self, uris: impl IntoIterator<Item = S>) -> Self {
        self.redirect_uris = Some(uris.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the grant types.
    pub fn grant_types(mut self, grant_types: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = Some(grant_types.into_iter().collect());
        self
    }

    /// Sets the allowed scopes.
    pub fn scopes(mut self, scopes: Scope) -> ClientUpdate {
        self.scopes = Some(scopes);
        self
    }

    /// Replaces the lifetime overrides.
    pub fn lifetimes(mut self, lifetimes: LifetimeOverrides) -> ClientUpdate {
        self.lifetimes = Some(lifetimes);
        self
    }

    /// Requires pushed authorization requests from now on, or stops (R30).
    pub fn require_pushed_requests(mut self, required: bool) -> ClientUpdate {
        self.require_pushed_requests = Some(required);
        self
    }
}

/// A registered client as grantdb returns it. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Client {
    /// The public client id.
    pub id: ClientId,
    /// Display name.
    pub name: String,
    /// Exact redirect URIs; the first is the default.
    pub redirect_uris: Vec<String>,
    /// Confidential or public.
    pub kind: ClientKind,
    /// Allowed grant types.
    pub grant_types: Vec<GrantType>,
    /// Allowed scopes.
    pub scopes: Scope,
    /// Per-client lifetimes.
    pub lifetimes: LifetimeOverrides,
    /// Registration time (Unix seconds).
    pub created_at: u64,
    /// Codes only through pushed authorization requests (R30).
    pub require_pushed_requests: bool,
}

impl Client {
    /// Whether the client may use `grant_type`.
    pub fn allows(&self, grant_type: GrantType) -> bool {
        self.grant_types.contains(&grant_type)
    }
}

/// What registering a client returns: its id and, for a confidential client,
/// its secret, shown this once and never again.
#[derive(Debug)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The registered client.
    pub client: Client,
    /// The client secret (confidential clients only).
    pub secret: Option<Secret>,
}

/// A client that proved who it is: what
/// [`Store::authenticate_client`](crate::Store::authenticate_client) returns,
/// and what every token-endpoint operation takes (RFC 6749 §3.2.1: a
/// confidential client authenticates at the token endpoint). No other public
/// function makes one, so a handler that skips client authentication does
/// not compile. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedClient {
    client: std::sync::Arc<Client>,
}

impl AuthenticatedClient {
    /// The client authenticated just now (by its secret, or as a public
    /// client by its id alone).
    pub(crate) fn new(client: Client) -> AuthenticatedClient {
        AuthenticatedClient {
            client: std::sync::Arc::new(client),
        }
    }

    /// The client's id.
    pub fn id(&self) -> ClientId {
        self.client.id
    }

    /// The client as it was registered when it authenticated.
    pub fn client(&self) -> &Client {
        &self.client
    }
}
