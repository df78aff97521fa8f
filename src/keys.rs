//! Key encodings of every table (see the layout table in `docs/design.md`).
//!
//! Integers are big-endian so that byte order is numeric order: the expiry
//! index then sorts by time, and purge reads only the entries that are due.
//! Variable-length strings (subjects) carry a 2-byte length first, so a prefix
//! scan over one subject never runs into a longer subject that starts alike.

use crate::ids::{ClientId, GrantId};
use crate::secret::TokenHash;

/// What an expiry-index entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExpiryKind {
    /// An authorization code (in [`Table::Codes`](crate::kv::Table::Codes)).
    Code = 1,
    /// A token (in [`Table::Tokens`](crate::kv::Table::Tokens)).
    Token = 2,
}

/// Length of an expiry key: time (8) + kind (1) + id (32).
pub(crate) const EXPIRY_KEY_LEN: usize = 8 + 1 + 32;

/// `removal time ‖ kind ‖ hash`.
pub(crate) fn expiry(at: u64, kind: ExpiryKind, hash: &TokenHash) -> [u8; EXPIRY_KEY_LEN] {
    let mut key = [0u8; EXPIRY_KEY_LEN];
    key[..8].copy_from_slice(&at.to_be_bytes());
    key[8] = kind as u8;
    key[9..].copy_from_slice(hash.as_bytes());
    key
}

/// Splits an expiry key; `None` if it is not one.
pub(crate) fn parse_expiry(key: &[u8]) -> Option<(u64, ExpiryKind, TokenHash)> {
    if key.len() != EXPIRY_KEY_LEN {
        return None;
    }
    let mut at = [0u8; 8];
    at.copy_from_slice(&key[..8]);
    let kind = match key[8] {
        1 => ExpiryKind::Code,
        2 => ExpiryKind::Token,
        _ => return None,
    };
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&key[9..]);
    Some((u64::from_be_bytes(at), kind, TokenHash(hash)))
}

/// Upper bound (exclusive) of the expiry entries due at `now`: everything with
/// removal time `<= now`.
pub(crate) fn expiry_due_end(now: u64) -> [u8; 8] {
    now.saturating_add(1).to_be_bytes()
}

/// Which tokens of a grant an entry in `grant_tokens` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenClass {
    /// An access token.
    Access = 1,
    /// An unconsumed refresh token.
    Refresh = 2,
    /// A consumed refresh token kept for reuse detection (R08).
    Consumed = 3,
}

/// Length of a grant-token key: grant (16) + class (1) + hash (32).
pub(crate) const GRANT_TOKEN_KEY_LEN: usize = 16 + 1 + 32;

/// `grant ‖ class ‖ hash`.
pub(crate) fn grant_token(
    grant: &GrantId,
    class: TokenClass,
    hash: &TokenHash,
) -> [u8; GRANT_TOKEN_KEY_LEN] {
    let mut key = [0u8; GRANT_TOKEN_KEY_LEN];
    key[..16].copy_from_slice(grant.as_bytes());
    key[16] = class as u8;
    key[17..].copy_from_slice(hash.as_bytes());
    key
}

/// Splits a grant-token key.
pub(crate) fn parse_grant_token(key: &[u8]) -> Option<(GrantId, TokenClass, TokenHash)> {
    if key.len() != GRANT_TOKEN_KEY_LEN {
        return None;
    }
    let class = match key[16] {
        1 => TokenClass::Access,
        2 => TokenClass::Refresh,
        3 => TokenClass::Consumed,
        _ => return None,
    };
    let mut grant = [0u8; 16];
    grant.copy_from_slice(&key[..16]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&key[17..]);
    Some((GrantId(grant), class, TokenHash(hash)))
}

/// Prefix of every token of a grant.
pub(crate) fn grant_tokens_prefix(grant: &GrantId) -> [u8; 16] {
    grant.0
}

/// Prefix of a grant's live tokens (access and unconsumed refresh): the
/// classes sort below `Consumed`, so a range `[grant‖1, grant‖3)` holds them.
pub(crate) fn grant_live_range(grant: &GrantId) -> crate::kv::KeyRange {
    let mut start = grant.0.to_vec();
    start.push(TokenClass::Access as u8);
    let mut end = grant.0.to_vec();
    end.push(TokenClass::Consumed as u8);
    crate::kv::KeyRange {
        start: std::ops::Bound::Included(start),
        end: std::ops::Bound::Excluded(end),
    }
}

/// What an owner-index entry (`by_subject`, `by_client`) points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnedKind {
    /// A grant; the id is a 16-byte grant id.
    Grant = 1,
    /// A pending or exchanged code; the id is its 32-byte hash.
    Code = 2,
}

/// An id held in an owner index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owned {
    Grant(GrantId),
    Code(TokenHash),
}

impl Owned {
    fn kind(self) -> OwnedKind {
        match self {
            Owned::Grant(_) => OwnedKind::Grant,
            Owned::Code(_) => OwnedKind::Code,
        }
    }

    fn push_id(self, key: &mut Vec<u8>) {
        match self {
            Owned::Grant(grant) => key.extend_from_slice(grant.as_bytes()),
            Owned::Code(hash) => key.extend_from_slice(hash.as_bytes()),
        }
    }

    /// Parses `kind ‖ id` at the end of an owner-index key.
    fn parse(tail: &[u8]) -> Option<Owned> {
        let (&kind, id) = tail.split_first()?;
        match (kind, id.len()) {
            (1, 16) => {
                let mut grant = [0u8; 16];
                grant.copy_from_slice(id);
                Some(Owned::Grant(GrantId(grant)))
            }
            (2, 32) => {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(id);
                Some(Owned::Code(TokenHash(hash)))
            }
            _ => None,
        }
    }
}

/// `len(subject) ‖ subject`: the prefix of every entry of one subject.
pub(crate) fn subject_prefix(subject: &str) -> Vec<u8> {
    // Subjects are at most MAX_SUBJECT_LEN (< 65,536) bytes; checked on input.
    let len = u16::try_from(subject.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(2 + subject.len() + 16 + 1 + 32);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(subject.as_bytes());
    key
}

/// `len(subject) ‖ subject ‖ client`: one subject's entries at one client.
pub(crate) fn subject_client_prefix(subject: &str, client: &ClientId) -> Vec<u8> {
    let mut key = subject_prefix(subject);
    key.extend_from_slice(client.as_bytes());
    key
}

/// `len(subject) ‖ subject ‖ client ‖ kind ‖ id`.
pub(crate) fn by_subject(subject: &str, client: &ClientId, owned: Owned) -> Vec<u8> {
    let mut key = subject_client_prefix(subject, client);
    key.push(owned.kind() as u8);
    owned.push_id(&mut key);
    key
}

/// Splits a `by_subject` key into client and owned id.
pub(crate) fn parse_by_subject(key: &[u8]) -> Option<(String, ClientId, Owned)> {
    let len = usize::from(u16::from_be_bytes([*key.first()?, *key.get(1)?]));
    let subject = std::str::from_utf8(key.get(2..2 + len)?).ok()?.to_owned();
    let rest = key.get(2 + len..)?;
    let client = ClientId(rest.get(..16)?.try_into().ok()?);
    Some((subject, client, Owned::parse(rest.get(16..)?)?))
}

/// `client ‖ kind ‖ id`.
pub(crate) fn by_client(client: &ClientId, owned: Owned) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + 1 + 32);
    key.extend_from_slice(client.as_bytes());
    key.push(owned.kind() as u8);
    owned.push_id(&mut key);
    key
}

/// `client ‖ kind`: the prefix of one kind of entry of a client.
pub(crate) fn by_client_kind_prefix(client: &ClientId, kind: OwnedKind) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[..16].copy_from_slice(client.as_bytes());
    key[16] = kind as u8;
    key
}

/// Splits a `by_client` key.
pub(crate) fn parse_by_client(key: &[u8]) -> Option<(ClientId, Owned)> {
    let client = ClientId(key.get(..16)?.try_into().ok()?);
    Some((client, Owned::parse(key.get(16..)?)?))
}

/// `client ‖ len(subject) ‖ subject`.
pub(crate) fn consent(client: &ClientId, subject: &str) -> Vec<u8> {
    let mut key = client.as_bytes().to_vec();
    key.extend_from_slice(&subject_prefix(subject));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_keys_sort_by_time() {
        let hash = TokenHash([0xff; 32]);
        let early = expiry(5, ExpiryKind::Token, &hash);
        let late = expiry(256, ExpiryKind::Code, &TokenHash([0; 32]));
        assert!(early < late);
        assert!(early.as_slice() < expiry_due_end(5).as_slice());
        assert!(late.as_slice() >= expiry_due_end(255).as_slice());
        assert_eq!(parse_expiry(&early), Some((5, ExpiryKind::Token, hash)));
    }

    #[test]
    fn owner_keys_round_trip() {
        let client = ClientId([3; 16]);
        let grant = GrantId([4; 16]);
        let key = by_subject("alice", &client, Owned::Grant(grant));
        assert!(key.starts_with(&subject_prefix("alice")));
        assert!(!key.starts_with(&subject_prefix("alic")));
        assert_eq!(
            parse_by_subject(&key),
            Some(("alice".into(), client, Owned::Grant(grant)))
        );
        let key = by_client(&client, Owned::Code(TokenHash([5; 32])));
        assert_eq!(
            parse_by_client(&key),
            Some((client, Owned::Code(TokenHash([5; 32]))))
        );
    }
}
