//! The hashing keys of a database created with host-supplied keys: from
//! `--key-file` (each 32 raw bytes, or 64 hex digits; repeat for a ring) or
//! `GRANTDB_KEY` (64 hex digits, several separated by commas). Every copy of
//! a key is zeroed when dropped.

use std::path::{Path, PathBuf};

use grantdb::HashingKey;
use zeroize::Zeroizing;

/// Reads the ring from the `--key-file`s or `GRANTDB_KEY`; empty when
/// neither is given (the database then must hold its own generated key).
pub fn load(key_files: &[PathBuf]) -> Result<Vec<HashingKey>, String> {
    if !key_files.is_empty() {
        return key_files.iter().map(|path| read_file(path)).collect();
    }
    let Ok(text) = std::env::var("GRANTDB_KEY") else {
        return Ok(Vec::new());
    };
    let text = Zeroizing::new(text);
    text.split(',')
        .map(|hex| {
            from_hex(hex.trim().as_bytes())
                .map_err(|found| format!("GRANTDB_KEY must be 64 hex digits; one key {found}"))
        })
        .collect()
}

/// Reads one key file.
pub fn read_file(path: &Path) -> Result<HashingKey, String> {
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?,
    );
    from_file_bytes(&bytes)
}

/// Writes `key` to a new file at `path` as 64 hex digits and a newline,
/// readable by its owner only.
pub fn write_new_file(path: &Path, key: &HashingKey) -> Result<(), String> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create the key file {}: {e}", path.display()))?;
    let mut text = Zeroizing::new([b'\n'; 65]);
    hex::encode_to_slice(key.expose_bytes(), &mut text[..64])
        .map_err(|e| format!("cannot encode the key: {e}"))?;
    file.write_all(text.as_slice())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write the key file {}: {e}", path.display()))
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
