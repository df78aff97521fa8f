//! Rotating the hashing key, on the store (R28, R29): list the ring, add a
//! key (it mints from then on), retire one (what was minted under it stops
//! working), remove a retired one (its records are re-sealed first), and
//! learn changes another node made. The ring itself is described in
//! [`crate::engine::keyring`].

use std::ops::ControlFlow;

use crate::api::store::Store;
use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::HashingKey;
use crate::engine::keyring::{self, KeyEntry, KeyId, KeyInfo, KeySet, KeyState};
use crate::engine::observe::Operation;
use crate::error::{Error, Result};
use crate::kv::table::Table;
use crate::kv::{Backend, KeyRange, KvWrite};
use crate::record::{ClientRecord, JtiRecord, Records};

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
        self.read(Operation::KeyRing, None, |kv, _| {
            let entries = keyring::read_entries(kv)?;
            let secrets = client_secrets_by_key(kv)?;
            let minting = minting_id(&entries);
            Ok(entries
                .iter()
                .map(|entry| KeyInfo {
                    id: KeyId::new(entry.id),
                    fingerprint: crate::KeyFingerprint(entry.fingerprint),
                    state: entry.state,
                    minting: Some(entry.id) == minting,
                    kept_in_database: entry.kept.is_some(),
                    client_secrets: secrets[usize::from(entry.id)],
                })
                .collect())
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
    /// let app = store.register_client(&NewClient::confidential("prioticket")
    ///     .grant_types([GrantType::ClientCredentials]))?;
    /// let before = store.issue_client_credentials(&app.client.id, None)?;
    /// let added = store.add_hashing_key(Some(HashingKey::generate()?))?;
    /// assert_eq!((added.id, added.minting), (KeyId::new(2), true));
    /// // Minted under key 1, still valid; new tokens are minted under key 2.
    /// assert!(store.validate(before.access_token.expose()).is_ok());
    /// let after = store.issue_client_credentials(&app.client.id, None)?;
    /// assert!(store.validate(after.access_token.expose()).is_ok());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn add_hashing_key(&self, key: Option<HashingKey>) -> Result<KeyInfo> {
        let supplied = key.clone();
        let added = self.change_keys(
            || {
                self.write(Operation::KeyRing, None, move |kv, _| {
                    add_entry(kv, supplied.clone())
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
    /// # let app = store.register_client(&NewClient::confidential("prioticket")
    /// #     .grant_types([GrantType::ClientCredentials]))?;
    /// let old = store.issue_client_credentials(&app.client.id, None)?;
    /// store.add_hashing_key(Some(HashingKey::generate()?))?;
    /// store.retire_hashing_key(KeyId::new(1))?;
    /// assert!(matches!(store.validate(old.access_token.expose()), Err(Error::InactiveToken)));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn retire_hashing_key(&self, id: KeyId) -> Result<KeyInfo> {
        let id = id.get();
        self.change_keys(
            || {
                self.write(Operation::KeyRing, None, move |kv, _| {
                    let mut entries = keyring::read_entries(kv)?;
                    let actives = entries
                        .iter()
                        .filter(|e| e.state == KeyState::Active)
                        .count();
                    let entry = find(&mut entries, id)?;
                    if entry.state != KeyState::Active {
                        return Err(Error::KeyRing {
                            reason: "only an active key can be retired",
                        });
                    }
                    if actives == 1 {
                        return Err(Error::KeyRing {
                            reason: "the last active key cannot be retired: add its successor first",
                        });
                    }
                    entry.state = KeyState::Retired;
                    keyring::write_entry(kv, entry)
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
                self.write(Operation::KeyRing, None, move |kv, ctx| {
                    let mut entries = keyring::read_entries(kv)?;
                    let entry = find(&mut entries, id)?;
                    if entry.state != KeyState::Retired {
                        return Err(Error::KeyRing {
                            reason: "only a retired key can be removed: retire it first",
                        });
                    }
                    if proof_ids_still_claimed_under(kv, id, ctx.now)? {
                        return Err(Error::KeyRing {
                            reason: "DPoP proof ids claimed under this key have not expired \
                                     yet (at most an hour after it was retired): remove it later",
                        });
                    }
                    let resealed = crate::engine::migrate::reseal_under_newest(kv, ctx.seal, id)?;
                    entry.state = KeyState::Removed;
                    entry.kept = None;
                    keyring::write_entry(kv, entry)?;
                    Ok(resealed)
                })
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

    /// After a miss (a string or secret that did not verify), whether the
    /// store was behind a ring change another node made and has caught up,
    /// so that the operation is worth one more try: for a string naming a
    /// key this store has never seen (`presented`), or, for a client
    /// secret, whenever the ring in the database differs from the store's.
    pub(crate) fn caught_up_after_miss(&self, presented: Option<(TokenKind, &str)>) -> bool {
        let keys = self.keys();
        let behind = match presented {
            Some((kind, text)) => keys
                .minter
                .key_id_of(kind, text)
                .is_some_and(|id| !keys.knows_key(id)),
            None => self
                .backend()
                .read(|kv| keyring::read_entries(kv))
                .is_ok_and(|entries| keys.is_behind(&entries)),
        };
        behind && self.reload_hashing_keys().is_ok()
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

/// Adds an entry for `key` (or a generated key kept in the database) with
/// the next id. Returns the id.
fn add_entry(kv: &mut impl KvWrite, key: Option<HashingKey>) -> Result<u8> {
    let entries = keyring::read_entries(kv)?;
    let id = entries
        .iter()
        .map(|e| e.id)
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .ok_or(Error::KeyRing {
            reason: "a database uses at most 255 keys over its life",
        })?;
    let (key, kept) = match key {
        Some(key) => (key, false),
        None if entries
            .iter()
            .all(|e| e.kept.is_some() || e.state == KeyState::Removed) =>
        {
            (HashingKey::generate()?, true)
        }
        None => {
            return Err(Error::KeyRing {
                reason: "this database's keys come from the host: pass the new key",
            });
        }
    };
    let fingerprint = key.fingerprint_bytes();
    if entries.iter().any(|e| e.fingerprint == fingerprint) {
        return Err(Error::KeyRing {
            reason: "this key is (or was) in the ring already",
        });
    }
    keyring::write_entry(
        kv,
        &KeyEntry {
            id,
            fingerprint,
            state: KeyState::Active,
            kept: kept.then_some(key),
        },
    )?;
    Ok(id)
}

/// The entry with id `id`.
fn find(entries: &mut [KeyEntry], id: u8) -> Result<&mut KeyEntry> {
    entries
        .iter_mut()
        .find(|e| e.id == id)
        .ok_or(Error::KeyRing {
            reason: "no key with this id",
        })
}

/// The id of the key that mints: the active key with the highest id.
fn minting_id(entries: &[KeyEntry]) -> Option<u8> {
    entries
        .iter()
        .filter(|e| e.state == KeyState::Active)
        .map(|e| e.id)
        .max()
}

/// Whether a proof id claimed under key `id` could still be replayed: once
/// the key is gone its ids cannot be computed, so the replay would pass.
fn proof_ids_still_claimed_under(kv: &impl Records, id: u8, now: u64) -> Result<bool> {
    let mut claimed = false;
    kv.scan(Table::ProofJtis, &KeyRange::all(), |key, value| {
        let decoded = crate::record::decode_in::<JtiRecord>(Some(kv.seal()), key, value);
        claimed = decoded.is_ok_and(|seen| seen.ext.key_id() == id && now < seen.until);
        Ok(if claimed {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })?;
    Ok(claimed)
}

/// How many client secrets are hashed under each key id (index = id).
/// Damaged client records are not counted.
fn client_secrets_by_key(kv: &impl Records) -> Result<Vec<u64>> {
    let mut counts = vec![0u64; 256];
    kv.scan(Table::Clients, &KeyRange::all(), |key, value| {
        let decoded = crate::record::decode_in::<ClientRecord>(Some(kv.seal()), key, value);
        if let Ok(client) = decoded
            && client.secret_hash.is_some()
        {
            counts[usize::from(client.ext.secret_key_id())] += 1;
        }
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(counts)
}
