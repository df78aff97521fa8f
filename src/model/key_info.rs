//! The keys of the hashing-key ring as a host sees them (R28, R29): ids,
//! states, and what each is used for. No key material.

use std::fmt;

use crate::crypto::kinds::KeyFingerprint;

/// The id of a key in the ring: 1 for the database's first key, then one
/// more for each key added (at most 255 keys over a database's life).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct KeyId(u8);

impl KeyId {
    /// The key id `id`.
    pub const fn new(id: u8) -> KeyId {
        KeyId(id)
    }

    /// The id as a number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As the number, honouring width and alignment.
        fmt::Display::fmt(&self.0, f)
    }
}

/// Where a key of the ring stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyState {
    /// Accepted; the active key with the highest id mints.
    Active,
    /// No longer accepted: what was minted under it fails. Still needed to
    /// check the records sealed under it, until it is removed.
    Retired,
    /// Gone: no record depends on it; only its fingerprint is kept.
    Removed,
}

impl KeyState {
    pub(crate) fn tag(self) -> u8 {
        match self {
            KeyState::Active => 1,
            KeyState::Retired => 2,
            KeyState::Removed => 3,
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<KeyState> {
        match tag {
            1 => Some(KeyState::Active),
            2 => Some(KeyState::Retired),
            3 => Some(KeyState::Removed),
            _ => None,
        }
    }
}

/// One key of the ring, as [`Store::hashing_keys`](crate::Store::hashing_keys)
/// lists it. Holds no key material.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key's id (carried inside every string minted under it).
    pub id: KeyId,
    /// The key's fingerprint.
    #[serde(serialize_with = "serialize_display")]
    pub fingerprint: KeyFingerprint,
    /// Where the key stands.
    pub state: KeyState,
    /// Whether new strings are minted (and records sealed) under it.
    pub minting: bool,
    /// Whether the store generated the key and keeps it in the database
    /// (the quickstart default) rather than the host supplying it.
    pub kept_in_database: bool,
    /// Confidential clients whose secret is hashed under this key: retiring
    /// it makes their secrets fail. A secret moves to the minting key the
    /// next time its client authenticates.
    pub client_secrets: u64,
    /// Live access and refresh tokens minted under this key (retiring it
    /// ends them), counted by their issue time against when each key began
    /// minting (a token of the second a key was added counts for both);
    /// `None` for a key that is not active, and when that is not known
    /// (keys added by an earlier version, and the keys a database was
    /// created with beside another).
    pub live_tokens: Option<u64>,
}

fn serialize_display<S: serde::Serializer>(
    value: &impl fmt::Display,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
