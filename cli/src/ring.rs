//! `grantdb keys`: the hashing-key ring of a database (list, add, retire,
//! remove), on `Store::hashing_keys` and its siblings.

use std::path::Path;
use std::process::ExitCode;

use grantdb::{HashingKey, KeyId, KeyInfo, KeyState};

use crate::support::{Failure, Outcome, open, print_json};
use crate::{Cli, KeysCommand};

/// Runs one `keys` subcommand.
pub fn run(cli: &Cli, command: &KeysCommand) -> Outcome {
    let store = open(cli)?;
    match command {
        KeysCommand::List { json } => {
            let keys = store.hashing_keys()?;
            if *json {
                return print_json(&keys);
            }
            out!("id  state    minting  kept  client_secrets  fingerprint");
            for key in &keys {
                print_row(key);
            }
        }
        KeysCommand::Add { new_key_file } => {
            let key = new_key_file.as_deref().map(new_host_key).transpose()?;
            let added = store.add_hashing_key(key)?;
            out!(
                "added key {} (fingerprint {}); it mints from now on",
                added.id,
                added.fingerprint
            );
            if let Some(path) = new_key_file {
                out!(
                    "pass --key-file {} with the other keys of the ring from now on",
                    path.display()
                );
            }
        }
        KeysCommand::Retire { id } => {
            let retired = store.retire_hashing_key(KeyId::new(*id))?;
            out!(
                "retired key {}: what was minted under it no longer works; {} client \
                 secret(s) were still hashed under it",
                retired.id,
                retired.client_secrets
            );
        }
        KeysCommand::Remove { id } => {
            let resealed = store.remove_hashing_key(KeyId::new(*id))?;
            out!("removed key {id}: {resealed} record(s) sealed again under the minting key");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_row(key: &KeyInfo) {
    let state = match key.state {
        KeyState::Active => "active",
        KeyState::Retired => "retired",
        KeyState::Removed => "removed",
        // A state added by a later version of the library.
        _ => "other",
    };
    let yes = |flag: bool| if flag { "yes" } else { "-" };
    out!(
        "{:<3} {:<8} {:<8} {:<5} {:<15} {}",
        key.id,
        state,
        yes(key.minting),
        yes(key.kept_in_database),
        key.client_secrets,
        key.fingerprint
    );
}

/// The host key at `path`, or a new one generated and written there when
/// there is no file yet.
fn new_host_key(path: &Path) -> Result<HashingKey, Failure> {
    if path.exists() {
        return Ok(crate::key::read_file(path)?);
    }
    let key = HashingKey::generate()?;
    crate::key::write_new_file(path, &key)?;
    Ok(key)
}
