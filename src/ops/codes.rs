//! Authorization codes (R04, R05): issue, exchange once, revoke on replay.

use super::damage::Damage;
use super::family::{Issue, end_grant, issue_tokens, new_grant};
use super::{check_subject, load_client, resolve_scope, tell};
use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::Secret;
use crate::crypto::secret::TokenId;
use crate::engine::ctx::Ctx;
use crate::engine::op::Op;
use crate::error::{Error, InputError, Result};
use crate::kv::table::Table;
use crate::model::binding::{Confirmation, check_resources};
use crate::model::client::ClientKind;
use crate::model::event::EventKind;
use crate::model::feed::EndReason;
use crate::model::grant::GrantOrigin;
use crate::model::grant_type::GrantType;
use crate::model::ids::{ClientId, GrantId};
use crate::model::pkce::check_pkce_string;
use crate::model::request::{AuthorizationRequest, CodeExchange};
use crate::model::response::{CodeInfo, IssuedCode, TokenResponse};
use crate::model::scope::Scope;
use crate::model::text::text_ok;
use crate::record::ext::{CodeExt, GrantExt, StoredConfirmation, StoredSession};
use crate::record::keys::{self, ExpiryKind, Owned};
use crate::record::{self, ClientRecord, CodeRecord, MAX_HOST_DATA_LEN, MAX_NONCE_LEN};
use crate::record::{Records, RecordsMut};

/// Issuing a code for an approved request (R04).
pub(crate) const ISSUE: Op = Op::grows("issue_code").minting(&[TokenKind::Code]);
/// Exchanging a code for tokens (R04, R05, R06).
pub(crate) const EXCHANGE: Op =
    Op::grows("exchange_code").minting(&[TokenKind::Access, TokenKind::Refresh]);
/// Reading a code without spending it.
pub(crate) const INSPECT: Op = Op::read("inspect");

/// Issues a code for an approved authorization request (R04). A client
/// that must push its requests first (R30) gets none this way.
pub(crate) fn issue(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    request: &AuthorizationRequest,
) -> Result<IssuedCode> {
    issue_checked(kv, ctx, request, Pushed::No)
}

/// Whether an authorization request arrives through a pushed request (R30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Yes,
    No,
}

/// What checking an authorization request yields: its client, the redirect
/// URI to send the user to, the granted scope and the code's extension.
pub(crate) struct Checked {
    pub client: ClientRecord,
    pub redirect_uri: String,
    pub scope: Scope,
    pub ext: CodeExt,
}

/// Checks an authorization request against its client, everything but the
/// subject (R04, R16, R24, R25): also what a pushed request is checked with
/// when it is pushed (R30).
pub(crate) fn check_authorization(
    kv: &impl Records,
    ctx: &Ctx<'_>,
    request: &AuthorizationRequest,
    pushed: Pushed,
) -> Result<Checked> {
    let client = load_client(kv, &request.client_id)?;
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(Error::GrantTypeNotAllowed {
            grant_type: GrantType::AuthorizationCode,
        });
    }
    if pushed == Pushed::No && client.ext.require_pushed_requests {
        return Err(Error::PushedRequestRequired);
    }
    // RFC 6749 §3.1.2.3: a given redirect URI must match a registered one exactly.
    let redirect_uri = match &request.redirect_uri {
        Some(uri) if client.redirect_uris.contains(uri) => uri.clone(),
        Some(_) => return Err(Error::RedirectUriMismatch),
        None => client
            .redirect_uris
            .first()
            .cloned()
            .ok_or(Error::NoRedirectUri)?,
    };
    let scope = resolve_scope(request.scope.as_ref(), &client.scopes)?;
    check_request(ctx, &client, request)?;
    let ext = code_ext(request)?;
    Ok(Checked {
        client,
        redirect_uri,
        scope,
        ext,
    })
}

/// Issues a code for a request checked as `pushed` says.
pub(crate) fn issue_checked(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    request: &AuthorizationRequest,
    pushed: Pushed,
) -> Result<IssuedCode> {
    check_subject(&request.subject)?;
    let Checked {
        client,
        redirect_uri,
        scope,
        ext,
    } = check_authorization(kv, ctx, request, pushed)?;
    let lifetime = ctx
        .config
        .lifetimes_for(&request.client_id, client.lifetimes)
        .code;
    let expires_at = ctx.now.saturating_add(lifetime);
    let (code, minted) = ctx.mint(TokenKind::Code)?;
    let hash = minted.id;
    let record = CodeRecord {
        verifier: minted.verifier.0,
        client: *request.client_id.as_bytes(),
        subject: request.subject.clone(),
        scope,
        redirect_uri: request.redirect_uri.clone(),
        pkce: request.pkce.clone(),
        nonce: request.nonce.clone(),
        host_data: request.host_data.clone(),
        issued_at: ctx.now,
        expires_at,
        exchanged_into: None,
        ext,
    };
    record::save(kv, hash.as_bytes(), &record)?;
    if let Some(sid) = record.ext.session.as_ref().and_then(|s| s.sid.as_deref()) {
        let index = keys::by_session(sid, &request.client_id, Owned::Code(hash));
        kv.put(Table::BySession, &index, &[])?;
    }
    kv.put(
        Table::Expiry,
        &keys::expiry(expires_at, ExpiryKind::Code, &hash),
        &[],
    )?;
    kv.put(
        Table::ClientCodes,
        &keys::client_code(&request.client_id, &hash),
        &[],
    )?;
    kv.put(
        Table::BySubject,
        &keys::by_subject(&request.subject, &request.client_id, Owned::Code(hash)),
        &[],
    )?;
    tell(
        kv,
        ctx,
        EventKind::CodeIssued,
        Some(request.client_id),
        Some(&request.subject),
        None,
    );
    Ok(IssuedCode {
        code,
        redirect_uri,
        expires_at,
    })
}

/// Checks what an authorization request carries besides its client,
/// redirect URI and scope: PKCE where required, host data, nonce.
fn check_request(
    ctx: &Ctx<'_>,
    client: &ClientRecord,
    request: &AuthorizationRequest,
) -> Result<()> {
    if request.pkce.is_none()
        && client.kind == ClientKind::Public
        && ctx.config.require_pkce_for_public
    {
        return Err(Error::InvalidArgument {
            what: "code_challenge (required for public clients)",
            reason: InputError::Empty,
        });
    }
    if request
        .host_data
        .as_ref()
        .is_some_and(|d| d.len() > MAX_HOST_DATA_LEN)
    {
        return Err(Error::InvalidArgument {
            what: "host data",
            reason: InputError::TooLong {
                max: MAX_HOST_DATA_LEN,
            },
        });
    }
    if let Some(nonce) = &request.nonce
        && (nonce.is_empty() || !text_ok(nonce, MAX_NONCE_LEN))
    {
        return Err(Error::InvalidArgument {
            what: "nonce",
            reason: InputError::BadStructure,
        });
    }
    Ok(())
}

/// The bindings and sign-in of an authorization request, checked (R24–R26).
fn code_ext(request: &AuthorizationRequest) -> Result<CodeExt> {
    let dpop_jkt = match &request.dpop_jkt {
        None => None,
        Some(key @ Confirmation::DpopJkt(_)) => Some(StoredConfirmation::from(key)),
        // `dpop_jkt` names a DPoP key; a certificate is bound at the token endpoint.
        Some(_) => {
            return Err(Error::InvalidArgument {
                what: "dpop_jkt",
                reason: InputError::NotAllowed,
            });
        }
    };
    if let Some(session) = &request.auth_session {
        session.check()?;
    }
    Ok(CodeExt {
        resources: check_resources(&request.resources)?,
        dpop_jkt,
        session: request.auth_session.as_ref().map(StoredSession::from),
    })
}

/// The resources an access token is for: those the request names, which
/// must lie within what the grant covers when it covers any (R25); none
/// named, all the grant covers.
pub(crate) fn audiences(requested: &[String], covered: &[String]) -> Result<Vec<String>> {
    let requested = check_resources(requested)?;
    if requested.is_empty() {
        return Ok(covered.to_vec());
    }
    if !covered.is_empty() && !requested.iter().all(|r| covered.contains(r)) {
        return Err(Error::InvalidTarget);
    }
    Ok(requested)
}

/// Exchanges a code for tokens (R04, R06); a replay revokes its grant (R05).
///
/// Checks run in this order, and every failure but the replay changes nothing:
/// shape (R02), existence, expiry, replay, client, redirect URI, PKCE.
pub(crate) fn exchange(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    exchange: &CodeExchange,
) -> Result<TokenResponse> {
    let presented = ctx.minter.parse(TokenKind::Code, exchange.code.expose())?;
    let client_id = exchange.client.id();
    let hash = presented.id;
    let mut code = match record::load::<CodeRecord>(kv, hash.as_bytes())? {
        Some(code) if presented.matches(&code.verifier) => code,
        _ => return Err(Error::UnknownCode),
    };
    // The tokens it issues are no older than the code.
    let ctx = &ctx.at_least(code.issued_at);
    if ctx.now >= code.expires_at {
        return Err(Error::CodeExpired);
    }
    if let Some(grant) = code.exchanged_into {
        // RFC 6749 §4.1.2: "If an authorization code is used more than once, the
        // authorization server MUST deny the request and SHOULD revoke (when
        // possible) all tokens previously issued based on that authorization code."
        let reason = Some(EndReason::CodeReplay);
        end_grant(
            kv,
            ClientId(code.client),
            GrantId(grant),
            &Damage::fail(),
            reason,
        )?;
        tell(
            kv,
            ctx,
            EventKind::CodeReplayed,
            Some(ClientId(code.client)),
            Some(&code.subject),
            Some(GrantId(grant)),
        );
        return Err(Error::CodeReplayed);
    }
    if code.client != *client_id.as_bytes() {
        return Err(Error::CodeClientMismatch);
    }
    let client = load_client(kv, &client_id)?;
    check_redirect(
        &code,
        &client.redirect_uris,
        exchange.redirect_uri.as_deref(),
    )?;
    check_pkce(&code, exchange.code_verifier.as_ref().map(Secret::expose))?;
    // RFC 9449 §10: a code bound to a DPoP key goes only with a proof of it.
    if let Some(bound) = &code.ext.dpop_jkt
        && exchange
            .confirmation
            .as_ref()
            .map(StoredConfirmation::from)
            .as_ref()
            != Some(bound)
    {
        return Err(Error::ConfirmationMismatch);
    }
    let aud = audiences(&exchange.resources, &code.ext.resources)?;
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(Error::GrantTypeNotAllowed {
            grant_type: GrantType::AuthorizationCode,
        });
    }

    // Never beyond what the client may use now (its scopes may have been
    // narrowed since the code was issued).
    let scope = code.scope.intersection(&client.scopes);
    if scope.is_empty() && !code.scope.is_empty() {
        return Err(Error::ScopeNotAllowed);
    }
    let binding = GrantExt {
        resources: code.ext.resources.clone(),
        cnf: exchange.confirmation.as_ref().map(StoredConfirmation::from),
        session: code.ext.session.clone(),
        nonce: code.nonce.clone(),
    };
    let mut grant = new_grant(
        kv,
        ctx,
        client_id,
        Some(&code.subject),
        &scope,
        GrantOrigin::AuthorizationCode,
        binding,
    )?;
    grant.record.host_data.clone_from(&code.host_data);
    code.exchanged_into = Some(*grant.id.as_bytes());
    // Same expiry, so the expiry-index entry stays valid: the exchanged code is
    // kept until then to recognise a replay (R05).
    record::save(kv, hash.as_bytes(), &code)?;
    let issue = Issue {
        client: &client,
        scope: &scope,
        aud: &aud,
        with_refresh: client.allows(GrantType::RefreshToken),
    };
    let tokens = issue_tokens(kv, ctx, &mut grant, issue)?;
    tell(
        kv,
        ctx,
        EventKind::CodeExchanged,
        Some(grant.client),
        Some(&code.subject),
        Some(grant.id),
    );
    Ok(tokens)
}

/// RFC 6749 §4.1.3: the redirect URI must be "identical" to the one given at
/// authorization. When none was given there, the code went to the client's
/// default URI, and a redirect URI at the token endpoint must name that one.
fn check_redirect(code: &CodeRecord, registered: &[String], presented: Option<&str>) -> Result<()> {
    let matches = match (&code.redirect_uri, presented) {
        (Some(authorized), Some(presented)) => authorized == presented,
        (Some(_), None) => false,
        (None, Some(presented)) => registered
            .first()
            .is_some_and(|default| default == presented),
        (None, None) => true,
    };
    if matches {
        Ok(())
    } else {
        Err(Error::RedirectUriMismatch)
    }
}

/// RFC 7636 §4.6, and RFC 9700 §2.1.1: a verifier without a stored challenge is
/// refused too (PKCE downgrade).
fn check_pkce(code: &CodeRecord, verifier: Option<&str>) -> Result<()> {
    match (&code.pkce, verifier) {
        (None, None) => Ok(()),
        (Some(challenge), Some(verifier)) => {
            check_pkce_string("code_verifier", verifier)?;
            if challenge.is_answered_by(verifier) {
                Ok(())
            } else {
                Err(Error::PkceMismatch)
            }
        }
        _ => Err(Error::PkceMismatch),
    }
}

/// Reads a code without consuming it: `None` when malformed, unknown or expired.
pub(crate) fn inspect(
    kv: &impl Records,
    ctx: &Ctx<'_>,
    presented: &str,
) -> Result<Option<CodeInfo>> {
    let Ok(presented) = ctx.minter.parse(TokenKind::Code, presented) else {
        return Ok(None);
    };
    let code = match record::load::<CodeRecord>(kv, presented.id.as_bytes())? {
        Some(code) if presented.matches(&code.verifier) && ctx.now < code.expires_at => code,
        _ => return Ok(None),
    };
    Ok(Some(CodeInfo {
        client_id: ClientId(code.client),
        subject: code.subject,
        scope: code.scope,
        redirect_uri: code.redirect_uri,
        expires_at: code.expires_at,
        exchanged: code.exchanged_into.is_some(),
        host_data: code.host_data,
    }))
}

/// Removes a code and its index entries (a damaged one, when skipping, stays).
pub(crate) fn remove_code(kv: &mut impl RecordsMut, hash: &TokenId, damage: &Damage) -> Result<()> {
    let Some(code) = damage.load::<CodeRecord>(kv, hash.as_bytes())? else {
        return Ok(());
    };
    let client = ClientId(code.client);
    kv.delete(Table::Codes, hash.as_bytes())?;
    kv.delete(
        Table::Expiry,
        &keys::expiry(code.expires_at, ExpiryKind::Code, hash),
    )?;
    kv.delete(Table::ClientCodes, &keys::client_code(&client, hash))?;
    kv.delete(
        Table::BySubject,
        &keys::by_subject(&code.subject, &client, Owned::Code(*hash)),
    )?;
    if let Some(sid) = code.ext.session.as_ref().and_then(|s| s.sid.as_deref()) {
        kv.delete(
            Table::BySession,
            &keys::by_session(sid, &client, Owned::Code(*hash)),
        )?;
    }
    Ok(())
}
