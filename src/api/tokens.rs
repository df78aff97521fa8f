//! Issuing and refreshing (R06–R08): the password and client-credentials
//! grants, refresh with rotation and reuse detection.

use crate::api::store::Store;
use crate::crypto::kinds::TokenKind;
use crate::engine::observe::Operation;
use crate::error::{Error, Result};
use crate::kv::Backend;
use crate::model::binding::Confirmation;
use crate::model::ids::ClientId;
use crate::model::request::{IssueOptions, RefreshRequest};
use crate::model::response::{RefreshState, TokenResponse};
use crate::model::scope::Scope;
use crate::ops;
use zeroize::Zeroizing;

impl<B: Backend> Store<B> {
    /// Issues tokens for `subject` after the host checked the user's password
    /// (RFC 6749 §4.3). `scope: None` grants the client's registered scopes.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", Some(&Scope::parse("read")?))?;
    /// assert_eq!(tokens.scope.as_str(), "read");
    /// assert_eq!(tokens.expires_in, 86_400);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn issue_for_subject(
        &self,
        client_id: &ClientId,
        subject: &str,
        scope: Option<&Scope>,
    ) -> Result<TokenResponse> {
        self.issue_for_subject_with(client_id, subject, scope, &IssueOptions::new())
    }

    /// [`issue_for_subject`](Self::issue_for_subject) with resources, a key
    /// or certificate binding and the sign-in (R24–R26).
    pub fn issue_for_subject_with(
        &self,
        client_id: &ClientId,
        subject: &str,
        scope: Option<&Scope>,
        options: &IssueOptions,
    ) -> Result<TokenResponse> {
        let (client_id, subject, scope) = (*client_id, subject.to_owned(), scope.cloned());
        let options = options.clone();
        self.write(
            Operation::IssueForSubject,
            Some(&client_id),
            move |kv, ctx| {
                let scope = scope.as_ref();
                ops::tokens::issue_for_subject(kv, ctx, &client_id, &subject, scope, &options)
            },
        )
    }

    /// Issues an access token to a confidential client acting for itself
    /// (RFC 6749 §4.4). Any number may be active at once (R06).
    ///
    /// ```
    /// use grantdb::{Config, GrantType, NewClient, Store};
    /// let store = Store::in_memory(Config::default())?;
    /// let app = store.register_client(
    ///     &NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]),
    /// )?;
    /// let first = store.issue_client_credentials(&app.client.id, None)?;
    /// let second = store.issue_client_credentials(&app.client.id, None)?;
    /// assert!(first.refresh_token.is_none());
    /// // Several active at once (Prioticket).
    /// assert!(store.validate(first.access_token.expose()).is_ok());
    /// assert!(store.validate(second.access_token.expose()).is_ok());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn issue_client_credentials(
        &self,
        client_id: &ClientId,
        scope: Option<&Scope>,
    ) -> Result<TokenResponse> {
        self.issue_client_credentials_with(client_id, scope, &IssueOptions::new())
    }

    /// [`issue_client_credentials`](Self::issue_client_credentials) with
    /// resources and a key or certificate binding (R24, R25).
    pub fn issue_client_credentials_with(
        &self,
        client_id: &ClientId,
        scope: Option<&Scope>,
        options: &IssueOptions,
    ) -> Result<TokenResponse> {
        let (client_id, scope, options) = (*client_id, scope.cloned(), options.clone());
        self.write(
            Operation::IssueClientCredentials,
            Some(&client_id),
            move |kv, ctx| {
                let scope = scope.as_ref();
                ops::tokens::issue_client_credentials(kv, ctx, &client_id, scope, &options)
            },
        )
    }

    /// Refreshes with rotation (R07): the presented refresh token is consumed,
    /// its access token dies at once, and a new pair is issued in the same
    /// grant. Presenting a consumed refresh token revokes the grant (R08) unless
    /// the configured grace period covers it. `scope: None` keeps the grant's.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// let old = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
    /// let rotated = store.refresh(old, &client_id, None)?;
    /// assert!(store.validate(tokens.access_token.expose()).is_err());
    /// // The old refresh token again: theft, the family is revoked (R08).
    /// assert!(matches!(store.refresh(old, &client_id, None), Err(Error::RefreshTokenReused)));
    /// assert!(store.validate(rotated.access_token.expose()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn refresh(
        &self,
        refresh_token: &str,
        client_id: &ClientId,
        scope: Option<&Scope>,
    ) -> Result<TokenResponse> {
        let mut request = RefreshRequest::new(refresh_token, *client_id);
        request.scope = scope;
        self.refresh_with(&request)
    }

    /// [`refresh`](Self::refresh) with resources (the new access token's
    /// audiences, within the grant's: R25) and the key or certificate the
    /// client proved it holds (a bound grant needs its own: R24).
    pub fn refresh_with(&self, request: &RefreshRequest<'_>) -> Result<TokenResponse> {
        let attempt = || {
            let owned = OwnedRefresh::from(request);
            self.write(
                Operation::Refresh,
                Some(&request.client_id),
                move |kv, ctx| ops::tokens::refresh(kv, ctx, &owned.borrow()),
            )
        };
        match attempt() {
            // Minted under a key another node just added (R28).
            Err(Error::UnknownRefreshToken)
                if self.caught_up_after_miss(Some((TokenKind::Refresh, request.refresh_token))) =>
            {
                attempt()
            }
            result => result,
        }
    }

    /// What a refresh of `refresh_token` would do now, without doing it:
    /// rotate it, yield a grace-period pair, or revoke its grant (R07, R08).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// let refresh = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
    /// assert!(matches!(store.refresh_state(refresh)?, RefreshState::Active(_)));
    /// store.refresh(refresh, &client_id, None)?;
    /// assert!(matches!(store.refresh_state(refresh)?, RefreshState::Reused(_)));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn refresh_state(&self, refresh_token: &str) -> Result<RefreshState> {
        self.read(Operation::Inspect, None, |kv, ctx| {
            ops::tokens::refresh_state(kv, ctx, refresh_token)
        })
    }
}

/// A [`RefreshRequest`] with owned values, for the group-commit leader.
struct OwnedRefresh {
    refresh_token: Zeroizing<String>,
    client_id: ClientId,
    scope: Option<Scope>,
    resources: Vec<String>,
    confirmation: Option<Confirmation>,
}

impl OwnedRefresh {
    fn from(request: &RefreshRequest<'_>) -> OwnedRefresh {
        OwnedRefresh {
            refresh_token: Zeroizing::new(request.refresh_token.to_owned()),
            client_id: request.client_id,
            scope: request.scope.cloned(),
            resources: request.resources.to_vec(),
            confirmation: request.confirmation.cloned(),
        }
    }

    fn borrow(&self) -> RefreshRequest<'_> {
        RefreshRequest {
            refresh_token: &self.refresh_token,
            client_id: self.client_id,
            scope: self.scope.as_ref(),
            resources: &self.resources,
            confirmation: self.confirmation.as_ref(),
        }
    }
}
