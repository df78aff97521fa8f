//! Grant limits (R23): before a subject's new grant is created, count its
//! grants (at the client, and over all clients) and refuse, or end the
//! oldest, as configured. The count is a range read of the subject's own
//! index entries, bounded by the limit itself.

use std::ops::ControlFlow;

use super::damage::Damage;
use super::family::end_grant;
use super::{Ctx, tell};
use crate::error::{Error, Result};
use crate::kv::{KeyRange, Table};
use crate::model::event::EventKind;
use crate::model::ids::{ClientId, GrantId};
use crate::model::limits::AtGrantLimit;
use crate::record::RecordsMut;
use crate::record::keys::{self, Owned};

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
        if end_grant(kv, client, grant, &Damage::fail())? {
            let kind = EventKind::GrantLimitEndedOldest;
            tell(kv, ctx, kind, Some(client), Some(subject), Some(grant));
        }
    }
    Ok(())
}
