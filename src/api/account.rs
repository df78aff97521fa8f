//! A subject's own view of the store, as an "authorized applications" page
//! shows it: its grants (one per device or session) and its consents, each
//! ended or withdrawn on its own (R21, R22).

use crate::api::store::Store;
use crate::engine::observe::Operation;
use crate::error::Result;
use crate::kv::Backend;
use crate::model::grant::GrantSummary;
use crate::model::ids::{ClientId, GrantId};
use crate::model::page::{Page, PageRequest};
use crate::model::response::Consent;
use crate::model::scope::Scope;
use crate::ops;

impl<B: Backend> Store<B> {
    /// "Sign out this device": ends one grant of `subject`, with all its
    /// tokens, in one transaction (R21). The ids come from
    /// [`grants_of_subject`](Self::grants_of_subject). `Ok(false)` when the
    /// grant is not `subject`'s (another user's, a client-credentials grant)
    /// or has already ended: nothing changes.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let phone = store.issue_for_subject(&client_id, "alice", None)?;
    /// let laptop = store.issue_for_subject(&client_id, "alice", None)?;
    /// assert!(store.revoke_grant("alice", &client_id, &phone.grant_id)?);
    /// assert!(store.validate(phone.access_token.expose()).is_err());
    /// assert!(store.validate(laptop.access_token.expose()).is_ok());
    /// assert!(!store.revoke_grant("mallory", &client_id, &laptop.grant_id)?);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn revoke_grant(
        &self,
        subject: &str,
        client_id: &ClientId,
        grant_id: &GrantId,
    ) -> Result<bool> {
        ops::check_subject(subject)?;
        let (subject, client_id, grant_id) = (subject.to_owned(), *client_id, *grant_id);
        self.write(Operation::RevokeGrant, Some(&client_id), move |kv, ctx| {
            ops::revoke::revoke_grant_of_subject(kv, ctx, &subject, &client_id, &grant_id)
        })
    }

    /// The consents `subject` gave, one per client, in pages ordered by
    /// client id (R22): a range read of the subject's own index entries.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// store.record_consent("alice", &client_id, &Scope::parse("read")?)?;
    /// let page = store.consents_of_subject("alice", &PageRequest::first(10))?;
    /// assert_eq!(page.items.len(), 1);
    /// assert_eq!(page.items[0].scope.as_str(), "read");
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn consents_of_subject(&self, subject: &str, page: &PageRequest) -> Result<Page<Consent>> {
        self.read(Operation::ListConsents, None, |kv, _| {
            ops::consent::consents_of_subject(kv, subject, page)
        })
    }

    /// `subject` withdraws its consent to `client_id` (R22): the next
    /// authorization asks again. The client's grants stay; to end them too,
    /// [`revoke_subject_at_client`](Self::revoke_subject_at_client). `Ok(false)`
    /// when there was no consent.
    pub fn withdraw_consent(&self, subject: &str, client_id: &ClientId) -> Result<bool> {
        ops::check_subject(subject)?;
        let (subject, client_id) = (subject.to_owned(), *client_id);
        self.write(
            Operation::WithdrawConsent,
            Some(&client_id),
            move |kv, ctx| ops::consent::withdraw(kv, ctx, &subject, &client_id),
        )
    }

    /// The grants of a subject, for an "authorized applications" page (R15).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// store.issue_for_subject(&client_id, "alice", None)?;
    /// let page = store.grants_of_subject("alice", &PageRequest::first(10))?;
    /// assert_eq!(page.items.len(), 1);
    /// assert_eq!(page.items[0].client_name, "pretix");
    /// assert!(page.next.is_none());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn grants_of_subject(
        &self,
        subject: &str,
        page: &PageRequest,
    ) -> Result<Page<GrantSummary>> {
        self.read(Operation::ListGrants, None, |kv, _| {
            ops::listing::grants_of_subject(kv, subject, page)
        })
    }

    /// The grants of a client (R15).
    pub fn grants_of_client(
        &self,
        client_id: &ClientId,
        page: &PageRequest,
    ) -> Result<Page<GrantSummary>> {
        self.read(Operation::ListGrants, Some(client_id), |kv, _| {
            ops::listing::grants_of_client(kv, client_id, page)
        })
    }

    /// Records that `subject` approved `scope` for `client_id` (R17); earlier
    /// approvals of other scopes stay.
    pub fn record_consent(
        &self,
        subject: &str,
        client_id: &ClientId,
        scope: &Scope,
    ) -> Result<Consent> {
        let (subject, client_id, scope) = (subject.to_owned(), *client_id, scope.clone());
        self.write(
            Operation::RecordConsent,
            Some(&client_id),
            move |kv, ctx| ops::consent::record_consent(kv, ctx, &subject, &client_id, &scope),
        )
    }

    /// The consent `subject` gave `client_id`, if any (R17).
    pub fn consent(&self, subject: &str, client_id: &ClientId) -> Result<Option<Consent>> {
        self.read(Operation::ReadConsent, Some(client_id), |kv, _| {
            ops::consent::get(kv, subject, client_id)
        })
    }

    /// Whether `subject` already approved every scope in `scope` for
    /// `client_id`, so the approval prompt can be skipped (R17).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// store.record_consent("alice", &client_id, &Scope::parse("read")?)?;
    /// assert!(store.has_consent("alice", &client_id, &Scope::parse("read")?)?);
    /// assert!(!store.has_consent("alice", &client_id, &Scope::parse("read write")?)?);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    ///
    /// An empty `scope` asks nothing and is refused
    /// ([`Error::MalformedScope`](crate::Error::MalformedScope)): "consent to nothing" is never a reason to
    /// skip the prompt.
    pub fn has_consent(&self, subject: &str, client_id: &ClientId, scope: &Scope) -> Result<bool> {
        ops::check_requested_scope(scope)?;
        Ok(self
            .consent(subject, client_id)?
            .is_some_and(|consent| scope.is_subset(&consent.scope)))
    }

    /// Reads one grant, with its host data.
    pub fn grant(&self, client_id: &ClientId, grant_id: &GrantId) -> Result<Option<GrantSummary>> {
        self.read(Operation::Inspect, Some(client_id), |kv, _| {
            ops::listing::grant(kv, client_id, grant_id)
        })
    }
}
