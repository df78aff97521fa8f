//! The hashing-key ring: several keys, each with a one-byte id, so that a
//! key can be replaced without logging anyone out.
//!
//! The database keeps one `grantdb_meta` entry per key it has ever used,
//! under `hashing_key/<id>`:
//!
//! ```text
//! fingerprint (16 bytes) ‖ state (1 byte) ‖ key (32 bytes, only for a key
//!                                               the store generated itself)
//! ```
//!
//! * **Active** keys are accepted: a string names its key (see
//!   [`crate::crypto::secret`]) and verifies under it. The active key with the
//!   highest id mints every new token, code and client secret; the active
//!   key with the lowest id seals every record written (so that adding a
//!   key changes no seal: see [`KeySet::build`]).
//! * A **retired** key is no longer accepted: what was minted under it stops
//!   validating. Records sealed under it still check, so the host keeps it
//!   in its ring until the key is removed.
//! * **Removing** a retired key re-seals the records still sealed under it;
//!   its entry keeps the fingerprint (state removed, key material dropped),
//!   so the database remembers every key it has used.
//!
//! The host hands its keys to [`ConfigBuilder::hashing_keys`] in any order:
//! they are matched to the entries by fingerprint. A key the database does
//! not know yet is held back until [`Store::add_hashing_key`] registers it
//! (on this node or, in a fleet, another one: see [`Store::reload_hashing_keys`]).
//!
//! [`ConfigBuilder::hashing_keys`]: crate::ConfigBuilder::hashing_keys
//! [`Store::add_hashing_key`]: crate::Store::add_hashing_key
//! [`Store::reload_hashing_keys`]: crate::Store::reload_hashing_keys

use std::ops::ControlFlow;

use zeroize::Zeroizing;

use crate::crypto::kinds::KeyFingerprint;
use crate::crypto::secret::{HashingKey, Minter, TokenPrefixes};
use crate::error::{Error, Result};
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvRead, KvWrite};
use crate::model::key_info::KeyState;
use crate::record::Seal;

/// The prefix of a key's meta entry; the key id follows.
const ENTRY_PREFIX: &[u8] = b"hashing_key/";
/// Format 3 and older: the one key's fingerprint and, for a generated key,
/// the key itself. Adopted as key 1 when such a database is opened.
const LEGACY_FINGERPRINT: &[u8] = b"key_fingerprint";
const LEGACY_GENERATED: &[u8] = b"generated_key";

/// A key's meta entry.
#[derive(Clone)]
pub(crate) struct KeyEntry {
    pub id: u8,
    pub fingerprint: [u8; 16],
    pub state: KeyState,
    /// The key itself, for a key the store generated.
    pub kept: Option<HashingKey>,
    /// When the key was added to a running store (store time, Unix
    /// seconds): from then until the next key was added, it minted every
    /// new string. `None` for the keys a database was created with, and for
    /// keys added by an earlier version.
    pub added_at: Option<u64>,
}

impl KeyEntry {
    fn meta_key(id: u8) -> Vec<u8> {
        let mut key = ENTRY_PREFIX.to_vec();
        key.push(id);
        key
    }

    /// `fingerprint ‖ state ‖ [kept key, 32 bytes] ‖ [added_at, 8 bytes]`:
    /// the optional parts tell apart by length (0, 8, 32 or 40 bytes).
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut value = Zeroizing::new(Vec::with_capacity(16 + 1 + 32 + 8));
        value.extend_from_slice(&self.fingerprint);
        value.push(self.state.tag());
        if let Some(key) = &self.kept {
            value.extend_from_slice(key.bytes());
        }
        if let Some(at) = self.added_at {
            value.extend_from_slice(&at.to_be_bytes());
        }
        value
    }

    fn decode(id: u8, value: &[u8]) -> Option<KeyEntry> {
        let (fingerprint, rest) = value.split_first_chunk::<16>()?;
        let (&state, rest) = rest.split_first()?;
        let (kept, added_at) = match rest.len() {
            0 => (None, None),
            8 => (None, Some(rest)),
            32 => (Some(rest), None),
            40 => (Some(&rest[..32]), Some(&rest[32..])),
            _ => return None,
        };
        let kept = kept.map(HashingKey::from_slice).transpose().ok()?;
        let added_at = added_at
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map(u64::from_be_bytes);
        Some(KeyEntry {
            id,
            fingerprint: *fingerprint,
            state: KeyState::from_tag(state)?,
            kept,
            added_at,
        })
    }
}

/// Every key entry of the database, by ascending id.
pub(crate) fn read_entries(kv: &impl KvRead) -> Result<Vec<KeyEntry>> {
    let mut entries = Vec::new();
    let mut damaged = false;
    kv.scan(
        Table::Meta,
        &KeyRange::prefix(ENTRY_PREFIX),
        |key, value| {
            let entry = match key.strip_prefix(ENTRY_PREFIX) {
                Some(&[id]) => KeyEntry::decode(id, value),
                _ => None,
            };
            match entry {
                Some(entry) => entries.push(entry),
                None => damaged = true,
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    if damaged {
        return Err(Error::NotAGrantdbDatabase);
    }
    Ok(entries)
}

/// Writes (or overwrites) a key's meta entry.
pub(crate) fn write_entry(kv: &mut impl KvWrite, entry: &KeyEntry) -> Result<()> {
    kv.put(Table::Meta, &KeyEntry::meta_key(entry.id), &entry.encode())
}

/// The entries of a new database: the host's keys in the order given (ids
/// 1, 2, …), or one generated key kept in the file.
pub(crate) fn initialise(kv: &mut impl KvWrite, supplied: &[HashingKey]) -> Result<()> {
    let generated;
    let keys: Vec<(&HashingKey, bool)> = if supplied.is_empty() {
        // The quickstart default: a random key kept in the file itself.
        generated = HashingKey::generate()?;
        vec![(&generated, true)]
    } else {
        supplied.iter().map(|key| (key, false)).collect()
    };
    if keys.len() > usize::from(u8::MAX) {
        return Err(Error::KeyRing {
            reason: "a ring holds at most 255 keys",
        });
    }
    for (id, (key, kept)) in (1..=u8::MAX).zip(keys) {
        write_entry(
            kv,
            &KeyEntry {
                id,
                fingerprint: key.fingerprint_bytes(),
                state: KeyState::Active,
                kept: kept.then(|| key.clone()),
                added_at: None,
            },
        )?;
    }
    Ok(())
}

/// A database of format 3 or older has one key, kept as a fingerprint (and
/// the key itself when generated): it becomes key 1, active.
pub(crate) fn adopt_legacy_key(kv: &mut impl KvWrite) -> Result<()> {
    let Some(fingerprint) = kv.get(Table::Meta, LEGACY_FINGERPRINT, <[u8]>::to_vec)? else {
        return Ok(());
    };
    let fingerprint: [u8; 16] = fingerprint
        .try_into()
        .map_err(|_| Error::NotAGrantdbDatabase)?;
    let kept = kv
        .get(Table::Meta, LEGACY_GENERATED, HashingKey::from_slice)?
        .transpose()
        .map_err(|_| Error::NotAGrantdbDatabase)?;
    write_entry(
        kv,
        &KeyEntry {
            id: 1,
            fingerprint,
            state: KeyState::Active,
            kept,
            added_at: None,
        },
    )?;
    kv.delete(Table::Meta, LEGACY_FINGERPRINT)?;
    kv.delete(Table::Meta, LEGACY_GENERATED)?;
    Ok(())
}

/// What a store works with: the keys it accepts and mints under, the seal,
/// and the host's keys the database does not know yet.
pub(crate) struct KeySet {
    pub minter: Minter,
    pub seal: Seal,
    /// The entries the set was built from.
    pub entries: Vec<KeyEntry>,
    /// The material of every key not removed, by id.
    material: Vec<(u8, KeyState, HashingKey)>,
    /// Host keys not (yet) in the database.
    held_back: Vec<HashingKey>,
}

impl KeySet {
    /// Matches the host's keys (and those the database keeps) to the
    /// database's entries. Every key not removed must be there; the error
    /// names the missing fingerprints.
    pub(crate) fn build(
        entries: Vec<KeyEntry>,
        supplied: &[HashingKey],
        prefixes: &TokenPrefixes,
    ) -> Result<KeySet> {
        let mut material: Vec<(u8, KeyState, HashingKey)> = Vec::new();
        let mut missing = Vec::new();
        let mut matched_any = false;
        for entry in entries.iter().filter(|e| e.state != KeyState::Removed) {
            let host_key = supplied
                .iter()
                .find(|key| key.fingerprint_bytes() == entry.fingerprint);
            matched_any |= host_key.is_some();
            match host_key.or(entry.kept.as_ref()) {
                Some(key) => material.push((entry.id, entry.state, key.clone())),
                None => missing.push(KeyFingerprint(entry.fingerprint)),
            }
        }
        // A ring that shares no key with the database is the wrong ring (a
        // key the database does not know is only held back beside known ones).
        if !supplied.is_empty() && !matched_any {
            return Err(Error::WrongHashingKey);
        }
        if !missing.is_empty() {
            let kept_any = entries.iter().any(|e| e.kept.is_some());
            return Err(if supplied.is_empty() && !kept_any {
                Error::HashingKeyRequired
            } else {
                Error::MissingHashingKeys {
                    fingerprints: missing,
                }
            });
        }
        let active: Vec<(u8, HashingKey)> = material
            .iter()
            .filter(|(_, state, _)| *state == KeyState::Active)
            .map(|(id, _, key)| (*id, key.clone()))
            .collect();
        let retired = material
            .iter()
            .filter(|(_, state, _)| *state == KeyState::Retired)
            .map(|(id, _, key)| (*id, key.clone()))
            .collect();
        let minter = Minter::with_keys(active, retired, prefixes.clone())
            .ok_or(Error::NotAGrantdbDatabase)?;
        // Records are sealed under the *oldest* active key, strings minted
        // under the newest: adding a key then changes no seal, so a node of
        // a fleet that has not learnt the new key yet still reads every
        // record; it learns the key from the first string naming it. The
        // seal moves on when the oldest key is retired, by which time every
        // node knows its successor.
        let sealing = material
            .iter()
            .filter(|(_, state, _)| *state == KeyState::Active)
            .min_by_key(|(id, _, _)| *id)
            .map(|(id, _, key)| (*id, key))
            .ok_or(Error::NotAGrantdbDatabase)?;
        let seal = Seal::ring(sealing, material.iter().map(|(id, _, key)| (*id, key)));
        let held_back = supplied
            .iter()
            .filter(|key| {
                let fingerprint = key.fingerprint_bytes();
                !entries.iter().any(|e| e.fingerprint == fingerprint)
            })
            .cloned()
            .collect();
        Ok(KeySet {
            minter,
            seal,
            entries,
            material,
            held_back,
        })
    }

    /// Whether the database had recorded key `id` when this set was built.
    pub(crate) fn knows_key(&self, id: u8) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    /// Whether `entries` (read from the database now) differ from the ones
    /// this set was built from: another node changed the ring.
    pub(crate) fn is_behind(&self, entries: &[KeyEntry]) -> bool {
        entries.len() != self.entries.len()
            || entries
                .iter()
                .zip(&self.entries)
                .any(|(now, then)| now.id != then.id || now.state != then.state)
    }

    /// The host's keys, as handed in (the held-back ones included): what
    /// the set is rebuilt from after the ring changes.
    pub(crate) fn host_keys(&self) -> Vec<HashingKey> {
        let kept = |id: u8| self.entries.iter().any(|e| e.id == id && e.kept.is_some());
        self.material
            .iter()
            .filter(|(id, _, _)| !kept(*id))
            .map(|(_, _, key)| key.clone())
            .chain(self.held_back.iter().cloned())
            .collect()
    }
}
