//! Purge of the records that expire whole, with nothing else to update:
//! pushed authorization requests (R30), device requests with their user
//! codes (R31), windows of wrong user codes and change-feed entries (R33). Their expiry entries lead
//! here from purge and its preview.

use super::damage::Damage;
use crate::crypto::secret::TokenId;
use crate::error::Result;
use crate::kv::table::Table;
use crate::model::response::PurgeReport;
use crate::record::keys::{self, ExpiryKind};
use crate::record::{AttemptsRecord, DeviceRecord, PushedRecord, Records, RecordsMut};

/// Whether the record an expiry entry `(at, kind, id)` points at is there
/// and due exactly then (an entry left behind by an earlier removal is not).
pub(crate) fn is_due(
    kv: &impl Records,
    kind: ExpiryKind,
    at: u64,
    id: &TokenId,
    damage: &Damage,
) -> Result<bool> {
    Ok(match kind {
        ExpiryKind::PushedRequest => damage
            .load::<PushedRecord>(kv, id.as_bytes())?
            .is_some_and(|r| r.expires_at == at),
        ExpiryKind::DeviceCode => damage
            .load::<DeviceRecord>(kv, id.as_bytes())?
            .is_some_and(|r| r.expires_at == at),
        ExpiryKind::Attempts => damage
            .load::<AttemptsRecord>(kv, &keys::attempts(at, id))?
            .is_some_and(|r| r.until == at),
        ExpiryKind::FeedEntry => kv.get(Table::Feed, &id.as_bytes()[..8], |_| ())?.is_some(),
        ExpiryKind::Code | ExpiryKind::Token | ExpiryKind::ProofJti => false,
    })
}

/// Removes the record of an expiry entry if it is due; answers whether it did.
pub(crate) fn remove_if_due(
    kv: &mut impl RecordsMut,
    kind: ExpiryKind,
    at: u64,
    id: &TokenId,
    damage: &Damage,
) -> Result<bool> {
    match kind {
        ExpiryKind::PushedRequest if is_due(kv, kind, at, id, damage)? => {
            kv.delete(Table::PushedRequests, id.as_bytes())?;
        }
        ExpiryKind::DeviceCode => {
            let Some(device) = damage.load::<DeviceRecord>(kv, id.as_bytes())? else {
                return Ok(false);
            };
            if device.expires_at != at {
                return Ok(false);
            }
            kv.delete(Table::UserCodes, &device.user_code)?;
            kv.delete(Table::DeviceCodes, id.as_bytes())?;
        }
        ExpiryKind::Attempts if is_due(kv, kind, at, id, damage)? => {
            kv.delete(Table::DeviceAttempts, &keys::attempts(at, id))?;
        }
        ExpiryKind::FeedEntry => return super::feed::purge_entry(kv, id),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Counts one removal of `kind` in `report`.
pub(crate) fn tally(report: &mut PurgeReport, kind: ExpiryKind) {
    match kind {
        ExpiryKind::PushedRequest => report.pushed_requests += 1,
        ExpiryKind::DeviceCode => report.device_requests += 1,
        ExpiryKind::Attempts => report.attempt_windows += 1,
        ExpiryKind::FeedEntry => report.feed_entries += 1,
        ExpiryKind::Code | ExpiryKind::Token | ExpiryKind::ProofJti => {}
    }
}
