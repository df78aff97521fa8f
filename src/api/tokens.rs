//! Issuing and refreshing (R06–R08): the password and client-credentials
//! grants, refresh with rotation and reuse detection.

use std::sync::Arc;

use crate::api::keyring::Miss;
use crate::api::store::Store;
use crate::crypto::kinds::TokenKind;
use crate::error::{Error, Result};
use crate::kv::Backend;
use crate::model::request::{ClientCredentialsRequest, IssueRequest, RefreshRequest};
use crate::model::response::{RefreshState, TokenResponse};
use crate::ops;

impl<B: Backend> Store<B> {
    /// Issues tokens for a subject after the host checked the user's
    /// password (RFC 6749 §4.3). Without a scope in the request, the
    /// client's registered scopes are granted.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("ticketpark")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken])
    /// #     .scopes("read write")?)?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice").scope(Scope::parse("read")?))?;
    /// assert_eq!(tokens.scope.as_str(), "read");
    /// assert_eq!(tokens.expires_in, 86_400);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    ///
    /// The request may also bind the grant to resources, a key or a
    /// certificate, and carry the sign-in (R24–R26).
    pub fn issue_for_subject(&self, request: IssueRequest) -> Result<TokenResponse> {
        let client_id = request.client.id();
        self.write(
            &ops::tokens::ISSUE_FOR_SUBJECT,
            Some(&client_id),
            move |kv, ctx| ops::tokens::issue_for_subject(kv, ctx, &request),
        )
    }

    /// Issues an access token to a confidential client acting for itself
    /// (RFC 6749 §4.4). Any number may be active at once (R06).
    ///
    /// ```
    /// use grantdb::{ClientCredentialsRequest, Config, GrantType, NewClient, Store};
    /// let store = Store::in_memory(Config::default())?;
    /// let app = store.register_client(
    ///     NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]),
    /// )?;
    /// let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let first = store.issue_client_credentials(ClientCredentialsRequest::new(&client))?;
    /// let second = store.issue_client_credentials(ClientCredentialsRequest::new(&client))?;
    /// assert!(first.refresh_token.is_none());
    /// // Several active at once (Prioticket).
    /// assert!(store.validate(first.access_token.expose()).is_ok());
    /// assert!(store.validate(second.access_token.expose()).is_ok());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn issue_client_credentials(
        &self,
        request: ClientCredentialsRequest,
    ) -> Result<TokenResponse> {
        let client_id = request.client.id();
        self.write(
            &ops::tokens::ISSUE_CLIENT_CREDENTIALS,
            Some(&client_id),
            move |kv, ctx| ops::tokens::issue_client_credentials(kv, ctx, &request),
        )
    }

    /// Refreshes with rotation (R07): the presented refresh token is consumed,
    /// its access token dies at once, and a new pair is issued in the same
    /// grant. Presenting a consumed refresh token revokes the grant (R08) unless
    /// the configured grace period covers it. Without a scope in the request
    /// the grant's is kept; a bound grant needs its key or certificate (R24),
    /// and resources narrow the new access token's audiences (R25).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// let old = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
    /// let rotated = store.refresh(RefreshRequest::new(old, &client))?;
    /// assert!(store.validate(tokens.access_token.expose()).is_err());
    /// // The old refresh token again: theft, the family is revoked (R08).
    /// assert!(matches!(store.refresh(RefreshRequest::new(old, &client)), Err(Error::RefreshTokenReused)));
    /// assert!(store.validate(rotated.access_token.expose()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn refresh(&self, request: RefreshRequest) -> Result<TokenResponse> {
        let client_id = request.client.id();
        // Shared by the attempt and its retry after a key another node added.
        let request = Arc::new(request);
        self.retry_after_key_miss(
            Some(Miss::Strings(
                &[TokenKind::Refresh],
                request.refresh_token.expose(),
            )),
            |result| matches!(result, Err(Error::UnknownRefreshToken)),
            || {
                let request = Arc::clone(&request);
                self.write(&ops::tokens::REFRESH, Some(&client_id), move |kv, ctx| {
                    ops::tokens::refresh(kv, ctx, &request)
                })
            },
        )
    }

    /// What a refresh of `refresh_token` would do now, without doing it:
    /// rotate it, yield a grace-period pair, or revoke its grant (R07, R08).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// let refresh = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
    /// assert!(matches!(store.refresh_state(refresh)?, RefreshState::Active(_)));
    /// store.refresh(RefreshRequest::new(refresh, &client))?;
    /// assert!(matches!(store.refresh_state(refresh)?, RefreshState::Reused(_)));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn refresh_state(&self, refresh_token: &str) -> Result<RefreshState> {
        self.read(&ops::tokens::REFRESH_STATE, None, |kv, ctx| {
            ops::tokens::refresh_state(kv, ctx, refresh_token)
        })
    }
}
