//! Listing grants of a subject or of a client, in pages (R15).

use crate::record::Records;
use std::ops::ControlFlow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::check_subject;
use super::family::load_grant;
use crate::engine::op::Op;
use crate::error::{Error, InputError, Result};
use crate::kv::KeyRange;
use crate::kv::table::Table;
use crate::model::grant::GrantSummary;
use crate::model::ids::{ClientId, GrantId};
use crate::model::page::{Page, PageRequest};
use crate::record::ext::{StoredConfirmation, StoredSession};
use crate::record::keys::{self, Owned};
use crate::record::{self, ClientRecord, GrantRecord};

/// Listing grants (R15).
pub(crate) const LIST_GRANTS: Op = Op::read("list_grants");
/// Reading one grant.
pub(crate) const READ_GRANT: Op = Op::read("inspect");

/// A page cursor is the last key of the previous page, base64url-encoded.
pub(crate) fn encode_cursor(key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// Decodes a cursor and checks it belongs to the listing under `prefix`.
pub(crate) fn decode_cursor(cursor: &str, prefix: &[u8]) -> Result<Vec<u8>> {
    match URL_SAFE_NO_PAD.decode(cursor) {
        Ok(key) if key.starts_with(prefix) => Ok(key),
        _ => Err(Error::InvalidArgument {
            what: "page cursor",
            reason: InputError::BadStructure,
        }),
    }
}

/// The range of one page of the listing under `prefix`.
pub(crate) fn page_range(prefix: &[u8], page: &PageRequest) -> Result<KeyRange> {
    Ok(match &page.after {
        None => KeyRange::prefix(prefix),
        Some(cursor) => KeyRange::prefix_after(prefix, &decode_cursor(cursor, prefix)?),
    })
}

pub(crate) fn summary(
    grant_id: GrantId,
    client_id: ClientId,
    client_name: String,
    grant: GrantRecord,
) -> GrantSummary {
    GrantSummary {
        grant_id,
        client_id,
        client_name,
        subject: grant.subject,
        scope: grant.scope,
        origin: grant.origin,
        created_at: grant.created_at,
        last_refreshed_at: grant.last_refreshed_at,
        host_data: grant.host_data,
        cnf: grant
            .ext
            .cnf
            .as_ref()
            .and_then(StoredConfirmation::to_public),
        auth_session: grant.ext.session.as_ref().map(StoredSession::to_public),
        resources: grant.ext.resources,
        nonce: grant.ext.nonce,
    }
}

pub(crate) fn client_name(kv: &impl Records, client: &ClientId) -> Result<String> {
    Ok(record::load::<ClientRecord>(kv, client.as_bytes())?
        .map(|client| client.name)
        .unwrap_or_default())
}

/// The grants of a subject, ordered by client then grant id.
pub(crate) fn grants_of_subject(
    kv: &impl Records,
    subject: &str,
    page: &PageRequest,
) -> Result<Page<GrantSummary>> {
    check_subject(subject)?;
    let range = page_range(&keys::subject_prefix(subject), page)?;
    let limit = page.effective_limit();
    let mut found = Vec::new();
    let mut last_key = Vec::new();
    let mut next = None;
    kv.scan(Table::BySubject, &range, |key, _| {
        let Some((_, client, Owned::Grant(grant))) = keys::parse_by_subject(key) else {
            return Ok(ControlFlow::Continue(()));
        };
        if found.len() == limit {
            next = Some(encode_cursor(&last_key));
            return Ok(ControlFlow::Break(()));
        }
        found.push((client, grant));
        last_key = key.to_vec();
        Ok(ControlFlow::Continue(()))
    })?;
    let mut items = Vec::with_capacity(found.len());
    for (client, grant_id) in found {
        // An index entry without its grant is skipped here and reported by verify.
        if let Some(grant) = load_grant(kv, client, grant_id)? {
            items.push(summary(
                grant_id,
                client,
                client_name(kv, &client)?,
                grant.record,
            ));
        }
    }
    Ok(Page { items, next })
}

/// One grant with its client's name.
pub(crate) fn grant(
    kv: &impl Records,
    client: &ClientId,
    grant_id: &GrantId,
) -> Result<Option<GrantSummary>> {
    let Some(grant) = load_grant(kv, *client, *grant_id)? else {
        return Ok(None);
    };
    Ok(Some(summary(
        *grant_id,
        *client,
        client_name(kv, client)?,
        grant.record,
    )))
}

/// The grants of a client, ordered by grant id: one range read.
pub(crate) fn grants_of_client(
    kv: &impl Records,
    client: &ClientId,
    page: &PageRequest,
) -> Result<Page<GrantSummary>> {
    let range = page_range(client.as_bytes(), page)?;
    let name = client_name(kv, client)?;
    let limit = page.effective_limit();
    let mut items = Vec::new();
    let mut last_key = Vec::new();
    let mut next = None;
    kv.scan(Table::Grants, &range, |key, value| {
        if items.len() == limit {
            next = Some(encode_cursor(&last_key));
            return Ok(ControlFlow::Break(()));
        }
        let corrupted = |source| Error::Corrupted {
            table: Table::Grants,
            source,
        };
        let (_, grant_id) =
            keys::parse_grant(key).ok_or(corrupted(crate::error::DecodeError::BadKey))?;
        let grant =
            record::decode_in::<GrantRecord>(Some(kv.seal()), key, value).map_err(corrupted)?;
        items.push(summary(grant_id, *client, name.clone(), grant));
        last_key = key.to_vec();
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(Page { items, next })
}
