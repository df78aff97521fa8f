//! Grants (token families): creating one (within the grant limits, R23),
//! issuing its tokens, removing a token, and ending the whole family.
//!
//! A grant record lists its live-class tokens (access tokens and unconsumed
//! refresh tokens); consumed refresh tokens are listed in the `consumed_refresh`
//! table. Invariant kept here: a stored grant lists at least one live-class
//! token. When its last one goes, the grant ends with its consumed refresh
//! tokens, in the same transaction.
//!
//! Removing a token leaves its expiry-index entry behind on purpose: the hot
//! paths (rotation, revocation) then write less, and purge drops the stale
//! entry when its time comes (it checks every entry against its record).

use crate::record::{Records, RecordsMut};
use std::ops::ControlFlow;

use super::damage::Damage;
use super::tell;
use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::{Minted, Presented, TokenId};
use crate::engine::ctx::Ctx;
use crate::error::{Error, Result};
use crate::kv::KeyRange;
use crate::kv::table::Table;
use crate::model::client::RefreshLifetime;
use crate::model::event::EventKind;
use crate::model::feed::{ChangeKind, EndReason};
use crate::model::grant::GrantOrigin;
use crate::model::ids::{ClientId, GrantId};
use crate::model::limits::AtGrantLimit;
use crate::model::response::{TokenResponse, TokenType};
use crate::model::scope::Scope;
use crate::record::ext::{GrantExt, StoredConfirmation, StoredSession, TokenExt};
use crate::record::feed::FeedNote;
use crate::record::keys::{self, ExpiryKind, Owned};
use crate::record::{self, ClientRecord, GrantRecord, StoredTokenKind, TokenRecord};

/// A grant being worked on, with the ids that make up its key.
pub(crate) struct Grant {
    pub client: ClientId,
    pub id: GrantId,
    pub record: GrantRecord,
}

impl Grant {
    fn key(&self) -> [u8; 32] {
        keys::grant(&self.client, &self.id)
    }

    /// Writes the grant record.
    pub(crate) fn save(&self, kv: &mut impl RecordsMut) -> Result<()> {
        record::save(kv, &self.key(), &self.record)
    }
}

/// Reads a grant.
pub(crate) fn load_grant(
    kv: &impl Records,
    client: ClientId,
    id: GrantId,
) -> Result<Option<Grant>> {
    Ok(
        record::load::<GrantRecord>(kv, &keys::grant(&client, &id))?.map(|record| Grant {
            client,
            id,
            record,
        }),
    )
}

/// Starts a grant and writes its owner-index entry; the record itself is
/// written by [`issue_tokens`], once it lists its first tokens.
pub(crate) fn new_grant(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    client: ClientId,
    subject: Option<&str>,
    scope: &Scope,
    origin: GrantOrigin,
    ext: GrantExt,
) -> Result<Grant> {
    if let Some(subject) = subject {
        make_room_for_grant(kv, ctx, subject, &client)?;
    }
    let id = GrantId::generate()?;
    if let Some(subject) = subject {
        kv.put(
            Table::BySubject,
            &keys::by_subject(subject, &client, Owned::Grant(id)),
            &[],
        )?;
    }
    if let Some(sid) = ext.sid() {
        kv.put(
            Table::BySession,
            &keys::by_session(sid, &client, Owned::Grant(id)),
            &[],
        )?;
    }
    Ok(Grant {
        client,
        id,
        record: GrantRecord {
            subject: subject.map(str::to_owned),
            scope: scope.clone(),
            origin,
            created_at: ctx.now,
            last_refreshed_at: None,
            live: Vec::new(),
            host_data: None,
            ext,
        },
    })
}

/// What to issue into a grant.
#[derive(Clone, Copy)]
pub(crate) struct Issue<'a> {
    pub client: &'a ClientRecord,
    /// The scope of the new tokens (the grant's, or a narrower one at refresh).
    pub scope: &'a Scope,
    /// The new access token's audiences (R25); empty: not restricted.
    pub aud: &'a [String],
    pub with_refresh: bool,
}

/// Mints an access token, and a refresh token when asked, into a grant (R06),
/// and writes the grant record listing them.
pub(crate) fn issue_tokens(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    grant: &mut Grant,
    issue: Issue<'_>,
) -> Result<TokenResponse> {
    let lifetimes = ctx
        .config
        .lifetimes_for(&grant.client, issue.client.lifetimes);
    let (access_token, access_minted) = ctx.mint(TokenKind::Access)?;
    let refresh = issue
        .with_refresh
        .then(|| ctx.mint(TokenKind::Refresh))
        .transpose()?;
    let refresh_expiry = match lifetimes.refresh {
        RefreshLifetime::Never => None,
        // Absolute: counted from the grant's creation, not extended by rotation.
        RefreshLifetime::AbsoluteSeconds(seconds) => {
            Some(grant.record.created_at.saturating_add(seconds))
        }
    };

    let token = |kind, minted: &Minted, expires_at, partner: Option<&TokenId>| TokenRecord {
        kind,
        verifier: minted.verifier.0,
        grant: *grant.id.as_bytes(),
        client: *grant.client.as_bytes(),
        subject: grant.record.subject.clone(),
        scope: issue.scope.clone(),
        issued_at: ctx.now,
        expires_at,
        partner: partner.map(|hash| *hash.as_bytes()),
        consumed: None,
        ext: TokenExt {
            aud: issue.aud.to_vec(),
            cnf: grant.record.ext.cnf.clone(),
        },
    };
    let access = token(
        StoredTokenKind::Access,
        &access_minted,
        Some(ctx.now.saturating_add(lifetimes.access)),
        refresh.as_ref().map(|(_, minted)| &minted.id),
    );
    let refresh_record = refresh.as_ref().map(|(_, minted)| {
        let record = token(
            StoredTokenKind::Refresh,
            minted,
            refresh_expiry,
            Some(&access_minted.id),
        );
        (minted.id, record)
    });
    insert_token(kv, &access_minted.id, &access)?;
    grant.record.live.push(*access_minted.id.as_bytes());
    if let Some((hash, record)) = refresh_record {
        insert_token(kv, &hash, &record)?;
        grant.record.live.push(*hash.as_bytes());
    }
    grant.save(kv)?;

    // RFC 9449 §5: a DPoP-bound access token is of type DPoP.
    let token_type = match grant.record.ext.cnf {
        Some(StoredConfirmation::Dpop(_)) => TokenType::DPoP,
        _ => TokenType::Bearer,
    };
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in: lifetimes.access,
        refresh_expires_at: refresh.as_ref().and(refresh_expiry),
        refresh_token: refresh.map(|(secret, _)| secret),
        scope: issue.scope.clone(),
        created_at: ctx.now,
        grant_id: grant.id,
        client_id: grant.client,
        subject: grant.record.subject.clone(),
        nonce: grant.record.ext.nonce.clone(),
        host_data: grant.record.host_data.clone(),
        auth_session: grant
            .record
            .ext
            .session
            .as_ref()
            .map(StoredSession::to_public),
        resources: issue.aud.to_vec(),
    })
}

/// Ends the oldest live tokens of `grant` (each with its connected token)
/// until `incoming` more fit under `max_live`; the caller saves the grant.
/// Only grace-period reuses grow a grant (R08), and this bounds them: a
/// grant's live list, and the cost of every operation on it, stay small.
pub(crate) fn make_room(
    kv: &mut impl RecordsMut,
    grant: &mut Grant,
    max_live: usize,
    incoming: usize,
) -> Result<()> {
    while grant.record.live.len() + incoming > max_live && !grant.record.live.is_empty() {
        let oldest = grant.record.live.remove(0);
        let token = record::load::<TokenRecord>(kv, &oldest)?;
        kv.delete(Table::Tokens, &oldest)?;
        if let Some(partner) = token.and_then(|token| token.partner) {
            kv.delete(Table::Tokens, &partner)?;
            grant.record.live.retain(|live| *live != partner);
        }
    }
    Ok(())
}

/// Reads the token `presented` names, if it exists and its verifier matches.
pub(crate) fn load_token(kv: &impl Records, presented: &Presented) -> Result<Option<TokenRecord>> {
    Ok(record::load::<TokenRecord>(kv, presented.id.as_bytes())?
        .filter(|token| presented.matches(&token.verifier)))
}

/// Writes a token record and its expiry-index entry.
pub(crate) fn insert_token(
    kv: &mut impl RecordsMut,
    hash: &TokenId,
    token: &TokenRecord,
) -> Result<()> {
    record::save(kv, hash.as_bytes(), token)?;
    if let Some(at) = token.removal_time() {
        kv.put(
            Table::Expiry,
            &keys::expiry(at, ExpiryKind::Token, hash),
            &[],
        )?;
    }
    Ok(())
}

/// Deletes one token and clears its partner's pointer to it. The grant's
/// list is the caller's business.
pub(crate) fn remove_token(
    kv: &mut impl RecordsMut,
    hash: &TokenId,
    token: &TokenRecord,
    damage: &Damage,
) -> Result<()> {
    kv.delete(Table::Tokens, hash.as_bytes())?;
    if let Some(partner_hash) = token.partner.map(TokenId)
        && let Some(mut partner) = damage.load::<TokenRecord>(kv, partner_hash.as_bytes())?
        && partner.partner == Some(*hash.as_bytes())
    {
        partner.partner = None;
        record::save(kv, partner_hash.as_bytes(), &partner)?;
    }
    Ok(())
}

/// Removes a live-class token and, if it was its grant's last one, ends the
/// grant (for `reason`, or by expiry). Returns whether the grant ended.
pub(crate) fn remove_live_token(
    kv: &mut impl RecordsMut,
    hash: &TokenId,
    token: &TokenRecord,
    damage: &Damage,
    reason: Option<EndReason>,
) -> Result<bool> {
    remove_token(kv, hash, token, damage)?;
    let (client, id) = (ClientId(token.client), GrantId(token.grant));
    let Some(record) = damage.load::<GrantRecord>(kv, &keys::grant(&client, &id))? else {
        return Ok(false);
    };
    let mut grant = Grant { client, id, record };
    grant.record.live.retain(|live| live != hash.as_bytes());
    if grant.record.live.is_empty() {
        return end_grant(kv, grant.client, grant.id, damage, reason);
    }
    grant.save(kv)?;
    Ok(false)
}

/// The hashes of a grant's consumed refresh tokens.
pub(crate) fn consumed_tokens(kv: &impl Records, grant: &GrantId) -> Result<Vec<TokenId>> {
    let mut hashes = Vec::new();
    kv.scan(
        Table::Consumed,
        &KeyRange::prefix(grant.as_bytes()),
        |key, _| {
            if let Some((_, hash)) = keys::parse_consumed(key) {
                hashes.push(hash);
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok(hashes)
}

/// Reads ahead what ending `grants` (of their clients) and removing `codes`
/// will read: on a networked backend, three statements in all instead of
/// two or three per grant (issue 16: bulk revocation in a bounded number of
/// statements). Embedded backends skip it.
pub(crate) fn read_ahead_for_ending(
    kv: &impl Records,
    grants: &[(ClientId, GrantId)],
    codes: &[TokenId],
) -> Result<()> {
    if !kv.batches_reads() {
        return Ok(());
    }
    let grant_keys: Vec<Vec<u8>> = grants
        .iter()
        .map(|(client, grant)| keys::grant(client, grant).to_vec())
        .collect();
    kv.prefetch(Table::Grants, &grant_keys)?;
    let prefixes: Vec<Vec<u8>> = grants.iter().map(|(_, g)| g.as_bytes().to_vec()).collect();
    kv.prefetch_prefixes(Table::Consumed, &prefixes)?;
    let code_keys: Vec<Vec<u8>> = codes.iter().map(|c| c.as_bytes().to_vec()).collect();
    kv.prefetch(Table::Codes, &code_keys)
}

/// Ends a grant: deletes every token of it, the grant and its index entries,
/// in the caller's transaction. Returns false if there was no such grant (or,
/// when skipping damage, its record is damaged: then nothing is deleted).
/// A grant ended for a `reason` (not by expiry) is noted for the change
/// feed with the tokens that stopped being valid (R33).
pub(crate) fn end_grant(
    kv: &mut impl RecordsMut,
    client: ClientId,
    id: GrantId,
    damage: &Damage,
    reason: Option<EndReason>,
) -> Result<bool> {
    let Some(record) = damage.load::<GrantRecord>(kv, &keys::grant(&client, &id))? else {
        return Ok(false);
    };
    let grant = Grant { client, id, record };
    if let Some(reason) = reason {
        super::feed::note(kv, || FeedNote {
            client: Some(client),
            grant: Some(id),
            session: grant.record.ext.sid().map(str::to_owned),
            tokens: grant.record.live.clone(),
            subject: grant.record.subject.clone(),
            ..FeedNote::new(ChangeKind::GrantEnded { reason })
        });
    }
    // Partners die together, so no pointer needs clearing; expiry entries are
    // left for purge.
    for live in &grant.record.live {
        kv.delete(Table::Tokens, live)?;
    }
    for hash in consumed_tokens(kv, &id)? {
        kv.delete(Table::Tokens, hash.as_bytes())?;
        kv.delete(Table::Consumed, &keys::consumed(&id, &hash))?;
    }
    kv.delete(Table::Grants, &grant.key())?;
    if let Some(subject) = &grant.record.subject {
        kv.delete(
            Table::BySubject,
            &keys::by_subject(subject, &client, Owned::Grant(id)),
        )?;
    }
    if let Some(sid) = grant.record.ext.sid() {
        kv.delete(
            Table::BySession,
            &keys::by_session(sid, &client, Owned::Grant(id)),
        )?;
    }
    Ok(true)
}

// ----- grant limits (R23) -----
//
// Before a subject's new grant is created, count its grants (at the client,
// and over all clients) and refuse, or end the oldest, as configured. The
// count is a range read of the subject's own index entries, bounded by the
// limit itself.

/// Makes room for one more grant of `subject` at `client`, or refuses.
pub(crate) fn make_room_for_grant(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    subject: &str,
    client: &ClientId,
) -> Result<()> {
    let limits = ctx.config.grant_limits;
    if !limits.any() {
        return Ok(());
    }
    if let Some(max) = limits.per_subject_at_client {
        let prefix = keys::subject_client_prefix(subject, client);
        enforce(kv, ctx, subject, &prefix, max, limits.when_reached)?;
    }
    if let Some(max) = limits.per_subject {
        let prefix = keys::subject_prefix(subject);
        enforce(kv, ctx, subject, &prefix, max, limits.when_reached)?;
    }
    Ok(())
}

/// Keeps the grants under `prefix` below `max` before one more is added.
fn enforce(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    subject: &str,
    prefix: &[u8],
    max: usize,
    policy: AtGrantLimit,
) -> Result<()> {
    let mut grants: Vec<(GrantId, ClientId)> = Vec::new();
    kv.scan(Table::BySubject, &KeyRange::prefix(prefix), |key, _| {
        if let Some((_, client, Owned::Grant(grant))) = keys::parse_by_subject(key) {
            grants.push((grant, client));
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if grants.len() < max {
        return Ok(());
    }
    if policy == AtGrantLimit::Refuse {
        return Err(Error::GrantLimitReached);
    }
    // Grant ids start with their issue time: the smallest are the oldest.
    grants.sort_unstable_by_key(|(grant, _)| *grant.as_bytes());
    let excess = grants.len() + 1 - max;
    for (grant, client) in grants.into_iter().take(excess) {
        let reason = Some(EndReason::GrantLimit);
        if end_grant(kv, client, grant, &Damage::fail(), reason)? {
            let kind = EventKind::GrantLimitEndedOldest;
            tell(kv, ctx, kind, Some(client), Some(subject), Some(grant));
        }
    }
    Ok(())
}
