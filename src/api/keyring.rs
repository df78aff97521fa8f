//! Rotating the hashing key, on the store (R28, R29): list the ring, add a
//! key (it mints from then on), retire one (what was minted under it stops
//! working), remove a retired one (its records are re-sealed first), and
//! learn changes another node made. The ring itself is described in
//! [`crate::engine::keyring`].

use crate::api::store::Store;
use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::HashingKey;
use crate::engine::keyring::{self, KeySet};
use crate::error::{Error, Result};
use crate::kv::Backend;
use crate::model::feed::ChangeKind;
use crate::model::key_info::{KeyId, KeyInfo};
use crate::ops;

impl<B: Backend> Store<B> {
    /// The keys of the ring, by id: their fingerprints, states, which one
    /// mints, and how many client secrets are still hashed under each.
    ///
    /// ```
    /// # use grantdb::*;
    /// let store = Store::in_memory(Config::builder().hashing_key(HashingKey::generate()?).build()?)?;
    /// let keys = store.hashing_keys()?;
    /// assert_eq!((keys.len(), keys[0].id, keys[0].minting), (1, KeyId::new(1), true));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn hashing_keys(&self) -> Result<Vec<KeyInfo>> {
        self.read(&ops::keyring::READ, None, |kv, ctx| {
            ops::keyring::list(kv, ctx.now)
        })
    }

    /// Adds a key to the ring (R28): from now on every new token, code and
    /// client secret is minted under it and every record written is sealed
    /// under it; strings minted under the older active keys keep working,
    /// and a refresh re-mints under the new key.
    ///
    /// `key` is the host's new key (keep it in the configured ring from now
    /// on: [`ConfigBuilder::hashing_keys`](crate::ConfigBuilder::hashing_keys));
    /// `None` generates one and keeps it in the database, which only a
    /// database whose keys are all kept there (the quickstart default) allows.
    ///
    /// ```
    /// # use grantdb::*;
    /// let first = HashingKey::generate()?;
    /// let store = Store::in_memory(Config::builder().hashing_key(first).build()?)?;
    /// let app = store.register_client(NewClient::confidential("prioticket")
    ///     .grant_types([GrantType::ClientCredentials]))?;
    /// let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let before = store.issue_client_credentials(ClientCredentialsRequest::new(&client))?;
    /// let added = store.add_hashing_key(Some(HashingKey::generate()?))?;
    /// assert_eq!((added.id, added.minting), (KeyId::new(2), true));
    /// // Minted under key 1, still valid; new tokens are minted under key 2.
    /// assert!(store.validate(before.access_token.expose()).is_ok());
    /// let after = store.issue_client_credentials(ClientCredentialsRequest::new(&client))?;
    /// assert!(store.validate(after.access_token.expose()).is_ok());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn add_hashing_key(&self, key: Option<HashingKey>) -> Result<KeyInfo> {
        let supplied = key.clone();
        let added = self.change_keys(
            || {
                self.write(&ops::keyring::CHANGE, None, move |kv, ctx| {
                    let id = ops::keyring::add_entry(kv, supplied.clone(), ctx.now)?;
                    ops::keyring::note_change(kv, ChangeKind::KeyAdded, id);
                    Ok(id)
                })
            },
            |keys| keys.host_keys().into_iter().chain(key).collect(),
        )?;
        self.info_of(added)
    }

    /// Retires a key (R29): strings minted under it stop working at once on
    /// this store (tokens, codes, and client secrets still hashed under it:
    /// [`KeyInfo::client_secrets`] counts them). Records sealed under it
    /// still read, so the host keeps it in its ring until
    /// [`remove_hashing_key`](Self::remove_hashing_key). The last active key
    /// cannot be retired: add its successor first.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::builder().hashing_key(HashingKey::generate()?).build()?)?;
    /// # let app = store.register_client(NewClient::confidential("prioticket")
    /// #     .grant_types([GrantType::ClientCredentials]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let old = store.issue_client_credentials(ClientCredentialsRequest::new(&client))?;
    /// store.add_hashing_key(Some(HashingKey::generate()?))?;
    /// store.retire_hashing_key(KeyId::new(1))?;
    /// assert!(matches!(store.validate(old.access_token.expose()), Err(Error::InactiveToken)));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn retire_hashing_key(&self, id: KeyId) -> Result<KeyInfo> {
        let id = id.get();
        self.change_keys(
            || {
                self.write(&ops::keyring::CHANGE, None, move |kv, _| {
                    ops::keyring::retire(kv, id)?;
                    ops::keyring::note_change(kv, ChangeKind::KeyRetired, id);
                    Ok(())
                })
            },
            KeySet::host_keys,
        )?;
        self.info_of(id)
    }

    /// Removes a retired key (R29): re-seals, under the sealing key, every
    /// record still sealed under it (one transaction; its cost grows with
    /// the database), then forgets the key, keeping only its fingerprint.
    /// Afterwards the host may drop the key from its ring. Returns how many
    /// records were re-sealed.
    ///
    /// In a fleet, remove a key only once every node has learnt that it is
    /// retired (see [`reload_hashing_keys`](Self::reload_hashing_keys)).
    pub fn remove_hashing_key(&self, id: KeyId) -> Result<u64> {
        let id = id.get();
        self.change_keys(
            || {
                // Re-sealed in steps of bounded work (each its own
                // transaction), then removed in one more.
                let mut resealed = 0;
                let mut cursor = Some(crate::engine::migrate::ResealCursor::default());
                while let Some(from) = cursor {
                    let (done, next) =
                        self.write(&ops::keyring::CHANGE, None, move |kv, ctx| {
                            ops::keyring::reseal_step(kv, ctx, id, from.clone())
                        })?;
                    resealed += done;
                    cursor = next;
                }
                self.write(&ops::keyring::CHANGE, None, move |kv, ctx| {
                    ops::keyring::remove(kv, ctx, id)?;
                    ops::keyring::note_change(kv, ChangeKind::KeyRemoved, id);
                    Ok(())
                })?;
                Ok(resealed)
            },
            KeySet::host_keys,
        )
    }

    /// Reads the ring from the database again and works with it from now
    /// on: how a node of a fleet learns a key another node added, retired or
    /// removed. [`start_maintenance`](Self::start_maintenance) calls it every
    /// interval. If the ring names a key this store was not given
    /// ([`Error::MissingHashingKeys`]), the store keeps the set it has.
    pub fn reload_hashing_keys(&self) -> Result<()> {
        self.change_keys(|| Ok(()), KeySet::host_keys)
    }

    /// Runs `attempt`; when its answer is a miss (`missed`) that a key
    /// another node of a fleet just added could explain (R28), learns the
    /// ring and runs it once more. The one place the catch-up is written:
    /// validation, introspection, refresh and client authentication use it.
    pub(crate) fn retry_after_key_miss<T>(
        &self,
        miss: Option<Miss<'_>>,
        missed: impl Fn(&Result<T>) -> bool,
        attempt: impl Fn() -> Result<T>,
    ) -> Result<T> {
        let first = attempt();
        match miss {
            Some(miss) if missed(&first) && self.caught_up_after(&miss) => attempt(),
            _ => first,
        }
    }

    /// After `miss`, whether the store was behind a ring change another
    /// node made and has caught up, so that the operation is worth one more
    /// try: for a string naming a key this store has never seen, or, for a
    /// well-formed client secret, whenever the ring in the database differs
    /// from the store's.
    fn caught_up_after(&self, miss: &Miss<'_>) -> bool {
        // Within the interval of the last catch-up, nothing to look at: a
        // flood of misses costs one atomic load each.
        if !self.catch_up_due() {
            return false;
        }
        let keys = self.keys();
        let behind = match *miss {
            Miss::Strings(kinds, text) => {
                kinds.iter().any(|&kind| {
                    keys.minter
                        .key_id_of(kind, text)
                        .is_some_and(|id| !keys.knows_key(id))
                }) && self.may_catch_up()
            }
            Miss::ClientSecret(secret) => {
                keys.minter
                    .key_id_of(TokenKind::ClientSecret, secret)
                    .is_some()
                    && self.may_catch_up()
                    && self
                        .backend()
                        .read(|kv| keyring::read_entries(kv))
                        .is_ok_and(|entries| keys.is_behind(&entries))
            }
        };
        behind && self.reload_hashing_keys().is_ok()
    }

    /// Nanoseconds since [`EPOCH`], plus one (0 is "never").
    fn catch_up_clock() -> u64 {
        let epoch = *EPOCH.get_or_init(std::time::Instant::now);
        u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Whether the last catch-up is older than [`CATCH_UP_EVERY`] (a load,
    /// no lock).
    fn catch_up_due(&self) -> bool {
        let last = self
            .inner
            .caught_up_at
            .load(std::sync::atomic::Ordering::Relaxed);
        let every = u64::try_from(CATCH_UP_EVERY.as_nanos()).unwrap_or(u64::MAX);
        last == 0 || Self::catch_up_clock().saturating_sub(last) >= every
    }

    /// Whether a miss may read the ring again now: at most once per
    /// [`CATCH_UP_EVERY`]; of callers arriving together, one wins. Strings
    /// that name a key nobody added (forged, or a flood) then cost what a
    /// malformed token costs; a key another node really added is learnt
    /// within that time (and at the next maintenance reload anyway).
    fn may_catch_up(&self) -> bool {
        use std::sync::atomic::Ordering;
        let last = self.inner.caught_up_at.load(Ordering::Relaxed);
        let now = Self::catch_up_clock();
        let every = u64::try_from(CATCH_UP_EVERY.as_nanos()).unwrap_or(u64::MAX);
        (last == 0 || now.saturating_sub(last) >= every)
            && self
                .inner
                .caught_up_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// The listing of key `id`.
    fn info_of(&self, id: u8) -> Result<KeyInfo> {
        self.hashing_keys()?
            .into_iter()
            .find(|info| info.id.get() == id)
            .ok_or(Error::KeyRing {
                reason: "no key with this id",
            })
    }
}

/// The process's reference instant for [`Inner::caught_up_at`].
static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// The least time between two ring reads a miss causes (R28).
pub(crate) const CATCH_UP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What an operation failed to verify, for the key-ring catch-up (R28).
pub(crate) enum Miss<'a> {
    /// A string of one of these kinds (it names the key it was minted under).
    Strings(&'a [TokenKind], &'a str),
    /// A client secret (its record names the key it is hashed under).
    ClientSecret(&'a str),
}
