//! Budgets an attacker could otherwise spend for everyone, counted in
//! windows of time: wrong user codes (R31) and DPoP proof ids claimed (R27).
//! A counter is one record per scope and window (`keys::attempts`), with an
//! expiry entry at the window's end, so that purge removes it with the
//! window and counting costs one read and one write whatever the traffic.

use crate::crypto::secret::TokenId;
use crate::error::Result;
use crate::kv::table::Table;
use crate::record::keys::{self, ExpiryKind};
use crate::record::{self, AttemptsRecord, Records, RecordsMut};

/// The end of the window of `seconds` that holds `now`.
pub(crate) fn window_end(now: u64, seconds: u64) -> u64 {
    let seconds = seconds.max(1);
    (now / seconds + 1) * seconds
}

/// What was counted under `id` in the window ending at `window_end`.
pub(crate) fn spent(kv: &impl Records, window_end: u64, id: &TokenId) -> Result<u32> {
    Ok(
        record::load::<AttemptsRecord>(kv, &keys::attempts(window_end, id))?
            .map_or(0, |counter| counter.count),
    )
}

/// Counts one more under `id` in the window ending at `window_end`; returns
/// the count.
pub(crate) fn spend(kv: &mut impl RecordsMut, window_end: u64, id: &TokenId) -> Result<u32> {
    let count = spent(kv, window_end, id)?.saturating_add(1);
    if count == 1 {
        kv.put(
            Table::Expiry,
            &keys::expiry(window_end, ExpiryKind::Attempts, id),
            &[],
        )?;
    }
    let counter = AttemptsRecord {
        count,
        until: window_end,
    };
    record::save(kv, &keys::attempts(window_end, id), &counter)?;
    Ok(count)
}
