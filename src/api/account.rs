//! A subject's own view of the store, as an "authorized applications" page
//! shows it: its grants (one per device or session) and its consents, each
//! ended or withdrawn on its own (R15, R17, R21, R22).

use crate::api::store::Store;
use crate::error::Result;
use crate::kv::Backend;
use crate::model::grant::{GrantRef, GrantSummary};
use crate::model::ids::ClientId;
use crate::model::page::{Page, PageRequest};
use crate::model::request::NewConsent;
use crate::model::response::Consent;
use crate::ops;

impl<B: Backend> Store<B> {
    /// The grants of a subject, for an "authorized applications" page (R15).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
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
        self.read(&ops::listing::LIST_GRANTS, None, |kv, _| {
            ops::listing::grants_of_subject(kv, subject, page)
        })
    }

    /// The grants of a client (R15).
    pub fn grants_of_client(
        &self,
        client_id: &ClientId,
        page: &PageRequest,
    ) -> Result<Page<GrantSummary>> {
        self.read(&ops::listing::LIST_GRANTS, Some(client_id), |kv, _| {
            ops::listing::grants_of_client(kv, client_id, page)
        })
    }

    /// Reads one grant, with its host data.
    pub fn grant(&self, grant: &GrantRef) -> Result<Option<GrantSummary>> {
        self.read(
            &ops::listing::READ_GRANT,
            Some(&grant.client_id),
            |kv, _| ops::listing::grant(kv, &grant.client_id, &grant.grant_id),
        )
    }

    /// "Sign out this device": ends one grant of `subject`, with all its
    /// tokens, in one transaction (R21). The grant comes from
    /// [`grants_of_subject`](Self::grants_of_subject)
    /// ([`GrantSummary::grant_ref`]). `Ok(false)` when the grant is not
    /// `subject`'s (another user's, a client-credentials grant) or has
    /// already ended: nothing changes.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let phone = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// let laptop = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// assert!(store.revoke_grant(&phone.grant_ref(), "alice")?);
    /// assert!(store.validate(phone.access_token.expose()).is_err());
    /// assert!(store.validate(laptop.access_token.expose()).is_ok());
    /// assert!(!store.revoke_grant(&laptop.grant_ref(), "mallory")?);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn revoke_grant(&self, grant: &GrantRef, subject: &str) -> Result<bool> {
        ops::check_subject(subject)?;
        let (grant, subject) = (*grant, subject.to_owned());
        self.write(
            &ops::revoke::REVOKE_GRANT,
            Some(&grant.client_id),
            move |kv, ctx| {
                ops::revoke::revoke_grant_of_subject(
                    kv,
                    ctx,
                    &subject,
                    &grant.client_id,
                    &grant.grant_id,
                )
            },
        )
    }

    /// Records that a subject approved a scope for a client (R17); earlier
    /// approvals of other scopes stay.
    pub fn record_consent(&self, consent: NewConsent) -> Result<Consent> {
        let client_id = consent.client_id;
        self.write(&ops::consent::RECORD, Some(&client_id), move |kv, ctx| {
            ops::consent::record_consent(kv, ctx, &consent)
        })
    }

    /// The consent `subject` gave `client_id`, if any (R17). Whether it
    /// covers what a request asks, so that the approval prompt can be
    /// skipped: [`Consent::covers`].
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// store.record_consent(NewConsent::new(client_id, "alice", Scope::parse("read")?))?;
    /// let consent = store.consent(&client_id, "alice")?.expect("recorded");
    /// assert!(consent.covers(&Scope::parse("read")?));
    /// assert!(!consent.covers(&Scope::parse("read write")?));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn consent(&self, client_id: &ClientId, subject: &str) -> Result<Option<Consent>> {
        self.read(&ops::consent::READ, Some(client_id), |kv, _| {
            ops::consent::get(kv, subject, client_id)
        })
    }

    /// The consents `subject` gave, one per client, in pages ordered by
    /// client id (R22): a range read of the subject's own index entries.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode])
    /// #     .scopes("read write")?)?;
    /// store.record_consent(NewConsent::new(app.client.id, "alice", Scope::parse("read")?))?;
    /// let page = store.consents_of_subject("alice", &PageRequest::first(10))?;
    /// assert_eq!(page.items.len(), 1);
    /// assert_eq!(page.items[0].scope.as_str(), "read");
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn consents_of_subject(&self, subject: &str, page: &PageRequest) -> Result<Page<Consent>> {
        self.read(&ops::consent::LIST, None, |kv, _| {
            ops::consent::consents_of_subject(kv, subject, page)
        })
    }

    /// The consents given to `client_id`, in pages (R22): who has authorized
    /// an application, for its operator's page. A range read of the consents
    /// table, keyed by client first; the order is the key's (shorter
    /// subjects first, then by their bytes) and stable across pages.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode])
    /// #     .scopes("read write")?)?;
    /// store.record_consent(NewConsent::new(app.client.id, "alice", Scope::parse("read")?))?;
    /// store.record_consent(NewConsent::new(app.client.id, "bob", Scope::parse("write")?))?;
    /// let page = store.consents_of_client(&app.client.id, &PageRequest::first(10))?;
    /// let subjects: Vec<_> = page.items.iter().map(|c| c.subject.as_str()).collect();
    /// assert_eq!(subjects, ["bob", "alice"]); // shorter subjects first
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn consents_of_client(
        &self,
        client_id: &ClientId,
        page: &PageRequest,
    ) -> Result<Page<Consent>> {
        self.read(&ops::consent::LIST_OF_CLIENT, Some(client_id), |kv, _| {
            ops::consent::consents_of_client(kv, client_id, page)
        })
    }

    /// `subject` withdraws its consent to `client_id` (R22): the next
    /// authorization asks again. The client's grants stay; to end them too,
    /// [`revoke_subject_at_client`](Self::revoke_subject_at_client). `Ok(false)`
    /// when there was no consent.
    pub fn withdraw_consent(&self, client_id: &ClientId, subject: &str) -> Result<bool> {
        ops::check_subject(subject)?;
        let (client_id, subject) = (*client_id, subject.to_owned());
        self.write(&ops::consent::WITHDRAW, Some(&client_id), move |kv, ctx| {
            ops::consent::withdraw(kv, ctx, &subject, &client_id)
        })
    }
}
