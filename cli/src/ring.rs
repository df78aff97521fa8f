//! `grantdb keys`: the hashing-key ring of a database (list, add, retire,
//! remove), on `Store::hashing_keys` and its siblings.

use std::path::Path;
use std::process::ExitCode;

use grantdb::{HashingKey, KeyId, KeyInfo, KeyState};

use crate::support::{Failure, Outcome, confirm, open, print_json};
use crate::{Cli, KeysCommand};

/// Runs one `keys` subcommand.
pub fn run(cli: &Cli, command: &KeysCommand) -> Outcome {
    let store = open(cli)?;
    match command {
        KeysCommand::List => {
            let keys = store.hashing_keys()?;
            if cli.json {
                return print_json(&keys);
            }
            out!("id  state    minting  kept  client_secrets  live_tokens  fingerprint");
            for key in &keys {
                print_row(key);
            }
        }
        KeysCommand::Add { new_key_file } => {
            let key = new_key_file.as_deref().map(new_host_key).transpose()?;
            let added = store.add_hashing_key(key)?;
            if cli.json {
                return print_json(&added);
            }
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
        KeysCommand::Retire { id, force } => {
            let key = depended_on(&store, *id, *force, "retire")?;
            confirm(
                cli,
                &format!(
                    "this retires key {id}: every token, code and client secret minted or \
                     hashed under it stops working ({} client secret(s), {} live token(s))",
                    key.client_secrets,
                    key.live_tokens
                        .map_or_else(|| "an unknown number of".to_owned(), |n| n.to_string())
                ),
            )?;
            let retired = store.retire_hashing_key(KeyId::new(*id))?;
            if cli.json {
                return print_json(&retired);
            }
            out!(
                "retired key {}: what was minted under it no longer works; {} client \
                 secret(s) were still hashed under it",
                retired.id,
                retired.client_secrets
            );
        }
        KeysCommand::Remove { id, force } => {
            depended_on(&store, *id, *force, "remove")?;
            confirm(
                cli,
                &format!("this removes key {id} from the ring for good"),
            )?;
            let resealed = store.remove_hashing_key(KeyId::new(*id))?;
            if cli.json {
                return print_json(&serde_json::json!({ "removed": id, "resealed": resealed }));
            }
            out!("removed key {id}: {resealed} record(s) sealed again under the minting key");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Key `id`, unless client secrets are still hashed under it and `force`
/// is not given: those clients would fail to authenticate (401
/// `invalid_client`) once the key is retired or removed.
fn depended_on(
    store: &grantdb::Store,
    id: u8,
    force: bool,
    verb: &str,
) -> Result<KeyInfo, Failure> {
    let keys = store.hashing_keys()?;
    let actives = keys
        .iter()
        .filter(|key| key.state == KeyState::Active)
        .count();
    let key = keys
        .into_iter()
        .find(|key| key.id.get() == id)
        .ok_or_else(|| Failure::usage(format!("no key {id} in the ring (`grantdb keys list`)")))?;
    // The last active key cannot be retired at all: the store says so.
    if force || (verb == "retire" && actives == 1 && key.state == KeyState::Active) {
        return Ok(key);
    }
    if key.client_secrets > 0 {
        return Err(Failure(format!(
            "{} client secret(s) are still hashed under key {id}: to {verb} it now would make \
             those clients fail to authenticate. Let each client authenticate once (its secret \
             moves to the newest key), or rotate their secrets, then {verb} it; or pass --force",
            key.client_secrets
        )));
    }
    // Retiring ends what the key minted; removing a retired key changes
    // nothing more for tokens.
    if verb == "retire"
        && let Some(live) = key.live_tokens.filter(|live| *live > 0)
    {
        return Err(Failure(format!(
            "{live} live token(s) were minted under key {id}: to retire it now would sign their \
             users out (a refresh moves a grant to the newest key). Wait until they are \
             refreshed or expire, or pass --force"
        )));
    }
    Ok(key)
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
    // Under a removed key a secret can never verify again: not a count of
    // what depends on the key, but of clients that must get a new secret.
    let secrets = match (key.state, key.client_secrets) {
        (KeyState::Removed, n) if n > 0 => format!("{n} unusable"),
        (_, n) => n.to_string(),
    };
    let live = key
        .live_tokens
        .map_or_else(|| "?".to_owned(), |live| live.to_string());
    out!(
        "{:<3} {:<8} {:<8} {:<5} {:<15} {:<12} {}",
        key.id,
        state,
        yes(key.minting),
        yes(key.kept_in_database),
        secrets,
        live,
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
