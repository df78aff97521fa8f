//! The hot-token cache of the embedded backend: decoded token records of
//! recent validations, so that validating a token a resource server sees
//! again and again skips the B-tree walk, the seal check and the decode.
//!
//! Coherence (R13) comes from the commit path: the backend reports every
//! token key a committed transaction wrote, after it published the snapshot
//! readers will see and before the operation returns, and the cache drops
//! those keys then. A validation that missed reads the generation first and
//! inserts what it read only if no commit that wrote tokens finished
//! meanwhile (checked under the shard's lock, which the invalidation takes
//! too): so a record read from a snapshot older than a revocation never
//! lands in the cache after the revocation dropped it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::record::TokenRecord;

/// Shards, so that threads validating different tokens rarely meet on a lock.
const SHARDS: usize = 16;

/// Hashes a token id by its last 8 bytes, which are random (the first 8
/// are its issue time): no need for a keyed hash over values nobody but
/// the store chooses.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            // The last full word wins: an id's random half.
            self.0 = u64::from_le_bytes(word) ^ self.0.rotate_left(5);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Shard = Mutex<HashMap<[u8; 16], TokenRecord, BuildHasherDefault<IdHasher>>>;

/// Decoded token records by id, bounded in entries.
pub(crate) struct HotTokens {
    shards: [Shard; SHARDS],
    /// Moves on before every invalidation.
    generation: AtomicU64,
    per_shard: usize,
}

impl HotTokens {
    /// A cache of at most `entries` records (rounded up to a multiple of the
    /// shard count).
    pub(crate) fn new(entries: usize) -> HotTokens {
        HotTokens {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::default())),
            generation: AtomicU64::new(0),
            per_shard: entries.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, id: &[u8; 16]) -> &Shard {
        // Ids end in 8 random bytes: the last one spreads them evenly.
        &self.shards[usize::from(id[15]) % SHARDS]
    }

    /// The generation now: read it before reading the database on a miss.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// `answer` of the cached record of `id`, if there is one (under the
    /// shard's lock: the record is not copied).
    pub(crate) fn with<R>(
        &self,
        id: &[u8; 16],
        answer: impl FnOnce(&TokenRecord) -> R,
    ) -> Option<R> {
        self.shard(id).lock().get(id).map(answer)
    }

    /// The cached record of `id`.
    #[cfg(test)]
    pub(crate) fn get(&self, id: &[u8; 16]) -> Option<TokenRecord> {
        self.with(id, TokenRecord::clone)
    }

    /// Caches `record` as read after [`generation`](Self::generation)
    /// returned `seen`, unless a commit wrote tokens since.
    pub(crate) fn insert(&self, seen: u64, id: [u8; 16], record: TokenRecord) {
        let mut shard = self.shard(&id).lock();
        if self.generation.load(Ordering::SeqCst) != seen {
            return;
        }
        if shard.len() >= self.per_shard && !shard.contains_key(&id) {
            // Full: one entry makes room (the map's first, which is as good
            // as random for ids that end in random bytes).
            if let Some(evicted) = shard.keys().next().copied() {
                shard.remove(&evicted);
            }
        }
        shard.insert(id, record);
    }

    /// Drops the records of `ids`, which a commit wrote.
    pub(crate) fn invalidate(&self, ids: &[[u8; 16]]) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for id in ids {
            self.shard(id).lock().remove(id);
        }
    }

    /// Drops everything (the database was reopened).
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for shard in &self.shards {
            shard.lock().clear();
        }
    }

    /// Records cached now.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::StoredTokenKind;

    fn record() -> TokenRecord {
        TokenRecord {
            kind: StoredTokenKind::Access,
            verifier: [1; 16],
            grant: [2; 16],
            client: [3; 16],
            subject: Some("alice".into()),
            scope: crate::model::scope::Scope::parse("read").unwrap_or_default(),
            issued_at: 1,
            expires_at: Some(2),
            partner: None,
            consumed: None,
            ext: crate::record::ext::TokenExt::default(),
        }
    }

    /// R13: a record read before a commit that wrote its token never
    /// enters the cache after that commit dropped it.
    #[test]
    fn r13_a_record_read_before_an_invalidation_is_not_cached_after_it() {
        let hot = HotTokens::new(64);
        let id = [7; 16];
        let seen = hot.generation();
        // The revocation commits and drops the token meanwhile...
        hot.invalidate(&[id]);
        // ...then the validation that read the old snapshot tries to cache it.
        hot.insert(seen, id, record());
        assert!(hot.get(&id).is_none());
        // Read after the invalidation: cached.
        let seen = hot.generation();
        hot.insert(seen, id, record());
        assert_eq!(hot.get(&id), Some(record()));
        hot.invalidate(&[id]);
        assert!(hot.get(&id).is_none());
    }

    #[test]
    fn the_cache_holds_at_most_its_bound() {
        let hot = HotTokens::new(32);
        for n in 0..=255u8 {
            let mut id = [0; 16];
            id[14] = n;
            id[15] = n;
            hot.insert(hot.generation(), id, record());
        }
        assert!(hot.len() <= 32, "{} records", hot.len());
        hot.clear();
        assert_eq!(hot.len(), 0);
    }
}
