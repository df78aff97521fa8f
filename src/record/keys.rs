//! Key encodings of every table (see the layout table in `docs/design.md`).
//!
//! Integers are big-endian so that byte order is numeric order: the expiry
//! index then sorts by time, and purge reads only the entries that are due.
//! Variable-length strings (subjects) carry a 2-byte length first, so a prefix
//! scan over one subject never runs into a longer subject that starts alike.

use crate::crypto::secret::TokenId;
use crate::model::ids::{ClientId, GrantId};

/// What an expiry-index entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExpiryKind {
    /// An authorization code (in [`Table::Codes`](crate::kv::table::Table::Codes)).
    Code = 1,
    /// A token (in [`Table::Tokens`](crate::kv::table::Table::Tokens)).
    Token = 2,
    /// A DPoP proof id (in [`Table::ProofJtis`](crate::kv::table::Table::ProofJtis)).
    ProofJti = 3,
    /// A pushed authorization request (in
    /// [`Table::PushedRequests`](crate::kv::table::Table::PushedRequests)).
    PushedRequest = 4,
    /// A device request and its user code (in
    /// [`Table::DeviceCodes`](crate::kv::table::Table::DeviceCodes)).
    DeviceCode = 5,
    /// A window of wrong user codes (in
    /// [`Table::DeviceAttempts`](crate::kv::table::Table::DeviceAttempts)); the id
    /// is the attempts key's scope byte and hash, truncated to 16 bytes.
    Attempts = 6,
    /// A change-feed entry (in [`Table::Feed`](crate::kv::table::Table::Feed));
    /// the id is its sequence number, big-endian, then 8 zero bytes.
    FeedEntry = 7,
}

/// Length of an expiry key: time (8) + kind (1) + id (16).
pub(crate) const EXPIRY_KEY_LEN: usize = 8 + 1 + 16;

/// `removal time ‖ kind ‖ id`.
pub(crate) fn expiry(at: u64, kind: ExpiryKind, hash: &TokenId) -> [u8; EXPIRY_KEY_LEN] {
    let mut key = [0u8; EXPIRY_KEY_LEN];
    key[..8].copy_from_slice(&at.to_be_bytes());
    key[8] = kind as u8;
    key[9..].copy_from_slice(hash.as_bytes());
    key
}

/// Splits an expiry key; `None` if it is not one.
pub(crate) fn parse_expiry(key: &[u8]) -> Option<(u64, ExpiryKind, TokenId)> {
    if key.len() != EXPIRY_KEY_LEN {
        return None;
    }
    let at = u64::from_be_bytes(key[..8].try_into().ok()?);
    let kind = match key[8] {
        1 => ExpiryKind::Code,
        2 => ExpiryKind::Token,
        3 => ExpiryKind::ProofJti,
        4 => ExpiryKind::PushedRequest,
        5 => ExpiryKind::DeviceCode,
        6 => ExpiryKind::Attempts,
        7 => ExpiryKind::FeedEntry,
        _ => return None,
    };
    Some((at, kind, TokenId(key[9..].try_into().ok()?)))
}

/// Length of a `device_attempts` key: window end (8) + counter id (16).
pub(crate) const ATTEMPTS_KEY_LEN: usize = 8 + 16;

/// Whom a count of wrong user codes is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptScope {
    /// Every attempt (the global limit).
    All = 1,
    /// One attempt key chosen by the host (a signed-in user, an address).
    Key = 2,
    /// DPoP proof ids claimed by one client (R27).
    ProofClient = 3,
    /// DPoP proof ids claimed by everyone (R27).
    ProofTotal = 4,
}

/// The id of a windowed counter (`ops::budget`): its scope, then 15 bytes of
/// what it counts for (the keyed hash of an attempt key, a client's id; zero
/// for a global counter).
pub(crate) fn attempts_id(scope: AttemptScope, hash: &[u8; 16]) -> TokenId {
    let mut id = [0u8; 16];
    id[0] = scope as u8;
    id[1..].copy_from_slice(&hash[..15]);
    TokenId(id)
}

/// `window end ‖ counter id`: the counter of one window. Its expiry entry
/// (at the window's end, with the same id) leads purge back to it.
pub(crate) fn attempts(window_end: u64, id: &TokenId) -> [u8; ATTEMPTS_KEY_LEN] {
    let mut key = [0u8; ATTEMPTS_KEY_LEN];
    key[..8].copy_from_slice(&window_end.to_be_bytes());
    key[8..].copy_from_slice(id.as_bytes());
    key
}

/// Splits an attempts key; `None` if it is not one.
pub(crate) fn parse_attempts(key: &[u8]) -> Option<(u64, TokenId)> {
    if key.len() != ATTEMPTS_KEY_LEN || !matches!(key[8], 1..=4) {
        return None;
    }
    let window_end = u64::from_be_bytes(key[..8].try_into().ok()?);
    Some((window_end, TokenId(key[8..].try_into().ok()?)))
}

/// Upper bound (exclusive) of the expiry entries due at `now`: everything with
/// removal time `<= now`.
pub(crate) fn expiry_due_end(now: u64) -> [u8; 8] {
    now.saturating_add(1).to_be_bytes()
}

/// `client ‖ grant`: a grant's key. Grants of one client are contiguous.
pub(crate) fn grant(client: &ClientId, grant: &GrantId) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(client.as_bytes());
    key[16..].copy_from_slice(grant.as_bytes());
    key
}

/// Splits a grant key.
pub(crate) fn parse_grant(key: &[u8]) -> Option<(ClientId, GrantId)> {
    if key.len() != 32 {
        return None;
    }
    Some((
        ClientId(key[..16].try_into().ok()?),
        GrantId(key[16..].try_into().ok()?),
    ))
}

/// `grant ‖ token id`: a consumed refresh token of a grant.
pub(crate) fn consumed(grant: &GrantId, hash: &TokenId) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(grant.as_bytes());
    key[16..].copy_from_slice(hash.as_bytes());
    key
}

/// Splits a consumed-token key.
pub(crate) fn parse_consumed(key: &[u8]) -> Option<(GrantId, TokenId)> {
    if key.len() != 32 {
        return None;
    }
    Some((
        GrantId(key[..16].try_into().ok()?),
        TokenId(key[16..].try_into().ok()?),
    ))
}

/// `client ‖ code id`: a code of a client.
pub(crate) fn client_code(client: &ClientId, hash: &TokenId) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(client.as_bytes());
    key[16..].copy_from_slice(hash.as_bytes());
    key
}

/// Splits a client-code key.
pub(crate) fn parse_client_code(key: &[u8]) -> Option<(ClientId, TokenId)> {
    if key.len() != 32 {
        return None;
    }
    Some((
        ClientId(key[..16].try_into().ok()?),
        TokenId(key[16..].try_into().ok()?),
    ))
}

/// An id held in the `by_subject` index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owned {
    /// A grant (16-byte id).
    Grant(GrantId),
    /// A pending or exchanged code (16-byte id).
    Code(TokenId),
    /// The subject's consent at the client (no id: one per subject and
    /// client). Lets a subject's consents be listed without a scan of all.
    Consent,
}

impl Owned {
    fn tag(self) -> u8 {
        match self {
            Owned::Grant(_) => 1,
            Owned::Code(_) => 2,
            Owned::Consent => 3,
        }
    }

    fn push_id(self, key: &mut Vec<u8>) {
        match self {
            Owned::Grant(grant) => key.extend_from_slice(grant.as_bytes()),
            Owned::Code(hash) => key.extend_from_slice(hash.as_bytes()),
            Owned::Consent => {}
        }
    }

    /// Parses `kind ‖ id` at the end of a `by_subject` key.
    fn parse(tail: &[u8]) -> Option<Owned> {
        let (&kind, id) = tail.split_first()?;
        match kind {
            1 => Some(Owned::Grant(GrantId(id.try_into().ok()?))),
            2 => Some(Owned::Code(TokenId(id.try_into().ok()?))),
            3 if id.is_empty() => Some(Owned::Consent),
            _ => None,
        }
    }
}

/// `len(subject) ‖ subject`: the prefix of every entry of one subject.
pub(crate) fn subject_prefix(subject: &str) -> Vec<u8> {
    // Subjects are at most MAX_SUBJECT_LEN (< 65,536) bytes; checked on input.
    let len = u16::try_from(subject.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(2 + subject.len() + 16 + 1 + 16);
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
    key.push(owned.tag());
    owned.push_id(&mut key);
    key
}

/// Splits a `by_subject` key into subject, client and owned id.
pub(crate) fn parse_by_subject(key: &[u8]) -> Option<(String, ClientId, Owned)> {
    let len = usize::from(u16::from_be_bytes([*key.first()?, *key.get(1)?]));
    let subject = std::str::from_utf8(key.get(2..2 + len)?).ok()?.to_owned();
    let rest = key.get(2 + len..)?;
    let client = ClientId(rest.get(..16)?.try_into().ok()?);
    Some((subject, client, Owned::parse(rest.get(16..)?)?))
}

/// `len(sid) ‖ sid`: the prefix of every entry of one sign-in session.
pub(crate) fn session_prefix(sid: &str) -> Vec<u8> {
    subject_prefix(sid)
}

/// `len(sid) ‖ sid ‖ client ‖ kind ‖ id`: a grant or code of a sign-in
/// session, in the `by_session` table (the `by_subject` layout).
pub(crate) fn by_session(sid: &str, client: &ClientId, owned: Owned) -> Vec<u8> {
    by_subject(sid, client, owned)
}

/// Splits a `by_session` key; only grants and codes are indexed by session.
pub(crate) fn parse_by_session(key: &[u8]) -> Option<(String, ClientId, Owned)> {
    parse_by_subject(key).filter(|(_, _, owned)| *owned != Owned::Consent)
}

/// `client ‖ len(subject) ‖ subject`.
pub(crate) fn consent(client: &ClientId, subject: &str) -> Vec<u8> {
    let mut key = client.as_bytes().to_vec();
    key.extend_from_slice(&subject_prefix(subject));
    key
}

/// Splits a consent key into client and subject.
pub(crate) fn parse_consent(key: &[u8]) -> Option<(ClientId, String)> {
    let client = ClientId(key.get(..16)?.try_into().ok()?);
    let rest = key.get(16..)?;
    let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let subject = rest.get(2..)?;
    if subject.len() != len {
        return None;
    }
    Some((client, std::str::from_utf8(subject).ok()?.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_keys_sort_by_time() {
        let hash = TokenId([0xff; 16]);
        let early = expiry(5, ExpiryKind::Token, &hash);
        let late = expiry(256, ExpiryKind::Code, &TokenId([0; 16]));
        assert!(early < late);
        assert!(early.as_slice() < expiry_due_end(5).as_slice());
        assert!(late.as_slice() >= expiry_due_end(255).as_slice());
        assert_eq!(parse_expiry(&early), Some((5, ExpiryKind::Token, hash)));
    }

    #[test]
    fn keys_round_trip() {
        let client = ClientId([3; 16]);
        let grant_id = GrantId([4; 16]);
        let hash = TokenId([5; 16]);
        let key = by_subject("alice", &client, Owned::Grant(grant_id));
        assert!(key.starts_with(&subject_prefix("alice")));
        assert!(!key.starts_with(&subject_prefix("alic")));
        assert_eq!(
            parse_by_subject(&key),
            Some(("alice".into(), client, Owned::Grant(grant_id)))
        );
        assert_eq!(
            parse_grant(&grant(&client, &grant_id)),
            Some((client, grant_id))
        );
        assert_eq!(
            parse_consumed(&consumed(&grant_id, &hash)),
            Some((grant_id, hash))
        );
        assert_eq!(
            parse_client_code(&client_code(&client, &hash)),
            Some((client, hash))
        );
        assert_eq!(
            parse_consent(&consent(&client, "bob")),
            Some((client, "bob".into()))
        );
        let key = by_subject("bob", &client, Owned::Consent);
        assert_eq!(
            parse_by_subject(&key),
            Some(("bob".into(), client, Owned::Consent))
        );
        let mut longer = key.clone();
        longer.push(0);
        assert_eq!(parse_by_subject(&longer), None, "a consent entry has no id");
    }
}
