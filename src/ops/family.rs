//! Grants (token families): creating one, issuing its tokens, removing a
//! token, and ending the whole family.
//!
//! Invariant kept here: a stored grant has at least one live-class token (an
//! access token or an unconsumed refresh token). When its last one goes, the
//! grant ends with its consumed refresh tokens, in the same transaction.

use std::ops::ControlFlow;

use super::Ctx;
use crate::client::RefreshLifetime;
use crate::error::Result;
use crate::grant::GrantOrigin;
use crate::ids::{ClientId, GrantId};
use crate::keys::{self, ExpiryKind, Owned};
use crate::kv::{KeyRange, KvRead, KvWrite, Table};
use crate::record::{self, ClientRecord, GrantRecord, StoredTokenKind, TokenRecord};
use crate::response::TokenResponse;
use crate::scope::Scope;
use crate::secret::{TokenHash, TokenKind};

/// Creates a grant record and its owner-index entries.
pub(crate) fn create_grant(
    kv: &mut impl KvWrite,
    ctx: &Ctx<'_>,
    client: &ClientId,
    subject: Option<&str>,
    scope: &Scope,
    origin: GrantOrigin,
) -> Result<(GrantId, GrantRecord)> {
    let grant_id = GrantId::generate();
    let grant = GrantRecord {
        client: *client.as_bytes(),
        subject: subject.map(str::to_owned),
        scope: scope.clone(),
        origin,
        created_at: ctx.now,
        last_refreshed_at: None,
    };
    record::save(kv, grant_id.as_bytes(), &grant)?;
    kv.put(
        Table::ByClient,
        &keys::by_client(client, Owned::Grant(grant_id)),
        &[],
    )?;
    if let Some(subject) = subject {
        kv.put(
            Table::BySubject,
            &keys::by_subject(subject, client, Owned::Grant(grant_id)),
            &[],
        )?;
    }
    Ok((grant_id, grant))
}

/// What to issue into a grant.
pub(crate) struct Issue<'a> {
    pub grant_id: GrantId,
    pub grant: &'a GrantRecord,
    pub client: &'a ClientRecord,
    /// The scope of the new tokens (the grant's, or a narrower one at refresh).
    pub scope: &'a Scope,
    pub with_refresh: bool,
    pub nonce: Option<String>,
}

/// Mints an access token, and a refresh token when asked, into a grant (R06).
pub(crate) fn issue_tokens(
    kv: &mut impl KvWrite,
    ctx: &Ctx<'_>,
    issue: Issue<'_>,
) -> Result<TokenResponse> {
    let client_id = ClientId(issue.grant.client);
    let lifetimes = ctx.config.lifetimes_for(&client_id, issue.client.lifetimes);
    let (access_token, access_hash) = ctx.minter.mint(TokenKind::Access);
    let refresh = issue
        .with_refresh
        .then(|| ctx.minter.mint(TokenKind::Refresh));
    let refresh_expiry = match lifetimes.refresh {
        RefreshLifetime::Never => None,
        // Absolute: counted from the grant's creation, not extended by rotation.
        RefreshLifetime::AbsoluteSeconds(seconds) => {
            Some(issue.grant.created_at.saturating_add(seconds))
        }
    };

    let access_expiry = ctx.now.saturating_add(lifetimes.access);
    let token = |kind, expires_at, partner: Option<&TokenHash>| TokenRecord {
        kind,
        grant: *issue.grant_id.as_bytes(),
        client: issue.grant.client,
        subject: issue.grant.subject.clone(),
        scope: issue.scope.clone(),
        issued_at: ctx.now,
        expires_at,
        partner: partner.map(|hash| *hash.as_bytes()),
        consumed: None,
    };
    let access = token(
        StoredTokenKind::Access,
        Some(access_expiry),
        refresh.as_ref().map(|(_, hash)| hash),
    );
    insert_token(kv, &access_hash, &access)?;
    if let Some((_, refresh_hash)) = &refresh {
        let refresh_record = token(StoredTokenKind::Refresh, refresh_expiry, Some(&access_hash));
        insert_token(kv, refresh_hash, &refresh_record)?;
    }

    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetimes.access,
        refresh_token: refresh.map(|(secret, _)| secret),
        scope: issue.scope.clone(),
        created_at: ctx.now,
        grant_id: issue.grant_id,
        client_id,
        subject: issue.grant.subject.clone(),
        nonce: issue.nonce,
    })
}

/// Writes a token record with its index entries.
pub(crate) fn insert_token(
    kv: &mut impl KvWrite,
    hash: &TokenHash,
    token: &TokenRecord,
) -> Result<()> {
    record::save(kv, hash.as_bytes(), token)?;
    kv.put(
        Table::GrantTokens,
        &keys::grant_token(&GrantId(token.grant), token.class(), hash),
        &[],
    )?;
    if let Some(at) = token.removal_time() {
        kv.put(
            Table::Expiry,
            &keys::expiry(at, ExpiryKind::Token, hash),
            &[],
        )?;
    }
    Ok(())
}

/// Deletes a token record and its index entries (not its partner's pointer).
fn delete_token_entries(
    kv: &mut impl KvWrite,
    hash: &TokenHash,
    token: &TokenRecord,
) -> Result<()> {
    kv.delete(Table::Tokens, hash.as_bytes())?;
    kv.delete(
        Table::GrantTokens,
        &keys::grant_token(&GrantId(token.grant), token.class(), hash),
    )?;
    if let Some(at) = token.removal_time() {
        kv.delete(Table::Expiry, &keys::expiry(at, ExpiryKind::Token, hash))?;
    }
    Ok(())
}

/// Replaces a token record whose class or removal time may have changed,
/// moving its index entries.
pub(crate) fn replace_token(
    kv: &mut impl KvWrite,
    hash: &TokenHash,
    old: &TokenRecord,
    new: &TokenRecord,
) -> Result<()> {
    delete_token_entries(kv, hash, old)?;
    insert_token(kv, hash, new)
}

/// Removes one token and clears its partner's pointer to it. Does not end the
/// grant; see [`remove_live_token`].
pub(crate) fn remove_token(
    kv: &mut impl KvWrite,
    hash: &TokenHash,
    token: &TokenRecord,
) -> Result<()> {
    delete_token_entries(kv, hash, token)?;
    if let Some(partner_hash) = token.partner.map(TokenHash) {
        if let Some(mut partner) = record::load::<TokenRecord>(kv, partner_hash.as_bytes())? {
            if partner.partner == Some(*hash.as_bytes()) {
                partner.partner = None;
                record::save(kv, partner_hash.as_bytes(), &partner)?;
            }
        }
    }
    Ok(())
}

/// Removes a token and, if it was its grant's last live-class token, ends the
/// grant. Returns whether the grant ended.
pub(crate) fn remove_token_and_settle_grant(
    kv: &mut impl KvWrite,
    hash: &TokenHash,
    token: &TokenRecord,
) -> Result<bool> {
    remove_token(kv, hash, token)?;
    let grant = GrantId(token.grant);
    if has_live_class_tokens(kv, &grant)? {
        return Ok(false);
    }
    end_grant(kv, &grant)
}

/// Whether the grant still holds an access token or an unconsumed refresh token.
pub(crate) fn has_live_class_tokens(kv: &impl KvRead, grant: &GrantId) -> Result<bool> {
    let mut found = false;
    kv.scan(
        Table::GrantTokens,
        &keys::grant_live_range(grant),
        |_, _| {
            found = true;
            Ok(ControlFlow::Break(()))
        },
    )?;
    Ok(found)
}

/// The hashes of every token of a grant, consumed ones included.
pub(crate) fn grant_token_hashes(kv: &impl KvRead, grant: &GrantId) -> Result<Vec<TokenHash>> {
    let mut hashes = Vec::new();
    kv.scan(
        Table::GrantTokens,
        &KeyRange::prefix(&keys::grant_tokens_prefix(grant)),
        |key, _| {
            if let Some((_, _, hash)) = keys::parse_grant_token(key) {
                hashes.push(hash);
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok(hashes)
}

/// Ends a grant: deletes every token of it, the grant and its index entries,
/// in the caller's transaction. Returns false if there was no such grant.
pub(crate) fn end_grant(kv: &mut impl KvWrite, grant_id: &GrantId) -> Result<bool> {
    for hash in grant_token_hashes(kv, grant_id)? {
        match record::load::<TokenRecord>(kv, hash.as_bytes())? {
            // Partners die together, so no pointer needs clearing.
            Some(token) => delete_token_entries(kv, &hash, &token)?,
            None => {
                // An index entry without its record: drop the stray entry.
                for class in [
                    keys::TokenClass::Access,
                    keys::TokenClass::Refresh,
                    keys::TokenClass::Consumed,
                ] {
                    kv.delete(
                        Table::GrantTokens,
                        &keys::grant_token(grant_id, class, &hash),
                    )?;
                }
            }
        }
    }
    let Some(grant) = record::load::<GrantRecord>(kv, grant_id.as_bytes())? else {
        return Ok(false);
    };
    kv.delete(Table::Grants, grant_id.as_bytes())?;
    let client = ClientId(grant.client);
    kv.delete(
        Table::ByClient,
        &keys::by_client(&client, Owned::Grant(*grant_id)),
    )?;
    if let Some(subject) = &grant.subject {
        kv.delete(
            Table::BySubject,
            &keys::by_subject(subject, &client, Owned::Grant(*grant_id)),
        )?;
    }
    Ok(true)
}
