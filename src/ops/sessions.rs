//! Sign-in sessions (R26): every grant and pending code of one session id
//! ended at once, for OpenID Connect front- and back-channel logout; and DPoP
//! proof ids seen (R27), so a replayed proof is refused.

use std::ops::ControlFlow;

use super::revoke::end_owned;
use super::{budget, tell};
use crate::crypto::secret::LookupDomain;
use crate::engine::ctx::Ctx;
use crate::engine::op::Op;
use crate::error::{Error, InputError, Result};
use crate::kv::KeyRange;
use crate::kv::table::Table;
use crate::model::binding::MAX_SESSION_TEXT_LEN;
use crate::model::event::EventKind;
use crate::model::feed::{ChangeKind, EndReason};
use crate::model::ids::ClientId;
use crate::model::response::{BulkRevocation, ProofJti};
use crate::model::text::text_ok;
use crate::record::feed::FeedNote;
use crate::record::jti::JtiExt;
use crate::record::keys::{self, AttemptScope, ExpiryKind, Owned};
use crate::record::{self, JtiRecord, RecordsMut};

/// Logging out a sign-in session (R26).
pub(crate) const REVOKE_SESSION: Op = Op::frees_alone("revoke_session");
/// Claiming a DPoP proof id (R27).
pub(crate) const CLAIM_PROOF_JTI: Op = Op::grows("claim_proof_jti");

/// Longest proof id, in bytes.
pub(crate) const MAX_JTI_LEN: usize = 256;
/// How long after now a proof id may be remembered: a DPoP proof is
/// accepted for minutes (RFC 9449 §11.1), never for more than this.
pub(crate) const MAX_PROOF_WINDOW: u64 = 3_600;

pub(crate) fn check_text(what: &'static str, text: &str, max: usize) -> Result<()> {
    if text.is_empty() {
        return Err(Error::InvalidArgument {
            what,
            reason: InputError::Empty,
        });
    }
    if !text_ok(text, max) {
        return Err(Error::InvalidArgument {
            what,
            reason: if text.len() > max {
                InputError::TooLong { max }
            } else {
                InputError::BadCharacter
            },
        });
    }
    Ok(())
}

/// Checks a session id as a caller gives it.
pub(crate) fn check_sid(sid: &str) -> Result<()> {
    check_text("sid", sid, MAX_SESSION_TEXT_LEN)
}

/// Ends every grant and removes every pending code of session `sid`, in one
/// transaction (R26), skipping damaged records.
pub(crate) fn revoke_session(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    sid: &str,
) -> Result<BulkRevocation> {
    let mut owned: Vec<(ClientId, Owned)> = Vec::new();
    kv.scan(
        Table::BySession,
        &KeyRange::prefix(&keys::session_prefix(sid)),
        |key, _| {
            if let Some((_, client, item)) = keys::parse_by_session(key) {
                owned.push((client, item));
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    let revoked = end_owned(kv, owned, EndReason::Logout)?;
    super::feed::note(kv, || FeedNote {
        session: Some(sid.to_owned()),
        ..FeedNote::new(ChangeKind::SessionEnded)
    });
    let kind = EventKind::SessionRevoked {
        grants: revoked.grants,
    };
    tell(kv, ctx, kind, None, None, None);
    Ok(revoked)
}

/// Claims a DPoP proof id of `client_id` (R27): the first claim of `jti`
/// by that client is [`ProofJti::FirstUse`] and is remembered until
/// `valid_until`; another one before then is [`ProofJti::Replay`] and
/// changes nothing. Ids are scoped by client (one client's ids never collide
/// with another's), and the ids claimed are capped, per client and in
/// total (`ops::budget`), so that a flood of claims cannot grow the file
/// without bound.
pub(crate) fn claim_proof_jti(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    client_id: &ClientId,
    jti: &str,
    valid_until: u64,
) -> Result<ProofJti> {
    check_text("jti", jti, MAX_JTI_LEN)?;
    if valid_until <= ctx.now || valid_until - ctx.now > MAX_PROOF_WINDOW {
        return Err(Error::InvalidArgument {
            what: "proof validity (after now, within an hour)",
            reason: InputError::NotAllowed,
        });
    }
    let scoped = format!("{client_id}:{jti}");
    // One id per key of the ring not removed, the minting key's first: a
    // proof remembered before a key was added (or retired) is still found.
    let ids = ctx.minter.lookup_ids(LookupDomain::ProofJti, &scoped);
    // Seen before and not yet past: a replay. Past (purge not yet run): the
    // old record is replaced, under the minting key's id; its expiry entry
    // is left for purge, which skips an entry whose record is gone or newer.
    let mut stale = Vec::new();
    for (_, id) in &ids {
        match record::load::<JtiRecord>(kv, id.as_bytes())? {
            Some(seen) if ctx.now < seen.until => return Ok(ProofJti::Replay),
            Some(_) => stale.push(*id),
            None => {}
        }
    }
    let Some((key, id)) = ids.first().copied() else {
        return Ok(ProofJti::Replay);
    };
    spend_claim_budget(kv, ctx, client_id)?;
    for old in stale.iter().filter(|old| **old != id) {
        kv.delete(Table::ProofJtis, old.as_bytes())?;
    }
    let seen = JtiRecord {
        seen_at: ctx.now,
        until: valid_until,
        ext: JtiExt { key: Some(key) },
    };
    record::save(kv, id.as_bytes(), &seen)?;
    kv.put(
        Table::Expiry,
        &keys::expiry(valid_until, ExpiryKind::ProofJti, &id),
        &[],
    )?;
    Ok(ProofJti::FirstUse)
}

/// Counts a new claim against its client's cap and the total (R27). A claim
/// lives at most [`MAX_PROOF_WINDOW`], so the claims of this window and the
/// one before bound the live ones. Over a cap: [`Error::ProofClaimsFull`],
/// and nothing is written.
fn spend_claim_budget(kv: &mut impl RecordsMut, ctx: &Ctx<'_>, client_id: &ClientId) -> Result<()> {
    let end = budget::window_end(ctx.now, MAX_PROOF_WINDOW);
    let previous = end - MAX_PROOF_WINDOW;
    let counters = [
        (
            keys::attempts_id(AttemptScope::ProofClient, client_id.as_bytes()),
            ctx.config.proof_claims_per_client,
        ),
        (
            keys::attempts_id(AttemptScope::ProofTotal, &[0; 16]),
            ctx.config.proof_claims_total,
        ),
    ];
    for (id, cap) in &counters {
        let live = budget::spent(kv, end, id)?.saturating_add(budget::spent(kv, previous, id)?);
        if live >= *cap {
            return Err(Error::ProofClaimsFull {
                retry_after: end - ctx.now,
            });
        }
    }
    for (id, _) in &counters {
        budget::spend(kv, end, id)?;
    }
    Ok(())
}
