//! The [`Store`] handle: opens the database, runs every operation in one
//! transaction (R19), and is the crate's public API.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::OnceLock;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use zeroize::Zeroizing;

use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::Secret;
use crate::engine::commit::{GroupCommit, Runner, WriteStats};
use crate::engine::ctx::Ctx;
use crate::engine::keyring::KeySet;
use crate::engine::meta;
use crate::engine::observe::{Observation, Operation};
use crate::engine::periodic::Periodic;
use crate::engine::premint::Premints;
use crate::error::{Error, Result};
use crate::kv::overlay::Overlay;
use crate::kv::redb::{Location, RedbBackend, Settings, SpaceStats};
use crate::kv::{Backend, CommitMode, KvRead as _, TxEnd};
use crate::model::binding::Confirmation;
use crate::model::client::{Client, ClientUpdate, NewClient, RegisteredClient};
use crate::model::clock::Timekeeper;
use crate::model::config::{Config, Durability};
use crate::model::event::Event;
use crate::model::grant::{GrantSummary, Page, PageRequest};
use crate::model::ids::{ClientId, GrantId};
use crate::model::request::{AuthorizationRequest, CodeExchange, IssueOptions, RefreshRequest};
use crate::model::response::{
    BulkRevocation, CodeInfo, Consent, Introspection, IssuedCode, PurgeReport, RefreshState,
    Revocation, TokenInfo, TokenResponse,
};
use crate::model::scope::Scope;
use crate::ops;
use crate::ops::admin::{ExportEntry, ExportSummary, StoreStats};
use crate::ops::verify::VerifyReport;
use crate::record::Sealed;

/// The token store. Cheap to clone and share across threads (`Send + Sync`);
/// every clone is the same store.
///
/// Every operation is one transaction (R19): it commits all of its effects or
/// none. Writes are serialised; reads run in parallel with each other and with
/// writes, each on a consistent snapshot.
///
/// # From async code
///
/// Every method blocks: writes wait for an fsync (or a database round trip),
/// reads may read the file. On tokio, use [`AsyncStore`](crate::AsyncStore)
/// (feature `tokio`): the same methods as `async fn`s, run off the runtime's
/// workers, and required for the PostgreSQL backend, whose client cannot run
/// on a worker at all. Elsewhere, call the store from
/// `tokio::task::spawn_blocking` or a thread of your own.
pub struct Store<B: Backend = RedbBackend> {
    inner: Arc<Inner<B>>,
}

impl<B: Backend> Clone for Store<B> {
    fn clone(&self) -> Self {
        self.inner.handles.fetch_add(1, Ordering::SeqCst);
        Store {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<B: Backend> Drop for Store<B> {
    fn drop(&mut self) {
        // The last handle stops the flush thread and waits for it, so that the
        // database is closed when this drop returns (and can be reopened at
        // once), not whenever a flush in progress lets go of it.
        if self.inner.handles.fetch_sub(1, Ordering::SeqCst) == 1
            && let Some(flusher) = self.inner.flusher.get()
        {
            flusher.stop();
        }
    }
}

impl<B: Backend> std::fmt::Debug for Store<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner<B: Backend> {
    backend: B,
    config: Config,
    /// The key ring as this store works with it: minting, accepted keys and
    /// the seal. Replaced whole when the ring changes; each transaction
    /// works with the set it loaded first.
    keys: ArcSwap<KeySet>,
    /// Held while the key ring changes and the new set is published, so
    /// that sets are published in the order their changes committed.
    key_changes: Mutex<()>,
    /// The store's time: never runs backwards (see `docs/design.md`, "Time").
    time: Timekeeper,
    /// [`Durability::Fast`]: lazy commits not yet made durable.
    unflushed: AtomicBool,
    /// [`Durability::Fast`]: the last background flush failed, so commits are
    /// made durable one by one until one succeeds.
    flush_failed: AtomicBool,
    /// [`Durability::Fast`]: the background flush thread.
    flusher: OnceLock<Periodic>,
    /// `Store` handles alive (clones of one store).
    handles: AtomicUsize,
    commits: GroupCommit<B>,
}

impl<B: Backend> Inner<B> {
    /// Makes the lazy commits durable, if there are any.
    fn flush_unflushed(&self) -> Result<()> {
        if !self.unflushed.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let flushed = self
            .backend
            .write(CommitMode::Durable, |_| Ok(((), TxEnd::Commit)));
        // Until a flush succeeds, nothing more is acknowledged lazily.
        self.flush_failed.store(flushed.is_err(), Ordering::SeqCst);
        if flushed.is_err() {
            self.unflushed.store(true, Ordering::SeqCst);
        }
        flushed
    }
}

impl Store<RedbBackend> {
    /// Opens the database file at `path`, creating it if it does not exist
    /// (readable and writable by its owner only, on Unix: with a generated
    /// hashing key, the file holds the key). A reserve of disk space is kept
    /// beside it (see [`ConfigBuilder::disk_reserve`](crate::ConfigBuilder::disk_reserve)).
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Store> {
        let path = path.as_ref();
        let reserve = (config.disk_reserve > 0).then(|| {
            let mut name = path.as_os_str().to_owned();
            name.push(".reserve");
            (name.into(), config.disk_reserve)
        });
        Store::open_redb(Location::File(path), reserve, config)
    }

    /// A store that lives in memory only, for tests and examples.
    ///
    /// ```
    /// use grantdb::{Config, Store};
    /// let store = Store::in_memory(Config::default())?;
    /// assert_eq!(store.stats()?.clients, 0);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn in_memory(config: Config) -> Result<Store> {
        Store::open_redb(Location::Memory, None, config)
    }

    /// Opens a store on storage of the host's choosing: `open` returns a redb
    /// [`StorageBackend`](redb::StorageBackend) (an encrypting layer, a test
    /// double that injects I/O errors, ...). It is called again to reopen the
    /// database after an I/O error. `reserve`: a file for the disk reserve,
    /// and its size in bytes.
    pub fn open_on_storage<S: redb::StorageBackend>(
        open: impl Fn() -> std::io::Result<S> + Send + Sync + 'static,
        reserve: Option<(std::path::PathBuf, u64)>,
        config: Config,
    ) -> Result<Store> {
        let open = move || open().map(|storage| Box::new(storage) as Box<dyn redb::StorageBackend>);
        Store::open_redb(Location::Storage(Box::new(open)), reserve, config)
    }

    fn open_redb(
        location: Location<'_>,
        reserve: Option<(std::path::PathBuf, u64)>,
        config: Config,
    ) -> Result<Store> {
        // redb may panic on a file damaged outside redb; report it as an error.
        let opened = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let backend = RedbBackend::open(Settings {
                location,
                cache_bytes: config.cache_bytes,
                check_integrity: config.check_file_on_open,
                reserve,
            })?;
            if backend.is_foreign()? {
                return Err(Error::NotAGrantdbDatabase);
            }
            backend.create_tables()?;
            Ok(backend)
        }))
        .unwrap_or(Err(Error::NotAGrantdbDatabase))?;
        Store::with_backend(opened, config)
    }

    /// How the database file's space is used (see [`SpaceStats`]).
    pub fn space(&self) -> Result<SpaceStats> {
        self.inner.backend.space()
    }

    /// Compacts the file, giving free pages back to the file system, and
    /// returns the space before and after. Needs the only handle on the store
    /// (no clones alive), since no transaction may run meanwhile.
    pub fn compact(&mut self) -> Result<(SpaceStats, SpaceStats)> {
        let inner = Arc::get_mut(&mut self.inner).ok_or(Error::StoreShared)?;
        let before = inner.backend.space()?;
        inner.backend.compact()?;
        Ok((before, inner.backend.space()?))
    }
}

impl<B: Backend> Store<B> {
    /// A store on any [`Backend`]: checks the format version and hashing key,
    /// initialising a new database.
    pub fn with_backend(backend: B, config: Config) -> Result<Store<B>> {
        let opened = meta::init_or_check(&backend, &config.hashing_keys, &config.prefixes)?;
        let time = Timekeeper::new(
            Arc::clone(&config.clock),
            opened.high_water,
            backend.records_time_high_water(),
        );
        let store = Store {
            inner: Arc::new(Inner {
                backend,
                config,
                keys: ArcSwap::from_pointee(opened.keys),
                key_changes: Mutex::new(()),
                time,
                unflushed: AtomicBool::new(false),
                flush_failed: AtomicBool::new(false),
                flusher: OnceLock::new(),
                handles: AtomicUsize::new(1),
                commits: GroupCommit::default(),
            }),
        };
        if store.inner.config.durability == Durability::Fast {
            let weak = Arc::downgrade(&store.inner);
            let interval = store.inner.config.fast_flush_interval;
            let flusher = Periodic::start("gdbflush", interval, move || {
                let Some(inner) = weak.upgrade() else {
                    return false;
                };
                // A failure is remembered (`flush_failed`) and retried next tick.
                let _ = inner.flush_unflushed();
                true
            });
            let _ = store.inner.flusher.set(flusher);
        }
        Ok(store)
    }

    /// The configuration the store runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store's current time (R18): the configured clock, raised to the
    /// latest time the store has already used, so that it never runs
    /// backwards (see `docs/design.md`, "Time").
    pub fn now(&self) -> u64 {
        self.inner.time.now(None)
    }

    /// The storage backend.
    pub fn backend(&self) -> &B {
        &self.inner.backend
    }

    /// The key set operations start with now.
    pub(crate) fn keys(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.inner.keys.load()
    }

    /// Runs a change of the key ring, then publishes the key set read back
    /// from the database, built from `host_keys` (see [`crate::engine::keyring`]).
    /// Ring changes on one store run one at a time.
    pub(crate) fn change_keys<T>(
        &self,
        change: impl FnOnce() -> Result<T>,
        host_keys: impl FnOnce(&KeySet) -> Vec<crate::HashingKey>,
    ) -> Result<T> {
        let _one_at_a_time = self.inner.key_changes.lock();
        let changed = change()?;
        let host_keys = host_keys(&self.keys());
        let entries = self
            .inner
            .backend
            .read(|kv| crate::engine::keyring::read_entries(kv))?;
        let set = KeySet::build(entries, &host_keys, &self.inner.config.prefixes)?;
        self.inner.keys.store(Arc::new(set));
        Ok(changed)
    }

    /// The context of an operation running at `now` with `keys`.
    fn ctx_at<'a>(&'a self, keys: &'a KeySet, now: u64) -> Ctx<'a> {
        Ctx {
            config: &self.inner.config,
            minter: &keys.minter,
            seal: &keys.seal,
            now,
            premints: None,
        }
    }

    fn commit_mode(&self) -> CommitMode {
        let inner = &self.inner;
        match inner.config.durability {
            Durability::Durable => CommitMode::Durable,
            Durability::Fast if inner.flush_failed.load(Ordering::SeqCst) => CommitMode::Durable,
            Durability::Fast => {
                // Set before the commit: the flush thread may find nothing
                // new (an aborted batch), never miss a commit.
                inner.unflushed.store(true, Ordering::SeqCst);
                CommitMode::Lazy
            }
        }
    }

    /// Runs one rule in a write transaction, through group commit: it may
    /// share the transaction (and its fsync) with concurrent writers unless
    /// its kind says otherwise. Its writes are kept on success and on the
    /// errors whose answer is a revocation (R05, R08); any other error drops
    /// them, so a failed check changes nothing (R19). After a full disk, an
    /// operation that grows the database is refused until there is room
    /// again; revocation and purge go on (see `docs/design.md`, "Failures").
    ///
    /// The operation is observed (span, metrics), and the events it noted
    /// are told to the host's listener once its transaction committed.
    pub(crate) fn write<T, F>(
        &self,
        operation: Operation,
        client: Option<&ClientId>,
        mut op: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a, 'b, 'c, 'd, 'e> FnMut(
                &'e mut Sealed<'c, &'d mut Overlay<&'a mut B::Write<'b>>>,
                &Ctx<'c>,
            ) -> Result<T>
            + Send
            + 'static,
    {
        let observation = Observation::start(operation, client);
        let kind = write_kind(operation);
        if kind == WriteKind::Grows && !self.inner.backend.may_grow() {
            let refused = Err(Error::DiskFull);
            observation.finish(&refused, None);
            return refused;
        }
        let mode = || self.commit_mode();
        let runner = Runner {
            backend: &self.inner.backend,
            time: &self.inner.time,
            config: &self.inner.config,
            keys: &self.inner.keys,
            mode: &mode,
        };
        let exclusive = kind == WriteKind::FreesAlone;
        let listener = self.inner.config.on_event.clone();
        // The events of the last run of the operation (a backend may run a
        // conflicting transaction again).
        let noted: Option<Arc<Mutex<Vec<Event>>>> = listener.as_ref().map(|_| Arc::default());
        let slot = noted.clone();
        // Minted here, on the caller's thread, not by the batch's leader.
        let premints = Premints::new(self.inner.keys.load_full(), minted_by(operation));
        let (result, batch) = self
            .inner
            .commits
            .submit(&runner, exclusive, move |kv, ctx| {
                let ctx = ctx.with_premints(&premints);
                match &slot {
                    None => op(&mut Sealed::new(kv, ctx.seal), &ctx),
                    Some(slot) => {
                        let mut sealed = Sealed::noting_events(kv, ctx.seal);
                        let result = op(&mut sealed, &ctx);
                        *slot.lock() = sealed.into_events();
                        result
                    }
                }
            });
        observation.finish(&result, Some(batch));
        let committed = match &result {
            Ok(_) => true,
            Err(error) => error.committed_changes(),
        };
        if let (Some(listener), Some(noted), true) = (listener, noted, committed) {
            for event in std::mem::take(&mut *noted.lock()) {
                listener(&event);
            }
        }
        result
    }

    /// Runs a pure read in one read transaction.
    pub(crate) fn read<T>(
        &self,
        operation: Operation,
        client: Option<&ClientId>,
        op: impl FnOnce(&Sealed<'_, &B::Read<'_>>, &Ctx<'_>) -> Result<T>,
    ) -> Result<T> {
        let observation = Observation::start(operation, client);
        let keys = self.keys();
        let result = self.inner.backend.read(|kv| {
            let ctx = self.ctx_at(&keys, self.inner.time.now(kv.database_time()));
            op(&Sealed::new(kv, ctx.seal), &ctx)
        });
        observation.finish(&result, None);
        result
    }

    // ----- clients (R03) -----

    /// Registers a client. A confidential client's secret is in the result,
    /// this once; only its hash is stored (R01).
    ///
    /// ```
    /// use grantdb::{Config, GrantType, NewClient, Store};
    /// let store = Store::in_memory(Config::default())?;
    /// let app = store.register_client(
    ///     &NewClient::confidential("pretix")
    ///         .redirect_uri("https://pretalx.example/cb")
    ///         .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]),
    /// )?;
    /// assert!(app.secret.as_ref().is_some_and(|s| s.expose().starts_with("gdbcs_")));
    /// assert_eq!(store.client(&app.client.id)?.map(|c| c.name), Some("pretix".into()));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn register_client(&self, client: &NewClient) -> Result<RegisteredClient> {
        let client = client.clone();
        self.write(Operation::RegisterClient, None, move |kv, ctx| {
            ops::clients::register(kv, ctx, &client)
        })
    }

    /// Authenticates a client by id and secret (`None` for a public client),
    /// in constant time (R03).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let secret = app.secret.as_ref().map(|s| s.expose());
    /// assert_eq!(store.authenticate_client(&client_id, secret)?.name, "pretix");
    /// assert!(matches!(
    ///     store.authenticate_client(&client_id, Some("gdbcs_wrong")),
    ///     Err(Error::ClientAuthenticationFailed)
    /// ));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn authenticate_client(
        &self,
        client_id: &ClientId,
        secret: Option<&str>,
    ) -> Result<Client> {
        let attempt = || {
            self.read(Operation::AuthenticateClient, Some(client_id), |kv, ctx| {
                ops::clients::authenticate(kv, ctx, client_id, secret)
            })
        };
        let authenticated = match attempt() {
            // The secret may have been hashed under a key another node just
            // added (R28); only a well-formed secret is worth the look.
            Err(Error::ClientAuthenticationFailed)
                if secret.is_some_and(|s| {
                    self.keys()
                        .minter
                        .key_id_of(TokenKind::ClientSecret, s)
                        .is_some()
                }) && self.caught_up_after_miss(None) =>
            {
                attempt()
            }
            result => result,
        }?;
        if let (true, Some(secret)) = (authenticated.stale_key, secret) {
            // Hashed under an older key of the ring: moved to the minting
            // key now (R28). The client authenticated either way; a failed
            // move (a full disk) is tried again at its next authentication.
            let id = *client_id;
            let secret = Zeroizing::new(secret.to_owned());
            let _ = self.write(
                Operation::RehashClientSecret,
                Some(client_id),
                move |kv, ctx| ops::clients::rehash_secret(kv, ctx, &id, &secret),
            );
        }
        Ok(authenticated.client)
    }

    /// Issues a new client secret; the old one fails from now on (R03).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let old = app.secret.as_ref().map(|s| s.expose().to_owned());
    /// let new = store.rotate_client_secret(&client_id)?;
    /// assert!(store.authenticate_client(&client_id, Some(new.expose())).is_ok());
    /// assert!(store.authenticate_client(&client_id, old.as_deref()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn rotate_client_secret(&self, client_id: &ClientId) -> Result<Secret> {
        let client_id = *client_id;
        self.write(
            Operation::RotateClientSecret,
            Some(&client_id),
            move |kv, ctx| ops::clients::rotate_secret(kv, ctx, &client_id),
        )
    }

    /// Changes a client's name, redirect URIs, grant types, scopes or lifetimes.
    pub fn update_client(&self, client_id: &ClientId, update: &ClientUpdate) -> Result<Client> {
        let (client_id, update) = (*client_id, update.clone());
        self.write(Operation::UpdateClient, Some(&client_id), move |kv, ctx| {
            ops::clients::update(kv, ctx, &client_id, &update)
        })
    }

    /// Deletes a client with all its codes, grants, tokens and consents, in one
    /// transaction (R03). Returns what was ended, or `None` if there was no
    /// such client.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// assert_eq!(store.delete_client(&client_id)?.map(|ended| ended.grants), Some(1));
    /// assert!(store.validate(tokens.access_token.expose()).is_err());
    /// assert!(store.delete_client(&client_id)?.is_none());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn delete_client(&self, client_id: &ClientId) -> Result<Option<BulkRevocation>> {
        let client_id = *client_id;
        self.write(Operation::DeleteClient, Some(&client_id), move |kv, ctx| {
            ops::clients::delete(kv, ctx, &client_id)
        })
    }

    /// Reads a client.
    pub fn client(&self, client_id: &ClientId) -> Result<Option<Client>> {
        self.read(Operation::ReadClients, Some(client_id), |kv, _| {
            ops::clients::get(kv, client_id)
        })
    }

    /// Lists clients in id order.
    pub fn clients(&self, page: &PageRequest) -> Result<Page<Client>> {
        self.read(Operation::ReadClients, None, |kv, _| {
            ops::clients::list(kv, page)
        })
    }

    // ----- codes (R04, R05) -----

    /// Issues an authorization code for a request the user approved (R04).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let code = store.issue_code(&AuthorizationRequest::new(client_id, "alice"))?;
    /// assert!(code.code.expose().starts_with("gdbac_"));
    /// assert_eq!(code.redirect_uri, "https://pretalx.example/cb");
    /// assert_eq!(code.expires_at, store.now() + 60);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn issue_code(&self, request: &AuthorizationRequest) -> Result<IssuedCode> {
        let client_id = request.client_id;
        let request = request.clone();
        self.write(Operation::IssueCode, Some(&client_id), move |kv, ctx| {
            ops::codes::issue(kv, ctx, &request)
        })
    }

    /// Exchanges a code for tokens (R04, R06). A second exchange of the same
    /// code fails with [`Error::CodeReplayed`] and revokes every token issued
    /// from it (R05).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let code = store.issue_code(&AuthorizationRequest::new(client_id, "alice"))?;
    /// let tokens = store.exchange_code(&CodeExchange::new(code.code.expose(), client_id))?;
    /// assert_eq!(tokens.subject.as_deref(), Some("alice"));
    /// assert!(tokens.refresh_token.is_some());
    /// // A second exchange is a replay: refused, and the tokens die (R05).
    /// assert!(matches!(
    ///     store.exchange_code(&CodeExchange::new(code.code.expose(), client_id)),
    ///     Err(Error::CodeReplayed)
    /// ));
    /// assert!(store.validate(tokens.access_token.expose()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn exchange_code(&self, exchange: &CodeExchange<'_>) -> Result<TokenResponse> {
        let owned = OwnedExchange::from(exchange);
        self.write(
            Operation::ExchangeCode,
            Some(&exchange.client_id),
            move |kv, ctx| ops::codes::exchange(kv, ctx, &owned.borrow()),
        )
    }

    // ----- issuing and refreshing (R06–R08) -----

    /// Issues tokens for `subject` after the host checked the user's password
    /// (RFC 6749 §4.3). `scope: None` grants the client's registered scopes.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", Some(&Scope::parse("read")?))?;
    /// assert_eq!(tokens.scope.as_str(), "read");
    /// assert_eq!(tokens.expires_in, 86_400);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn issue_for_subject(
        &self,
        client_id: &ClientId,
        subject: &str,
        scope: Option<&Scope>,
    ) -> Result<TokenResponse> {
        self.issue_for_subject_with(client_id, subject, scope, &IssueOptions::new())
    }

    /// [`issue_for_subject`](Self::issue_for_subject) with resources, a key
    /// or certificate binding and the sign-in (R24–R26).
    pub fn issue_for_subject_with(
        &self,
        client_id: &ClientId,
        subject: &str,
        scope: Option<&Scope>,
        options: &IssueOptions,
    ) -> Result<TokenResponse> {
        let (client_id, subject, scope) = (*client_id, subject.to_owned(), scope.cloned());
        let options = options.clone();
        self.write(
            Operation::IssueForSubject,
            Some(&client_id),
            move |kv, ctx| {
                let scope = scope.as_ref();
                ops::tokens::issue_for_subject(kv, ctx, &client_id, &subject, scope, &options)
            },
        )
    }

    /// Issues an access token to a confidential client acting for itself
    /// (RFC 6749 §4.4). Any number may be active at once (R06).
    ///
    /// ```
    /// use grantdb::{Config, GrantType, NewClient, Store};
    /// let store = Store::in_memory(Config::default())?;
    /// let app = store.register_client(
    ///     &NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]),
    /// )?;
    /// let first = store.issue_client_credentials(&app.client.id, None)?;
    /// let second = store.issue_client_credentials(&app.client.id, None)?;
    /// assert!(first.refresh_token.is_none());
    /// // Several active at once (Prioticket).
    /// assert!(store.validate(first.access_token.expose()).is_ok());
    /// assert!(store.validate(second.access_token.expose()).is_ok());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn issue_client_credentials(
        &self,
        client_id: &ClientId,
        scope: Option<&Scope>,
    ) -> Result<TokenResponse> {
        self.issue_client_credentials_with(client_id, scope, &IssueOptions::new())
    }

    /// [`issue_client_credentials`](Self::issue_client_credentials) with
    /// resources and a key or certificate binding (R24, R25).
    pub fn issue_client_credentials_with(
        &self,
        client_id: &ClientId,
        scope: Option<&Scope>,
        options: &IssueOptions,
    ) -> Result<TokenResponse> {
        let (client_id, scope, options) = (*client_id, scope.cloned(), options.clone());
        self.write(
            Operation::IssueClientCredentials,
            Some(&client_id),
            move |kv, ctx| {
                let scope = scope.as_ref();
                ops::tokens::issue_client_credentials(kv, ctx, &client_id, scope, &options)
            },
        )
    }

    /// Refreshes with rotation (R07): the presented refresh token is consumed,
    /// its access token dies at once, and a new pair is issued in the same
    /// grant. Presenting a consumed refresh token revokes the grant (R08) unless
    /// the configured grace period covers it. `scope: None` keeps the grant's.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// let old = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
    /// let rotated = store.refresh(old, &client_id, None)?;
    /// assert!(store.validate(tokens.access_token.expose()).is_err());
    /// // The old refresh token again: theft, the family is revoked (R08).
    /// assert!(matches!(store.refresh(old, &client_id, None), Err(Error::RefreshTokenReused)));
    /// assert!(store.validate(rotated.access_token.expose()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn refresh(
        &self,
        refresh_token: &str,
        client_id: &ClientId,
        scope: Option<&Scope>,
    ) -> Result<TokenResponse> {
        let mut request = RefreshRequest::new(refresh_token, *client_id);
        request.scope = scope;
        self.refresh_with(&request)
    }

    /// [`refresh`](Self::refresh) with resources (the new access token's
    /// audiences, within the grant's: R25) and the key or certificate the
    /// client proved it holds (a bound grant needs its own: R24).
    pub fn refresh_with(&self, request: &RefreshRequest<'_>) -> Result<TokenResponse> {
        let attempt = || {
            let owned = OwnedRefresh::from(request);
            self.write(
                Operation::Refresh,
                Some(&request.client_id),
                move |kv, ctx| ops::tokens::refresh(kv, ctx, &owned.borrow()),
            )
        };
        match attempt() {
            // Minted under a key another node just added (R28).
            Err(Error::UnknownRefreshToken)
                if self.caught_up_after_miss(Some((TokenKind::Refresh, request.refresh_token))) =>
            {
                attempt()
            }
            result => result,
        }
    }

    // ----- revocation (R09–R12) -----

    /// Revokes an access token (R09) or a refresh token with its whole grant
    /// (R10), as RFC 7009 asks; unknown or inactive tokens succeed quietly (R11).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// assert_eq!(store.revoke(tokens.access_token.expose(), &client_id)?, Revocation::AccessToken);
    /// assert_eq!(store.revoke("not a token", &client_id)?, Revocation::NotActive);
    /// let refresh = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
    /// assert_eq!(store.revoke(refresh, &client_id)?, Revocation::Grant);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn revoke(&self, token: &str, client_id: &ClientId) -> Result<Revocation> {
        let presented = Zeroizing::new(token.to_owned());
        let client_id = *client_id;
        self.write(Operation::Revoke, Some(&client_id), move |kv, ctx| {
            ops::revoke::revoke_token(kv, ctx, &presented, Some(&client_id))
        })
    }

    /// Revokes every grant and pending code of a subject ("log out
    /// everywhere"), in one transaction (R12). Returns the grants ended.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let a = store.issue_for_subject(&client_id, "alice", None)?;
    /// let b = store.issue_for_subject(&client_id, "alice", None)?;
    /// assert_eq!(store.revoke_subject("alice")?.grants, 2);
    /// assert!(store.validate(a.access_token.expose()).is_err());
    /// assert!(store.validate(b.access_token.expose()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn revoke_subject(&self, subject: &str) -> Result<BulkRevocation> {
        ops::check_subject(subject)?;
        let subject = subject.to_owned();
        self.write(Operation::RevokeSubject, None, move |kv, ctx| {
            ops::revoke::revoke_subject(kv, ctx, &subject)
        })
    }

    /// Revokes every grant and pending code of a client and forgets the
    /// consents given to it (R12, R17). The client stays registered.
    pub fn revoke_client_grants(&self, client_id: &ClientId) -> Result<BulkRevocation> {
        let client_id = *client_id;
        self.write(
            Operation::RevokeClientGrants,
            Some(&client_id),
            move |kv, ctx| ops::revoke::revoke_client(kv, ctx, &client_id),
        )
    }

    /// The user removes an authorized application: every grant and pending code
    /// of `subject` at `client_id`, and the consent (R12, R17).
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
    /// store.issue_for_subject(&client_id, "alice", None)?;
    /// assert_eq!(store.revoke_subject_at_client("alice", &client_id)?.grants, 1);
    /// assert!(store.consent("alice", &client_id)?.is_none());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn revoke_subject_at_client(
        &self,
        subject: &str,
        client_id: &ClientId,
    ) -> Result<BulkRevocation> {
        ops::check_subject(subject)?;
        let (subject, client_id) = (subject.to_owned(), *client_id);
        self.write(
            Operation::RevokeSubjectAtClient,
            Some(&client_id),
            move |kv, ctx| ops::revoke::revoke_subject_at_client(kv, ctx, &subject, &client_id),
        )
    }

    // ----- validation (R13) -----

    /// Validates a bearer access token: a pure read, never a write (R13). A
    /// malformed string is refused before any read (R02).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// let info = store.validate(tokens.access_token.expose())?;
    /// assert_eq!((info.client_id, info.subject.as_deref()), (client_id, Some("alice")));
    /// assert!(matches!(store.validate("gdbat_garbage"), Err(Error::MalformedToken { .. })));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn validate(&self, access_token: &str) -> Result<TokenInfo> {
        let observation = Observation::start(Operation::Validate, None);
        let result = match self.validate_unobserved(access_token) {
            // Minted under a key another node just added (R28).
            Err(Error::InactiveToken)
                if self.caught_up_after_miss(Some((TokenKind::Access, access_token))) =>
            {
                self.validate_unobserved(access_token)
            }
            result => result,
        };
        observation.finish(&result, None);
        result
    }

    fn validate_unobserved(&self, access_token: &str) -> Result<TokenInfo> {
        let keys = self.keys();
        let presented = keys.minter.parse(TokenKind::Access, access_token)?;
        self.inner.backend.read_single(|kv| {
            let token = ops::family::load_token(&Sealed::new(kv, &keys.seal), &presented)?;
            // After the read: a backend may learn the database's time from it.
            let now = self.inner.time.now(kv.database_time());
            ops::validate::validate(token, now)
        })
    }

    /// [`validate`](Self::validate) for one resource server (R25): a token
    /// restricted to other resources (RFC 8707) is
    /// [`Error::WrongAudience`] (`invalid_token`); a token without audiences
    /// is valid for every resource. One read, as `validate`.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("prioticket")
    /// #     .grant_types([GrantType::ClientCredentials]))?;
    /// let options = IssueOptions::new().resources(["https://api.example/bookings"]);
    /// let tokens = store.issue_client_credentials_with(&app.client.id, None, &options)?;
    /// let token = tokens.access_token.expose();
    /// assert!(store.validate_for(token, "https://api.example/bookings").is_ok());
    /// assert!(matches!(
    ///     store.validate_for(token, "https://api.example/payments"),
    ///     Err(Error::WrongAudience)
    /// ));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn validate_for(&self, access_token: &str, resource: &str) -> Result<TokenInfo> {
        let observation = Observation::start(Operation::Validate, None);
        let attempt = || {
            let keys = self.keys();
            let presented = keys.minter.parse(TokenKind::Access, access_token)?;
            self.inner.backend.read_single(|kv| {
                let token = ops::family::load_token(&Sealed::new(kv, &keys.seal), &presented)?;
                let now = self.inner.time.now(kv.database_time());
                ops::validate::validate_for(token, now, resource)
            })
        };
        let result = match attempt() {
            // Minted under a key another node just added (R28).
            Err(Error::InactiveToken)
                if self.caught_up_after_miss(Some((TokenKind::Access, access_token))) =>
            {
                attempt()
            }
            result => result,
        };
        observation.finish(&result, None);
        result
    }

    /// RFC 7662 introspection of an access or refresh token (R13).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// let seen = store.introspect(tokens.access_token.expose())?;
    /// assert!(seen.active);
    /// assert_eq!(seen.sub.as_deref(), Some("alice"));
    /// assert!(!store.introspect("anything else")?.active);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn introspect(&self, token: &str) -> Result<Introspection> {
        let observation = Observation::start(Operation::Introspect, None);
        let result = match self.introspect_unobserved(token) {
            // Minted under a key another node just added (R28).
            Ok(seen)
                if !seen.active
                    && [TokenKind::Access, TokenKind::Refresh]
                        .into_iter()
                        .any(|kind| self.caught_up_after_miss(Some((kind, token)))) =>
            {
                self.introspect_unobserved(token)
            }
            result => result,
        };
        observation.finish(&result, None);
        result
    }

    fn introspect_unobserved(&self, token: &str) -> Result<Introspection> {
        let keys = self.keys();
        let Some((_, presented)) = ops::validate::parse_any(&keys.minter, token) else {
            return Ok(Introspection::inactive());
        };
        self.inner.backend.read_single(|kv| {
            let kv = &Sealed::new(kv, &keys.seal);
            let token = ops::family::load_token(kv, &presented)?;
            // The grant holds the sign-in data (R26): a second read.
            let grant = match &token {
                Some(token) => {
                    ops::family::load_grant(kv, ClientId(token.client), GrantId(token.grant))?
                        .map(|grant| grant.record)
                }
                None => None,
            };
            let now = self.inner.time.now(kv.database_time());
            Ok(ops::validate::introspect(
                token,
                grant,
                now,
                self.inner.config.issuer.as_deref(),
            ))
        })
    }

    // ----- expiry (R14) -----

    /// Removes everything expired, in batches of the configured size, one
    /// transaction each; returns the totals.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grantdb::{Config, GrantType, ManualClock, NewClient, Store};
    /// let clock = ManualClock::new(1_700_000_000);
    /// let store = Store::in_memory(Config::builder().clock(clock.handle()).build()?)?;
    /// let app = store.register_client(
    ///     &NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]),
    /// )?;
    /// store.issue_client_credentials(&app.client.id, None)?;
    /// clock.advance(86_400);
    /// let report = store.purge_expired()?;
    /// assert_eq!((report.access_tokens, report.grants), (1, 1));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn purge_expired(&self) -> Result<PurgeReport> {
        let mut total = PurgeReport::default();
        loop {
            let batch = self.purge_expired_batch(self.inner.config.purge_batch)?;
            total.add(&batch);
            if !batch.more {
                return Ok(total);
            }
        }
    }

    /// Removes up to `limit` expired entries in one transaction. `more` in the
    /// report says whether entries are left.
    pub fn purge_expired_batch(&self, limit: usize) -> Result<PurgeReport> {
        let limit = limit.max(1);
        let report = self.write(Operation::Purge, None, move |kv, ctx| {
            ops::purge::purge_batch(kv, ctx, limit)
        })?;
        crate::engine::observe::purged(report.removed());
        Ok(report)
    }

    // ----- listing and consent (R15, R17) -----

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
    /// ([`Error::MalformedScope`]): "consent to nothing" is never a reason to
    /// skip the prompt.
    pub fn has_consent(&self, subject: &str, client_id: &ClientId, scope: &Scope) -> Result<bool> {
        ops::check_requested_scope(scope)?;
        Ok(self
            .consent(subject, client_id)?
            .is_some_and(|consent| scope.is_subset(&consent.scope)))
    }

    // ----- inspection (for framework adapters) -----

    /// What a refresh of `refresh_token` would do now, without doing it:
    /// rotate it, yield a grace-period pair, or revoke its grant (R07, R08).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// let refresh = tokens.refresh_token.as_ref().map(|t| t.expose()).unwrap_or_default();
    /// assert!(matches!(store.refresh_state(refresh)?, RefreshState::Active(_)));
    /// store.refresh(refresh, &client_id, None)?;
    /// assert!(matches!(store.refresh_state(refresh)?, RefreshState::Reused(_)));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn refresh_state(&self, refresh_token: &str) -> Result<RefreshState> {
        self.read(Operation::Inspect, None, |kv, ctx| {
            ops::tokens::refresh_state(kv, ctx, refresh_token)
        })
    }

    /// Reads an authorization code without consuming it; `None` if it is
    /// malformed, unknown or expired.
    pub fn inspect_code(&self, code: &str) -> Result<Option<CodeInfo>> {
        self.read(Operation::Inspect, None, |kv, ctx| {
            ops::codes::inspect(kv, ctx, code)
        })
    }

    /// Reads one grant, with its host data.
    pub fn grant(&self, client_id: &ClientId, grant_id: &GrantId) -> Result<Option<GrantSummary>> {
        self.read(Operation::Inspect, Some(client_id), |kv, _| {
            ops::listing::grant(kv, client_id, grant_id)
        })
    }

    // ----- operators -----

    /// Revokes a token on an operator's behalf, whichever client holds it:
    /// an access token alone (R09), a refresh token with its grant (R10).
    pub fn revoke_token_as_operator(&self, token: &str) -> Result<Revocation> {
        let presented = Zeroizing::new(token.to_owned());
        self.write(Operation::Operator, None, move |kv, ctx| {
            ops::revoke::revoke_token(kv, ctx, &presented, None)
        })
    }

    /// Counts clients, grants, tokens by state, codes and consents, in one
    /// snapshot. Reads every token once.
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
    /// let stats = store.stats()?;
    /// assert_eq!((stats.clients, stats.grants, stats.live_access_tokens), (1, 1, 1));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn stats(&self) -> Result<StoreStats> {
        let mut stats = self.read(Operation::Operator, None, |kv, ctx| {
            crate::ops::admin::stats(kv, ctx.now)
        })?;
        stats.store_time = self.now();
        stats.low_on_space = !self.inner.backend.may_grow();
        stats.clock_time = self.inner.time.clock_reading();
        Ok(stats)
    }

    /// What [`Store::purge_expired`] would remove now, without removing it.
    pub fn purge_preview(&self) -> Result<PurgeReport> {
        self.read(Operation::Operator, None, |kv, ctx| {
            crate::ops::admin::purge_preview(kv, ctx.now)
        })
    }

    /// Hands every entry of every table to `sink`, from one snapshot: a
    /// logical backup (see [`ExportEntry`] and [`crate::import`]). Damaged
    /// entries are skipped and counted.
    pub fn export(&self, sink: impl FnMut(ExportEntry) -> Result<()>) -> Result<ExportSummary> {
        self.read(Operation::Operator, None, |kv, _| {
            crate::ops::admin::export(kv, sink)
        })
    }

    // ----- integrity -----

    /// Checks every invariant of the stored data in one snapshot and reports
    /// each one broken (see [`VerifyReport`]). Never panics; an error means the
    /// database could not be read at all.
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
    /// assert!(store.verify()?.is_ok());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn verify(&self) -> Result<VerifyReport> {
        self.inner
            .backend
            .read(|kv| crate::ops::verify::verify(&Sealed::new(kv, &self.keys().seal)))
    }

    // ----- durability -----

    /// Starts purging expired entries in this process every `interval`, on a
    /// thread of its own, in bounded batches (each one transaction of at most
    /// `purge_batch_size` entries, holding the write lock at most
    /// `purge_batch_time`): the in-process counterpart of `grantdb purge`.
    /// Purging stops when the handle is dropped; the handle keeps the store
    /// open meanwhile.
    ///
    /// ```
    /// # use grantdb::{Config, Store};
    /// let store = Store::in_memory(Config::default())?;
    /// let maintenance = store.start_maintenance(std::time::Duration::from_secs(60));
    /// // ... serve requests ...
    /// drop(maintenance); // stops purging
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn start_maintenance(&self, interval: std::time::Duration) -> Maintenance {
        let state = Arc::new(Mutex::new(MaintenanceState::default()));
        let store = self.clone();
        let seen = Arc::clone(&state);
        let thread = Periodic::start("gdbpurge", interval, move || {
            // Key-ring changes another node of a fleet made are learnt here
            // too; a ring this node cannot follow (a key it lacks) keeps
            // the set it has, and says so in the state.
            let reloaded = store.reload_hashing_keys();
            let outcome = store.purge_expired();
            let mut state = seen.lock();
            state.runs += 1;
            match outcome {
                Ok(report) => {
                    state.last_report = Some(report);
                    state.last_error = None;
                }
                Err(error) => state.last_error = Some(error.to_string()),
            }
            if let Err(error) = reloaded {
                state.last_error = Some(error.to_string());
            }
            true
        });
        Maintenance {
            state,
            _thread: thread,
        }
    }

    /// How many write transactions carried how many operations (group commit).
    pub fn write_stats(&self) -> WriteStats {
        self.inner.commits.stats()
    }

    /// Makes every committed operation durable now (useful in
    /// [`Durability::Fast`] mode; a no-op cost in durable mode).
    pub fn flush(&self) -> Result<()> {
        self.inner.unflushed.store(true, Ordering::SeqCst);
        self.inner.flush_unflushed()
    }
}

/// The in-process purge started by [`Store::start_maintenance`]; dropping it
/// stops it (and waits for a purge in progress).
pub struct Maintenance {
    state: Arc<Mutex<MaintenanceState>>,
    _thread: Periodic,
}

#[derive(Default)]
struct MaintenanceState {
    runs: u64,
    last_report: Option<PurgeReport>,
    last_error: Option<String>,
}

impl Maintenance {
    /// Purges run so far.
    pub fn runs(&self) -> u64 {
        self.state.lock().runs
    }

    /// What the last successful purge removed.
    pub fn last_report(&self) -> Option<PurgeReport> {
        self.state.lock().last_report
    }

    /// Why the last purge failed, if it did (the next one tries again).
    pub fn last_error(&self) -> Option<String> {
        self.state.lock().last_error.clone()
    }
}

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance")
            .field("runs", &self.runs())
            .finish_non_exhaustive()
    }
}

/// What each writing operation does to the database's size.
fn write_kind(operation: Operation) -> WriteKind {
    match operation {
        Operation::Revoke
        | Operation::Operator
        | Operation::RevokeGrant
        | Operation::WithdrawConsent => WriteKind::Frees,
        Operation::DeleteClient
        | Operation::RevokeSubject
        | Operation::RevokeClientGrants
        | Operation::RevokeSubjectAtClient
        | Operation::RevokeSession
        | Operation::Purge
        // A key-ring change: rare, and removing a key re-seals records.
        | Operation::KeyRing => WriteKind::FreesAlone,
        _ => WriteKind::Grows,
    }
}

/// The strings a writing operation mints when it succeeds, minted ahead on
/// the caller's thread (see [`crate::engine::premint`]).
fn minted_by(operation: Operation) -> &'static [TokenKind] {
    match operation {
        Operation::IssueForSubject | Operation::Refresh | Operation::ExchangeCode => {
            &[TokenKind::Access, TokenKind::Refresh]
        }
        Operation::IssueClientCredentials => &[TokenKind::Access],
        Operation::IssueCode => &[TokenKind::Code],
        _ => &[],
    }
}

/// What a write does to the database's size, and how it is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    /// May grow the database; shares a transaction with concurrent writers.
    Grows,
    /// Frees space (a revocation); shares a transaction.
    Frees,
    /// Frees space and may write a great deal (bulk revocation, purge,
    /// client deletion): a transaction of its own.
    FreesAlone,
}

/// A [`CodeExchange`] with owned strings, so that it can travel to the
/// group-commit leader.
struct OwnedExchange {
    code: Zeroizing<String>,
    client_id: ClientId,
    redirect_uri: Option<String>,
    code_verifier: Option<Zeroizing<String>>,
    resources: Vec<String>,
    confirmation: Option<Confirmation>,
}

impl OwnedExchange {
    fn from(exchange: &CodeExchange<'_>) -> OwnedExchange {
        OwnedExchange {
            code: Zeroizing::new(exchange.code.to_owned()),
            client_id: exchange.client_id,
            redirect_uri: exchange.redirect_uri.map(str::to_owned),
            code_verifier: exchange.code_verifier.map(|v| Zeroizing::new(v.to_owned())),
            resources: exchange.resources.to_vec(),
            confirmation: exchange.confirmation.cloned(),
        }
    }

    fn borrow(&self) -> CodeExchange<'_> {
        CodeExchange {
            code: &self.code,
            client_id: self.client_id,
            redirect_uri: self.redirect_uri.as_deref(),
            code_verifier: self.code_verifier.as_deref().map(String::as_str),
            resources: &self.resources,
            confirmation: self.confirmation.as_ref(),
        }
    }
}

/// A [`RefreshRequest`] with owned values, for the group-commit leader.
struct OwnedRefresh {
    refresh_token: Zeroizing<String>,
    client_id: ClientId,
    scope: Option<Scope>,
    resources: Vec<String>,
    confirmation: Option<Confirmation>,
}

impl OwnedRefresh {
    fn from(request: &RefreshRequest<'_>) -> OwnedRefresh {
        OwnedRefresh {
            refresh_token: Zeroizing::new(request.refresh_token.to_owned()),
            client_id: request.client_id,
            scope: request.scope.cloned(),
            resources: request.resources.to_vec(),
            confirmation: request.confirmation.cloned(),
        }
    }

    fn borrow(&self) -> RefreshRequest<'_> {
        RefreshRequest {
            refresh_token: &self.refresh_token,
            client_id: self.client_id,
            scope: self.scope.as_ref(),
            resources: &self.resources,
            confirmation: self.confirmation.as_ref(),
        }
    }
}
