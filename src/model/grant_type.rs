//! The grant types a client may be allowed: a leaf of the crate (it imports
//! nothing of it), so that the error type can name one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The OAuth 2.0 grant types a client may be allowed (RFC 6749 §4, §6).
///
/// The variant order is part of the on-disk format: append, never reorder.
/// In JSON it is its RFC name (`"authorization_code"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantType {
    /// `authorization_code` (RFC 6749 §4.1).
    AuthorizationCode,
    /// `refresh_token` (RFC 6749 §6): the client receives refresh tokens.
    RefreshToken,
    /// `password` (RFC 6749 §4.3), as Ticketpark uses it.
    Password,
    /// `client_credentials` (RFC 6749 §4.4), as Prioticket uses it.
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628): TVs,
    /// command-line tools and check-in devices (R31).
    DeviceCode,
}

impl GrantType {
    /// Every grant type.
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::Password,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
    ];

    /// The `grant_type` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::Password => "password",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
