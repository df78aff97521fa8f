//! [`AsyncStore::subscribe`]: the change feed as a `Stream` (feature
//! `tokio`, R33). Each wait for new entries runs on the blocking pool and
//! wakes on a commit (of this process, or of any node through PostgreSQL
//! `LISTEN/NOTIFY`); entries come out in order, each once per subscription.
//! Delivery across restarts is at least once: a consumer acknowledges what
//! it handled ([`Store::ack_changes`]) and subscribes again from
//! [`Store::consumer_cursor`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::api::async_store::AsyncStore;
use crate::api::store::Store;
use crate::error::Result;
use crate::kv::Backend;
use crate::kv::redb::RedbBackend;
use crate::model::feed::{Change, ChangePage};

/// Entries one wait fetches at most.
const PAGE: usize = 256;
/// How long one wait on the blocking pool lasts before it hands back (and
/// a dropped stream stops holding a thread).
const WAIT: Duration = Duration::from_secs(5);

type PageFuture = Pin<Box<dyn Future<Output = Result<ChangePage>> + Send>>;

/// The change feed from a cursor on: a `Stream` of [`Change`]s in commit
/// order that waits for new ones (from [`AsyncStore::subscribe`]). An error
/// ([`Error::FeedResync`](crate::Error::FeedResync) when the cursor fell
/// behind retention) is yielded once; the stream then tries again from the
/// same cursor if polled.
pub struct ChangeStream<B: Backend = RedbBackend> {
    store: AsyncStore<B>,
    cursor: u64,
    ready: VecDeque<Change>,
    waiting: Option<PageFuture>,
}

impl<B: Backend> std::fmt::Debug for ChangeStream<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeStream")
            .field("cursor", &self.cursor)
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> ChangeStream<B> {
    /// The sequence number of the last entry the stream yielded (or the
    /// cursor it started from).
    pub fn cursor(&self) -> u64 {
        self.cursor
    }
}

impl<B: Backend> futures_core::Stream for ChangeStream<B> {
    type Item = Result<Change>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Change>>> {
        let this = self.get_mut();
        loop {
            if let Some(change) = this.ready.pop_front() {
                this.cursor = change.seq;
                return Poll::Ready(Some(Ok(change)));
            }
            let waiting = this.waiting.get_or_insert_with(|| {
                let (store, cursor) = (this.store.clone(), this.cursor);
                Box::pin(async move {
                    store
                        .call(move |s: &Store<B>| s.wait_for_changes(cursor, PAGE, WAIT))
                        .await
                })
            });
            let page = match waiting.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(page) => page,
            };
            this.waiting = None;
            match page {
                Ok(page) => this.ready.extend(page.changes),
                Err(error) => return Poll::Ready(Some(Err(error))),
            }
        }
    }
}

impl<B: Backend> AsyncStore<B> {
    /// The change feed after `cursor` (0: from the start), as a stream that
    /// waits for new entries (R33). Every entry committed after the cursor
    /// comes out once, in commit order; to resume after a restart, ack what
    /// was handled with [`Store::ack_changes`] and subscribe from
    /// [`Store::consumer_cursor`] (at least once: what was handled but not
    /// yet acknowledged comes again).
    pub fn subscribe(&self, cursor: u64) -> ChangeStream<B> {
        ChangeStream {
            store: self.clone(),
            cursor,
            ready: VecDeque::new(),
            waiting: None,
        }
    }
}
