//! The store for async hosts (feature `tokio`): [`AsyncStore`] runs any
//! [`Store`] operation off the runtime's workers with
//! [`call`](AsyncStore::call), so an operation added to the store needs
//! nothing written here. Writes (which wait for an fsync or a database round
//! trip) run on tokio's blocking pool, one hand-off each; short reads
//! ([`lookup`](AsyncStore::lookup)) queue for a few readers there, which
//! drain the queue in turns (one hand-off serves many reads); so no runtime
//! worker waits for a disk, a lock or a server. The caller's `tracing` span
//! goes with the operation, so the store's spans nest in the request's. On the embedded backend, validation and
//! introspection, one lookup in memory, run on the asking task by default
//! ([`AsyncStore::lookups_on_blocking_pool`]). The PostgreSQL backend's
//! client runs a runtime of its own, which it may only do off the workers.

use std::sync::Arc;

use parking_lot::Mutex;
use zeroize::Zeroizing;

use crate::api::request_id;
use crate::api::store::Store;
use crate::error::{Error, Result};
use crate::kv::Backend;
use crate::kv::redb::RedbBackend;
use crate::model::client::{AuthenticatedClient, Client};
use crate::model::ids::ClientId;
use crate::model::request::IntrospectRequest;
use crate::model::response::{Introspection, TokenInfo};

/// A [`Store`] for async code: `Clone + Send + Sync`. Every operation of
/// the store runs through [`call`](Self::call) (the blocking pool) or
/// [`lookup`](Self::lookup) (the shared read queue); the lookups a request
/// makes every time ([`validate`](Self::validate),
/// [`validate_for`](Self::validate_for), [`introspect`](Self::introspect),
/// [`authenticate_client`](Self::authenticate_client),
/// [`client`](Self::client)) have methods of their own.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() -> Result<(), grantdb::Error> {
/// use grantdb::{AsyncStore, ClientCredentialsRequest, Config, GrantType, NewClient, Store};
/// let store = AsyncStore::new(Store::in_memory(Config::default())?);
/// let new = NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]);
/// let app = store.call(move |s| s.register_client(new)).await?;
/// let secret = app.secret.as_ref().map(|s| s.expose());
/// let client = store.authenticate_client(&app.client.id, secret).await?;
/// let tokens = store
///     .call(move |s| s.issue_client_credentials(ClientCredentialsRequest::new(&client)))
///     .await?;
/// let info = store.validate(tokens.access_token.expose()).await?;
/// assert_eq!(info.client_id, app.client.id);
/// # Ok(())
/// # }
/// ```
pub struct AsyncStore<B: Backend = RedbBackend> {
    store: Store<B>,
    reads: Arc<Reads<B>>,
    /// Validation and introspection on the asking task (see
    /// [`AsyncStore::lookups_on_blocking_pool`]).
    inline_lookups: bool,
}

impl<B: Backend> std::fmt::Debug for AsyncStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncStore")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Clone for AsyncStore<B> {
    fn clone(&self) -> Self {
        AsyncStore {
            store: self.store.clone(),
            reads: Arc::clone(&self.reads),
            inline_lookups: self.inline_lookups,
        }
    }
}

/// A short read waiting for a reader on the blocking pool.
type ReadJob<B> = Box<dyn FnOnce(&Store<B>) + Send>;

/// Short reads (validation, introspection, client authentication) queued
/// for a few reader tasks on the blocking pool, which drain the queue in
/// turns: one hand-off to the blocking pool serves many reads, instead of one
/// per read, whose cost would be several times the read's own.
struct Reads<B: Backend> {
    queue: Mutex<ReadQueue<B>>,
    /// Readers at most: the number of cores.
    max_readers: usize,
}

struct ReadQueue<B: Backend> {
    jobs: Vec<ReadJob<B>>,
    readers: usize,
}

impl<B: Backend> Reads<B> {
    fn new() -> Reads<B> {
        Reads {
            queue: Mutex::new(ReadQueue {
                jobs: Vec::new(),
                readers: 0,
            }),
            max_readers: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }

    /// Queues `job`; true if a new reader should be started for it.
    fn push(&self, job: ReadJob<B>) -> bool {
        let mut queue = self.queue.lock();
        queue.jobs.push(job);
        if queue.readers < self.max_readers {
            queue.readers += 1;
            true
        } else {
            false
        }
    }

    /// A reader: runs queued reads until the queue is empty.
    fn drain(&self, store: &Store<B>) {
        loop {
            let jobs = {
                let mut queue = self.queue.lock();
                if queue.jobs.is_empty() {
                    queue.readers -= 1;
                    return;
                }
                std::mem::take(&mut queue.jobs)
            };
            for job in jobs {
                // A read that panics answers its caller with an error (its
                // channel is dropped); the others go on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(store)));
            }
        }
    }
}

impl<B: Backend> From<Store<B>> for AsyncStore<B> {
    fn from(store: Store<B>) -> Self {
        AsyncStore::new(store)
    }
}

impl<B: Backend> AsyncStore<B> {
    /// The async handle on `store` (a clone of it is cheap; so is this one's).
    pub fn new(store: Store<B>) -> AsyncStore<B> {
        let inline_lookups = store.backend().local_lookups();
        AsyncStore {
            store,
            reads: Arc::new(Reads::new()),
            inline_lookups,
        }
    }

    /// Where [`validate`](Self::validate) and [`introspect`](Self::introspect)
    /// run. On the embedded backend they run by default on the task that
    /// asks: one B-tree lookup in the page cache (a microsecond or two; one
    /// page read from the file at worst), far under the time tokio allows
    /// between two awaits, where a hand-off to the blocking pool would cost
    /// several times the lookup (`docs/benchmarks.md`, "Async hosts"). With
    /// `true` they queue for the blocking pool like every other read (a
    /// database much larger than memory, on a slow disk). On PostgreSQL they
    /// always go to the blocking pool (a network round trip).
    pub fn lookups_on_blocking_pool(mut self, on_pool: bool) -> AsyncStore<B> {
        self.inline_lookups = !on_pool && self.store.backend().local_lookups();
        self
    }

    /// Opens a store on the blocking pool (opening reads the file, checks
    /// pages, or connects to PostgreSQL: blocking work) and hands it back as
    /// an async handle.
    pub async fn open_with(
        open: impl FnOnce() -> Result<Store<B>> + Send + 'static,
    ) -> Result<AsyncStore<B>> {
        tokio::task::spawn_blocking(open)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Storage {
                    source: "opening the store panicked".into(),
                })
            })
            .map(AsyncStore::new)
    }

    /// The blocking store underneath, for operations not offered here
    /// (`compact`, `space`, `start_maintenance`) or for a blocking thread.
    pub fn store(&self) -> &Store<B> {
        &self.store
    }

    /// The store's current time (no I/O).
    pub fn now(&self) -> u64 {
        self.store.now()
    }

    /// Runs `op` on the blocking pool: any operation of the [`Store`],
    /// writes above all (they wait for an fsync or a database round trip).
    /// A panic in it is an error, not a panic in the caller's task. The
    /// caller's `tracing` span is the parent of the store's spans.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread")]
    /// # async fn main() -> Result<(), grantdb::Error> {
    /// # use grantdb::*;
    /// # let store = AsyncStore::new(Store::in_memory(Config::default())?);
    /// let revoked = store.call(|s| s.revoke_subject("alice")).await?;
    /// assert_eq!(revoked.grants, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Store<B>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        let op = in_caller_span(op);
        tokio::task::spawn_blocking(move || op(&store))
            .await
            .unwrap_or_else(|_| {
                Err(Error::Storage {
                    source: "the operation panicked on the blocking pool".into(),
                })
            })
    }

    /// Runs a short read (one lookup, as [`Store::consent`] or
    /// [`Store::refresh_state`]) through the shared read queue: one hand-off
    /// to the blocking pool serves many such reads. A long read (a listing
    /// of many pages, [`Store::export`], [`Store::verify`]) belongs in
    /// [`call`](Self::call).
    pub async fn lookup<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Store<B>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let op = in_caller_span(op);
        let start_reader = self.reads.push(Box::new(move |store| {
            // A panicking read drops `answer`: its caller hears of it below.
            let _ = answer.send(op(store));
        }));
        if start_reader {
            let (store, reads) = (self.store.clone(), Arc::clone(&self.reads));
            tokio::task::spawn_blocking(move || reads.drain(&store));
        }
        answered.await.unwrap_or_else(|_| {
            Err(Error::Storage {
                source: "the read panicked on the blocking pool".into(),
            })
        })
    }

    /// See [`Store::authenticate_client`]; through the read queue.
    pub async fn authenticate_client(
        &self,
        client_id: &ClientId,
        secret: Option<&str>,
    ) -> Result<AuthenticatedClient> {
        let (client_id, secret) = (*client_id, secret.map(|s| Zeroizing::new(s.to_owned())));
        self.lookup(move |s| {
            s.authenticate_client(&client_id, secret.as_deref().map(String::as_str))
        })
        .await
    }

    /// See [`Store::client`]; through the read queue.
    pub async fn client(&self, client_id: &ClientId) -> Result<Option<Client>> {
        let client_id = *client_id;
        self.lookup(move |s| s.client(&client_id)).await
    }

    /// See [`Store::validate`]; where it runs: see
    /// [`lookups_on_blocking_pool`](Self::lookups_on_blocking_pool).
    pub async fn validate(&self, access_token: &str) -> Result<TokenInfo> {
        if self.inline_lookups {
            return self.store.validate(access_token);
        }
        let token = Zeroizing::new(access_token.to_owned());
        self.lookup(move |s| s.validate(&token)).await
    }

    /// See [`Store::validate_for`]; runs where [`validate`](Self::validate) does.
    pub async fn validate_for(&self, access_token: &str, resource: &str) -> Result<TokenInfo> {
        if self.inline_lookups {
            return self.store.validate_for(access_token, resource);
        }
        let (token, resource) = (Zeroizing::new(access_token.to_owned()), resource.to_owned());
        self.lookup(move |s| s.validate_for(&token, &resource))
            .await
    }

    /// See [`Store::introspect`]; where it runs: see
    /// [`lookups_on_blocking_pool`](Self::lookups_on_blocking_pool).
    pub async fn introspect(&self, request: IntrospectRequest) -> Result<Introspection> {
        if self.inline_lookups {
            return self.store.introspect(request);
        }
        self.lookup(move |s| s.introspect(request)).await
    }
}

/// `op`, run as part of the request and inside the span that are current
/// where this is called: events carry the request's id, and the store's
/// spans nest in the caller's (feature `tracing`).
fn in_caller_span<S, T>(
    op: impl FnOnce(&S) -> T + Send + 'static,
) -> impl FnOnce(&S) -> T + Send + 'static {
    let request = request_id::current();
    let op = move |store: &S| match request {
        Some(id) => request_id::with_request_id(id, || op(store)),
        None => op(store),
    };
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        move |store: &S| span.in_scope(|| op(store))
    }
    #[cfg(not(feature = "tracing"))]
    {
        op
    }
}
