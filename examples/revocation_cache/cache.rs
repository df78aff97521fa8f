//! A resource server's cache of token validations, kept honest by the
//! change feed (R33): a validation is cached for at most `ttl`, and an
//! entry whose grant ended or whose token was revoked is dropped as soon
//! as the feed says so, so a revocation reaches the cache within one feed
//! wake-up, not after the whole `ttl`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use grantdb::{Change, ChangeKind, GrantId, Store, TokenId, TokenInfo};
use parking_lot::Mutex;

/// A cached validation, under the token's hash (the cache holds no
/// token string).
struct Cached {
    info: TokenInfo,
    token: TokenId,
    until: Instant,
}

#[derive(Default)]
struct Entries {
    /// Validations, under the token's hash.
    cached: HashMap<[u8; 32], Cached>,
    /// The hashes cached for each grant.
    of_grant: HashMap<GrantId, Vec<[u8; 32]>>,
    /// The hash cached for each token id.
    of_token: HashMap<TokenId, [u8; 32]>,
}

/// Validations cached up to `ttl`, dropped when the feed ends them.
pub struct ValidationCache {
    entries: Mutex<Entries>,
    ttl: Duration,
    /// The last feed entry applied.
    applied: AtomicU64,
}

impl ValidationCache {
    /// A cache keeping each validation at most `ttl`.
    pub fn new(ttl: Duration) -> ValidationCache {
        ValidationCache {
            entries: Mutex::default(),
            ttl,
            applied: AtomicU64::new(0),
        }
    }

    /// Validates `token`: from the cache while fresh, else from the store
    /// (and cached).
    pub fn validate(&self, store: &Store, token: &str) -> grantdb::Result<TokenInfo> {
        let hash = *blake3::hash(token.as_bytes()).as_bytes();
        if let Some(cached) = self.entries.lock().cached.get(&hash)
            && Instant::now() < cached.until
        {
            return Ok(cached.info.clone());
        }
        let info = store.validate(token)?;
        let token_id = store.token_id(token)?;
        let mut entries = self.entries.lock();
        entries
            .of_grant
            .entry(info.grant_id)
            .or_default()
            .push(hash);
        entries.of_token.insert(token_id, hash);
        let until = Instant::now() + self.ttl;
        entries.cached.insert(
            hash,
            Cached {
                info: info.clone(),
                token: token_id,
                until,
            },
        );
        Ok(info)
    }

    /// Whether a validation of `token` is cached.
    pub fn holds(&self, token: &str) -> bool {
        let hash = *blake3::hash(token.as_bytes()).as_bytes();
        self.entries.lock().cached.contains_key(&hash)
    }

    /// Drops what `change` ended.
    pub fn apply(&self, change: &Change) {
        let mut entries = self.entries.lock();
        match change.kind {
            ChangeKind::GrantEnded { .. } => {
                let hashes = change
                    .grant_id
                    .and_then(|grant| entries.of_grant.remove(&grant))
                    .unwrap_or_default();
                for hash in hashes {
                    if let Some(cached) = entries.cached.remove(&hash) {
                        entries.of_token.remove(&cached.token);
                    }
                }
            }
            ChangeKind::AccessTokenRevoked => {
                for token in &change.tokens {
                    if let Some(hash) = entries.of_token.remove(token) {
                        entries.cached.remove(&hash);
                    }
                }
            }
            _ => {}
        }
        drop(entries);
        self.applied.store(change.seq, Ordering::SeqCst);
    }

    /// The sequence number of the last feed entry applied.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::SeqCst)
    }
}

/// Follows the feed from `cursor` on a thread of its own, applying every
/// entry to `cache`, until `stop` is set.
pub fn follow(
    store: Store,
    cache: Arc<ValidationCache>,
    mut cursor: u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<grantdb::Result<()>> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let page = store.wait_for_changes(cursor, 256, Duration::from_millis(100))?;
            for change in &page.changes {
                cache.apply(change);
            }
            cursor = page.next;
        }
        Ok(())
    })
}
