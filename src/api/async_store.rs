//! The store for async hosts (feature `tokio`): [`AsyncStore`], the same
//! operations as [`Store`] as `async fn`s. Writes (which wait for an fsync or
//! a database round trip) run on tokio's blocking pool, one hand-off each;
//! short reads queue for a few readers there, which drain the queue in turns
//! (one hand-off serves many reads); so no runtime worker waits for a disk,
//! a lock or a server. On the embedded backend, validation and
//! introspection, one lookup in memory, run on the asking task by default
//! ([`AsyncStore::lookups_on_blocking_pool`]). The PostgreSQL backend's
//! client runs a runtime of its own, which it may only do off the workers.

use crate::api::store::Store;
use crate::crypto::secret::{HashingKey, Secret};
use crate::error::{Error, Result};
use crate::kv::Backend;
use crate::kv::redb::RedbBackend;
use crate::model::binding::AuthSession;
use crate::model::client::{Client, ClientUpdate, NewClient, RegisteredClient};
use crate::model::device::{DeviceAuthorization, PendingDevice};
use crate::model::grant::GrantSummary;
use crate::model::ids::{ClientId, GrantId};
use crate::model::key_info::{KeyId, KeyInfo};
use crate::model::operator::{ExportEntry, ExportSummary, StoreStats, VerifyReport};
use crate::model::page::{Page, PageRequest};
use crate::model::request::{
    AuthorizationRequest, CodeExchange, IssueOptions, PushRequest, RefreshRequest,
};
use crate::model::response::{
    BulkRevocation, CodeInfo, Consent, Introspection, IssuedCode, ProofJti, PurgeReport,
    PushedAuthorization, PushedRequest, RefreshState, Revocation, TokenInfo, TokenResponse,
};
use crate::model::scope::Scope;
use parking_lot::Mutex;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A [`Store`] for async code: `Clone + Send + Sync`, every method an
/// `async fn` with the name and result of the [`Store`] method it runs.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() -> Result<(), grantdb::Error> {
/// use grantdb::{AsyncStore, Config, GrantType, NewClient, Store};
/// let store = AsyncStore::new(Store::in_memory(Config::default())?);
/// let app = store
///     .register_client(&NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]))
///     .await?;
/// let tokens = store.issue_client_credentials(&app.client.id, None).await?;
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

    /// Runs `op` on the blocking pool. A panic in it is an error, not a
    /// panic in the caller's task.
    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Store<B>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || op(&store))
            .await
            .unwrap_or_else(|_| {
                Err(Error::Storage {
                    source: "the operation panicked on the blocking pool".into(),
                })
            })
    }

    /// Runs a short read (one lookup) through the shared read queue.
    async fn read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Store<B>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
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

    /// See [`Store::register_client`].
    pub async fn register_client(&self, client: &NewClient) -> Result<RegisteredClient> {
        let client = client.clone();
        self.run(move |s| s.register_client(&client)).await
    }

    /// See [`Store::authenticate_client`].
    pub async fn authenticate_client(
        &self,
        client_id: &ClientId,
        secret: Option<&str>,
    ) -> Result<Client> {
        let (client_id, secret) = (*client_id, secret.map(|s| Zeroizing::new(s.to_owned())));
        self.read(move |s| s.authenticate_client(&client_id, secret.as_deref().map(String::as_str)))
            .await
    }

    /// See [`Store::rotate_client_secret`].
    pub async fn rotate_client_secret(&self, client_id: &ClientId) -> Result<Secret> {
        let client_id = *client_id;
        self.run(move |s| s.rotate_client_secret(&client_id)).await
    }

    /// See [`Store::update_client`].
    pub async fn update_client(
        &self,
        client_id: &ClientId,
        update: &ClientUpdate,
    ) -> Result<Client> {
        let (client_id, update) = (*client_id, update.clone());
        self.run(move |s| s.update_client(&client_id, &update))
            .await
    }

    /// See [`Store::delete_client`].
    pub async fn delete_client(&self, client_id: &ClientId) -> Result<Option<BulkRevocation>> {
        let client_id = *client_id;
        self.run(move |s| s.delete_client(&client_id)).await
    }

    /// See [`Store::client`].
    pub async fn client(&self, client_id: &ClientId) -> Result<Option<Client>> {
        let client_id = *client_id;
        self.read(move |s| s.client(&client_id)).await
    }

    /// See [`Store::clients`].
    pub async fn clients(&self, page: &PageRequest) -> Result<Page<Client>> {
        let page = page.clone();
        self.run(move |s| s.clients(&page)).await
    }

    /// See [`Store::issue_code`].
    pub async fn issue_code(&self, request: &AuthorizationRequest) -> Result<IssuedCode> {
        let request = request.clone();
        self.run(move |s| s.issue_code(&request)).await
    }

    /// See [`Store::exchange_code`].
    pub async fn exchange_code(&self, exchange: &CodeExchange<'_>) -> Result<TokenResponse> {
        let code = Zeroizing::new(exchange.code.to_owned());
        let client_id = exchange.client_id;
        let redirect_uri = exchange.redirect_uri.map(str::to_owned);
        let verifier = exchange.code_verifier.map(|v| Zeroizing::new(v.to_owned()));
        let resources = exchange.resources.to_vec();
        let confirmation = exchange.confirmation.cloned();
        self.run(move |s| {
            let mut exchange = CodeExchange::new(&code, client_id).resources(&resources);
            exchange.redirect_uri = redirect_uri.as_deref();
            exchange.code_verifier = verifier.as_deref().map(String::as_str);
            exchange.confirmation = confirmation.as_ref();
            s.exchange_code(&exchange)
        })
        .await
    }

    /// See [`Store::issue_for_subject_with`].
    pub async fn issue_for_subject_with(
        &self,
        client_id: &ClientId,
        subject: &str,
        scope: Option<&Scope>,
        options: &IssueOptions,
    ) -> Result<TokenResponse> {
        let (client_id, subject, scope) = (*client_id, subject.to_owned(), scope.cloned());
        let options = options.clone();
        self.run(move |s| s.issue_for_subject_with(&client_id, &subject, scope.as_ref(), &options))
            .await
    }

    /// See [`Store::issue_client_credentials_with`].
    pub async fn issue_client_credentials_with(
        &self,
        client_id: &ClientId,
        scope: Option<&Scope>,
        options: &IssueOptions,
    ) -> Result<TokenResponse> {
        let (client_id, scope, options) = (*client_id, scope.cloned(), options.clone());
        self.run(move |s| s.issue_client_credentials_with(&client_id, scope.as_ref(), &options))
            .await
    }

    /// See [`Store::refresh_with`].
    pub async fn refresh_with(&self, request: &RefreshRequest<'_>) -> Result<TokenResponse> {
        let token = Zeroizing::new(request.refresh_token.to_owned());
        let (client_id, scope) = (request.client_id, request.scope.cloned());
        let (resources, confirmation) = (request.resources.to_vec(), request.confirmation.cloned());
        self.run(move |s| {
            let mut request = RefreshRequest::new(&token, client_id).resources(&resources);
            request.scope = scope.as_ref();
            request.confirmation = confirmation.as_ref();
            s.refresh_with(&request)
        })
        .await
    }

    /// See [`Store::revoke_session`].
    pub async fn revoke_session(&self, sid: &str) -> Result<BulkRevocation> {
        let sid = sid.to_owned();
        self.run(move |s| s.revoke_session(&sid)).await
    }

    /// See [`Store::claim_proof_jti`].
    pub async fn claim_proof_jti(&self, jti: &str, valid_until: u64) -> Result<ProofJti> {
        let jti = jti.to_owned();
        self.run(move |s| s.claim_proof_jti(&jti, valid_until))
            .await
    }

    /// See [`Store::issue_for_subject`].
    pub async fn issue_for_subject(
        &self,
        client_id: &ClientId,
        subject: &str,
        scope: Option<&Scope>,
    ) -> Result<TokenResponse> {
        let (client_id, subject, scope) = (*client_id, subject.to_owned(), scope.cloned());
        self.run(move |s| s.issue_for_subject(&client_id, &subject, scope.as_ref()))
            .await
    }

    /// See [`Store::issue_client_credentials`].
    pub async fn issue_client_credentials(
        &self,
        client_id: &ClientId,
        scope: Option<&Scope>,
    ) -> Result<TokenResponse> {
        let (client_id, scope) = (*client_id, scope.cloned());
        self.run(move |s| s.issue_client_credentials(&client_id, scope.as_ref()))
            .await
    }

    /// See [`Store::refresh`].
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client_id: &ClientId,
        scope: Option<&Scope>,
    ) -> Result<TokenResponse> {
        let token = Zeroizing::new(refresh_token.to_owned());
        let (client_id, scope) = (*client_id, scope.cloned());
        self.run(move |s| s.refresh(&token, &client_id, scope.as_ref()))
            .await
    }

    /// See [`Store::revoke`].
    pub async fn revoke(&self, token: &str, client_id: &ClientId) -> Result<Revocation> {
        let (token, client_id) = (Zeroizing::new(token.to_owned()), *client_id);
        self.run(move |s| s.revoke(&token, &client_id)).await
    }

    /// See [`Store::revoke_subject`].
    pub async fn revoke_subject(&self, subject: &str) -> Result<BulkRevocation> {
        let subject = subject.to_owned();
        self.run(move |s| s.revoke_subject(&subject)).await
    }

    /// See [`Store::revoke_client_grants`].
    pub async fn revoke_client_grants(&self, client_id: &ClientId) -> Result<BulkRevocation> {
        let client_id = *client_id;
        self.run(move |s| s.revoke_client_grants(&client_id)).await
    }

    /// See [`Store::revoke_subject_at_client`].
    pub async fn revoke_subject_at_client(
        &self,
        subject: &str,
        client_id: &ClientId,
    ) -> Result<BulkRevocation> {
        let (subject, client_id) = (subject.to_owned(), *client_id);
        self.run(move |s| s.revoke_subject_at_client(&subject, &client_id))
            .await
    }

    /// See [`Store::revoke_grant`].
    pub async fn revoke_grant(
        &self,
        subject: &str,
        client_id: &ClientId,
        grant_id: &GrantId,
    ) -> Result<bool> {
        let (subject, client_id, grant_id) = (subject.to_owned(), *client_id, *grant_id);
        self.run(move |s| s.revoke_grant(&subject, &client_id, &grant_id))
            .await
    }

    /// See [`Store::consents_of_subject`].
    pub async fn consents_of_subject(
        &self,
        subject: &str,
        page: &PageRequest,
    ) -> Result<Page<Consent>> {
        let (subject, page) = (subject.to_owned(), page.clone());
        self.read(move |s| s.consents_of_subject(&subject, &page))
            .await
    }

    /// See [`Store::withdraw_consent`].
    pub async fn withdraw_consent(&self, subject: &str, client_id: &ClientId) -> Result<bool> {
        let (subject, client_id) = (subject.to_owned(), *client_id);
        self.run(move |s| s.withdraw_consent(&subject, &client_id))
            .await
    }

    /// See [`Store::validate`]; where it runs: see
    /// [`lookups_on_blocking_pool`](Self::lookups_on_blocking_pool).
    pub async fn validate(&self, access_token: &str) -> Result<TokenInfo> {
        if self.inline_lookups {
            return self.store.validate(access_token);
        }
        let token = Zeroizing::new(access_token.to_owned());
        self.read(move |s| s.validate(&token)).await
    }

    /// See [`Store::validate_for`]; runs where [`validate`](Self::validate) does.
    pub async fn validate_for(&self, access_token: &str, resource: &str) -> Result<TokenInfo> {
        if self.inline_lookups {
            return self.store.validate_for(access_token, resource);
        }
        let (token, resource) = (Zeroizing::new(access_token.to_owned()), resource.to_owned());
        self.read(move |s| s.validate_for(&token, &resource)).await
    }

    /// See [`Store::introspect`]; where it runs: see
    /// [`lookups_on_blocking_pool`](Self::lookups_on_blocking_pool).
    pub async fn introspect(&self, token: &str) -> Result<Introspection> {
        if self.inline_lookups {
            return self.store.introspect(token);
        }
        let token = Zeroizing::new(token.to_owned());
        self.read(move |s| s.introspect(&token)).await
    }

    /// See [`Store::purge_expired`].
    pub async fn purge_expired(&self) -> Result<PurgeReport> {
        self.run(Store::purge_expired).await
    }

    /// See [`Store::purge_expired_batch`].
    pub async fn purge_expired_batch(&self, limit: usize) -> Result<PurgeReport> {
        self.run(move |s| s.purge_expired_batch(limit)).await
    }

    /// See [`Store::grants_of_subject`].
    pub async fn grants_of_subject(
        &self,
        subject: &str,
        page: &PageRequest,
    ) -> Result<Page<GrantSummary>> {
        let (subject, page) = (subject.to_owned(), page.clone());
        self.run(move |s| s.grants_of_subject(&subject, &page))
            .await
    }

    /// See [`Store::grants_of_client`].
    pub async fn grants_of_client(
        &self,
        client_id: &ClientId,
        page: &PageRequest,
    ) -> Result<Page<GrantSummary>> {
        let (client_id, page) = (*client_id, page.clone());
        self.run(move |s| s.grants_of_client(&client_id, &page))
            .await
    }

    /// See [`Store::record_consent`].
    pub async fn record_consent(
        &self,
        subject: &str,
        client_id: &ClientId,
        scope: &Scope,
    ) -> Result<Consent> {
        let (subject, client_id, scope) = (subject.to_owned(), *client_id, scope.clone());
        self.run(move |s| s.record_consent(&subject, &client_id, &scope))
            .await
    }

    /// See [`Store::consent`].
    pub async fn consent(&self, subject: &str, client_id: &ClientId) -> Result<Option<Consent>> {
        let (subject, client_id) = (subject.to_owned(), *client_id);
        self.read(move |s| s.consent(&subject, &client_id)).await
    }

    /// See [`Store::has_consent`].
    pub async fn has_consent(
        &self,
        subject: &str,
        client_id: &ClientId,
        scope: &Scope,
    ) -> Result<bool> {
        let (subject, client_id, scope) = (subject.to_owned(), *client_id, scope.clone());
        self.read(move |s| s.has_consent(&subject, &client_id, &scope))
            .await
    }

    /// See [`Store::refresh_state`].
    pub async fn refresh_state(&self, refresh_token: &str) -> Result<RefreshState> {
        let token = Zeroizing::new(refresh_token.to_owned());
        self.read(move |s| s.refresh_state(&token)).await
    }

    /// See [`Store::inspect_code`].
    pub async fn inspect_code(&self, code: &str) -> Result<Option<CodeInfo>> {
        let code = Zeroizing::new(code.to_owned());
        self.read(move |s| s.inspect_code(&code)).await
    }

    /// See [`Store::grant`].
    pub async fn grant(
        &self,
        client_id: &ClientId,
        grant_id: &GrantId,
    ) -> Result<Option<GrantSummary>> {
        let (client_id, grant_id) = (*client_id, *grant_id);
        self.read(move |s| s.grant(&client_id, &grant_id)).await
    }

    /// See [`Store::revoke_token_as_operator`].
    pub async fn revoke_token_as_operator(&self, token: &str) -> Result<Revocation> {
        let token = Zeroizing::new(token.to_owned());
        self.run(move |s| s.revoke_token_as_operator(&token)).await
    }

    /// See [`Store::stats`].
    pub async fn stats(&self) -> Result<StoreStats> {
        self.run(Store::stats).await
    }

    /// See [`Store::purge_preview`].
    pub async fn purge_preview(&self) -> Result<PurgeReport> {
        self.run(Store::purge_preview).await
    }

    /// See [`Store::export`]; `sink` runs on the blocking pool.
    pub async fn export(
        &self,
        sink: impl FnMut(ExportEntry) -> Result<()> + Send + 'static,
    ) -> Result<ExportSummary> {
        self.run(move |s| s.export(sink)).await
    }

    /// See [`Store::verify`].
    pub async fn verify(&self) -> Result<VerifyReport> {
        self.run(Store::verify).await
    }

    /// See [`Store::flush`].
    pub async fn flush(&self) -> Result<()> {
        self.run(Store::flush).await
    }

    /// See [`Store::push_authorization_request`].
    pub async fn push_authorization_request(&self, request: &PushRequest) -> Result<PushedRequest> {
        let request = request.clone();
        self.run(move |s| s.push_authorization_request(&request))
            .await
    }

    /// See [`Store::pushed_request`].
    pub async fn pushed_request(
        &self,
        client_id: &ClientId,
        request_uri: &str,
    ) -> Result<PushedAuthorization> {
        let (client, uri) = (*client_id, Zeroizing::new(request_uri.to_owned()));
        self.run(move |s| s.pushed_request(&client, &uri)).await
    }

    /// See [`Store::issue_code_from_pushed`].
    pub async fn issue_code_from_pushed(
        &self,
        client_id: &ClientId,
        request_uri: &str,
        subject: &str,
        auth_session: Option<&AuthSession>,
    ) -> Result<(IssuedCode, PushedAuthorization)> {
        let (client, uri) = (*client_id, Zeroizing::new(request_uri.to_owned()));
        let (subject, session) = (subject.to_owned(), auth_session.cloned());
        self.run(move |s| s.issue_code_from_pushed(&client, &uri, &subject, session.as_ref()))
            .await
    }

    /// See [`Store::start_device_authorization`].
    pub async fn start_device_authorization(
        &self,
        client_id: &ClientId,
        scope: Option<&Scope>,
    ) -> Result<DeviceAuthorization> {
        let (client, scope) = (*client_id, scope.cloned());
        self.run(move |s| s.start_device_authorization(&client, scope.as_ref()))
            .await
    }

    /// See [`Store::device_request`].
    pub async fn device_request(
        &self,
        user_code: &str,
        attempt_key: &str,
    ) -> Result<PendingDevice> {
        let (code, key) = (user_code.to_owned(), attempt_key.to_owned());
        self.run(move |s| s.device_request(&code, &key)).await
    }

    /// See [`Store::approve_device`].
    pub async fn approve_device(
        &self,
        user_code: &str,
        subject: &str,
        attempt_key: &str,
    ) -> Result<PendingDevice> {
        let (code, subject, key) = (
            user_code.to_owned(),
            subject.to_owned(),
            attempt_key.to_owned(),
        );
        self.run(move |s| s.approve_device(&code, &subject, &key))
            .await
    }

    /// See [`Store::deny_device`].
    pub async fn deny_device(&self, user_code: &str, attempt_key: &str) -> Result<PendingDevice> {
        let (code, key) = (user_code.to_owned(), attempt_key.to_owned());
        self.run(move |s| s.deny_device(&code, &key)).await
    }

    /// See [`Store::poll_device`].
    pub async fn poll_device(
        &self,
        device_code: &str,
        client_id: &ClientId,
    ) -> Result<TokenResponse> {
        let (code, client) = (Zeroizing::new(device_code.to_owned()), *client_id);
        self.run(move |s| s.poll_device(&code, &client)).await
    }

    /// See [`Store::hashing_keys`].
    pub async fn hashing_keys(&self) -> Result<Vec<KeyInfo>> {
        self.run(Store::hashing_keys).await
    }

    /// See [`Store::add_hashing_key`].
    pub async fn add_hashing_key(&self, key: Option<HashingKey>) -> Result<KeyInfo> {
        self.run(move |s| s.add_hashing_key(key)).await
    }

    /// See [`Store::retire_hashing_key`].
    pub async fn retire_hashing_key(&self, id: KeyId) -> Result<KeyInfo> {
        self.run(move |s| s.retire_hashing_key(id)).await
    }

    /// See [`Store::remove_hashing_key`].
    pub async fn remove_hashing_key(&self, id: KeyId) -> Result<u64> {
        self.run(move |s| s.remove_hashing_key(id)).await
    }

    /// See [`Store::reload_hashing_keys`].
    pub async fn reload_hashing_keys(&self) -> Result<()> {
        self.run(Store::reload_hashing_keys).await
    }
}
