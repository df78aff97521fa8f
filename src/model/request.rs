//! Inputs of the grant operations, as a token or authorization endpoint
//! receives them.

use crate::model::binding::{AuthSession, Confirmation};
use crate::model::ids::ClientId;
use crate::model::pkce::PkceChallenge;
use crate::model::scope::Scope;

/// An approved authorization request (RFC 6749 §4.1.1): the host has
/// authenticated the user and obtained consent, and now issues a code.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A token request with `grant_type=authorization_code` (RFC 6749 §4.1.3),
/// from an already authenticated client. Its `Debug` shows neither the code
/// nor the PKCE verifier.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CodeExchange<'a> {
    /// The code presented.
    pub code: &'a str,
    /// The authenticated client.
    pub client_id: ClientId,
    /// The `redirect_uri` parameter, if given.
    pub redirect_uri: Option<&'a str>,
    /// The PKCE `code_verifier`, if given.
    pub code_verifier: Option<&'a str>,
    /// The `resource` parameters: the access token's audiences, within what
    /// the authorization covers (RFC 8707). Empty: all of it.
    pub resources: &'a [String],
    /// The key or certificate the client proved it holds with this request
    /// (a verified DPoP proof's `jkt`, the TLS client certificate's
    /// thumbprint): the grant is bound to it (R24).
    pub confirmation: Option<&'a Confirmation>,
}

impl std::fmt::Debug for CodeExchange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |given: bool| if given { "<redacted>" } else { "<none>" };
        f.debug_struct("CodeExchange")
            .field("code", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &redacted(self.code_verifier.is_some()))
            .field("resources", &self.resources)
            .field("confirmation", &self.confirmation)
            .finish()
    }
}

impl<'a> CodeExchange<'a> {
    /// An exchange with no redirect URI and no verifier.
    pub fn new(code: &'a str, client_id: ClientId) -> CodeExchange<'a> {
        CodeExchange {
            code,
            client_id,
            redirect_uri: None,
            code_verifier: None,
            resources: &[],
            confirmation: None,
        }
    }

    /// Sets the `redirect_uri` parameter.
    pub fn redirect_uri(mut self, uri: &'a str) -> CodeExchange<'a> {
        self.redirect_uri = Some(uri);
        self
    }

    /// Sets the PKCE `code_verifier`.
    pub fn code_verifier(mut self, verifier: &'a str) -> CodeExchange<'a> {
        self.code_verifier = Some(verifier);
        self
    }

    /// Sets the `resource` parameters.
    pub fn resources(mut self, resources: &'a [String]) -> CodeExchange<'a> {
        self.resources = resources;
        self
    }

    /// Sets the key or certificate the client proved it holds.
    pub fn confirmation(mut self, confirmation: &'a Confirmation) -> CodeExchange<'a> {
        self.confirmation = Some(confirmation);
        self
    }
}

/// A token request with `grant_type=refresh_token` (RFC 6749 §6), from an
/// already authenticated client, with the optional parameters of RFC 8707
/// and a proof of possession. Its `Debug` does not show the token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RefreshRequest<'a> {
    /// The refresh token presented.
    pub refresh_token: &'a str,
    /// The authenticated client.
    pub client_id: ClientId,
    /// A narrower scope, if asked for (R07).
    pub scope: Option<&'a Scope>,
    /// The new access token's audiences, within the grant's (R25).
    pub resources: &'a [String],
    /// The key or certificate the client proved it holds: a bound grant's
    /// refresh must present its own (R24).
    pub confirmation: Option<&'a Confirmation>,
}

impl std::fmt::Debug for RefreshRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("resources", &self.resources)
            .field("confirmation", &self.confirmation)
            .finish()
    }
}

impl<'a> RefreshRequest<'a> {
    /// A refresh with no optional parameters.
    pub fn new(refresh_token: &'a str, client_id: ClientId) -> RefreshRequest<'a> {
        RefreshRequest {
            refresh_token,
            client_id,
            scope: None,
            resources: &[],
            confirmation: None,
        }
    }

    /// Asks for a narrower scope.
    pub fn scope(mut self, scope: &'a Scope) -> RefreshRequest<'a> {
        self.scope = Some(scope);
        self
    }

    /// Sets the `resource` parameters.
    pub fn resources(mut self, resources: &'a [String]) -> RefreshRequest<'a> {
        self.resources = resources;
        self
    }

    /// Sets the key or certificate the client proved it holds.
    pub fn confirmation(mut self, confirmation: &'a Confirmation) -> RefreshRequest<'a> {
        self.confirmation = Some(confirmation);
        self
    }
}

/// What a password or client-credentials grant is bound to, beyond scope:
/// resources (RFC 8707), a key or certificate (RFC 9449, RFC 8705) and, for
/// the password grant, the sign-in (OpenID Connect).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IssueOptions {
    /// The resources the grant covers.
    pub resources: Vec<String>,
    /// The key or certificate the client proved it holds.
    pub confirmation: Option<Confirmation>,
    /// The sign-in (password grant only).
    pub auth_session: Option<AuthSession>,
}

impl IssueOptions {
    /// No options.
    pub fn new() -> IssueOptions {
        IssueOptions::default()
    }

    /// Sets the resources.
    #[must_use]
    pub fn resources<S: Into<String>>(mut self, resources: impl IntoIterator<Item = S>) -> Self {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the confirmation.
    #[must_use]
    pub fn confirmation(mut self, confirmation: Confirmation) -> Self {
        self.confirmation = Some(confirmation);
        self
    }

    /// Sets the sign-in.
    #[must_use]
    pub fn auth_session(mut self, session: AuthSession) -> Self {
        self.auth_session = Some(session);
        self
    }
}

/// An authorization request a client pushes before sending the user to the
/// authorization endpoint (RFC 9126, R30): everything but the user, who is
/// not known yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// The authenticated client pushing it.
    pub client_id: ClientId,
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
    /// A request with no optional parameters.
    pub fn new(client_id: ClientId) -> PushRequest {
        PushRequest {
            client_id,
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
    pub fn resources<S: Into<String>>(
        mut self,
        resources: impl IntoIterator<Item = S>,
    ) -> PushRequest {
        self.resources = resources.into_iter().map(Into::into).collect();
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
