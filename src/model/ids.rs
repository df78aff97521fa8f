//! Public identifiers: client ids and grant ids.
//!
//! Both are 16 random bytes, shown as 22 base64url characters. They are not
//! secrets (a client id travels in URLs), so they are stored as they are.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Length of an id's text form.
const ID_TEXT_LEN: usize = 22;

fn random_id() -> Result<[u8; 16], Error> {
    let mut bytes = [0u8; 16];
    crate::crypto::random::fill(&mut bytes)?;
    Ok(bytes)
}

fn parse_id(text: &str) -> Option<[u8; 16]> {
    if text.len() != ID_TEXT_LEN {
        return None;
    }
    let mut bytes = [0u8; 16];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
        Ok(16) => Some(bytes),
        _ => None,
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $error:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) [u8; 16]);

        impl $name {
            /// The 16 id bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// An id from its 16 bytes.
            pub fn from_bytes(bytes: [u8; 16]) -> $name {
                $name(bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; ID_TEXT_LEN];
                // 16 bytes always encode to exactly 22 characters.
                let written = URL_SAFE_NO_PAD.encode_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
                f.write_str(std::str::from_utf8(&buf[..written]).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(text: &str) -> Result<$name, Error> {
                parse_id(text).map($name).ok_or($error)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// Identifies a registered client (application). Public: it travels in URLs.
    ClientId,
    Error::MalformedClientId
);

id_type!(
    /// Identifies a grant: one token family, born from one code exchange, password
    /// request or client-credentials request.
    GrantId,
    Error::InvalidArgument {
        what: "grant id",
        reason: crate::error::InputError::BadStructure
    }
);

impl ClientId {
    /// A new random client id, whose text never begins with `-` or `_`.
    ///
    /// The first base64url character comes from the top six bits of the first
    /// byte; 62 and 63 encode `-` and `_`. An id starting with `-` reads as an
    /// option on a command line (`grantdb clients show -Ux…`), so those first
    /// bytes are drawn again: the text starts with a letter or digit, and is
    /// safe as a shell word, a URL part and a command-line argument. (Ids
    /// issued before are still accepted as they are.)
    pub(crate) fn generate() -> Result<ClientId, Error> {
        loop {
            let bytes = random_id()?;
            if starts_safely(bytes[0]) {
                return Ok(ClientId(bytes));
            }
        }
    }
}

/// Whether an id whose first byte is `first` starts with a letter or digit.
fn starts_safely(first: u8) -> bool {
    first >> 2 < 62
}

impl GrantId {
    /// A new grant id: issue time first, so that new grants of one client are
    /// written next to each other.
    pub(crate) fn generate() -> Result<GrantId, Error> {
        crate::crypto::secret::time_ordered_id().map(GrantId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = ClientId::generate().expect("random bytes");
        let text = id.to_string();
        assert_eq!(text.len(), ID_TEXT_LEN);
        assert_eq!(text.parse::<ClientId>().ok(), Some(id));
    }

    #[test]
    fn client_ids_never_start_with_a_dash_or_underscore() {
        // Every first byte the generator can keep, and every one it redraws.
        for first in 0..=u8::MAX {
            let mut bytes = [0u8; 16];
            bytes[0] = first;
            let text = ClientId(bytes).to_string();
            let safe = text.starts_with(|c: char| c.is_ascii_alphanumeric());
            assert_eq!(starts_safely(first), safe, "first byte {first}: {text}");
        }
        for _ in 0..2_000 {
            let text = ClientId::generate().expect("random bytes").to_string();
            assert!(
                text.starts_with(|c: char| c.is_ascii_alphanumeric()),
                "{text}"
            );
        }
    }

    #[test]
    fn r20_malformed_ids_are_typed_errors() {
        for bad in [
            "",
            "short",
            "!!!!!!!!!!!!!!!!!!!!!!",
            "AAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(
                matches!(bad.parse::<ClientId>(), Err(Error::MalformedClientId)),
                "{bad}"
            );
        }
    }
}
