//! Strings minted on the calling thread (issue 17).
//!
//! A write that will mint tokens draws their random bytes (a system call),
//! hashes their verifiers and encodes their strings before it joins a
//! group-commit batch, so the batch's leader, whose work is serial, spends
//! none of its time on them: with 32 callers the minting runs on 32 threads
//! instead of one.
//!
//! A string minted ahead is used only under the key set it was minted with:
//! if the ring changed meanwhile (a key added or retired, R28, R29), the
//! operation mints afresh under the new set, as it would have without this.
//! Strings minted ahead and not used (an operation that failed, a client
//! that takes no refresh token) are dropped, and their memory zeroized like
//! every [`Secret`]'s.

use std::cell::RefCell;
use std::sync::Arc;

use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::{Minted, Minter, Secret};
use crate::engine::keyring::KeySet;
use crate::error::Result;

/// Strings minted ahead for one operation, under one key set.
pub(crate) struct Premints {
    keys: Arc<KeySet>,
    minted: RefCell<Vec<(TokenKind, Secret, Minted)>>,
}

impl Premints {
    /// Mints one string of each of `kinds` under `keys`. A kind that fails
    /// to mint here (the random source failing) is left out: the operation
    /// mints it for itself and reports the failure.
    pub(crate) fn new(keys: Arc<KeySet>, kinds: &[TokenKind]) -> Premints {
        let minted = kinds
            .iter()
            .filter_map(|&kind| {
                let (secret, minted) = keys.minter.mint(kind).ok()?;
                Some((kind, secret, minted))
            })
            .collect();
        Premints {
            keys,
            minted: RefCell::new(minted),
        }
    }

    /// A string of `kind` minted ahead, if one is left and it was minted by
    /// `minter`, the one the operation runs with.
    fn take(&self, kind: TokenKind, minter: &Minter) -> Option<(Secret, Minted)> {
        // The same key set, not an equal one: this holds the set alive, so
        // no other set can sit at its address.
        if !std::ptr::eq(&raw const self.keys.minter, minter) {
            return None;
        }
        let mut ahead = self.minted.borrow_mut();
        let at = ahead.iter().position(|(made, ..)| *made == kind)?;
        let (_, secret, record_id_and_verifier) = ahead.swap_remove(at);
        Some((secret, record_id_and_verifier))
    }
}

/// Mints a string of `kind` with `minter`: the one minted ahead when there
/// is one, else a fresh one.
pub(crate) fn mint(
    premints: Option<&Premints>,
    minter: &Minter,
    kind: TokenKind,
) -> Result<(Secret, Minted)> {
    match premints.and_then(|premints| premints.take(kind, minter)) {
        Some(made) => Ok(made),
        None => minter.mint(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::secret::{HashingKey, TokenPrefixes};
    use crate::engine::keyring::KeyEntry;
    use crate::model::key_info::KeyState;

    fn key_set(key: &HashingKey) -> Arc<KeySet> {
        let entry = KeyEntry {
            id: 1,
            fingerprint: key.fingerprint_bytes(),
            state: KeyState::Active,
            kept: None,
            added_at: None,
        };
        let set = KeySet::build(
            vec![entry],
            std::slice::from_ref(key),
            &TokenPrefixes::default(),
        );
        Arc::new(set.expect("one active key makes a key set"))
    }

    #[test]
    fn r28_a_string_minted_ahead_is_used_once_and_verifies_under_its_key() {
        let keys = key_set(&HashingKey::from_bytes([7; 32]));
        let premints = Premints::new(Arc::clone(&keys), &[TokenKind::Access, TokenKind::Refresh]);
        let (secret, minted) = mint(Some(&premints), &keys.minter, TokenKind::Access).unwrap();
        // The string the caller minted, and it parses back to its own id and verifier.
        let presented = keys
            .minter
            .parse(TokenKind::Access, secret.expose())
            .unwrap();
        assert_eq!(presented.id.as_bytes(), minted.id.as_bytes());
        assert!(presented.matches(&minted.verifier.0));
        // Used once: the next access token is minted afresh, a different string.
        let (again, _) = mint(Some(&premints), &keys.minter, TokenKind::Access).unwrap();
        assert_ne!(again.expose(), secret.expose());
        // The refresh token minted ahead is still there, of its own kind.
        let (refresh, _) = premints.take(TokenKind::Refresh, &keys.minter).unwrap();
        assert!(
            keys.minter
                .parse(TokenKind::Refresh, refresh.expose())
                .is_ok()
        );
        assert!(premints.take(TokenKind::Refresh, &keys.minter).is_none());
    }

    #[test]
    fn r28_a_string_minted_under_a_key_set_since_replaced_is_not_used() {
        let key = HashingKey::from_bytes([7; 32]);
        let before = key_set(&key);
        // The same key, read again: a new set, as after a ring change.
        let after = key_set(&key);
        let premints = Premints::new(Arc::clone(&before), &[TokenKind::Access]);
        assert!(premints.take(TokenKind::Access, &after.minter).is_none());
        assert!(premints.take(TokenKind::Access, &before.minter).is_some());
    }
}
