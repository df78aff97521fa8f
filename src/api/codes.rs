//! Authorization codes (R04, R05): issuing one for an approved request,
//! exchanging it once, and reading one without spending it.

use crate::api::store::Store;
use crate::engine::observe::Operation;
use crate::error::Result;
use crate::kv::Backend;
use crate::model::binding::Confirmation;
use crate::model::ids::ClientId;
use crate::model::request::{AuthorizationRequest, CodeExchange};
use crate::model::response::{CodeInfo, IssuedCode, TokenResponse};
use crate::ops;
use zeroize::Zeroizing;

impl<B: Backend> Store<B> {
    /// Issues an authorization code for a request the user approved (R04).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let code = store.issue_code(&AuthorizationRequest::new(client_id, "alice"))?;
    /// assert!(code.code.expose().starts_with("gdbac_"));
    /// assert_eq!(code.redirect_uri, "https://pretalx.example/cb");
    /// assert_eq!(code.expires_at, store.now() + 60);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn issue_code(&self, request: &AuthorizationRequest) -> Result<IssuedCode> {
        let client_id = request.client_id;
        let request = request.clone();
        self.write(Operation::IssueCode, Some(&client_id), move |kv, ctx| {
            ops::codes::issue(kv, ctx, &request)
        })
    }

    /// Exchanges a code for tokens (R04, R06). A second exchange of the same
    /// code fails with [`Error::CodeReplayed`](crate::Error::CodeReplayed) and revokes every token issued
    /// from it (R05).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let code = store.issue_code(&AuthorizationRequest::new(client_id, "alice"))?;
    /// let tokens = store.exchange_code(&CodeExchange::new(code.code.expose(), client_id))?;
    /// assert_eq!(tokens.subject.as_deref(), Some("alice"));
    /// assert!(tokens.refresh_token.is_some());
    /// // A second exchange is a replay: refused, and the tokens die (R05).
    /// assert!(matches!(
    ///     store.exchange_code(&CodeExchange::new(code.code.expose(), client_id)),
    ///     Err(Error::CodeReplayed)
    /// ));
    /// assert!(store.validate(tokens.access_token.expose()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn exchange_code(&self, exchange: &CodeExchange<'_>) -> Result<TokenResponse> {
        let owned = OwnedExchange::from(exchange);
        self.write(
            Operation::ExchangeCode,
            Some(&exchange.client_id),
            move |kv, ctx| ops::codes::exchange(kv, ctx, &owned.borrow()),
        )
    }

    /// Reads an authorization code without consuming it; `None` if it is
    /// malformed, unknown or expired.
    pub fn inspect_code(&self, code: &str) -> Result<Option<CodeInfo>> {
        self.read(Operation::Inspect, None, |kv, ctx| {
            ops::codes::inspect(kv, ctx, code)
        })
    }
}

/// A [`CodeExchange`] with owned strings, so that it can travel to the
/// group-commit leader.
struct OwnedExchange {
    code: Zeroizing<String>,
    client_id: ClientId,
    redirect_uri: Option<String>,
    code_verifier: Option<Zeroizing<String>>,
    resources: Vec<String>,
    confirmation: Option<Confirmation>,
}

impl OwnedExchange {
    fn from(exchange: &CodeExchange<'_>) -> OwnedExchange {
        OwnedExchange {
            code: Zeroizing::new(exchange.code.to_owned()),
            client_id: exchange.client_id,
            redirect_uri: exchange.redirect_uri.map(str::to_owned),
            code_verifier: exchange.code_verifier.map(|v| Zeroizing::new(v.to_owned())),
            resources: exchange.resources.to_vec(),
            confirmation: exchange.confirmation.cloned(),
        }
    }

    fn borrow(&self) -> CodeExchange<'_> {
        CodeExchange {
            code: &self.code,
            client_id: self.client_id,
            redirect_uri: self.redirect_uri.as_deref(),
            code_verifier: self.code_verifier.as_deref().map(String::as_str),
            resources: &self.resources,
            confirmation: self.confirmation.as_ref(),
        }
    }
}
