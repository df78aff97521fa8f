//! Expiry purge (R14): removes what is due, reading only the expiry index
//! entries that are due. Its cost follows what it removes, never what stays.

use std::ops::ControlFlow;

use super::Ctx;
use super::codes::remove_code;
use super::family::{remove_token, remove_token_and_settle_grant};
use crate::error::Result;
use crate::keys::{self, ExpiryKind, TokenClass};
use crate::kv::{KeyRange, KvWrite, Table};
use crate::record::{self, CodeRecord, TokenRecord};
use crate::response::PurgeReport;

/// Removes up to `limit` due entries in the caller's transaction: expired codes
/// and tokens, consumed refresh tokens past their retention, and grants left
/// with no live token.
pub(crate) fn purge_batch(
    kv: &mut impl KvWrite,
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

    let mut report = PurgeReport {
        more,
        ..PurgeReport::default()
    };
    for key in due {
        let Some((at, kind, hash)) = keys::parse_expiry(&key) else {
            // Not an expiry key at all: drop it rather than stall every purge on it.
            kv.delete(Table::Expiry, &key)?;
            continue;
        };
        match kind {
            ExpiryKind::Code => match record::load::<CodeRecord>(kv, hash.as_bytes())? {
                Some(code) if code.expires_at == at => {
                    remove_code(kv, &hash)?;
                    report.codes += 1;
                }
                _ => kv.delete(Table::Expiry, &key)?,
            },
            ExpiryKind::Token => match record::load::<TokenRecord>(kv, hash.as_bytes())? {
                Some(token) if token.removal_time() == Some(at) => match token.class() {
                    TokenClass::Consumed => {
                        remove_token(kv, &hash, &token)?;
                        report.consumed_refresh_tokens += 1;
                    }
                    class => {
                        if class == TokenClass::Access {
                            report.access_tokens += 1;
                        } else {
                            report.refresh_tokens += 1;
                        }
                        if remove_token_and_settle_grant(kv, &hash, &token)? {
                            report.grants += 1;
                        }
                    }
                },
                // Already gone with its grant earlier in this batch, or a stale entry.
                _ => kv.delete(Table::Expiry, &key)?,
            },
        }
    }
    Ok(report)
}
