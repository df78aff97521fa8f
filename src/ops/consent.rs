//! Consent (R17): what a subject approved for a client, so a server can skip
//! the approval prompt (pretix `approval_prompt=auto`).

use crate::record::{Records, RecordsMut};
use std::ops::ControlFlow;

use super::{Ctx, check_subject, load_client, tell};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::ids::ClientId;
use crate::keys;
use crate::kv::{KeyRange, KvRead, Table};
use crate::record::{self, ConsentRecord};
use crate::response::Consent;
use crate::scope::Scope;

/// Records an approval; scopes approved earlier stay approved (the union).
pub(crate) fn record_consent(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    subject: &str,
    client_id: &ClientId,
    scope: &Scope,
) -> Result<Consent> {
    check_subject(subject)?;
    let client = load_client(kv, client_id)?;
    if !scope.is_subset(&client.scopes) {
        return Err(Error::ScopeNotAllowed);
    }
    let key = keys::consent(client_id, subject);
    // What was approved earlier counts only within what the client may still
    // use: the consent stays within the client's scopes (and so within
    // `MAX_SCOPE_LEN`) however those change.
    let (merged, granted_at) = match record::load::<ConsentRecord>(kv, &key)? {
        Some(earlier) => (
            earlier.scope.intersection(&client.scopes).union(scope),
            ctx.now.max(earlier.granted_at),
        ),
        None => (scope.clone(), ctx.now),
    };
    let consent = ConsentRecord {
        scope: merged,
        granted_at,
    };
    record::save(kv, &key, &consent)?;
    tell(
        kv,
        ctx,
        EventKind::ConsentRecorded,
        Some(*client_id),
        Some(subject),
        None,
    );
    Ok(to_consent(client_id, subject, consent))
}

/// The recorded consent of `subject` for `client_id`, if any.
pub(crate) fn get(
    kv: &impl Records,
    subject: &str,
    client_id: &ClientId,
) -> Result<Option<Consent>> {
    check_subject(subject)?;
    Ok(
        record::load::<ConsentRecord>(kv, &keys::consent(client_id, subject))?
            .map(|consent| to_consent(client_id, subject, consent)),
    )
}

/// Forgets every consent given to a client.
pub(crate) fn forget_all_of_client(kv: &mut impl RecordsMut, client_id: &ClientId) -> Result<()> {
    let mut found = Vec::new();
    kv.scan(
        Table::Consents,
        &KeyRange::prefix(client_id.as_bytes()),
        |key, _| {
            found.push(key.to_vec());
            Ok(ControlFlow::Continue(()))
        },
    )?;
    for key in found {
        kv.delete(Table::Consents, &key)?;
    }
    Ok(())
}

fn to_consent(client_id: &ClientId, subject: &str, consent: ConsentRecord) -> Consent {
    Consent {
        client_id: *client_id,
        subject: subject.to_owned(),
        scope: consent.scope,
        granted_at: consent.granted_at,
    }
}
