//! What a secret string is for, and what names a hashing key: leaves of the
//! crate (they import nothing of it), so that the error type can name them.

use std::fmt;

/// What a secret string is for; each kind has its own prefix and hash domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TokenKind {
    /// An access token (bearer credential for resource servers).
    Access,
    /// A refresh token.
    Refresh,
    /// An authorization code.
    Code,
    /// A client secret.
    ClientSecret,
    /// The secret part of a pushed authorization request's `request_uri`
    /// (RFC 9126).
    RequestUri,
    /// A device code (RFC 8628), polled by the device.
    DeviceCode,
}

impl TokenKind {
    /// Every kind, in tag order.
    pub const ALL: [TokenKind; 6] = [
        TokenKind::Access,
        TokenKind::Refresh,
        TokenKind::Code,
        TokenKind::ClientSecret,
        TokenKind::RequestUri,
        TokenKind::DeviceCode,
    ];

    /// The byte that separates the kinds in checksums and hashes.
    pub(crate) fn tag(self) -> u8 {
        match self {
            TokenKind::Access => 1,
            TokenKind::Refresh => 2,
            TokenKind::Code => 3,
            TokenKind::ClientSecret => 4,
            TokenKind::RequestUri => 5,
            TokenKind::DeviceCode => 6,
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKind::Access => "access token",
            TokenKind::Refresh => "refresh token",
            TokenKind::Code => "authorization code",
            TokenKind::ClientSecret => "client secret",
            TokenKind::RequestUri => "request URI",
            TokenKind::DeviceCode => "device code",
        })
    }
}

/// What identifies a hashing key without revealing it: 16 bytes of a keyed
/// BLAKE3 hash of a fixed label, shown as 32 hex digits. The database keeps
/// the fingerprint of every key it has used.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyFingerprint(pub(crate) [u8; 16]);

impl KeyFingerprint {
    /// The fingerprint written as 32 hex digits.
    pub(crate) fn from_hex(text: &str) -> Option<KeyFingerprint> {
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(KeyFingerprint(bytes))
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}
