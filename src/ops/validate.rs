//! Validation and introspection (R13): pure reads, never a write.
//!
//! A token record carries its client, subject and scope, and every revocation
//! removes the records it kills (a revoked grant, a deleted client), so an
//! access token is active exactly when its record exists, is an access token,
//! and has not expired: one point read.

use crate::error::{Error, Result};
use crate::ids::{ClientId, GrantId};
use crate::record::{StoredTokenKind, TokenRecord};
use crate::response::{Introspection, TokenInfo, TokenType};
use crate::secret::{Minter, Presented, TokenKind};

/// What a resource server needs from a bearer token read at `now`, or
/// `InactiveToken`.
pub(crate) fn validate(token: Option<TokenRecord>, now: u64) -> Result<TokenInfo> {
    match token {
        Some(token) if token.kind == StoredTokenKind::Access && token.is_live_at(now) => {
            Ok(TokenInfo {
                client_id: ClientId(token.client),
                subject: token.subject,
                scope: token.scope,
                grant_id: GrantId(token.grant),
                issued_at: token.issued_at,
                // Access tokens always expire; the record check guarantees it.
                expires_at: token.expires_at.unwrap_or(now),
            })
        }
        _ => Err(Error::InactiveToken),
    }
}

/// Parses an access or refresh token, of whichever kind its prefix says;
/// `None` for anything else, without a read (R02).
pub(crate) fn parse_any(minter: &Minter, presented: &str) -> Option<(TokenKind, Presented)> {
    let kind @ (TokenKind::Access | TokenKind::Refresh) = minter.kind_of(presented)? else {
        return None;
    };
    Some((kind, minter.parse(kind, presented).ok()?))
}

/// RFC 7662 introspection of a token read at `now`. Every token that is not
/// active is `{"active": false}` (RFC 7662 §2.2).
pub(crate) fn introspect(
    token: Option<TokenRecord>,
    now: u64,
    issuer: Option<&str>,
) -> Introspection {
    let Some(token) = token.filter(|token| token.is_live_at(now)) else {
        return Introspection::inactive();
    };
    Introspection {
        active: true,
        scope: Some(token.scope),
        client_id: Some(ClientId(token.client)),
        sub: token.subject,
        token_type: Some(match token.kind {
            StoredTokenKind::Access => TokenType::Bearer,
            StoredTokenKind::Refresh => TokenType::RefreshToken,
        }),
        exp: token.expires_at,
        iat: Some(token.issued_at),
        iss: issuer.map(str::to_owned),
        ..Introspection::default()
    }
}
