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
use crate::model::ids::{ClientId, GrantId};
use crate::model::response::{BulkRevocation, Revocation};
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
            remove_live_token(kv, &hash, &token, &Damage::fail())?;
            tell_token(kv, ctx, EventKind::AccessTokenRevoked, &token);
            Ok(Revocation::AccessToken)
        }
        StoredTokenKind::Refresh => {
            end_grant(
                kv,
                ClientId(token.client),
                GrantId(token.grant),
                &Damage::fail(),
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
    let ended = end_grant(kv, *client, *grant, &Damage::fail())?;
    let kind = EventKind::GrantEndedBySubject;
    tell(kv, ctx, kind, Some(*client), Some(subject), Some(*grant));
    Ok(ended)
}

/// Ends every grant and removes every pending code listed under `prefix` in
/// the `by_subject` index, skipping damaged records.
fn revoke_by_subject_prefix(kv: &mut impl RecordsMut, prefix: &[u8]) -> Result<BulkRevocation> {
    let mut owned = Vec::new();
    kv.scan(Table::BySubject, &KeyRange::prefix(prefix), |key, _| {
        if let Some((_, client, item)) = keys::parse_by_subject(key) {
            owned.push((client, item));
        }
        Ok(ControlFlow::Continue(()))
    })?;
    end_owned(kv, owned)
}

/// Ends the grants and removes the pending codes among `owned` (entries of
/// the `by_subject` or `by_session` index), skipping damaged records.
pub(crate) fn end_owned(
    kv: &mut impl RecordsMut,
    owned: Vec<(ClientId, Owned)>,
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
            Owned::Grant(grant) => grants += u64::from(end_grant(kv, client, grant, &damage)?),
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

/// "Log out everywhere": every grant and pending code of a subject, in one
/// transaction (R12). Consents stay: signing out is not withdrawing approval.
pub(crate) fn revoke_subject(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    subject: &str,
) -> Result<BulkRevocation> {
    let ended = revoke_by_subject_prefix(kv, &keys::subject_prefix(subject))?;
    let grants = ended.grants;
    tell(
        kv,
        ctx,
        EventKind::SubjectRevoked { grants },
        None,
        Some(subject),
        None,
    );
    Ok(ended)
}

/// The user removes an authorized application: every grant and pending code of
/// the subject at that client, and the consent (R12, R17).
pub(crate) fn revoke_subject_at_client(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    subject: &str,
    client: &ClientId,
) -> Result<BulkRevocation> {
    let ended = revoke_by_subject_prefix(kv, &keys::subject_client_prefix(subject, client))?;
    super::consent::forget(kv, subject, client)?;
    let grants = ended.grants;
    let kind = EventKind::SubjectAtClientRevoked { grants };
    tell(kv, ctx, kind, Some(*client), Some(subject), None);
    Ok(ended)
}

/// Every grant and pending code of a client, and every consent given to it
/// (R12, R17). The client itself stays registered.
pub(crate) fn revoke_client(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    client: &ClientId,
) -> Result<BulkRevocation> {
    let ended = super::clients::revoke_everything_of(kv, client)?;
    super::consent::forget_all_of_client(kv, client)?;
    let grants = ended.grants;
    tell(
        kv,
        ctx,
        EventKind::ClientGrantsRevoked { grants },
        Some(*client),
        None,
        None,
    );
    Ok(ended)
}
