//! Inputs of the grant operations, as a token or authorization endpoint
//! receives them.

use crate::ids::ClientId;
use crate::pkce::PkceChallenge;
use crate::scope::Scope;

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
}

impl std::fmt::Debug for CodeExchange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |given: bool| if given { "<redacted>" } else { "<none>" };
        f.debug_struct("CodeExchange")
            .field("code", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &redacted(self.code_verifier.is_some()))
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
}
