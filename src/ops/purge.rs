//! Expiry purge (R14): removes what is due, reading only the expiry index
//! entries that are due. Its cost follows what it removes, never what stays.

use crate::record::{Records, RecordsMut};
use std::ops::ControlFlow;
use std::time::Instant;

use super::codes::remove_code;
use super::damage::Damage;
use super::family::remove_live_token;
use super::tell;
use crate::engine::ctx::Ctx;
use crate::engine::op::Op;
use crate::error::Result;
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvRead};
use crate::model::event::EventKind;
use crate::model::ids::{ClientId, GrantId};
use crate::model::response::PurgeReport;
use crate::record::keys::{self, ExpiryKind};
use crate::record::{self, CodeRecord, JtiRecord, StoredTokenKind, TokenRecord};

/// One purge batch (R14).
pub(crate) const PURGE: Op = Op::frees_alone("purge");

/// For a networked backend: fetches the due records, then their partners and
/// grants, in a few round trips instead of several per entry.
fn prefetch_due(kv: &impl Records, due: &[Vec<u8>]) -> Result<()> {
    let (mut codes, mut tokens) = (Vec::new(), Vec::new());
    for (_, kind, id) in due.iter().filter_map(|key| keys::parse_expiry(key)) {
        match kind {
            ExpiryKind::Code => codes.push(id.as_bytes().to_vec()),
            ExpiryKind::Token => tokens.push(id.as_bytes().to_vec()),
            ExpiryKind::ProofJti
            | ExpiryKind::PushedRequest
            | ExpiryKind::DeviceCode
            | ExpiryKind::Attempts
            | ExpiryKind::FeedEntry => {}
        }
    }
    kv.prefetch(Table::Codes, &codes)?;
    kv.prefetch(Table::Tokens, &tokens)?;
    let (mut partners, mut grants, mut grant_ids) = (Vec::new(), Vec::new(), Vec::new());
    for id in &tokens {
        // Damage is met (and counted) by the removal itself.
        if let Ok(Some(token)) = record::load::<TokenRecord>(kv, id) {
            partners.extend(token.partner.map(|p| p.to_vec()));
            grants.push(keys::grant(&ClientId(token.client), &GrantId(token.grant)).to_vec());
            grant_ids.push(token.grant.to_vec());
        }
    }
    kv.prefetch(Table::Tokens, &partners)?;
    kv.prefetch(Table::Grants, &grants)?;
    // A grant left with no live token ends: its consumed refresh tokens are
    // read then, for all of them in one query.
    grant_ids.sort_unstable();
    grant_ids.dedup();
    kv.prefetch_prefixes(Table::Consumed, &grant_ids)
}

/// Removes up to `limit` due entries in the caller's transaction: expired codes
/// and tokens, consumed refresh tokens past their retention, grants left with
/// no live token, and index entries left behind by earlier removals.
pub(crate) fn purge_batch(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    limit: usize,
) -> Result<PurgeReport> {
    let mut due = Vec::with_capacity(limit.min(4_096));
    let mut more = false;
    kv.scan(
        Table::Expiry,
        &KeyRange::below(&keys::expiry_due_end(ctx.now)),
        |key, _| {
            if due.len() == limit {
                more = true;
                return Ok(ControlFlow::Break(()));
            }
            due.push(key.to_vec());
            Ok(ControlFlow::Continue(()))
        },
    )?;

    if kv.batches_reads() {
        prefetch_due(kv, &due)?;
    }
    let mut report = PurgeReport {
        more,
        ..PurgeReport::default()
    };
    // A damaged record loses its expiry entry (so purge does not meet it
    // again) and stays for `verify` to name; the batch goes on.
    let damage = Damage::skip();
    // The write lock is held for a bounded time: past it, the batch stops
    // and says there is more.
    let started = Instant::now();
    for (done, key) in due.into_iter().enumerate() {
        if done % 64 == 63 && started.elapsed() >= ctx.config.purge_batch_time {
            report.more = true;
            break;
        }
        kv.delete(Table::Expiry, &key)?;
        // An entry whose record is gone, or whose record now expires at
        // another time, was left behind on purpose: dropping it is all.
        let Some((at, kind, hash)) = keys::parse_expiry(&key) else {
            continue;
        };
        match kind {
            ExpiryKind::Code => {
                if damage
                    .load::<CodeRecord>(kv, hash.as_bytes())?
                    .is_some_and(|code| code.expires_at == at)
                {
                    remove_code(kv, &hash, &damage)?;
                    report.codes += 1;
                }
            }
            ExpiryKind::Token => {
                let Some(token) = damage.load::<TokenRecord>(kv, hash.as_bytes())? else {
                    continue;
                };
                if token.removal_time() != Some(at) {
                    continue;
                }
                if token.consumed.is_some() {
                    kv.delete(Table::Tokens, hash.as_bytes())?;
                    kv.delete(
                        Table::Consumed,
                        &keys::consumed(&GrantId(token.grant), &hash),
                    )?;
                    report.consumed_refresh_tokens += 1;
                    continue;
                }
                match token.kind {
                    StoredTokenKind::Access => report.access_tokens += 1,
                    StoredTokenKind::Refresh => report.refresh_tokens += 1,
                }
                if remove_live_token(kv, &hash, &token, &damage, None)? {
                    report.grants += 1;
                }
            }
            ExpiryKind::ProofJti => {
                if damage
                    .load::<JtiRecord>(kv, hash.as_bytes())?
                    .is_some_and(|seen| seen.until == at)
                {
                    kv.delete(Table::ProofJtis, hash.as_bytes())?;
                    report.proof_jtis += 1;
                }
            }
            ExpiryKind::PushedRequest
            | ExpiryKind::DeviceCode
            | ExpiryKind::Attempts
            | ExpiryKind::FeedEntry => {
                if super::expiring::remove_if_due(kv, kind, at, &hash, &damage)? {
                    super::expiring::tally(&mut report, kind);
                }
            }
        }
    }
    // Entries every named consumer acknowledged go before their age, within
    // what is left of the batch (R33).
    let left = limit.saturating_sub(usize::try_from(report.removed()).unwrap_or(limit));
    if left > 0 && !report.more {
        report.feed_entries += super::feed::purge_acknowledged(kv, left)?;
    }
    report.damaged = damage.skipped();
    let removed = report.removed();
    if removed > 0 {
        tell(kv, ctx, EventKind::Purged { removed }, None, None, None);
    }
    Ok(report)
}
