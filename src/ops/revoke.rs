//! Revocation (R09–R12): one token (RFC 7009), or in bulk by subject, client,
//! or subject at one client.

use crate::record::RecordsMut;
use std::ops::ControlFlow;

use super::codes::remove_code;
use super::damage::Damage;
use super::family::{end_grant, load_token, remove_live_token};
use super::tell;
use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::TokenId;
use crate::engine::ctx::Ctx;
use crate::engine::op::Op;
use crate::error::{Error, Result};
use crate::kv::KeyRange;
use crate::kv::table::Table;
use crate::model::event::EventKind;
use crate::model::feed::{ChangeKind, EndReason};
use crate::model::ids::{ClientId, GrantId};
use crate::model::response::{BulkRevocation, Revocation};
use crate::record::feed::FeedNote;
use crate::record::keys::{self, Owned};
use crate::record::{Records, StoredTokenKind, TokenRecord};

/// Revoking one token (R09, R10, R11).
pub(crate) const REVOKE: Op = Op::frees("revoke");
/// An operator revoking any client's token.
pub(crate) const REVOKE_AS_OPERATOR: Op = Op::frees("operator");
/// Revoking everything of a subject (R12).
pub(crate) const REVOKE_SUBJECT: Op = Op::frees_alone("revoke_subject");
/// Revoking everything of a client (R12).
pub(crate) const REVOKE_CLIENT_GRANTS: Op = Op::frees_alone("revoke_client_grants");
/// Revoking a subject's grants at one client (R12).
pub(crate) const REVOKE_SUBJECT_AT_CLIENT: Op = Op::frees_alone("revoke_subject_at_client");

/// Ending one grant of a subject (R21).
pub(crate) const REVOKE_GRANT: Op = Op::frees("revoke_grant");

/// Revokes one access or refresh token presented by `client_id` (RFC 7009),
/// or by an operator when `client_id` is `None`.
///
/// The token's prefix says its kind, so `token_type_hint` is not needed. An
/// access token goes alone (R09); a refresh token takes its whole grant with
/// it (R10), also when it was already rotated (while it is kept for reuse
/// detection). Unknown, expired, already revoked or malformed tokens change
/// nothing and succeed (R11; a malformed one is refused before any read, R02);
/// a token of another client is refused and changes nothing.
pub(crate) fn revoke_token(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    presented: &str,
    client_id: Option<&ClientId>,
) -> Result<Revocation> {
    let Some((kind, presented)) = super::validate::parse_any(ctx.minter, presented) else {
        return Ok(Revocation::NotActive);
    };
    let hash = presented.id;
    let Some(token) = load_token(kv, &presented)? else {
        return Ok(Revocation::NotActive);
    };
    let stored_kind = match token.kind {
        StoredTokenKind::Access => TokenKind::Access,
        StoredTokenKind::Refresh => TokenKind::Refresh,
    };
    // A refresh token already rotated, but still remembered for reuse
    // detection, ends its grant too: the client that still holds it wants
    // that session ended (RFC 7009 allows a no-op; this is the safer reading).
    let rotated = token.kind == StoredTokenKind::Refresh
        && !token.is_expired_at(ctx.now)
        && token
            .consumed
            .is_some_and(|consumed| consumed.retain_until.is_none_or(|until| ctx.now < until));
    if stored_kind != kind || !(token.is_live_at(ctx.now) || rotated) {
        return Ok(Revocation::NotActive);
    }
    // `None`: an operator revoking on nobody's behalf.
    if client_id.is_some_and(|client| token.client != *client.as_bytes()) {
        // RFC 7009 §2.1: the server "verifies whether the token was issued to
        // the client making the revocation request. If this validation fails,
        // the request is refused".
        return Err(Error::TokenClientMismatch);
    }
    match token.kind {
        StoredTokenKind::Access => {
            let reason = Some(EndReason::Revoked);
            remove_live_token(kv, &hash, &token, &Damage::fail(), reason)?;
            super::feed::note(kv, || FeedNote {
                client: Some(ClientId(token.client)),
                grant: Some(GrantId(token.grant)),
                tokens: vec![*hash.as_bytes()],
                subject: token.subject.clone(),
                ..FeedNote::new(ChangeKind::AccessTokenRevoked)
            });
            tell_token(kv, ctx, EventKind::AccessTokenRevoked, &token);
            Ok(Revocation::AccessToken)
        }
        StoredTokenKind::Refresh => {
            end_grant(
                kv,
                ClientId(token.client),
                GrantId(token.grant),
                &Damage::fail(),
                Some(EndReason::Revoked),
            )?;
            tell_token(kv, ctx, EventKind::GrantRevoked, &token);
            Ok(Revocation::Grant)
        }
    }
}

/// "Sign out this device" (R21): ends one grant of `subject`. The subject
/// must be the grant's: another subject's grant, a client-credentials grant
/// or one that already ended changes nothing and answers `false`.
pub(crate) fn revoke_grant_of_subject(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    subject: &str,
    client: &ClientId,
    grant: &GrantId,
) -> Result<bool> {
    let Some(found) = super::family::load_grant(kv, *client, *grant)? else {
        return Ok(false);
    };
    if found.record.subject.as_deref() != Some(subject) {
        return Ok(false);
    }
    let ended = end_grant(
        kv,
        *client,
        *grant,
        &Damage::fail(),
        Some(EndReason::Subject),
    )?;
    let kind = EventKind::GrantEndedBySubject;
    tell(kv, ctx, kind, Some(*client), Some(subject), Some(*grant));
    Ok(ended)
}

/// Ends every grant and removes every pending code listed under `prefix` in
/// the `by_subject` index, skipping damaged records.
/// What a bulk revocation ends: the grants and pending codes of a subject
/// (under a `by_subject` prefix), or of a client.
#[derive(Clone)]
pub(crate) enum BulkScope {
    /// Under this prefix of the `by_subject` index.
    SubjectPrefix(Vec<u8>),
    /// Of this client.
    Client(ClientId),
}

/// The grants and pending codes of `scope`, as the transaction sees them.
fn owned_by(kv: &impl Records, scope: &BulkScope) -> Result<Vec<(ClientId, Owned)>> {
    let mut owned = Vec::new();
    match scope {
        BulkScope::SubjectPrefix(prefix) => {
            kv.scan(Table::BySubject, &KeyRange::prefix(prefix), |key, _| {
                if let Some((_, client, item)) = keys::parse_by_subject(key) {
                    owned.push((client, item));
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
        BulkScope::Client(id) => {
            kv.scan(Table::Grants, &KeyRange::prefix(id.as_bytes()), |key, _| {
                if let Some((_, grant)) = keys::parse_grant(key) {
                    owned.push((*id, Owned::Grant(grant)));
                }
                Ok(ControlFlow::Continue(()))
            })?;
            kv.scan(
                Table::ClientCodes,
                &KeyRange::prefix(id.as_bytes()),
                |key, _| {
                    if let Some((_, hash)) = keys::parse_client_code(key) {
                        owned.push((*id, Owned::Code(hash)));
                    }
                    Ok(ControlFlow::Continue(()))
                },
            )?;
        }
    }
    Ok(owned)
}

/// The first transaction of a bulk revocation (R12): lists what `scope`
/// holds now, removes every pending code (so that none can become a grant
/// afterwards) and ends the first `batch` grants ([`BULK_BATCH`], or fewer
/// when concurrent writes keep winning races with it). Returns what it
/// ended and the grants left for the next transactions.
pub(crate) fn begin_bulk(
    kv: &mut impl RecordsMut,
    scope: &BulkScope,
    batch: usize,
    reason: EndReason,
) -> Result<(BulkRevocation, Vec<(ClientId, Owned)>)> {
    let (mut now, rest): (Vec<_>, Vec<_>) = owned_by(kv, scope)?
        .into_iter()
        .partition(|(_, item)| !matches!(item, Owned::Grant(_)));
    let mut rest = rest.into_iter();
    now.extend(rest.by_ref().take(batch));
    let ended = end_owned(kv, now, reason)?;
    Ok((ended, rest.collect()))
}

/// How many grants and codes one transaction of a bulk revocation ends (R12):
/// about 7 ms of work on the embedded backend (7 µs a grant), so that no
/// bulk revocation holds the write lock for long, however many grants it
/// ends.
pub(crate) const BULK_BATCH: usize = 1_000;

/// The end of a bulk revocation, in its last transaction: what is left of
/// it besides the grants (a consent to forget) and its event.
#[derive(Clone)]
pub(crate) enum BulkEnd {
    /// "Log out everywhere" (R12).
    Subject(String),
    /// A subject removes an application: its consent goes too (R17).
    SubjectAtClient(String, ClientId),
    /// Everything of a client, and every consent given to it (R17).
    Client(ClientId),
    /// Every record naming a subject (R34).
    Erase(String),
}

impl BulkEnd {
    /// Why the grants it ends end, as the change feed says (R33).
    pub(crate) fn reason(&self) -> EndReason {
        match self {
            BulkEnd::Subject(_) | BulkEnd::SubjectAtClient(..) => EndReason::Subject,
            BulkEnd::Client(_) => EndReason::ClientRevoked,
            BulkEnd::Erase(_) => EndReason::SubjectErased,
        }
    }
}

/// Finishes a bulk revocation that ended `total` in all: forgets what it
/// forgets and tells its event.
pub(crate) fn finish_bulk(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    end: &BulkEnd,
    total: &BulkRevocation,
) -> Result<()> {
    let grants = total.grants;
    match end {
        BulkEnd::Subject(subject) => {
            let kind = EventKind::SubjectRevoked { grants };
            tell(kv, ctx, kind, None, Some(subject), None);
        }
        BulkEnd::SubjectAtClient(subject, client) => {
            super::consent::forget(kv, subject, client)?;
            let kind = EventKind::SubjectAtClientRevoked { grants };
            tell(kv, ctx, kind, Some(*client), Some(subject), None);
        }
        BulkEnd::Client(client) => {
            super::consent::forget_all_of_client(kv, client)?;
            let kind = EventKind::ClientGrantsRevoked { grants };
            tell(kv, ctx, kind, Some(*client), None, None);
        }
        BulkEnd::Erase(subject) => super::erase::finish(kv, ctx, subject, grants)?,
    }
    Ok(())
}

/// Ends the grants and removes the pending codes among `owned` (entries of
/// the `by_subject` or `by_session` index), skipping damaged records.
pub(crate) fn end_owned(
    kv: &mut impl RecordsMut,
    owned: Vec<(ClientId, Owned)>,
    reason: EndReason,
) -> Result<BulkRevocation> {
    let ending: Vec<(ClientId, GrantId)> = owned
        .iter()
        .filter_map(|(client, item)| match item {
            Owned::Grant(grant) => Some((*client, *grant)),
            _ => None,
        })
        .collect();
    let codes: Vec<TokenId> = owned
        .iter()
        .filter_map(|(_, item)| match item {
            Owned::Code(hash) => Some(*hash),
            _ => None,
        })
        .collect();
    super::family::read_ahead_for_ending(kv, &ending, &codes)?;
    let damage = Damage::skip();
    let mut grants = 0;
    for (client, item) in owned {
        match item {
            Owned::Grant(grant) => {
                grants += u64::from(end_grant(kv, client, grant, &damage, Some(reason))?);
            }
            Owned::Code(hash) => remove_code(kv, &hash, &damage)?,
            // Consents are not revoked with grants: the callers decide.
            Owned::Consent => {}
        }
    }
    Ok(BulkRevocation {
        grants,
        damaged: damage.skipped(),
    })
}

/// Notes an event about the grant of `token`.
fn tell_token(kv: &impl Records, ctx: &Ctx<'_>, kind: EventKind, token: &TokenRecord) {
    tell(
        kv,
        ctx,
        kind,
        Some(ClientId(token.client)),
        token.subject.as_deref(),
        Some(GrantId(token.grant)),
    );
}
