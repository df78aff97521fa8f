//! Validation and introspection (R13): pure reads, never a write.
//!
//! A token record carries its client, subject and scope, and every revocation
//! removes the records it kills (a revoked grant, a deleted client), so an
//! access token is active exactly when its record exists, is an access token,
//! and has not expired: one point read.

use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::{Minter, Presented};
use crate::engine::op::Op;
use crate::error::{Error, Result};
use crate::model::ids::{ClientId, GrantId};
use crate::model::response::{Introspection, TokenInfo, TokenType};
use crate::record::ext::{StoredConfirmation, StoredSession};
use crate::record::{GrantRecord, StoredTokenKind, TokenRecord};

/// Validating a bearer token (R13).
pub(crate) const VALIDATE: Op = Op::read("validate");
/// RFC 7662 introspection (R13).
pub(crate) const INTROSPECT: Op = Op::read("introspect");

/// What a resource server needs from a bearer token read at `now`, or
/// `InactiveToken`.
/// Borrows the record: a cached one (the hot-token cache) is answered from
/// without copying it whole.
pub(crate) fn validate(token: Option<&TokenRecord>, now: u64) -> Result<TokenInfo> {
    match token {
        Some(token) if token.kind == StoredTokenKind::Access && token.is_live_at(now) => {
            Ok(TokenInfo {
                client_id: ClientId(token.client),
                subject: token.subject.clone(),
                scope: token.scope.clone(),
                grant_id: GrantId(token.grant),
                issued_at: token.issued_at,
                // Access tokens always expire; the record check guarantees it.
                expires_at: token.expires_at.unwrap_or(now),
                cnf: token
                    .ext
                    .cnf
                    .as_ref()
                    .and_then(StoredConfirmation::to_public),
                aud: token.ext.aud.clone(),
            })
        }
        _ => Err(Error::InactiveToken),
    }
}

/// [`validate`], for one resource (R25): a token restricted to other
/// audiences is `WrongAudience`; an unrestricted one (no `aud`) is valid for
/// every resource.
pub(crate) fn validate_for(
    token: Option<&TokenRecord>,
    now: u64,
    resource: &str,
) -> Result<TokenInfo> {
    let info = validate(token, now)?;
    if info.aud.is_empty() || info.aud.iter().any(|aud| aud == resource) {
        Ok(info)
    } else {
        Err(Error::WrongAudience)
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

/// RFC 7662 introspection of a token read at `now`, with its grant (for the
/// sign-in data, R26). Every token that is not active is `{"active": false}`
/// (RFC 7662 §2.2).
pub(crate) fn introspect(
    token: Option<TokenRecord>,
    grant: Option<GrantRecord>,
    now: u64,
    issuer: Option<&str>,
) -> Introspection {
    let Some(token) = token.filter(|token| token.is_live_at(now)) else {
        return Introspection::inactive();
    };
    let cnf = token
        .ext
        .cnf
        .as_ref()
        .and_then(StoredConfirmation::to_public);
    let token_type = match (token.kind, &token.ext.cnf) {
        (StoredTokenKind::Access, Some(StoredConfirmation::Dpop(_))) => TokenType::DPoP,
        (StoredTokenKind::Access, _) => TokenType::Bearer,
        (StoredTokenKind::Refresh, _) => TokenType::RefreshToken,
    };
    let session = grant
        .and_then(|grant| grant.ext.session)
        .as_ref()
        .map(StoredSession::to_public)
        .unwrap_or_default();
    Introspection {
        active: true,
        scope: Some(token.scope),
        client_id: Some(ClientId(token.client)),
        sub: token.subject,
        token_type: Some(token_type),
        exp: token.expires_at,
        iat: Some(token.issued_at),
        iss: issuer.map(str::to_owned),
        aud: token.ext.aud,
        cnf,
        auth_time: session.auth_time,
        acr: session.acr,
        amr: session.amr,
        sid: session.sid,
        ..Introspection::default()
    }
}
