//! The hashing key of a database created with a host-supplied key.

use std::path::Path;

use grantdb::HashingKey;

/// Reads the key from `--key-file` or `GRANTDB_KEY`; `None` when neither is
/// given (the database then must hold its own generated key).
pub fn load(key_file: Option<&Path>) -> Result<Option<HashingKey>, String> {
    let text = match (key_file, std::env::var("GRANTDB_KEY")) {
        (Some(path), _) => {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
            if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Ok(Some(HashingKey::from_bytes(raw)));
            }
            String::from_utf8(bytes)
                .map_err(|_| "the key file is neither 32 bytes nor hex".to_owned())?
        }
        (None, Ok(hex)) => hex,
        (None, Err(_)) => return Ok(None),
    };
    let decoded =
        hex::decode(text.trim()).map_err(|_| "the hashing key is not valid hex".to_owned())?;
    let raw = <[u8; 32]>::try_from(decoded.as_slice())
        .map_err(|_| "the hashing key must be 32 bytes".to_owned())?;
    Ok(Some(HashingKey::from_bytes(raw)))
}
