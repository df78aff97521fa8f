//! Authorization codes (R04, R05): issuing one for an approved request,
//! exchanging it once, and reading one without spending it.

use crate::api::store::Store;
use crate::error::Result;
use crate::kv::Backend;
use crate::model::request::{AuthorizationRequest, CodeExchange};
use crate::model::response::{CodeInfo, IssuedCode, TokenResponse};
use crate::ops;

impl<B: Backend> Store<B> {
    /// Issues an authorization code for a request the user approved (R04).
    /// The client is identified, not authenticated: the authorization
    /// endpoint never sees its secret (RFC 6749 §4.1.1).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]))?;
    /// let code = store.issue_code(AuthorizationRequest::new(app.client.id, "alice"))?;
    /// assert!(code.code.expose().starts_with("gdbac_"));
    /// assert_eq!(code.redirect_uri, "https://pretalx.example/cb");
    /// assert_eq!(code.expires_at, store.now() + 60);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn issue_code(&self, request: AuthorizationRequest) -> Result<IssuedCode> {
        let client_id = request.client_id;
        self.write(&ops::codes::ISSUE, Some(&client_id), move |kv, ctx| {
            ops::codes::issue(kv, ctx, &request)
        })
    }

    /// Exchanges a code for tokens (R04, R06). A second exchange of the same
    /// code fails with [`Error::CodeReplayed`](crate::Error::CodeReplayed)
    /// and revokes every token issued from it (R05).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]))?;
    /// let code = store.issue_code(AuthorizationRequest::new(app.client.id, "alice"))?;
    /// // At the token endpoint: the client authenticates, then exchanges.
    /// let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let tokens = store.exchange_code(CodeExchange::new(code.code.expose(), &client))?;
    /// assert_eq!(tokens.subject.as_deref(), Some("alice"));
    /// assert!(tokens.refresh_token.is_some());
    /// // A second exchange is a replay: refused, and the tokens die (R05).
    /// assert!(matches!(
    ///     store.exchange_code(CodeExchange::new(code.code.expose(), &client)),
    ///     Err(Error::CodeReplayed)
    /// ));
    /// assert!(store.validate(tokens.access_token.expose()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn exchange_code(&self, exchange: CodeExchange) -> Result<TokenResponse> {
        let client_id = exchange.client.id();
        self.write(&ops::codes::EXCHANGE, Some(&client_id), move |kv, ctx| {
            ops::codes::exchange(kv, ctx, &exchange)
        })
    }

    /// Reads an authorization code without consuming it; `None` if it is
    /// malformed, unknown or expired.
    pub fn inspect_code(&self, code: &str) -> Result<Option<CodeInfo>> {
        self.read(&ops::codes::INSPECT, None, |kv, ctx| {
            ops::codes::inspect(kv, ctx, code)
        })
    }
}
