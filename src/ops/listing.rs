//! Listing grants of a subject or of a client, in pages (R15).

use std::ops::ControlFlow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::check_subject;
use crate::error::{Error, InputError, Result};
use crate::grant::{GrantSummary, Page, PageRequest};
use crate::ids::{ClientId, GrantId};
use crate::keys::{self, Owned, OwnedKind};
use crate::kv::{KeyRange, KvRead, Table};
use crate::record::{self, ClientRecord, GrantRecord};

/// A page cursor is the last index key of the previous page, base64url-encoded.
pub(crate) fn encode_cursor(key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// Decodes a cursor and checks it belongs to the listing under `prefix`.
pub(crate) fn decode_cursor(cursor: &str, prefix: &[u8]) -> Result<Vec<u8>> {
    let bad = Error::InvalidArgument {
        what: "page cursor",
        reason: InputError::BadStructure,
    };
    let key = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad)?;
    if key.starts_with(prefix) {
        Ok(key)
    } else {
        Err(Error::InvalidArgument {
            what: "page cursor",
            reason: InputError::BadStructure,
        })
    }
}

fn range_for(prefix: &[u8], page: &PageRequest) -> Result<KeyRange> {
    Ok(match &page.after {
        None => KeyRange::prefix(prefix),
        Some(cursor) => KeyRange::prefix_after(prefix, &decode_cursor(cursor, prefix)?),
    })
}

/// Collects one page of grant ids from an owner index.
fn page_of_grants(
    kv: &impl KvRead,
    table: Table,
    range: &KeyRange,
    limit: usize,
    grant_of: impl Fn(&[u8]) -> Option<GrantId>,
) -> Result<(Vec<GrantId>, Option<String>)> {
    let mut grants = Vec::new();
    let mut last_key = Vec::new();
    let mut next = None;
    kv.scan(table, range, |key, _| {
        let Some(grant) = grant_of(key) else {
            return Ok(ControlFlow::Continue(()));
        };
        if grants.len() == limit {
            next = Some(encode_cursor(&last_key));
            return Ok(ControlFlow::Break(()));
        }
        grants.push(grant);
        last_key = key.to_vec();
        Ok(ControlFlow::Continue(()))
    })?;
    Ok((grants, next))
}

fn summarise(
    kv: &impl KvRead,
    grants: Vec<GrantId>,
    next: Option<String>,
) -> Result<Page<GrantSummary>> {
    let mut items = Vec::with_capacity(grants.len());
    for grant_id in grants {
        // An index entry without its grant is skipped here and reported by verify.
        let Some(grant) = record::load::<GrantRecord>(kv, grant_id.as_bytes())? else {
            continue;
        };
        let client_id = ClientId(grant.client);
        let client_name = record::load::<ClientRecord>(kv, client_id.as_bytes())?
            .map(|client| client.name)
            .unwrap_or_default();
        items.push(GrantSummary {
            grant_id,
            client_id,
            client_name,
            subject: grant.subject,
            scope: grant.scope,
            origin: grant.origin,
            created_at: grant.created_at,
            last_refreshed_at: grant.last_refreshed_at,
        });
    }
    Ok(Page { items, next })
}

/// The grants of a subject, ordered by client then grant id.
pub(crate) fn grants_of_subject(
    kv: &impl KvRead,
    subject: &str,
    page: &PageRequest,
) -> Result<Page<GrantSummary>> {
    check_subject(subject)?;
    let prefix = keys::subject_prefix(subject);
    let range = range_for(&prefix, page)?;
    let (grants, next) = page_of_grants(
        kv,
        Table::BySubject,
        &range,
        page.effective_limit(),
        |key| match keys::parse_by_subject(key) {
            Some((_, _, Owned::Grant(grant))) => Some(grant),
            _ => None,
        },
    )?;
    summarise(kv, grants, next)
}

/// The grants of a client, ordered by grant id.
pub(crate) fn grants_of_client(
    kv: &impl KvRead,
    client: &ClientId,
    page: &PageRequest,
) -> Result<Page<GrantSummary>> {
    let prefix = keys::by_client_kind_prefix(client, OwnedKind::Grant);
    let range = range_for(&prefix, page)?;
    let (grants, next) =
        page_of_grants(kv, Table::ByClient, &range, page.effective_limit(), |key| {
            match keys::parse_by_client(key) {
                Some((_, Owned::Grant(grant))) => Some(grant),
                _ => None,
            }
        })?;
    summarise(kv, grants, next)
}
