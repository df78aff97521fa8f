//! Revocation (R09–R12): one token, a subject, a client, a subject at a
//! client, and an operator's revocation of any token.

use zeroize::Zeroizing;

use crate::api::store::Store;
use crate::error::{Error, Result};
use crate::kv::Backend;
use crate::model::client::AuthenticatedClient;
use crate::model::ids::ClientId;
use crate::model::response::{BulkRevocation, Revocation};
use crate::ops;
use crate::ops::revoke::{BulkEnd, BulkScope};

impl<B: Backend> Store<B> {
    /// Revokes an access token (R09) or a refresh token with its whole grant
    /// (R10), as RFC 7009 asks of the authenticated `client` holding it;
    /// unknown or inactive tokens, and another client's, succeed quietly
    /// (R11). A `token_type_hint` changes nothing: every string says its
    /// kind in its prefix.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// assert_eq!(store.revoke(tokens.access_token.expose(), &client)?, Revocation::AccessToken);
    /// assert_eq!(store.revoke("not a token", &client)?, Revocation::NotActive);
    /// let refresh = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
    /// assert_eq!(store.revoke(refresh, &client)?, Revocation::Grant);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn revoke(&self, token: &str, client: &AuthenticatedClient) -> Result<Revocation> {
        let presented = Zeroizing::new(token.to_owned());
        let client_id = client.id();
        self.write(&ops::revoke::REVOKE, Some(&client_id), move |kv, ctx| {
            ops::revoke::revoke_token(kv, ctx, &presented, Some(&client_id))
        })
    }

    /// Revokes every grant and pending code of a subject ("log out
    /// everywhere", R12). Returns the grants ended. When it returns, every
    /// grant the subject held when the call began is revoked; the work is
    /// done in transactions of at most 1,000 grants each, so that no other
    /// write waits long behind it (a grant issued meanwhile is a new sign-in
    /// and stays).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let a = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// let b = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// assert_eq!(store.revoke_subject("alice")?.grants, 2);
    /// assert!(store.validate(a.access_token.expose()).is_err());
    /// assert!(store.validate(b.access_token.expose()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn revoke_subject(&self, subject: &str) -> Result<BulkRevocation> {
        ops::check_subject(subject)?;
        let scope = BulkScope::SubjectPrefix(crate::record::keys::subject_prefix(subject));
        let end = BulkEnd::Subject(subject.to_owned());
        self.end_in_batches(&ops::revoke::REVOKE_SUBJECT, None, &scope, &end)
    }

    /// Revokes every grant and pending code of a client and forgets the
    /// consents given to it (R12, R17). The client stays registered. In
    /// transactions of at most 1,000 grants, as
    /// [`revoke_subject`](Self::revoke_subject).
    pub fn revoke_client_grants(&self, client_id: &ClientId) -> Result<BulkRevocation> {
        let (scope, end) = (BulkScope::Client(*client_id), BulkEnd::Client(*client_id));
        self.end_in_batches(
            &ops::revoke::REVOKE_CLIENT_GRANTS,
            Some(client_id),
            &scope,
            &end,
        )
    }

    /// Ends what `scope` holds in transactions of at most
    /// [`BULK_BATCH`](ops::revoke::BULK_BATCH) grants, each consistent on
    /// its own (a grant ends whole). The first lists what the scope holds
    /// and removes its pending codes, so that no code becomes a grant
    /// behind the revocation; the last finishes it (`end`: a consent
    /// forgotten, its event told with the total). A failure stops it: the
    /// transactions before stay committed, and calling again ends the rest.
    pub(super) fn end_in_batches(
        &self,
        op: &crate::engine::op::Op,
        client: Option<&ClientId>,
        scope: &BulkScope,
        end: &BulkEnd,
    ) -> Result<BulkRevocation> {
        // A transaction that keeps losing races with concurrent writes (a
        // shared database under load) is retried at half the size, down to
        // one grant; each that commits lets the size grow back.
        let mut size = ops::revoke::BULK_BATCH;
        let reason = end.reason();
        let (mut total, mut rest) = loop {
            let (scope, first_end) = (scope.clone(), end.clone());
            let first = self.write(op, client, move |kv, ctx| {
                let reason = first_end.reason();
                let (ended, rest) = ops::revoke::begin_bulk(kv, &scope, size, reason)?;
                if rest.is_empty() {
                    ops::revoke::finish_bulk(kv, ctx, &first_end, &ended)?;
                }
                Ok((ended, rest))
            });
            match first {
                Err(Error::Contended) if size > 1 => size /= 2,
                other => break other?,
            }
        };
        while !rest.is_empty() {
            let batch: Vec<_> = rest.iter().take(size).copied().collect();
            let last = batch.len() == rest.len();
            let (so_far, end) = (total, last.then(|| end.clone()));
            let ended = self.write(op, client, move |kv, ctx| {
                let ended = ops::revoke::end_owned(kv, batch.clone(), reason)?;
                if let Some(end) = &end {
                    ops::revoke::finish_bulk(kv, ctx, end, &so_far.plus(&ended))?;
                }
                Ok(ended)
            });
            match ended {
                Err(Error::Contended) if size > 1 => size /= 2,
                Err(error) => return Err(error),
                Ok(ended) => {
                    rest.drain(..size.min(rest.len()));
                    total = total.plus(&ended);
                    size = (size * 2).min(ops::revoke::BULK_BATCH);
                }
            }
        }
        Ok(total)
    }

    /// The user removes an authorized application: every grant and pending
    /// code of `subject` at `client_id`, and the consent (R12, R17).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken])
    /// #     .scopes("read write")?)?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// store.record_consent(NewConsent::new(client.id(), "alice", Scope::parse("read")?))?;
    /// store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// assert_eq!(store.revoke_subject_at_client(&client.id(), "alice")?.grants, 1);
    /// assert!(store.consent(&client.id(), "alice")?.is_none());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn revoke_subject_at_client(
        &self,
        client_id: &ClientId,
        subject: &str,
    ) -> Result<BulkRevocation> {
        ops::check_subject(subject)?;
        let prefix = crate::record::keys::subject_client_prefix(subject, client_id);
        let end = BulkEnd::SubjectAtClient(subject.to_owned(), *client_id);
        let op = &ops::revoke::REVOKE_SUBJECT_AT_CLIENT;
        self.end_in_batches(op, Some(client_id), &BulkScope::SubjectPrefix(prefix), &end)
    }

    /// Revokes a token on an operator's behalf, whichever client holds it:
    /// an access token alone (R09), a refresh token with its grant (R10).
    pub fn revoke_token_as_operator(&self, token: &str) -> Result<Revocation> {
        let presented = Zeroizing::new(token.to_owned());
        self.write(&ops::revoke::REVOKE_AS_OPERATOR, None, move |kv, ctx| {
            ops::revoke::revoke_token(kv, ctx, &presented, None)
        })
    }
}
