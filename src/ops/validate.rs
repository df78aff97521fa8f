//! Validation and introspection (R13): pure reads, never a write.
//!
//! A token record carries its client, subject and scope, and every revocation
//! removes the records it kills (a revoked grant, a deleted client), so an
//! access token is active exactly when its record exists, is an access token,
//! and has not expired: one point read.

use super::Ctx;
use super::family::load_token;
use crate::error::{Error, Result};
use crate::ids::{ClientId, GrantId};
use crate::kv::KvRead;
use crate::record::StoredTokenKind;
use crate::response::{Introspection, TokenInfo};
use crate::secret::{Presented, TokenKind};

/// What a resource server needs from a bearer token, or `InactiveToken`.
pub(crate) fn validate(
    kv: &impl KvRead,
    ctx: &Ctx<'_>,
    presented: &Presented,
) -> Result<TokenInfo> {
    match load_token(kv, presented)? {
        Some(token) if token.kind == StoredTokenKind::Access && token.is_live_at(ctx.now) => {
            Ok(TokenInfo {
                client_id: ClientId(token.client),
                subject: token.subject,
                scope: token.scope,
                grant_id: GrantId(token.grant),
                issued_at: token.issued_at,
                // Access tokens always expire; the record check guarantees it.
                expires_at: token.expires_at.unwrap_or(ctx.now),
            })
        }
        _ => Err(Error::InactiveToken),
    }
}

/// RFC 7662 introspection of an access or refresh token. Every token that is
/// not active, malformed ones included, is `{"active": false}` (RFC 7662 §2.2).
pub(crate) fn introspect(
    kv: &impl KvRead,
    ctx: &Ctx<'_>,
    presented: &str,
) -> Result<Introspection> {
    let Some(kind @ (TokenKind::Access | TokenKind::Refresh)) = ctx.minter.kind_of(presented)
    else {
        return Ok(Introspection::inactive());
    };
    let Ok(presented) = ctx.minter.parse(kind, presented) else {
        return Ok(Introspection::inactive());
    };
    let Some(token) = load_token(kv, &presented)? else {
        return Ok(Introspection::inactive());
    };
    if !token.is_live_at(ctx.now) {
        return Ok(Introspection::inactive());
    }
    Ok(Introspection {
        active: true,
        scope: Some(token.scope),
        client_id: Some(ClientId(token.client)),
        sub: token.subject,
        token_type: Some(match token.kind {
            StoredTokenKind::Access => "Bearer",
            StoredTokenKind::Refresh => "refresh_token",
        }),
        exp: token.expires_at,
        iat: Some(token.issued_at),
    })
}
