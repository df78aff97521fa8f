//! The hashing-key ring's rules (R28, R29): listing the ring, adding a
//! key, retiring one (what it minted stops working), removing a retired one
//! (its records re-sealed first). The ring's storage and the key set built
//! from it are in `engine/keyring.rs`.

use std::ops::ControlFlow;

use crate::crypto::kinds::KeyFingerprint;
use crate::crypto::secret::HashingKey;
use crate::engine::ctx::Ctx;
use crate::engine::keyring::{self, KeyEntry};
use crate::engine::op::Op;
use crate::error::{Error, Result};
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvWrite};
use crate::model::feed::ChangeKind;
use crate::model::key_info::{KeyId, KeyInfo, KeyState};
use crate::record::feed::FeedNote;
use crate::record::{ClientRecord, JtiRecord, Records, RecordsMut};

/// Reading the key ring (R28).
pub(crate) const READ: Op = Op::read("key_ring");
/// Changing the key ring (R28, R29): rare, and removing a key re-seals records.
pub(crate) const CHANGE: Op = Op::frees_alone("key_ring");

/// The keys of the ring, by id, with how many client secrets each holds
/// and, at `now`, how many live tokens it minted.
pub(crate) fn list(kv: &impl Records, now: u64) -> Result<Vec<KeyInfo>> {
    let entries = keyring::read_entries(kv)?;
    let secrets = client_secrets_by_key(kv)?;
    let minting = minting_id(&entries);
    let spans = minting_spans(&entries);
    let live = live_tokens_by_span(kv, now, &spans)?;
    Ok(entries
        .iter()
        .zip(live)
        .map(|(entry, live_tokens)| KeyInfo {
            id: KeyId::new(entry.id),
            fingerprint: KeyFingerprint(entry.fingerprint),
            state: entry.state,
            minting: Some(entry.id) == minting,
            kept_in_database: entry.kept.is_some(),
            client_secrets: secrets[usize::from(entry.id)],
            live_tokens,
        })
        .collect())
}

/// When each key minted: from when it was added (or the start) until the
/// next key was added (or now), issue times in `[start, end]`; `None` when
/// that is not known (a next key added by an earlier version, or the keys a
/// database was created with). Keys mint in the order they were added.
fn minting_spans(entries: &[KeyEntry]) -> Vec<Option<(u64, u64)>> {
    entries
        .iter()
        .enumerate()
        .map(|(n, entry)| {
            // What a retired key minted no longer verifies: nothing left to end.
            if entry.state != KeyState::Active {
                return None;
            }
            let start = match (n, entry.added_at) {
                (0, _) => Some(0),
                (_, at) => at,
            }?;
            let end = match entries.get(n + 1) {
                None => Some(u64::MAX),
                Some(next) => next.added_at,
            }?;
            Some((start, end))
        })
        .collect()
}

/// Live access and refresh tokens issued within each span: the tokens each
/// key minted (a refresh mints under the newest key, at its own time).
fn live_tokens_by_span(
    kv: &impl Records,
    now: u64,
    spans: &[Option<(u64, u64)>],
) -> Result<Vec<Option<u64>>> {
    let mut counts: Vec<Option<u64>> = spans.iter().map(|span| span.map(|_| 0)).collect();
    if counts.iter().all(Option::is_none) {
        return Ok(counts);
    }
    kv.scan(Table::Tokens, &KeyRange::all(), |key, value| {
        let decoded =
            crate::record::decode_in::<crate::record::TokenRecord>(Some(kv.seal()), key, value);
        if let Ok(token) = decoded
            && token.is_live_at(now)
        {
            // Issue times are to the second: a token of the second a key
            // was added counts for both keys (an over-count is the safe
            // side of "what retiring it would end").
            for (span, count) in spans.iter().zip(counts.iter_mut()) {
                if let (Some((start, end)), Some(count)) = (span, count.as_mut())
                    && (*start..=*end).contains(&token.issued_at)
                {
                    *count += 1;
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(counts)
}

/// Retires key `id` (R29): refused for a key that is not active, and for
/// the last active one.
pub(crate) fn retire(kv: &mut impl KvWrite, id: u8) -> Result<()> {
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
}

/// Records a re-seal step looks at: some 20 ms of work, so that removing a
/// key from a large store never holds the write lock for long (R29).
pub(crate) const RESEAL_BUDGET: usize = 10_000;

/// Whether retired key `id` may be removed now: retired, and no DPoP proof
/// id claimed under it can still be replayed.
fn check_removable(kv: &impl Records, ctx: &Ctx<'_>, id: u8) -> Result<()> {
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
    Ok(())
}

/// One step of removing retired key `id` (R29): re-seals up to
/// [`RESEAL_BUDGET`] records sealed under it, from `from`. Returns the
/// records re-sealed and where to go on. New records are never sealed under
/// a retired key, so the steps together leave none under it.
pub(crate) fn reseal_step(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    id: u8,
    from: crate::engine::migrate::ResealCursor,
) -> Result<(u64, Option<crate::engine::migrate::ResealCursor>)> {
    check_removable(kv, ctx, id)?;
    crate::engine::migrate::reseal_some(kv, ctx.seal, id, from, RESEAL_BUDGET)
}

/// The last step of removing retired key `id`, once every record it sealed
/// is sealed again: keeps only its fingerprint.
pub(crate) fn remove(kv: &mut impl RecordsMut, ctx: &Ctx<'_>, id: u8) -> Result<()> {
    check_removable(kv, ctx, id)?;
    let mut entries = keyring::read_entries(kv)?;
    let entry = find(&mut entries, id)?;
    entry.state = KeyState::Removed;
    entry.kept = None;
    keyring::write_entry(kv, entry)
}

/// Adds an entry for `key` (or a generated key kept in the database) with
/// the next id. Returns the id.
pub(crate) fn add_entry(kv: &mut impl KvWrite, key: Option<HashingKey>, now: u64) -> Result<u8> {
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
            added_at: Some(now),
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

/// Notes a change of the ring for the change feed (R33): key `id` was
/// added, retired or removed.
pub(crate) fn note_change(kv: &impl Records, kind: ChangeKind, id: u8) {
    super::feed::note(kv, || FeedNote {
        key_id: Some(id),
        ..FeedNote::new(kind)
    });
}
