//! The change feed (R33) and subject erasure (R34): reading the feed from a
//! cursor, waiting for it, named consumers' cursors, and the ids a consumer
//! matches entries with.

use std::time::{Duration, Instant};

use crate::api::store::Store;
use crate::crypto::secret::TokenId;
use crate::error::{Error, Result};
use crate::kv::Backend;
use crate::model::feed::ChangePage;
use crate::model::response::BulkRevocation;
use crate::ops;
use crate::ops::revoke::{BulkEnd, BulkScope};

/// How long a wait for the feed sleeps at most before it reads again,
/// whatever woke it or not: a notification lost with a dropped connection
/// delays an entry by this much, never more.
const POLL_AT_LEAST_EVERY: Duration = Duration::from_secs(1);

impl<B: Backend> Store<B> {
    /// The feed's entries after `cursor`, in commit order, at most `limit`
    /// (1 to 10,000), and the cursor to ask with next (R33). Start with 0.
    /// A cursor the feed cannot continue from (its entries were purged, or
    /// it is past the latest) is [`Error::FeedResync`], never a silent gap.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// let refresh = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
    /// store.revoke(refresh, &client)?;
    /// let page = store.changes_since(0, 100)?;
    /// assert_eq!(page.changes[0].kind, ChangeKind::GrantEnded { reason: EndReason::Revoked });
    /// assert_eq!(page.changes[0].grant_id, Some(tokens.grant_id));
    /// assert_eq!(store.changes_since(page.next, 100)?.changes, []);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn changes_since(&self, cursor: u64, limit: usize) -> Result<ChangePage> {
        self.read(&ops::feed::CHANGES_SINCE, None, |kv, _| {
            ops::feed::changes_since(kv, cursor, limit)
        })
    }

    /// [`changes_since`](Self::changes_since), waiting up to `timeout` for
    /// an entry when there is none yet. A commit of this process wakes it
    /// at once; on a shared database, another node's commit too (PostgreSQL
    /// `LISTEN/NOTIFY`), and it reads again at least once a second in any
    /// case. An empty page means the time ran out.
    pub fn wait_for_changes(
        &self,
        cursor: u64,
        limit: usize,
        timeout: Duration,
    ) -> Result<ChangePage> {
        let deadline = Instant::now() + timeout;
        let wakeup = &self.inner.feed_wakeup;
        let watcher = std::sync::Arc::clone(wakeup);
        self.inner
            .backend
            .watch_feed(std::sync::Arc::new(move || watcher.bump()))?;
        loop {
            // Read the generation first: a commit after it wakes the wait.
            let seen = wakeup.generation();
            let page = self.changes_since(cursor, limit)?;
            let now = Instant::now();
            if !page.changes.is_empty() || now >= deadline {
                return Ok(page);
            }
            wakeup.wait_past(seen, (deadline - now).min(POLL_AT_LEAST_EVERY));
        }
    }

    /// Records that the named `consumer` has handled every entry up to
    /// `cursor`, so that it resumes there after a restart
    /// ([`consumer_cursor`](Self::consumer_cursor)) and purge may remove
    /// what every named consumer has handled. A cursor behind the stored
    /// one leaves it; one past the latest entry is [`Error::FeedResync`].
    /// Returns the stored cursor. Names: 1 to 128 bytes of text.
    pub fn ack_changes(&self, consumer: &str, cursor: u64) -> Result<u64> {
        ops::feed::check_consumer(consumer)?;
        let name = consumer.to_owned();
        self.write(&ops::feed::ACK, None, move |kv, ctx| {
            ops::feed::ack(kv, ctx, &name, cursor)
        })
    }

    /// Where the named `consumer` stands: the cursor it acknowledged last,
    /// `None` for a consumer never seen.
    pub fn consumer_cursor(&self, consumer: &str) -> Result<Option<u64>> {
        self.read(&ops::feed::CHANGES_SINCE, None, |kv, _| {
            ops::feed::consumer_cursor(kv, consumer)
        })
    }

    /// Forgets the named `consumer`: it no longer holds entries for purge
    /// to wait on. Returns whether it was known.
    pub fn forget_consumer(&self, consumer: &str) -> Result<bool> {
        ops::feed::check_consumer(consumer)?;
        let name = consumer.to_owned();
        self.write(&ops::feed::FORGET_CONSUMER, None, move |kv, _| {
            ops::feed::forget_consumer(kv, &name)
        })
    }

    /// The `subject_id` the feed gives `subject` (with
    /// [`FeedSubject::Hashed`](crate::FeedSubject::Hashed)): a keyed hash,
    /// so that a consumer who knows a subject can find its entries and
    /// nobody who reads the feed can tell who they name.
    pub fn feed_subject_id(&self, subject: &str) -> Result<String> {
        ops::check_subject(subject)?;
        let keys = self.keys();
        let ctx = self.ctx_at(&keys, 0);
        Ok(TokenId(ops::feed::subject_id(&ctx, subject)).to_string())
    }

    /// The id of an access or refresh token string, as the feed lists it
    /// in [`Change::tokens`](crate::Change::tokens): a resource server keeps
    /// it beside a cached validation and drops the validation when the id
    /// comes by. Reads nothing; a string that is not a well-formed token is
    /// [`Error::MalformedToken`].
    pub fn token_id(&self, token: &str) -> Result<TokenId> {
        let keys = self.keys();
        let minter = &keys.minter;
        let kind = minter
            .kind_of(token)
            .filter(|kind| matches!(kind, crate::TokenKind::Access | crate::TokenKind::Refresh))
            .ok_or(Error::MalformedToken {
                expected: crate::TokenKind::Access,
            })?;
        Ok(minter.parse_held(kind, token)?.id)
    }

    /// Erases `subject` (R34): every grant with its live and consumed
    /// tokens, every code, consent and approved device request naming it,
    /// every index entry, and the subject in every feed entry that names it.
    /// Bulk work as [`revoke_subject`](Self::revoke_subject): transactions
    /// of at most 1,000 grants, the last of which removes the rest; when it
    /// returns, nothing the store holds names the subject (old bytes may
    /// stay in the file's free pages until [`compact`](Self::compact)).
    /// The feed records [`ChangeKind::SubjectErased`](crate::ChangeKind::SubjectErased)
    /// and an ended grant for each, none naming the subject.
    pub fn erase_subject(&self, subject: &str) -> Result<BulkRevocation> {
        ops::check_subject(subject)?;
        let scope = BulkScope::SubjectPrefix(crate::record::keys::subject_prefix(subject));
        let end = BulkEnd::Erase(subject.to_owned());
        self.end_in_batches(&ops::erase::ERASE_SUBJECT, None, &scope, &end)
    }
}
