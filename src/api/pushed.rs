//! Pushed authorization requests on the store (RFC 9126, R30).

use crate::api::store::Store;
use crate::error::Result;
use crate::kv::Backend;
use crate::model::ids::ClientId;
use crate::model::request::{PushRequest, PushedApproval};
use crate::model::response::{IssuedCode, PushedAuthorization, PushedRequest};
use crate::ops;

impl<B: Backend> Store<B> {
    /// Stores an authorization request the authenticated client pushed
    /// (RFC 9126, R30), checked as [`issue_code`](Self::issue_code) would
    /// check it, and returns its `request_uri`: single use, bound to the
    /// client, 60 seconds by default; only its keyed hash is stored.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let pushed = store.push_authorization_request(PushRequest::new(&client).state("xyz"))?;
    /// assert!(pushed.request_uri.expose().starts_with("urn:ietf:params:oauth:request_uri:gdbpr_"));
    /// assert_eq!(pushed.expires_in, 60);
    /// // The authorization endpoint: client_id and request_uri, then the user.
    /// let uri = pushed.request_uri.expose();
    /// let (code, request) =
    ///     store.issue_code_from_pushed(PushedApproval::new(uri, client.id(), "alice"))?;
    /// assert_eq!(request.state.as_deref(), Some("xyz"));
    /// assert_eq!(code.redirect_uri, "https://pretalx.example/cb");
    /// // Used once.
    /// assert!(matches!(
    ///     store.issue_code_from_pushed(PushedApproval::new(uri, client.id(), "alice")),
    ///     Err(Error::UnknownRequestUri)
    /// ));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn push_authorization_request(&self, request: PushRequest) -> Result<PushedRequest> {
        let client_id = request.client.id();
        self.write(&ops::pushed::PUSH, Some(&client_id), move |kv, ctx| {
            ops::pushed::push(kv, ctx, &request)
        })
    }

    /// The pushed request `request_uri` names, for the authorization page
    /// to show (scope, redirect URI, state), without using it up (R30).
    /// [`Error::UnknownRequestUri`](crate::Error::UnknownRequestUri) if it
    /// is unknown, expired, used or another client's.
    pub fn pushed_request(
        &self,
        request_uri: &str,
        client_id: &ClientId,
    ) -> Result<PushedAuthorization> {
        self.read(&ops::pushed::READ, Some(client_id), |kv, ctx| {
            ops::pushed::read(kv, ctx, client_id, request_uri)
        })
    }

    /// Issues a code for the user who signed in and approved a pushed
    /// request, spending it in the same transaction (R30). Returns the code
    /// and the request (its `state` goes back with the code).
    pub fn issue_code_from_pushed(
        &self,
        approval: PushedApproval,
    ) -> Result<(IssuedCode, PushedAuthorization)> {
        let client_id = approval.client_id;
        self.write(
            &ops::pushed::ISSUE_CODE,
            Some(&client_id),
            move |kv, ctx| {
                ops::pushed::issue_code(
                    kv,
                    ctx,
                    &approval.client_id,
                    approval.request_uri.expose(),
                    &approval.subject,
                    approval.auth_session.as_ref(),
                )
            },
        )
    }
}
