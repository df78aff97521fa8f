//! The hashing key of a database created with a host-supplied key: from
//! `--key-file` (32 raw bytes, or 64 hex digits) or `GRANTDB_KEY` (64 hex
//! digits). Every copy of the key is zeroed when dropped.

use std::path::Path;

use grantdb::HashingKey;
use zeroize::Zeroizing;

/// Reads the key from `--key-file` or `GRANTDB_KEY`; `None` when neither is
/// given (the database then must hold its own generated key).
pub fn load(key_file: Option<&Path>) -> Result<Option<HashingKey>, String> {
    match (key_file, std::env::var("GRANTDB_KEY")) {
        (Some(path), _) => {
            let bytes = Zeroizing::new(
                std::fs::read(path)
                    .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?,
            );
            from_file_bytes(&bytes).map(Some)
        }
        (None, Ok(text)) => {
            let text = Zeroizing::new(text);
            from_hex(text.trim().as_bytes())
                .map(Some)
                .map_err(|found| format!("GRANTDB_KEY must be 64 hex digits; it {found}"))
        }
        (None, Err(_)) => Ok(None),
    }
}

/// A key file holds 64 hex digits (a trailing newline allowed) or 32 raw
/// bytes. 32 bytes that are all hex digits are refused: most likely a
/// 16-byte key written in hex, which would be half the strength it seems.
fn from_file_bytes(bytes: &[u8]) -> Result<HashingKey, String> {
    let trimmed = bytes.trim_ascii_end();
    if trimmed.len() == 64 {
        return from_hex(trimmed)
            .map_err(|found| format!("the key file holds 64 characters, but it {found}"));
    }
    if bytes.len() == 32 {
        if bytes.iter().all(u8::is_ascii_hexdigit) {
            return Err(
                "the key file holds 32 hex digits (a 16-byte key); a hashing key is \
                        32 raw bytes or 64 hex digits"
                    .to_owned(),
            );
        }
        return HashingKey::from_slice(bytes).map_err(|e| e.to_string());
    }
    Err(format!(
        "the key file holds {} bytes; a hashing key is 32 raw bytes or 64 hex digits",
        bytes.len()
    ))
}

/// A key from 64 hex digits; the error says what was found instead.
fn from_hex(text: &[u8]) -> Result<HashingKey, String> {
    if text.len() != 64 {
        return Err(format!("has {} characters", text.len()));
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, raw.as_mut_slice())
        .map_err(|_| "holds a character that is not a hex digit".to_owned())?;
    HashingKey::from_slice(raw.as_slice()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_32_raw_bytes_or_64_hex_digits() {
        assert!(from_file_bytes(&[0xAB; 32]).is_ok());
        assert!(from_file_bytes("ab".repeat(32).as_bytes()).is_ok());
        assert!(from_file_bytes(format!("{}\n", "ab".repeat(32)).as_bytes()).is_ok());
        let half = from_file_bytes("ab".repeat(16).as_bytes()).unwrap_err();
        assert!(half.contains("32 hex digits"), "{half}");
        let short = from_file_bytes(&[1; 20]).unwrap_err();
        assert!(short.contains("20 bytes"), "{short}");
        let bad_hex = from_file_bytes("zz".repeat(32).as_bytes()).unwrap_err();
        assert!(bad_hex.contains("not a hex digit"), "{bad_hex}");
    }
}
