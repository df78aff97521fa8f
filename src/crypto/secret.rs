//! Tokens, codes and client secrets: minting, shape checks and keyed hashing.
//!
//! A grantdb secret string is
//! `prefix ‖ base64url(key_id[1] ‖ id[16] ‖ secret[32] ‖ crc32[4])` (71
//! characters after the prefix):
//!
//! * `key_id` names the hashing key of the ring the string was minted under
//!   (see [`crate::engine::keyring`]); strings minted before the ring existed have no
//!   key id (70 characters) and name key 1;
//! * `id` names the record: 8 bytes of issue time (nanoseconds, big-endian)
//!   and 8 random bytes. It is an identifier, not a credential: records are
//!   stored under it, so tokens issued together land together in the B-tree and
//!   a write touches few pages.
//! * `secret` is 32 bytes from a CSPRNG (R01: 256 bits of entropy);
//! * the kind prefix (`gdbat_`, `gdbrt_`, `gdbac_`, `gdbcs_` by default) makes a
//!   leaked string recognisable to secret scanners and a mistyped kind refused;
//! * a CRC-32 over the kind, the key id, the id and the secret rejects a
//!   truncated or mistyped string before any database read (R02).
//!
//! The record keeps only the verifier `BLAKE3-keyed(key, kind ‖ id ‖ secret)`,
//! compared in constant time (R01): the file never holds the secret part.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::crypto::kinds::{KeyFingerprint, TokenKind};
use crate::error::{Error, Result};

/// Bytes of the record id in every string.
const ID_LEN: usize = 16;
/// Secret random bytes in every token, code and secret (R01: at least 256 bits).
const SECRET_LEN: usize = 32;
/// Key id, record id, secret and the 4-byte checksum.
const RAW_LEN: usize = 1 + ID_LEN + SECRET_LEN + 4;
/// Length of the base64url body after the prefix (53 bytes encode to 71 chars).
const BODY_LEN: usize = (RAW_LEN * 4).div_ceil(3);
/// A string minted before the key ring: no key id (52 bytes, 70 chars).
const LEGACY_RAW_LEN: usize = RAW_LEN - 1;
/// Length of a pre-ring body.
const LEGACY_BODY_LEN: usize = (LEGACY_RAW_LEN * 4).div_ceil(3);
/// The key a pre-ring string names: the database's only key then.
const LEGACY_KEY_ID: u8 = 1;
/// Where each part starts in the raw (decoded) bytes.
const ID_AT: usize = 1;
const SECRET_AT: usize = ID_AT + ID_LEN;
const SUM_AT: usize = SECRET_AT + SECRET_LEN;
/// The end of the id's issue time (its first 8 bytes).
const TIME_END: usize = ID_AT + 8;

/// A plaintext token, code or client secret, handed to the caller exactly once.
///
/// Its memory is zeroed on drop; `Debug` prints no part of it and it has no
/// `Display`. [`Secret::expose`] gives the string to send to the client;
/// `Serialize` writes it as a plain string so a token response can be returned
/// as JSON as is.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The plaintext, to hand to the client. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret made of `text` (a `request_uri` around a minted string).
    pub(crate) fn from_string(text: String) -> Secret {
        Secret(Zeroizing::new(text))
    }
}

/// A string a client presented (a token, code or secret from a request), to
/// hand to the store; zeroed when dropped like every `Secret`.
impl From<String> for Secret {
    fn from(text: String) -> Secret {
        Secret(Zeroizing::new(text))
    }
}

/// A copy of a presented string, zeroed when dropped.
impl From<&String> for Secret {
    fn from(text: &String) -> Secret {
        Secret(Zeroizing::new(text.clone()))
    }
}

/// A copy of a presented string, zeroed when dropped.
impl From<&str> for Secret {
    fn from(text: &str) -> Secret {
        Secret(Zeroizing::new(text.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Reads a secret from a string (a parsed token response).
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(|text| Secret(Zeroizing::new(text)))
    }
}

/// The public identifier of a token or code record: 8 bytes of issue time
/// and 8 random bytes. Not a credential.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub(crate) [u8; ID_LEN]);

impl TokenId {
    /// The 16 id bytes.
    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }
}

/// A token id in JSON: its 16 bytes in unpadded base64url.
impl serde::Serialize for TokenId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// A new id: issue time in nanoseconds, then 8 random bytes. Ids issued close
/// together sort close together, which keeps B-tree writes local.
pub(crate) fn time_ordered_id() -> Result<[u8; 16]> {
    let mut id = [0u8; 16];
    crate::crypto::random::fill(&mut id[8..])?;
    id[..8].copy_from_slice(&id_time());
    Ok(id)
}

/// The first 8 bytes of an id: the issue time in nanoseconds, big-endian.
fn id_time() -> [u8; 8] {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
        })
        .to_be_bytes()
}

/// The keyed BLAKE3 hash a record keeps to check a presented secret,
/// truncated to 128 bits: forging a match still takes 2^128 guesses, and each
/// of a million tokens stores 16 bytes less.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verifier(pub(crate) [u8; 16]);

impl Verifier {
    /// Compares in constant time (R03).
    pub(crate) fn matches(&self, stored: &[u8; 16]) -> bool {
        constant_time_eq::constant_time_eq_16(&self.0, stored)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(<hash>)")
    }
}

/// What a presented string resolves to: the record to read and the verifier
/// that record must hold. No verifier when the string names a key the store
/// does not accept (retired, removed or unknown): it then matches no record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Presented {
    pub id: TokenId,
    pub verifier: Option<Verifier>,
}

impl Presented {
    /// Whether the record's stored verifier is this string's (R01, R03).
    pub(crate) fn matches(&self, stored: &[u8; 16]) -> bool {
        self.verifier
            .is_some_and(|verifier| verifier.matches(stored))
    }
}

/// A newly minted string's record id and verifier, under the minting key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Minted {
    pub id: TokenId,
    pub verifier: Verifier,
}

/// A presented client secret, parsed: its verifier depends on the key the
/// client's record names (a secret is re-hashed under a newer key without
/// changing the string), so the secret part is kept, zeroed on drop.
pub(crate) struct ParsedSecret {
    id: [u8; ID_LEN],
    secret: Zeroizing<[u8; SECRET_LEN]>,
}

/// The 32-byte key of the keyed BLAKE3 hashes.
///
/// By default a new database generates one and keeps it inside the file, so the
/// quickstart works with no setup. In production, supply your own key (from a
/// secret manager or environment): then a stolen database file holds only hashes
/// under a key the thief does not have, and cannot even be used to check guesses.
#[derive(Clone)]
pub struct HashingKey(Zeroizing<[u8; 32]>);

impl HashingKey {
    /// A key from 32 bytes the host keeps secret.
    pub fn from_bytes(bytes: [u8; 32]) -> HashingKey {
        HashingKey(Zeroizing::new(bytes))
    }

    /// A key from a slice of exactly 32 bytes, copied straight into memory
    /// that is zeroed on drop (so a host reading its key from a file or a
    /// secret manager leaves no stray copy here).
    pub fn from_slice(bytes: &[u8]) -> Result<HashingKey> {
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            return Err(Error::InvalidArgument {
                what: "hashing key (32 bytes)",
                reason: crate::error::InputError::BadStructure,
            });
        }
        key.copy_from_slice(bytes);
        Ok(HashingKey(key))
    }

    /// A fresh random key, from the operating system's random source.
    pub fn generate() -> Result<HashingKey> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        crate::crypto::random::fill(bytes.as_mut())?;
        Ok(HashingKey(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key itself, to keep in a secret manager or a key file (as the
    /// `grantdb keys add` command does with a key it generates). Do not log it.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A value that identifies the key without revealing it, recorded in the
    /// database so that opening with another key fails loudly.
    pub fn fingerprint(&self) -> KeyFingerprint {
        KeyFingerprint(self.fingerprint_bytes())
    }

    pub(crate) fn fingerprint_bytes(&self) -> [u8; 16] {
        let full = blake3::keyed_hash(&self.0, b"grantdb key fingerprint v1");
        let mut out = [0u8; 16];
        out.copy_from_slice(&full.as_bytes()[..16]);
        out
    }

    /// The id a text that is not a minted string is stored under: a keyed
    /// hash, so the file never holds the text (a DPoP proof's `jti`, R27; a
    /// device's user code, R31; an attempt key). Its domain byte (0x10 and
    /// up) keeps each use apart from the others and from every verifier.
    fn lookup_id(&self, domain: LookupDomain, text: &str) -> [u8; ID_LEN] {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(&[domain as u8]);
        hasher.update(text.as_bytes());
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&hasher.finalize().as_bytes()[..ID_LEN]);
        id
    }

    fn verifier(&self, kind: TokenKind, id: &[u8; ID_LEN], secret: &[u8; SECRET_LEN]) -> Verifier {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(&[kind.tag()]);
        hasher.update(id);
        hasher.update(secret);
        let mut truncated = [0u8; 16];
        truncated.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        Verifier(truncated)
    }
}

impl fmt::Debug for HashingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashingKey(<redacted>)")
    }
}

/// What a keyed lookup id is for: its domain byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupDomain {
    /// A DPoP proof's `jti` (R27).
    ProofJti = 0x10,
    /// A device's user code, normalised (R31).
    UserCode = 0x11,
    /// A host's attempt key for wrong user codes (R31).
    AttemptKey = 0x12,
    /// A subject named by the change feed, for its `subject_id` and
    /// erasure's index (R33, R34).
    FeedSubject = 0x13,
}

/// The prefixes that mark each kind of secret string.
///
/// Each must be 1 to 16 ASCII letters, digits, `_` or `-`, and no prefix may
/// start another, so that a string's kind is never ambiguous. Changing a prefix
/// makes every outstanding string of that kind unparseable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenPrefixes {
    /// Access token prefix (default `gdbat_`).
    pub access: String,
    /// Refresh token prefix (default `gdbrt_`).
    pub refresh: String,
    /// Authorization code prefix (default `gdbac_`).
    pub code: String,
    /// Client secret prefix (default `gdbcs_`).
    pub client_secret: String,
    /// Pushed request URI prefix, after `urn:ietf:params:oauth:request_uri:`
    /// (default `gdbpr_`).
    pub request_uri: String,
    /// Device code prefix (default `gdbdc_`).
    pub device_code: String,
}

impl Default for TokenPrefixes {
    fn default() -> TokenPrefixes {
        TokenPrefixes {
            access: "gdbat_".into(),
            refresh: "gdbrt_".into(),
            code: "gdbac_".into(),
            client_secret: "gdbcs_".into(),
            request_uri: "gdbpr_".into(),
            device_code: "gdbdc_".into(),
        }
    }
}

impl TokenPrefixes {
    /// The prefix for `kind`.
    pub fn get(&self, kind: TokenKind) -> &str {
        match kind {
            TokenKind::Access => &self.access,
            TokenKind::Refresh => &self.refresh,
            TokenKind::Code => &self.code,
            TokenKind::ClientSecret => &self.client_secret,
            TokenKind::RequestUri => &self.request_uri,
            TokenKind::DeviceCode => &self.device_code,
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        for kind in TokenKind::ALL {
            let prefix = self.get(kind);
            let well_formed = (1..=16).contains(&prefix.len())
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !well_formed {
                return Err(Error::InvalidConfig {
                    reason: "token prefixes must be 1 to 16 of [A-Za-z0-9_-]",
                });
            }
            for other in TokenKind::ALL {
                if other != kind && self.get(other).starts_with(prefix) {
                    return Err(Error::InvalidConfig {
                        reason: "no token prefix may start another",
                    });
                }
            }
        }
        Ok(())
    }
}

/// Mints secret strings and turns presented ones into their stored hashes,
/// under the keys of the ring the store accepts.
#[derive(Debug, Clone)]
pub(crate) struct Minter {
    /// The accepted (active) keys by id.
    keys: Vec<(u8, HashingKey)>,
    /// The id and key new strings are minted under: the newest accepted key.
    minting: (u8, HashingKey),
    /// Every key not removed (active and retired): DPoP proof ids are looked
    /// up under each, and consumed refresh tokens recognised (R08).
    proof_keys: Vec<(u8, HashingKey)>,
    prefixes: TokenPrefixes,
}

impl Minter {
    /// A minter with one key, id 1 (tests).
    #[cfg(test)]
    pub(crate) fn new(key: HashingKey, prefixes: TokenPrefixes) -> Minter {
        Minter {
            keys: vec![(LEGACY_KEY_ID, key.clone())],
            minting: (LEGACY_KEY_ID, key.clone()),
            proof_keys: vec![(LEGACY_KEY_ID, key)],
            prefixes,
        }
    }

    /// A minter accepting `keys`: the one with the highest id mints.
    /// `retired` keys are accepted for nothing but finding DPoP proof ids
    /// seen before. `None` for an empty ring.
    pub(crate) fn with_keys(
        mut keys: Vec<(u8, HashingKey)>,
        retired: Vec<(u8, HashingKey)>,
        prefixes: TokenPrefixes,
    ) -> Option<Minter> {
        keys.sort_by_key(|(id, _)| *id);
        let minting = keys.last()?.clone();
        let proof_keys = keys.iter().cloned().chain(retired).collect();
        Some(Minter {
            keys,
            minting,
            proof_keys,
            prefixes,
        })
    }

    /// The id and key new strings are minted under.
    fn minting(&self) -> (u8, &HashingKey) {
        (self.minting.0, &self.minting.1)
    }

    /// The id of the key new strings are minted under.
    pub(crate) fn minting_key_id(&self) -> u8 {
        self.minting.0
    }

    /// The accepted key with id `key_id`.
    fn key(&self, key_id: u8) -> Option<&HashingKey> {
        self.keys
            .iter()
            .find(|(id, _)| *id == key_id)
            .map(|(_, key)| key)
    }

    /// The ids a text of `domain` may be stored under (a DPoP proof's
    /// `jti` in `proof_jtis`, a user code in `user_codes`), with their keys'
    /// ids: one per key of the ring not removed (retired keys too: a proof
    /// seen before its key was retired is still a replay after), the minting
    /// key's first (new entries go under it).
    pub(crate) fn lookup_ids(&self, domain: LookupDomain, text: &str) -> Vec<(u8, TokenId)> {
        std::iter::once(&self.minting)
            .chain(
                self.proof_keys
                    .iter()
                    .filter(|(id, _)| *id != self.minting.0),
            )
            .map(|(id, key)| (*id, TokenId(key.lookup_id(domain, text))))
            .collect()
    }

    /// One id for a text of `domain` that stays the same when keys are
    /// added or retired: under the oldest key not removed (counters of
    /// wrong user codes per attempt key, which a rotation must not reset).
    pub(crate) fn stable_lookup_id(&self, domain: LookupDomain, text: &str) -> TokenId {
        let oldest = self
            .proof_keys
            .iter()
            .min_by_key(|(id, _)| *id)
            .map_or(&self.minting.1, |(_, key)| key);
        TokenId(oldest.lookup_id(domain, text))
    }

    /// A new secret string of `kind`, with the id and verifier to store. The
    /// random part of the id and the secret come from one draw of the
    /// operating system's random source.
    pub(crate) fn mint(&self, kind: TokenKind) -> Result<(Secret, Minted)> {
        let (key_id, key) = self.minting();
        let mut raw = Zeroizing::new([0u8; RAW_LEN]);
        raw[0] = key_id;
        crate::crypto::random::fill(&mut raw[TIME_END..SUM_AT])?;
        raw[ID_AT..TIME_END].copy_from_slice(&id_time());
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&raw[ID_AT..SECRET_AT]);
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        secret.copy_from_slice(&raw[SECRET_AT..SUM_AT]);
        let sum = checksum(kind, &raw[..SUM_AT]);
        raw[SUM_AT..].copy_from_slice(&sum.to_le_bytes());

        let prefix = self.prefixes.get(kind);
        let mut text = Zeroizing::new(String::with_capacity(prefix.len() + BODY_LEN));
        text.push_str(prefix);
        URL_SAFE_NO_PAD.encode_string(raw.as_slice(), &mut text);
        let minted = Minted {
            id: TokenId(id),
            verifier: key.verifier(kind, &id, &secret),
        };
        Ok((Secret(text), minted))
    }

    /// Checks the shape of `presented` as a `kind` string and returns the id
    /// to look up and the verifier to compare (R02), under the key the string
    /// names.
    ///
    /// Reads nothing: a malformed string is refused here, before any lookup.
    pub(crate) fn parse(&self, kind: TokenKind, presented: &str) -> Result<Presented> {
        let (key_id, parsed) = self.parse_parts(kind, presented)?;
        Ok(Presented {
            id: TokenId(parsed.id),
            verifier: self.key(key_id).map(|key| parsed.verifier_under(kind, key)),
        })
    }

    /// Like [`parse`](Self::parse), but under any key the store still holds,
    /// retired ones included: only for recognising a string the store
    /// already knows (a consumed refresh token presented again is a reuse
    /// whatever key minted it, R08), never for accepting one.
    pub(crate) fn parse_held(&self, kind: TokenKind, presented: &str) -> Result<Presented> {
        let (key_id, parsed) = self.parse_parts(kind, presented)?;
        let held = self
            .proof_keys
            .iter()
            .find(|(id, _)| *id == key_id)
            .map(|(_, key)| key);
        Ok(Presented {
            id: TokenId(parsed.id),
            verifier: held.map(|key| parsed.verifier_under(kind, key)),
        })
    }

    /// Checks the shape of a presented client secret (R02) and keeps its
    /// parts, to be hashed under the key the client's record names.
    pub(crate) fn parse_client_secret(&self, presented: &str) -> Result<ParsedSecret> {
        self.parse_parts(TokenKind::ClientSecret, presented)
            .map(|(_, parsed)| parsed)
    }

    /// The verifier of a client secret under accepted key `key_id`, if the
    /// store accepts that key.
    pub(crate) fn client_secret_verifier(
        &self,
        parsed: &ParsedSecret,
        key_id: u8,
    ) -> Option<Verifier> {
        self.key(key_id)
            .map(|key| parsed.verifier_under(TokenKind::ClientSecret, key))
    }

    /// The verifier of a client secret under the minting key, and that key's id.
    pub(crate) fn client_secret_rehashed(&self, parsed: &ParsedSecret) -> (u8, Verifier) {
        let (key_id, key) = self.minting();
        (key_id, parsed.verifier_under(TokenKind::ClientSecret, key))
    }

    /// The id of the key a well-formed `kind` string names.
    pub(crate) fn key_id_of(&self, kind: TokenKind, presented: &str) -> Option<u8> {
        self.parse_parts(kind, presented).ok().map(|(id, _)| id)
    }

    /// The key id and parts of a well-formed `kind` string.
    fn parse_parts(&self, kind: TokenKind, presented: &str) -> Result<(u8, ParsedSecret)> {
        let malformed = || Error::MalformedToken { expected: kind };
        let body = presented
            .strip_prefix(self.prefixes.get(kind))
            .ok_or_else(malformed)?;
        // A pre-ring string has no key byte: decode it one byte in, so both
        // layouts share the offsets below.
        let (key_len, raw_len) = match body.len() {
            BODY_LEN => (1, RAW_LEN),
            LEGACY_BODY_LEN => (0, LEGACY_RAW_LEN),
            _ => return Err(malformed()),
        };
        let mut raw = Zeroizing::new([0u8; RAW_LEN + 2]);
        raw[0] = LEGACY_KEY_ID;
        let start = 1 - key_len;
        match URL_SAFE_NO_PAD.decode_slice(body, &mut raw[start..]) {
            Ok(decoded) if decoded == raw_len => {}
            _ => return Err(malformed()),
        }
        let mut stored_sum = [0u8; 4];
        stored_sum.copy_from_slice(&raw[SUM_AT..RAW_LEN]);
        if u32::from_le_bytes(stored_sum) != checksum(kind, &raw[start..SUM_AT]) {
            return Err(malformed());
        }
        let mut parsed = ParsedSecret {
            id: [0u8; ID_LEN],
            secret: Zeroizing::new([0u8; SECRET_LEN]),
        };
        parsed.id.copy_from_slice(&raw[ID_AT..SECRET_AT]);
        parsed.secret.copy_from_slice(&raw[SECRET_AT..SUM_AT]);
        Ok((raw[0], parsed))
    }

    /// The kind whose prefix `presented` starts with, if any.
    pub(crate) fn kind_of(&self, presented: &str) -> Option<TokenKind> {
        TokenKind::ALL
            .into_iter()
            .find(|kind| presented.starts_with(self.prefixes.get(*kind)))
    }
}

impl ParsedSecret {
    fn verifier_under(&self, kind: TokenKind, key: &HashingKey) -> Verifier {
        key.verifier(kind, &self.id, &self.secret)
    }
}

fn checksum(kind: TokenKind, id_and_secret: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[kind.tag()]);
    hasher.update(id_and_secret);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minter() -> Minter {
        Minter::new(HashingKey::from_bytes([7; 32]), TokenPrefixes::default())
    }

    #[test]
    fn minted_strings_parse_back_to_their_hash() {
        let minter = minter();
        for kind in TokenKind::ALL {
            let (secret, issued) = minter.mint(kind).expect("random bytes");
            assert!(secret.expose().starts_with(minter.prefixes.get(kind)));
            let parsed = minter.parse(kind, secret.expose()).unwrap();
            assert_eq!(parsed.id, issued.id);
            assert!(parsed.matches(&issued.verifier.0));
            assert_eq!(minter.kind_of(secret.expose()), Some(kind));
        }
    }

    #[test]
    fn r02_every_single_character_change_is_rejected() {
        let minter = minter();
        let (secret, _) = minter.mint(TokenKind::Access).expect("random bytes");
        let text = secret.expose();
        for i in 0..text.len() {
            let mut bytes = text.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap_or_default();
            assert!(
                minter.parse(TokenKind::Access, &changed).is_err(),
                "position {i}"
            );
        }
    }

    #[test]
    fn r02_wrong_kind_and_truncation_are_rejected() {
        let minter = minter();
        let (secret, _) = minter.mint(TokenKind::Refresh).expect("random bytes");
        assert!(minter.parse(TokenKind::Access, secret.expose()).is_err());
        let text = secret.expose();
        assert!(
            minter
                .parse(TokenKind::Refresh, &text[..text.len() - 1])
                .is_err()
        );
        assert!(minter.parse(TokenKind::Refresh, "").is_err());
        assert!(minter.parse(TokenKind::Refresh, "gdbrt_ü").is_err());
    }

    #[test]
    fn keys_separate_hashes() {
        let a = minter();
        let b = Minter::new(HashingKey::from_bytes([8; 32]), TokenPrefixes::default());
        let (secret, minted) = a.mint(TokenKind::Access).expect("random bytes");
        let parsed = b.parse(TokenKind::Access, secret.expose()).unwrap();
        assert_eq!(parsed.id, minted.id);
        assert!(!parsed.matches(&minted.verifier.0));
    }

    fn ring(ids: &[u8]) -> Minter {
        let keys = ids
            .iter()
            .map(|id| (*id, HashingKey::from_bytes([*id; 32])))
            .collect();
        Minter::with_keys(keys, Vec::new(), TokenPrefixes::default()).expect("a key")
    }

    #[test]
    fn r28_strings_name_their_key_and_verify_under_it() {
        let old = ring(&[1]);
        let rotated = ring(&[1, 2]);
        let (before, minted_before) = old.mint(TokenKind::Access).expect("random bytes");
        let (after, minted_after) = rotated.mint(TokenKind::Access).expect("random bytes");
        // Minted under key 1, verified under key 1 by the rotated ring.
        let parsed = rotated.parse(TokenKind::Access, before.expose()).unwrap();
        assert!(parsed.matches(&minted_before.verifier.0));
        // The rotated ring mints under key 2, which the old ring lacks.
        let parsed = rotated.parse(TokenKind::Access, after.expose()).unwrap();
        assert!(parsed.matches(&minted_after.verifier.0));
        let unknown = old.parse(TokenKind::Access, after.expose()).unwrap();
        assert!(unknown.verifier.is_none() && !unknown.matches(&minted_after.verifier.0));
        // Key 1 retired: its strings parse but match nothing.
        let retired = ring(&[2]);
        assert!(
            !retired
                .parse(TokenKind::Access, before.expose())
                .unwrap()
                .matches(&minted_before.verifier.0)
        );
    }

    #[test]
    fn r28_a_string_from_before_the_ring_names_key_1() {
        // The pre-ring layout: id ‖ secret ‖ crc32(kind ‖ id ‖ secret), 70 chars.
        let mut raw = [0u8; LEGACY_RAW_LEN];
        raw[..ID_LEN + SECRET_LEN].fill(0x5a);
        let sum = checksum(TokenKind::Refresh, &raw[..ID_LEN + SECRET_LEN]);
        raw[ID_LEN + SECRET_LEN..].copy_from_slice(&sum.to_le_bytes());
        let text = format!("gdbrt_{}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(text.len(), 6 + LEGACY_BODY_LEN);
        let under_1 = HashingKey::from_bytes([1; 32]).verifier(
            TokenKind::Refresh,
            &[0x5a; ID_LEN],
            &[0x5a; SECRET_LEN],
        );
        let parsed = ring(&[1, 2]).parse(TokenKind::Refresh, &text).unwrap();
        assert!(parsed.matches(&under_1.0));
        assert!(
            ring(&[2])
                .parse(TokenKind::Refresh, &text)
                .unwrap()
                .verifier
                .is_none()
        );
    }

    #[test]
    fn r02_the_key_id_is_covered_by_the_checksum() {
        let minter = ring(&[1, 2]);
        let (secret, _) = minter.mint(TokenKind::Code).expect("random bytes");
        let body = secret.expose().strip_prefix("gdbac_").unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(body).unwrap();
        assert_eq!(raw[0], 2);
        raw[0] = 1;
        let changed = format!("gdbac_{}", URL_SAFE_NO_PAD.encode(raw));
        assert!(minter.parse(TokenKind::Code, &changed).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let (secret, _) = minter()
            .mint(TokenKind::ClientSecret)
            .expect("random bytes");
        assert!(!format!("{secret:?}").contains(&secret.expose()[6..]));
        assert_eq!(secret.expose().len(), 6 + BODY_LEN);
        assert!(!format!("{:?}", HashingKey::from_bytes([9; 32])).contains('9'));
    }

    #[test]
    fn overlapping_prefixes_are_refused() {
        let prefixes = TokenPrefixes {
            refresh: "gdbat".into(),
            ..TokenPrefixes::default()
        };
        assert!(prefixes.check().is_err());
        assert!(TokenPrefixes::default().check().is_ok());
    }
}
