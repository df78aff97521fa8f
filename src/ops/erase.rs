//! Subject erasure (R34): every record naming a subject goes. Its grants
//! (with their live and consumed tokens) and codes end as a bulk revocation
//! does, in transactions of at most [`BULK_BATCH`](super::revoke::BULK_BATCH)
//! grants; the last transaction removes the rest (consents, approved device
//! requests) and strips the subject from the change feed's entries.

use std::ops::ControlFlow;

use crate::engine::ctx::Ctx;
use crate::engine::op::Op;
use crate::error::Result;
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvRead};
use crate::model::event::EventKind;
use crate::model::feed::ChangeKind;
use crate::record::feed::FeedNote;
use crate::record::keys::{self, ExpiryKind, Owned};
use crate::record::{self, DeviceRecord, DeviceState, RecordsMut};

/// Erasing a subject: bulk work, a transaction of its own each step.
pub(crate) const ERASE_SUBJECT: Op = Op::frees_alone("erase_subject");

/// The last transaction of an erasure, after every grant and code of
/// `subject` ended (`grants` in all).
pub(crate) fn finish(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    subject: &str,
    grants: u64,
) -> Result<()> {
    // Consents, through the subject's own index entries.
    let mut consented = Vec::new();
    kv.scan(
        Table::BySubject,
        &KeyRange::prefix(&keys::subject_prefix(subject)),
        |key, _| {
            if let Some((_, client, Owned::Consent)) = keys::parse_by_subject(key) {
                consented.push(client);
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    for client in consented {
        super::consent::forget(kv, subject, &client)?;
    }
    remove_approved_devices(kv, subject)?;
    super::feed::strip_subject(kv, ctx, subject)?;
    super::feed::note(kv, || FeedNote::new(ChangeKind::SubjectErased));
    let kind = EventKind::SubjectErased { grants };
    super::tell(kv, ctx, kind, None, None, None);
    Ok(())
}

/// Device requests the subject approved and the device has not yet
/// collected: the only records that name a subject without an index by it.
/// They live minutes (R31), so the table is small; this reads it whole.
fn remove_approved_devices(kv: &mut impl RecordsMut, subject: &str) -> Result<()> {
    let mut approved = Vec::new();
    kv.scan(Table::DeviceCodes, &KeyRange::all(), |key, _| {
        approved.push(key.to_vec());
        Ok(ControlFlow::Continue(()))
    })?;
    for key in approved {
        // A damaged record is left for verify to name.
        let Ok(Some(device)) = record::load::<DeviceRecord>(kv, &key) else {
            continue;
        };
        if !matches!(&device.state, DeviceState::Approved { subject: s } if s == subject) {
            continue;
        }
        kv.delete(Table::UserCodes, &device.user_code)?;
        kv.delete(Table::DeviceCodes, &key)?;
        if let Ok(id) = <[u8; 16]>::try_from(key.as_slice()) {
            let id = crate::crypto::secret::TokenId(id);
            kv.delete(
                Table::Expiry,
                &keys::expiry(device.expires_at, ExpiryKind::DeviceCode, &id),
            )?;
        }
    }
    Ok(())
}
