//! Clients (R03): register, authenticate, rotate the secret, update, delete with
//! cascade, get and list.

use crate::record::{Records, RecordsMut};
use std::ops::ControlFlow;

use super::{load_client, tell};
use crate::crypto::kinds::KeyFingerprint;
use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::{ParsedSecret, Secret};
use crate::engine::ctx::Ctx;
use crate::engine::keyring;
use crate::error::{Error, InputError, Result};
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvRead};
use crate::model::client::{
    ChosenSecret, Client, ClientKind, ClientUpdate, Ensured, NewClient, RegisteredClient,
    SecretHash,
};
use crate::model::event::EventKind;
use crate::model::feed::EndReason;
use crate::model::grant_type::GrantType;
use crate::model::ids::{ClientId, GrantId};
use crate::model::key_info::KeyState;
use crate::model::page::{Page, PageRequest};
use crate::model::text::text_ok;
use crate::model::uri::RedirectUriPolicy;
use crate::record::ext::ClientExt;
use crate::record::keys;
use crate::record::{self, ClientRecord, MAX_CLIENT_NAME_LEN, MAX_REDIRECT_URIS};

use super::codes::remove_code;
use super::damage::Damage;
use super::family::end_grant;
use super::listing::{decode_cursor, encode_cursor};
use crate::engine::op::Op;
use crate::model::response::BulkRevocation;

/// Registering a client (R03).
pub(crate) const REGISTER: Op = Op::grows("register_client");
/// Authenticating a client (R03).
pub(crate) const AUTHENTICATE: Op = Op::read("authenticate_client");
/// Moving a client secret hashed under an older key to the minting key (R28).
pub(crate) const REHASH_SECRET: Op = Op::grows("rehash_client_secret");
/// Registering a client that names its id, or comparing it with the stored one (R03).
pub(crate) const ENSURE: Op = Op::grows("ensure_client");
/// Reading a client secret's hash.
pub(crate) const SECRET_HASH: Op = Op::read("read_clients");
/// Issuing a new client secret (R03).
pub(crate) const ROTATE_SECRET: Op = Op::grows("rotate_client_secret");
/// Changing a client.
pub(crate) const UPDATE: Op = Op::grows("update_client");
/// Deleting a client with its cascade (R03).
pub(crate) const DELETE: Op = Op::frees_alone("delete_client");
/// Reading clients.
pub(crate) const READ: Op = Op::read("read_clients");

fn check_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidArgument {
            what: "client name",
            reason,
        })
    };
    if name.is_empty() {
        return bad(InputError::Empty);
    }
    if name.len() > MAX_CLIENT_NAME_LEN {
        return bad(InputError::TooLong {
            max: MAX_CLIENT_NAME_LEN,
        });
    }
    if !text_ok(name, MAX_CLIENT_NAME_LEN) {
        return bad(InputError::BadCharacter);
    }
    Ok(())
}

/// Checks a client's redirect URIs: each against `policy` when they are new
/// (`None`: URIs already registered, perhaps under an older policy, are only
/// counted), no duplicate, and at least one for the code flow.
fn check_redirect_uris(
    uris: &[String],
    grant_types: &[GrantType],
    policy: Option<&RedirectUriPolicy>,
) -> Result<()> {
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(Error::InvalidArgument {
            what: "redirect URIs",
            reason: InputError::TooMany {
                max: MAX_REDIRECT_URIS,
            },
        });
    }
    for (i, uri) in uris.iter().enumerate() {
        if let Some(policy) = policy {
            policy.check(uri)?;
        }
        if uris[..i].contains(uri) {
            return Err(Error::InvalidArgument {
                what: "redirect URIs",
                reason: InputError::Duplicate,
            });
        }
    }
    if uris.is_empty() && grant_types.contains(&GrantType::AuthorizationCode) {
        // The code flow always redirects somewhere (RFC 6749 §3.1.2.2).
        return Err(Error::InvalidArgument {
            what: "redirect URIs",
            reason: InputError::Empty,
        });
    }
    Ok(())
}

fn check_grant_types(kind: ClientKind, grant_types: &[GrantType]) -> Result<()> {
    if grant_types.is_empty() {
        return Err(Error::InvalidArgument {
            what: "grant types",
            reason: InputError::Empty,
        });
    }
    if kind == ClientKind::Public && grant_types.contains(&GrantType::ClientCredentials) {
        // RFC 6749 §4.4: "MUST only be used by confidential clients".
        return Err(Error::InvalidArgument {
            what: "grant types (client_credentials needs a confidential client)",
            reason: InputError::BadStructure,
        });
    }
    Ok(())
}

/// Registers a client; a confidential client's secret is returned once (R01, R03).
pub(crate) fn register(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    new: &NewClient,
) -> Result<RegisteredClient> {
    check_name(&new.name)?;
    check_grant_types(new.kind, &new.grant_types)?;
    check_redirect_uris(
        &new.redirect_uris,
        &new.grant_types,
        Some(&ctx.config.redirect_uri_policy),
    )?;
    new.lifetimes.check()?;

    let id = match new.id {
        Some(id) if kv.get(Table::Clients, id.as_bytes(), |_| ())?.is_some() => {
            return Err(Error::ClientExists);
        }
        Some(id) => id,
        None => ClientId::generate()?,
    };
    let hashed = secret_of(kv, ctx, new)?;
    let client = ClientRecord {
        name: new.name.clone(),
        redirect_uris: new.redirect_uris.clone(),
        kind: new.kind,
        secret_hash: hashed.as_ref().map(|h| h.verifier),
        grant_types: ClientRecord::grant_type_bits(&new.grant_types),
        scopes: new.scopes.clone(),
        lifetimes: new.lifetimes,
        created_at: ctx.now,
        ext: ClientExt {
            secret_key: hashed.as_ref().map(|h| h.key_id),
            require_pushed_requests: new.require_pushed_requests,
        },
    };
    record::save(kv, id.as_bytes(), &client)?;
    tell(kv, ctx, EventKind::ClientRegistered, Some(id), None, None);
    Ok(RegisteredClient {
        client: client.to_client(id),
        secret: hashed.and_then(|h| h.minted),
    })
}

/// A secret's verifier as a client record keeps it.
struct Hashed {
    verifier: [u8; 16],
    /// The ring key it is under.
    key_id: u8,
    /// The secret, when the store minted it (to hand out this once).
    minted: Option<Secret>,
}

/// The secret of a new client: minted, the caller's own (hashed under the
/// minting key), or the caller's hash (under the active key it names);
/// none for a public client.
fn secret_of(kv: &impl Records, ctx: &Ctx<'_>, new: &NewClient) -> Result<Option<Hashed>> {
    let refused = |reason| Error::InvalidArgument {
        what: "client secret",
        reason,
    };
    match (&new.secret, new.kind) {
        (None, ClientKind::Public) => Ok(None),
        (Some(_), ClientKind::Public) => Err(refused(InputError::NotAllowed)),
        (None, ClientKind::Confidential) => {
            let (secret, minted) = ctx.minter.mint(TokenKind::ClientSecret)?;
            Ok(Some(Hashed {
                verifier: minted.verifier.0,
                key_id: ctx.minter.minting_key_id(),
                minted: Some(secret),
            }))
        }
        (Some(ChosenSecret::Plain(secret)), ClientKind::Confidential) => {
            // R02: a secret of grantdb's shape, so that authentication
            // refuses every other string before it reads anything.
            let parsed = ctx
                .minter
                .parse_client_secret(secret.expose())
                .map_err(|_| refused(InputError::BadStructure))?;
            let (key_id, verifier) = ctx.minter.client_secret_rehashed(&parsed);
            Ok(Some(Hashed {
                verifier: verifier.0,
                key_id,
                minted: None,
            }))
        }
        (Some(ChosenSecret::Hashed(hash)), ClientKind::Confidential) => {
            let key_id = keyring::read_entries(kv)?
                .into_iter()
                .find(|entry| entry.fingerprint == hash.key.0 && entry.state == KeyState::Active)
                .map(|entry| entry.id)
                .ok_or(Error::KeyRing {
                    reason: "the secret is hashed under a key this store does not hold active",
                })?;
            Ok(Some(Hashed {
                verifier: hash.verifier,
                key_id,
                minted: None,
            }))
        }
    }
}

/// Registers `new` (which names its id) if no client has the id; otherwise
/// compares the stored client with it and says which fields differ,
/// changing nothing (R03).
pub(crate) fn ensure(kv: &mut impl RecordsMut, ctx: &Ctx<'_>, new: &NewClient) -> Result<Ensured> {
    let id = new.id.ok_or(Error::InvalidArgument {
        what: "client id (a client to ensure names its id)",
        reason: InputError::Empty,
    })?;
    let Some(stored) = record::load::<ClientRecord>(kv, id.as_bytes())? else {
        return register(kv, ctx, new).map(Ensured::Created);
    };
    let client = stored.to_client(id);
    let same_set = |a: &[GrantType], b: &[GrantType]| {
        a.iter().all(|g| b.contains(g)) && b.iter().all(|g| a.contains(g))
    };
    let mut fields = Vec::new();
    let mut differs = |differ: bool, field| {
        if differ {
            fields.push(field);
        }
    };
    differs(client.name != new.name, "name");
    differs(client.redirect_uris != new.redirect_uris, "redirect_uris");
    differs(client.kind != new.kind, "kind");
    differs(
        !same_set(&client.grant_types, &new.grant_types),
        "grant_types",
    );
    differs(client.scopes != new.scopes, "scopes");
    differs(client.lifetimes != new.lifetimes, "lifetimes");
    differs(
        client.require_pushed_requests != new.require_pushed_requests,
        "require_pushed_requests",
    );
    let secret_matches = match &new.secret {
        // Nothing said about the secret: whatever it is.
        None => true,
        Some(ChosenSecret::Plain(secret)) => ctx
            .minter
            .parse_client_secret(secret.expose())
            .is_ok_and(|parsed| secret_verifies(ctx, &stored, &parsed)),
        Some(ChosenSecret::Hashed(hash)) => {
            let entries = keyring::read_entries(kv)?;
            let stored_key = entries
                .iter()
                .find(|entry| entry.id == stored.ext.secret_key_id())
                .map(|entry| entry.fingerprint);
            stored.secret_hash == Some(hash.verifier) && stored_key == Some(hash.key.0)
        }
    };
    differs(!secret_matches, "secret");
    Ok(if fields.is_empty() {
        Ensured::Unchanged(client)
    } else {
        Ensured::Differs { client, fields }
    })
}

/// The hash of a client's secret and the key it is under, for another
/// store of the same key ([`ChosenSecret::Hashed`]); `None` for a public
/// client.
pub(crate) fn secret_hash(kv: &impl Records, id: &ClientId) -> Result<Option<SecretHash>> {
    let client = load_client(kv, id)?;
    let Some(verifier) = client.secret_hash else {
        return Ok(None);
    };
    let key = keyring::read_entries(kv)?
        .into_iter()
        .find(|entry| entry.id == client.ext.secret_key_id())
        .map(|entry| KeyFingerprint(entry.fingerprint))
        .ok_or(Error::KeyRing {
            reason: "the client's secret names a key the ring does not list",
        })?;
    Ok(Some(SecretHash { key, verifier }))
}

/// Authenticates a client by id and secret, comparing hashes in constant time (R03).
///
/// A confidential client must present its secret; a public client must present
/// none. Any mismatch is `ClientAuthenticationFailed` (`invalid_client`).
/// The secret is hashed under the ring key the client's record names (R28);
/// [`Authenticated::stale_key`] says it should move to the minting key.
pub(crate) fn authenticate(
    kv: &impl Records,
    ctx: &Ctx<'_>,
    id: &ClientId,
    secret: Option<&str>,
) -> Result<Authenticated> {
    // A malformed secret is refused before any read (R02), and is just a
    // wrong secret: no hint about which part failed.
    let presented = secret
        .map(|secret| ctx.minter.parse_client_secret(secret))
        .transpose()
        .map_err(|_| Error::ClientAuthenticationFailed)?;
    let client = load_client(kv, id)?;
    let verified = match &presented {
        Some(presented) => secret_verifies(ctx, &client, presented),
        None => client.secret_hash.is_none(),
    };
    if !verified {
        return Err(Error::ClientAuthenticationFailed);
    }
    Ok(Authenticated {
        client: client.to_client(*id),
        stale_key: client.secret_hash.is_some()
            && client.ext.secret_key_id() != ctx.minter.minting_key_id(),
    })
}

/// Whether `presented` is the client's secret, hashed under the ring key
/// its record names (R03, R28). A client without a secret has none to match.
fn secret_verifies(ctx: &Ctx<'_>, client: &ClientRecord, presented: &ParsedSecret) -> bool {
    client.secret_hash.is_some_and(|stored| {
        ctx.minter
            .client_secret_verifier(presented, client.ext.secret_key_id())
            .is_some_and(|verifier| verifier.matches(&stored))
    })
}

/// A client that authenticated.
pub(crate) struct Authenticated {
    pub client: Client,
    /// Its secret is hashed under an older key of the ring than the minting
    /// one: [`rehash_secret`] moves it (R28).
    pub stale_key: bool,
}

/// Hashes a client's secret again under the minting key, once it verified
/// under the key its record names (R28); the string the client holds does
/// not change. Answers whether the record changed: not when the secret no
/// longer verifies (rotated meanwhile) or is already under the minting key.
pub(crate) fn rehash_secret(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    id: &ClientId,
    secret: &str,
) -> Result<bool> {
    let Ok(presented) = ctx.minter.parse_client_secret(secret) else {
        return Ok(false);
    };
    let mut client = load_client(kv, id)?;
    let current = client.ext.secret_key_id() == ctx.minter.minting_key_id();
    if current || !secret_verifies(ctx, &client, &presented) {
        return Ok(false);
    }
    let (newest_key, rehashed) = ctx.minter.client_secret_rehashed(&presented);
    client.secret_hash = Some(rehashed.0);
    client.ext.secret_key = Some(newest_key);
    record::save(kv, id.as_bytes(), &client)?;
    Ok(true)
}

/// Issues a new secret; the old one fails from this commit on (R03).
pub(crate) fn rotate_secret(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    id: &ClientId,
) -> Result<Secret> {
    let mut client = load_client(kv, id)?;
    if client.kind != ClientKind::Confidential {
        return Err(Error::InvalidArgument {
            what: "client (a public client has no secret)",
            reason: InputError::BadStructure,
        });
    }
    let (secret, minted) = ctx.minter.mint(TokenKind::ClientSecret)?;
    client.secret_hash = Some(minted.verifier.0);
    client.ext.secret_key = Some(ctx.minter.minting_key_id());
    record::save(kv, id.as_bytes(), &client)?;
    tell(
        kv,
        ctx,
        EventKind::ClientSecretRotated,
        Some(*id),
        None,
        None,
    );
    Ok(secret)
}

/// Applies an update; tokens already issued keep their scope and expiry.
pub(crate) fn update(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    id: &ClientId,
    change: &ClientUpdate,
) -> Result<Client> {
    let mut client = load_client(kv, id)?;
    if let Some(name) = &change.name {
        check_name(name)?;
        client.name.clone_from(name);
    }
    if let Some(grant_types) = &change.grant_types {
        check_grant_types(client.kind, grant_types)?;
        client.grant_types = ClientRecord::grant_type_bits(grant_types);
    }
    if let Some(uris) = &change.redirect_uris {
        client.redirect_uris.clone_from(uris);
    }
    let grant_types = client.to_client(*id).grant_types;
    let policy = change
        .redirect_uris
        .is_some()
        .then_some(&ctx.config.redirect_uri_policy);
    check_redirect_uris(&client.redirect_uris, &grant_types, policy)?;
    if let Some(scopes) = &change.scopes {
        client.scopes = scopes.clone();
    }
    if let Some(lifetimes) = change.lifetimes {
        lifetimes.check()?;
        client.lifetimes = lifetimes;
    }
    if let Some(required) = change.require_pushed_requests {
        client.ext.require_pushed_requests = required;
    }
    record::save(kv, id.as_bytes(), &client)?;
    tell(kv, ctx, EventKind::ClientUpdated, Some(*id), None, None);
    Ok(client.to_client(*id))
}

/// Deletes a client and, in the same transaction, every code, grant, token and
/// consent of it (R03); `None` if there was no such client.
pub(crate) fn delete(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    id: &ClientId,
) -> Result<Option<BulkRevocation>> {
    // Existence only: a client whose record is damaged can still be deleted.
    if kv.get(Table::Clients, id.as_bytes(), |_| ())?.is_none() {
        return Ok(None);
    }
    let ended = revoke_everything_of(kv, id)?;
    super::consent::forget_all_of_client(kv, id)?;
    kv.delete(Table::Clients, id.as_bytes())?;
    let grants = ended.grants;
    tell(
        kv,
        ctx,
        EventKind::ClientDeleted { grants },
        Some(*id),
        None,
        None,
    );
    Ok(Some(ended))
}

/// Ends every grant and removes every code of a client, skipping damaged
/// records.
pub(crate) fn revoke_everything_of(
    kv: &mut impl RecordsMut,
    id: &ClientId,
) -> Result<BulkRevocation> {
    let mut grants = Vec::new();
    kv.scan(Table::Grants, &KeyRange::prefix(id.as_bytes()), |key, _| {
        if let Some((_, grant)) = keys::parse_grant(key) {
            grants.push(grant);
        }
        Ok(ControlFlow::Continue(()))
    })?;
    let mut codes = Vec::new();
    kv.scan(
        Table::ClientCodes,
        &KeyRange::prefix(id.as_bytes()),
        |key, _| {
            if let Some((_, hash)) = keys::parse_client_code(key) {
                codes.push(hash);
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    let ending: Vec<(ClientId, GrantId)> = grants.iter().map(|grant| (*id, *grant)).collect();
    super::family::read_ahead_for_ending(kv, &ending, &codes)?;
    let damage = Damage::skip();
    let mut ended = 0;
    for grant in grants {
        ended += u64::from(end_grant(
            kv,
            *id,
            grant,
            &damage,
            Some(EndReason::ClientDeleted),
        )?);
    }
    for hash in codes {
        remove_code(kv, &hash, &damage)?;
    }
    Ok(BulkRevocation {
        grants: ended,
        damaged: damage.skipped(),
    })
}

/// Reads one client.
pub(crate) fn get(kv: &impl Records, id: &ClientId) -> Result<Option<Client>> {
    Ok(record::load::<ClientRecord>(kv, id.as_bytes())?.map(|record| record.to_client(*id)))
}

/// Lists clients in id order.
pub(crate) fn list(kv: &impl Records, page: &PageRequest) -> Result<Page<Client>> {
    let range = match &page.after {
        None => KeyRange::all(),
        Some(cursor) => KeyRange::prefix_after(&[], &decode_cursor(cursor, &[])?),
    };
    let limit = page.effective_limit();
    let mut items = Vec::new();
    let mut next = None;
    kv.scan(Table::Clients, &range, |key, value| {
        if items.len() == limit {
            next = items
                .last()
                .map(|client: &Client| encode_cursor(client.id.as_bytes()));
            return Ok(ControlFlow::Break(()));
        }
        let corrupted = |source| Error::Corrupted {
            table: Table::Clients,
            source,
        };
        let id = ClientId(
            key.try_into()
                .map_err(|_| corrupted(crate::error::DecodeError::BadKey))?,
        );
        let client =
            record::decode_in::<ClientRecord>(Some(kv.seal()), key, value).map_err(corrupted)?;
        items.push(client.to_client(id));
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(Page { items, next })
}
