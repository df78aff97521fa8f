//! Consent (R17): what a subject approved for a client, so a server can skip
//! the approval prompt (pretix `approval_prompt=auto`).

use crate::record::{Records, RecordsMut};
use std::ops::ControlFlow;

use super::listing::{encode_cursor, page_range};
use super::{check_requested_scope, check_subject, load_client, tell};
use crate::engine::ctx::Ctx;
use crate::error::{DecodeError, Error, Result};
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvRead};
use crate::model::event::EventKind;
use crate::model::ids::ClientId;
use crate::model::page::{Page, PageRequest};
use crate::model::request::NewConsent;
use crate::model::response::Consent;

use crate::engine::op::Op;
use crate::record::keys::{self, Owned};
use crate::record::{self, ConsentRecord};

/// Recording a consent (R17).
pub(crate) const RECORD: Op = Op::grows("record_consent");
/// Reading a consent (R17).
pub(crate) const READ: Op = Op::read("read_consent");
/// Listing a subject's consents (R22).
pub(crate) const LIST: Op = Op::read("list_consents");
/// Listing the consents given to a client (R22).
pub(crate) const LIST_OF_CLIENT: Op = Op::read("list_consents_of_client");
/// Withdrawing a consent (R22).
pub(crate) const WITHDRAW: Op = Op::frees("withdraw_consent");

/// Records an approval; scopes approved earlier stay approved (the union).
pub(crate) fn record_consent(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    consent: &NewConsent,
) -> Result<Consent> {
    let (subject, client_id, scope) =
        (consent.subject.as_str(), &consent.client_id, &consent.scope);
    check_subject(subject)?;
    check_requested_scope(scope)?;
    let client = load_client(kv, client_id)?;
    if !scope.is_subset(&client.scopes) {
        return Err(Error::ScopeNotAllowed);
    }
    let key = keys::consent(client_id, subject);
    // What was approved earlier counts only within what the client may still
    // use: the consent stays within the client's scopes (and so within
    // `MAX_SCOPE_LEN`) however those change.
    let (merged, granted_at) = if let Some(earlier) = record::load::<ConsentRecord>(kv, &key)? {
        (
            earlier.scope.intersection(&client.scopes).union(scope),
            ctx.now.max(earlier.granted_at),
        )
    } else {
        // The subject's own index of consents (R22).
        let index = keys::by_subject(subject, client_id, Owned::Consent);
        kv.put(Table::BySubject, &index, &[])?;
        (scope.clone(), ctx.now)
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

/// The consents a subject gave, ordered by client id (R22): one range read
/// of the subject's index entries, and a read per consent listed.
pub(crate) fn consents_of_subject(
    kv: &impl Records,
    subject: &str,
    page: &PageRequest,
) -> Result<Page<Consent>> {
    check_subject(subject)?;
    let range = page_range(&keys::subject_prefix(subject), page)?;
    let limit = page.effective_limit();
    let (mut found, mut last_key, mut next) = (Vec::new(), Vec::new(), None);
    kv.scan(Table::BySubject, &range, |key, _| {
        let Some((_, client, Owned::Consent)) = keys::parse_by_subject(key) else {
            return Ok(ControlFlow::Continue(()));
        };
        if found.len() == limit {
            next = Some(encode_cursor(&last_key));
            return Ok(ControlFlow::Break(()));
        }
        found.push(client);
        last_key = key.to_vec();
        Ok(ControlFlow::Continue(()))
    })?;
    let mut items = Vec::with_capacity(found.len());
    for client in found {
        // An index entry without its consent is skipped here and reported by verify.
        if let Some(consent) = get(kv, subject, &client)? {
            items.push(consent);
        }
    }
    Ok(Page { items, next })
}

/// The consents given to `client_id`, in pages in key order (R22): a range
/// read of the consents table, which is keyed by client first.
pub(crate) fn consents_of_client(
    kv: &impl Records,
    client_id: &ClientId,
    page: &PageRequest,
) -> Result<Page<Consent>> {
    let range = page_range(client_id.as_bytes(), page)?;
    let limit = page.effective_limit();
    let (mut items, mut last_key, mut next) = (Vec::new(), Vec::new(), None);
    kv.scan(Table::Consents, &range, |key, value| {
        if items.len() == limit {
            next = Some(encode_cursor(&last_key));
            return Ok(ControlFlow::Break(()));
        }
        let corrupted = |source| Error::Corrupted {
            table: Table::Consents,
            source,
        };
        let (_, subject) = keys::parse_consent(key).ok_or(corrupted(DecodeError::BadKey))?;
        let record =
            record::decode_in::<ConsentRecord>(Some(kv.seal()), key, value).map_err(corrupted)?;
        items.push(to_consent(client_id, &subject, record));
        last_key = key.to_vec();
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(Page { items, next })
}

/// Deletes one consent and its index entry. Returns whether there was one.
pub(crate) fn forget(kv: &mut impl RecordsMut, subject: &str, client: &ClientId) -> Result<bool> {
    let key = keys::consent(client, subject);
    let existed = kv.get(Table::Consents, &key, |_| ())?.is_some();
    kv.delete(Table::Consents, &key)?;
    kv.delete(
        Table::BySubject,
        &keys::by_subject(subject, client, Owned::Consent),
    )?;
    Ok(existed)
}

/// The subject withdraws its consent to a client (R22): the next
/// authorization asks again. The client's grants stay; ending them too is
/// `revoke_subject_at_client` (R12).
pub(crate) fn withdraw(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    subject: &str,
    client: &ClientId,
) -> Result<bool> {
    check_subject(subject)?;
    let existed = forget(kv, subject, client)?;
    if existed {
        let kind = EventKind::ConsentWithdrawn;
        tell(kv, ctx, kind, Some(*client), Some(subject), None);
    }
    Ok(existed)
}

/// Forgets every consent given to a client, with their index entries.
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
        if let Some((client, subject)) = keys::parse_consent(&key) {
            kv.delete(
                Table::BySubject,
                &keys::by_subject(&subject, &client, Owned::Consent),
            )?;
        }
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
