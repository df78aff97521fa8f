//! Inputs of the operations that take more than two, as a token or
//! authorization endpoint receives them: owned values (they travel to the
//! group-commit leader and across threads as they are), built with `new`
//! from what is required, in the order token, client, subject, and setters
//! for the rest (see `docs/design.md`, "API conventions").

use std::fmt;
use std::str::FromStr;

use crate::crypto::secret::Secret;
use crate::error::Error;
use crate::model::binding::{AuthSession, Confirmation};
use crate::model::client::AuthenticatedClient;
use crate::model::ids::ClientId;
use crate::model::pkce::PkceChallenge;
use crate::model::scope::Scope;

/// An approved authorization request (RFC 6749 §4.1.1): the host has
/// authenticated the user and obtained consent, and now issues a code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// The client asking.
    pub client_id: ClientId,
    /// The authenticated resource owner.
    pub subject: String,
    /// The requested scope; `None` means the client's registered scopes.
    pub scope: Option<Scope>,
    /// The `redirect_uri` parameter, if the request had one.
    pub redirect_uri: Option<String>,
    /// The PKCE challenge, if the request had one (RFC 7636).
    pub pkce: Option<PkceChallenge>,
    /// The OpenID Connect nonce, if any.
    pub nonce: Option<String>,
    /// Opaque data the host attaches to the code and gets back when it is
    /// exchanged, and with the grant afterwards (at most 4 KiB): claims
    /// requests, authentication context, a framework's grant extensions.
    pub host_data: Option<Vec<u8>>,
    /// The `resource` parameters (RFC 8707): what the grant will cover.
    pub resources: Vec<String>,
    /// The `dpop_jkt` parameter (RFC 9449 §10): the code can only be
    /// exchanged with a DPoP proof of this key.
    pub dpop_jkt: Option<Confirmation>,
    /// The sign-in behind the approval (OpenID Connect), kept with the grant.
    pub auth_session: Option<AuthSession>,
}

impl AuthorizationRequest {
    /// A request with no optional parameters.
    pub fn new(client_id: ClientId, subject: impl Into<String>) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id,
            subject: subject.into(),
            scope: None,
            redirect_uri: None,
            pkce: None,
            nonce: None,
            host_data: None,
            resources: Vec::new(),
            dpop_jkt: None,
            auth_session: None,
        }
    }

    /// Sets the requested scope.
    pub fn scope(mut self, scope: Scope) -> AuthorizationRequest {
        self.scope = Some(scope);
        self
    }

    /// Sets the `redirect_uri` parameter.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> AuthorizationRequest {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Sets the PKCE challenge.
    pub fn pkce(mut self, challenge: PkceChallenge) -> AuthorizationRequest {
        self.pkce = Some(challenge);
        self
    }

    /// Attaches opaque host data (see [`AuthorizationRequest::host_data`]).
    pub fn host_data(mut self, data: Vec<u8>) -> AuthorizationRequest {
        self.host_data = Some(data);
        self
    }

    /// Sets the OpenID Connect nonce.
    pub fn nonce(mut self, nonce: impl Into<String>) -> AuthorizationRequest {
        self.nonce = Some(nonce.into());
        self
    }

    /// Sets the `resource` parameters (RFC 8707).
    pub fn resources<S: Into<String>>(
        mut self,
        resources: impl IntoIterator<Item = S>,
    ) -> AuthorizationRequest {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Binds the code to a DPoP key (`dpop_jkt`, RFC 9449 §10); must be a
    /// [`Confirmation::DpopJkt`].
    pub fn dpop_jkt(mut self, key: Confirmation) -> AuthorizationRequest {
        self.dpop_jkt = Some(key);
        self
    }

    /// Records the sign-in behind the approval (OpenID Connect).
    pub fn auth_session(mut self, session: AuthSession) -> AuthorizationRequest {
        self.auth_session = Some(session);
        self
    }
}

/// The `resource` parameters as strings.
fn strings<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Vec<String> {
    values.into_iter().map(Into::into).collect()
}

/// A token request with `grant_type=authorization_code` (RFC 6749 §4.1.3)
/// from an authenticated client. Its `Debug` shows neither the code nor the
/// PKCE verifier.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CodeExchange {
    /// The code presented.
    pub code: Secret,
    /// The client that presented it.
    pub client: AuthenticatedClient,
    /// The `redirect_uri` parameter, if given.
    pub redirect_uri: Option<String>,
    /// The PKCE `code_verifier`, if given.
    pub code_verifier: Option<Secret>,
    /// The `resource` parameters: the access token's audiences, within what
    /// the authorization covers (RFC 8707). Empty: all of it.
    pub resources: Vec<String>,
    /// The key or certificate the client proved it holds with this request
    /// (a verified DPoP proof's `jkt`, the TLS client certificate's
    /// thumbprint): the grant is bound to it (R24).
    pub confirmation: Option<Confirmation>,
}

impl CodeExchange {
    /// The exchange of `code` by `client`, with no redirect URI and no
    /// verifier.
    pub fn new(code: impl Into<Secret>, client: &AuthenticatedClient) -> CodeExchange {
        CodeExchange {
            code: code.into(),
            client: client.clone(),
            redirect_uri: None,
            code_verifier: None,
            resources: Vec::new(),
            confirmation: None,
        }
    }

    /// Sets the `redirect_uri` parameter.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> CodeExchange {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Sets the PKCE `code_verifier`.
    pub fn code_verifier(mut self, verifier: impl Into<Secret>) -> CodeExchange {
        self.code_verifier = Some(verifier.into());
        self
    }

    /// Sets the `resource` parameters.
    pub fn resources<S: Into<String>>(mut self, resources: impl IntoIterator<Item = S>) -> Self {
        self.resources = strings(resources);
        self
    }

    /// Sets the key or certificate the client proved it holds.
    pub fn confirmation(mut self, confirmation: Confirmation) -> CodeExchange {
        self.confirmation = Some(confirmation);
        self
    }
}

/// A token request with `grant_type=refresh_token` (RFC 6749 §6) from an
/// authenticated client, with the optional parameters of RFC 8707 and a
/// proof of possession. Its `Debug` does not show the token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RefreshRequest {
    /// The refresh token presented.
    pub refresh_token: Secret,
    /// The client that presented it.
    pub client: AuthenticatedClient,
    /// A narrower scope, if asked for (R07).
    pub scope: Option<Scope>,
    /// The new access token's audiences, within the grant's (R25).
    pub resources: Vec<String>,
    /// The key or certificate the client proved it holds: a bound grant's
    /// refresh must present its own (R24).
    pub confirmation: Option<Confirmation>,
}

impl RefreshRequest {
    /// The refresh of `refresh_token` by `client`, keeping the grant's scope.
    pub fn new(refresh_token: impl Into<Secret>, client: &AuthenticatedClient) -> RefreshRequest {
        RefreshRequest {
            refresh_token: refresh_token.into(),
            client: client.clone(),
            scope: None,
            resources: Vec::new(),
            confirmation: None,
        }
    }

    /// Asks for a narrower scope.
    pub fn scope(mut self, scope: Scope) -> RefreshRequest {
        self.scope = Some(scope);
        self
    }

    /// Sets the `resource` parameters.
    pub fn resources<S: Into<String>>(mut self, resources: impl IntoIterator<Item = S>) -> Self {
        self.resources = strings(resources);
        self
    }

    /// Sets the key or certificate the client proved it holds.
    pub fn confirmation(mut self, confirmation: Confirmation) -> RefreshRequest {
        self.confirmation = Some(confirmation);
        self
    }
}

/// Tokens for a subject the host has authenticated (the password grant, RFC
/// 6749 §4.3): what [`Store::issue_for_subject`](crate::Store::issue_for_subject)
/// takes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssueRequest {
    /// The client asking.
    pub client: AuthenticatedClient,
    /// The resource owner, as the host identifies them.
    pub subject: String,
    /// The requested scope; `None` grants the client's registered scopes.
    pub scope: Option<Scope>,
    /// The resources the grant covers (RFC 8707).
    pub resources: Vec<String>,
    /// The key or certificate the client proved it holds (R24).
    pub confirmation: Option<Confirmation>,
    /// The sign-in behind it (OpenID Connect, R26).
    pub auth_session: Option<AuthSession>,
}

impl IssueRequest {
    /// Tokens for `subject` at `client`, with the client's scopes.
    pub fn new(client: &AuthenticatedClient, subject: impl Into<String>) -> IssueRequest {
        IssueRequest {
            client: client.clone(),
            subject: subject.into(),
            scope: None,
            resources: Vec::new(),
            confirmation: None,
            auth_session: None,
        }
    }

    /// Sets the requested scope.
    pub fn scope(mut self, scope: Scope) -> IssueRequest {
        self.scope = Some(scope);
        self
    }

    /// Sets the resources.
    pub fn resources<S: Into<String>>(mut self, resources: impl IntoIterator<Item = S>) -> Self {
        self.resources = strings(resources);
        self
    }

    /// Sets the confirmation.
    pub fn confirmation(mut self, confirmation: Confirmation) -> IssueRequest {
        self.confirmation = Some(confirmation);
        self
    }

    /// Sets the sign-in.
    pub fn auth_session(mut self, session: AuthSession) -> IssueRequest {
        self.auth_session = Some(session);
        self
    }
}

/// An access token for a confidential client acting for itself (RFC 6749
/// §4.4): what [`Store::issue_client_credentials`](crate::Store::issue_client_credentials)
/// takes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientCredentialsRequest {
    /// The client asking.
    pub client: AuthenticatedClient,
    /// The requested scope; `None` grants the client's registered scopes.
    pub scope: Option<Scope>,
    /// The resources the token covers (RFC 8707).
    pub resources: Vec<String>,
    /// The key or certificate the client proved it holds (R24).
    pub confirmation: Option<Confirmation>,
}

impl ClientCredentialsRequest {
    /// A token for `client`, with its registered scopes.
    pub fn new(client: &AuthenticatedClient) -> ClientCredentialsRequest {
        ClientCredentialsRequest {
            client: client.clone(),
            scope: None,
            resources: Vec::new(),
            confirmation: None,
        }
    }

    /// Sets the requested scope.
    pub fn scope(mut self, scope: Scope) -> ClientCredentialsRequest {
        self.scope = Some(scope);
        self
    }

    /// Sets the resources.
    pub fn resources<S: Into<String>>(mut self, resources: impl IntoIterator<Item = S>) -> Self {
        self.resources = strings(resources);
        self
    }

    /// Sets the confirmation.
    pub fn confirmation(mut self, confirmation: Confirmation) -> ClientCredentialsRequest {
        self.confirmation = Some(confirmation);
        self
    }
}

/// The `token_type_hint` of RFC 7009 §2.1 and RFC 7662 §2.1: which kind of
/// token the caller thinks it presents. grantdb's strings say their kind in
/// their prefix, so a hint only orders the lookups; a wrong one costs
/// nothing and changes no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenTypeHint {
    /// `access_token`.
    AccessToken,
    /// `refresh_token`.
    RefreshToken,
}

impl TokenTypeHint {
    /// The value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenTypeHint::AccessToken => "access_token",
            TokenTypeHint::RefreshToken => "refresh_token",
        }
    }
}

impl fmt::Display for TokenTypeHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenTypeHint {
    type Err = Error;
    /// Parses a hint; any other value is
    /// [`Error::UnsupportedTokenType`](crate::Error::UnsupportedTokenType)
    /// (RFC 7009 §2.2.1). Introspection may ignore what it does not know
    /// (RFC 7662 §2.1): parse with `.ok()` there.
    fn from_str(text: &str) -> Result<TokenTypeHint, Error> {
        match text {
            "access_token" => Ok(TokenTypeHint::AccessToken),
            "refresh_token" => Ok(TokenTypeHint::RefreshToken),
            _ => Err(Error::UnsupportedTokenType),
        }
    }
}

/// An introspection request (RFC 7662 §2.1): the token, and the protected
/// resource asking, which must have authenticated (as a client of the store:
/// a resource server registered for the purpose) and which the host has
/// authorized to introspect.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IntrospectRequest {
    /// The token presented.
    pub token: Secret,
    /// Who asks.
    pub caller: AuthenticatedClient,
    /// The caller's `token_type_hint`, if it sent one.
    pub hint: Option<TokenTypeHint>,
}

impl IntrospectRequest {
    /// `caller` asks about `token`.
    pub fn new(token: impl Into<Secret>, caller: &AuthenticatedClient) -> IntrospectRequest {
        IntrospectRequest {
            token: token.into(),
            caller: caller.clone(),
            hint: None,
        }
    }

    /// Sets the `token_type_hint`.
    pub fn hint(mut self, hint: TokenTypeHint) -> IntrospectRequest {
        self.hint = Some(hint);
        self
    }
}

/// An authorization request a client pushes before sending the user to the
/// authorization endpoint (RFC 9126, R30): everything but the user, who is
/// not known yet. The client authenticates as at the token endpoint (RFC
/// 9126 §2.1).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PushRequest {
    /// The client pushing it.
    pub client: AuthenticatedClient,
    /// The `redirect_uri` parameter, if any.
    pub redirect_uri: Option<String>,
    /// The requested scope; `None` means the client's registered scopes.
    pub scope: Option<Scope>,
    /// The `state` parameter, handed back when the code is issued.
    pub state: Option<String>,
    /// The PKCE challenge (required for public clients).
    pub pkce: Option<PkceChallenge>,
    /// The OpenID Connect nonce.
    pub nonce: Option<String>,
    /// The `resource` parameters (RFC 8707).
    pub resources: Vec<String>,
    /// The `dpop_jkt` parameter (RFC 9449 §10).
    pub dpop_jkt: Option<Confirmation>,
    /// How long the `request_uri` lives: default 60 s, at most 600 s.
    pub lifetime: Option<std::time::Duration>,
}

impl PushRequest {
    /// A request of `client` with no optional parameters.
    pub fn new(client: &AuthenticatedClient) -> PushRequest {
        PushRequest {
            client: client.clone(),
            redirect_uri: None,
            scope: None,
            state: None,
            pkce: None,
            nonce: None,
            resources: Vec::new(),
            dpop_jkt: None,
            lifetime: None,
        }
    }

    /// Sets the `redirect_uri` parameter.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> PushRequest {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Sets the requested scope.
    pub fn scope(mut self, scope: Scope) -> PushRequest {
        self.scope = Some(scope);
        self
    }

    /// Sets the `state` parameter.
    pub fn state(mut self, state: impl Into<String>) -> PushRequest {
        self.state = Some(state.into());
        self
    }

    /// Sets the PKCE challenge.
    pub fn pkce(mut self, challenge: PkceChallenge) -> PushRequest {
        self.pkce = Some(challenge);
        self
    }

    /// Sets the OpenID Connect nonce.
    pub fn nonce(mut self, nonce: impl Into<String>) -> PushRequest {
        self.nonce = Some(nonce.into());
        self
    }

    /// Sets the `resource` parameters.
    pub fn resources<S: Into<String>>(mut self, resources: impl IntoIterator<Item = S>) -> Self {
        self.resources = strings(resources);
        self
    }

    /// Binds the code to a DPoP key (`dpop_jkt`).
    pub fn dpop_jkt(mut self, key: Confirmation) -> PushRequest {
        self.dpop_jkt = Some(key);
        self
    }

    /// Sets how long the `request_uri` lives (at most 600 s).
    pub fn lifetime(mut self, lifetime: std::time::Duration) -> PushRequest {
        self.lifetime = Some(lifetime);
        self
    }
}

/// The authorization endpoint's answer to a pushed request (R30): the
/// `request_uri` and `client_id` it was sent, and the user who signed in and
/// approved. Its `Debug` does not show the `request_uri`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PushedApproval {
    /// The `request_uri` parameter.
    pub request_uri: Secret,
    /// The `client_id` parameter (not authenticated at this endpoint).
    pub client_id: ClientId,
    /// The user who approved.
    pub subject: String,
    /// The sign-in behind the approval (OpenID Connect).
    pub auth_session: Option<AuthSession>,
}

impl PushedApproval {
    /// `subject` approved the request `request_uri` names, for `client_id`.
    pub fn new(
        request_uri: impl Into<Secret>,
        client_id: ClientId,
        subject: impl Into<String>,
    ) -> PushedApproval {
        PushedApproval {
            request_uri: request_uri.into(),
            client_id,
            subject: subject.into(),
            auth_session: None,
        }
    }

    /// Records the sign-in behind the approval.
    pub fn auth_session(mut self, session: AuthSession) -> PushedApproval {
        self.auth_session = Some(session);
        self
    }
}

/// Who is trying user codes at the device verification page (R31): the
/// signed-in user, or the client's address. Wrong codes are counted per
/// attempt key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttemptKey(String);

impl AttemptKey {
    /// The attempt key `key` (a user id, an IP address).
    pub fn new(key: impl Into<String>) -> AttemptKey {
        AttemptKey(key.into())
    }

    /// The key as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user approving the device request their user code names (R31).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceApproval {
    /// The user code as typed (case, spaces and dashes do not matter).
    pub user_code: String,
    /// The user who approves.
    pub subject: String,
    /// Who is trying the code.
    pub attempt: AttemptKey,
}

impl DeviceApproval {
    /// `subject` approves the request `user_code` names.
    pub fn new(
        user_code: impl Into<String>,
        subject: impl Into<String>,
        attempt: AttemptKey,
    ) -> DeviceApproval {
        DeviceApproval {
            user_code: user_code.into(),
            subject: subject.into(),
            attempt,
        }
    }
}

/// A subject's approval of a scope for a client, to remember (R17).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewConsent {
    /// The client approved.
    pub client_id: ClientId,
    /// Who approved.
    pub subject: String,
    /// What they approved.
    pub scope: Scope,
}

impl NewConsent {
    /// `subject` approved `scope` for `client_id`.
    pub fn new(client_id: ClientId, subject: impl Into<String>, scope: Scope) -> NewConsent {
        NewConsent {
            client_id,
            subject: subject.into(),
            scope,
        }
    }
}
