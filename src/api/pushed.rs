//! Pushed authorization requests on the store (RFC 9126, R30).

use crate::api::store::Store;
use crate::engine::observe::Operation;
use crate::error::Result;
use crate::kv::Backend;
use crate::model::binding::AuthSession;
use crate::model::ids::ClientId;
use crate::model::request::PushRequest;
use crate::model::response::{IssuedCode, PushedAuthorization, PushedRequest};
use crate::ops;

impl<B: Backend> Store<B> {
    /// Stores an authorization request the (authenticated) client pushed
    /// (RFC 9126, R30), checked as [`issue_code`](Self::issue_code) would
    /// check it, and returns its `request_uri`: single use, bound to the
    /// client, 60 seconds by default; only its keyed hash is stored.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode]))?;
    /// let pushed = store.push_authorization_request(&PushRequest::new(app.client.id).state("xyz"))?;
    /// assert!(pushed.request_uri.expose().starts_with("urn:ietf:params:oauth:request_uri:gdbpr_"));
    /// assert_eq!(pushed.expires_in, 60);
    /// // The authorization endpoint: client_id and request_uri, then the user.
    /// let uri = pushed.request_uri.expose();
    /// let (code, request) = store.issue_code_from_pushed(&app.client.id, uri, "alice", None)?;
    /// assert_eq!(request.state.as_deref(), Some("xyz"));
    /// assert_eq!(code.redirect_uri, "https://pretalx.example/cb");
    /// // Used once.
    /// assert!(matches!(
    ///     store.issue_code_from_pushed(&app.client.id, uri, "alice", None),
    ///     Err(Error::UnknownRequestUri)
    /// ));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn push_authorization_request(&self, request: &PushRequest) -> Result<PushedRequest> {
        let request = request.clone();
        let client = request.client_id;
        self.write(Operation::PushRequest, Some(&client), move |kv, ctx| {
            ops::pushed::push(kv, ctx, &request)
        })
    }

    /// The pushed request `request_uri` names, for the authorization page
    /// to show (scope, redirect URI, state), without using it up (R30).
    /// [`Error::UnknownRequestUri`](crate::Error::UnknownRequestUri) if it
    /// is unknown, expired, used or another client's.
    pub fn pushed_request(
        &self,
        client_id: &ClientId,
        request_uri: &str,
    ) -> Result<PushedAuthorization> {
        self.read(Operation::ReadPushedRequest, Some(client_id), |kv, ctx| {
            ops::pushed::read(kv, ctx, client_id, request_uri)
        })
    }

    /// Issues a code for `subject` (the user who signed in and approved)
    /// from a pushed request, spending it in the same transaction (R30).
    /// Returns the code and the request (its `state` goes back with the code).
    pub fn issue_code_from_pushed(
        &self,
        client_id: &ClientId,
        request_uri: &str,
        subject: &str,
        auth_session: Option<&AuthSession>,
    ) -> Result<(IssuedCode, PushedAuthorization)> {
        let (client, uri) = (*client_id, zeroize::Zeroizing::new(request_uri.to_owned()));
        let (subject, session) = (subject.to_owned(), auth_session.cloned());
        self.write(Operation::IssueCode, Some(client_id), move |kv, ctx| {
            ops::pushed::issue_code(kv, ctx, &client, &uri, &subject, session.as_ref())
        })
    }
}
