//! Issuing without a code (password, client credentials) and refreshing with
//! rotation and reuse detection (R06, R07, R08).

use super::codes::audiences;
use super::damage::Damage;
use super::family::{
    Grant, Issue, end_grant, insert_token, issue_tokens, load_grant, load_token, make_room,
    new_grant,
};
use super::{check_subject, load_client, resolve_scope, tell};
use crate::crypto::kinds::TokenKind;
use crate::engine::ctx::Ctx;
use crate::engine::op::Op;
use crate::error::{Error, InputError, Result};
use crate::kv::table::Table;
use crate::model::binding::{AuthSession, Confirmation, check_resources};
use crate::model::client::ClientKind;
use crate::model::event::EventKind;
use crate::model::feed::EndReason;
use crate::model::grant::GrantOrigin;
use crate::model::grant_type::GrantType;
use crate::model::ids::{ClientId, GrantId};
use crate::model::request::{ClientCredentialsRequest, IssueRequest, RefreshRequest};
use crate::model::response::{RefreshState, RefreshTokenInfo, TokenResponse};
use crate::model::scope::Scope;
use crate::record::ext::{GrantExt, StoredConfirmation, StoredSession};
use crate::record::keys;
use crate::record::{self, ClientRecord, Consumed, GrantRecord, StoredTokenKind, TokenRecord};
use crate::record::{Records, RecordsMut};

/// The password grant: tokens for a subject (R06).
pub(crate) const ISSUE_FOR_SUBJECT: Op =
    Op::grows("issue_for_subject").minting(&[TokenKind::Access, TokenKind::Refresh]);
/// The client-credentials grant (R06).
pub(crate) const ISSUE_CLIENT_CREDENTIALS: Op =
    Op::grows("issue_client_credentials").minting(&[TokenKind::Access]);
/// Refresh with rotation and reuse detection (R07, R08).
pub(crate) const REFRESH: Op = Op::grows("refresh")
    .minting(&[TokenKind::Access, TokenKind::Refresh])
    .row_locked();
/// What a refresh would do, without doing it.
pub(crate) const REFRESH_STATE: Op = Op::read("inspect");

fn require(client: &ClientRecord, grant_type: GrantType) -> Result<()> {
    if client.allows(grant_type) {
        Ok(())
    } else {
        Err(Error::GrantTypeNotAllowed { grant_type })
    }
}

/// The binding of a grant made without a code (R24, R25, R26): checked
/// resources, the confirmation presented, and the sign-in (password only).
fn options_ext(
    resources: &[String],
    confirmation: Option<&Confirmation>,
    auth_session: Option<&AuthSession>,
    subject: Option<&str>,
) -> Result<GrantExt> {
    if let Some(session) = auth_session {
        if subject.is_none() {
            // Client credentials: nobody signed in.
            return Err(Error::InvalidArgument {
                what: "auth_session",
                reason: InputError::NotAllowed,
            });
        }
        session.check()?;
    }
    Ok(GrantExt {
        resources: check_resources(resources)?,
        cnf: confirmation.map(StoredConfirmation::from),
        session: auth_session.map(StoredSession::from),
        nonce: None,
    })
}

/// Issues tokens to a subject whose password the host has checked
/// (RFC 6749 §4.3, Ticketpark).
pub(crate) fn issue_for_subject(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    request: &IssueRequest,
) -> Result<TokenResponse> {
    let (client_id, subject) = (request.client.id(), request.subject.as_str());
    let client = load_client(kv, &client_id)?;
    require(&client, GrantType::Password)?;
    check_subject(subject)?;
    let scope = resolve_scope(request.scope.as_ref(), &client.scopes)?;
    let ext = options_ext(
        &request.resources,
        request.confirmation.as_ref(),
        request.auth_session.as_ref(),
        Some(subject),
    )?;
    let aud = ext.resources.clone();
    let origin = GrantOrigin::Password;
    let mut grant = new_grant(kv, ctx, client_id, Some(subject), &scope, origin, ext)?;
    let issue = Issue {
        client: &client,
        scope: &scope,
        aud: &aud,
        with_refresh: client.allows(GrantType::RefreshToken),
    };
    let tokens = issue_tokens(kv, ctx, &mut grant, issue)?;
    tell_grant(kv, ctx, EventKind::TokensIssued, &grant);
    Ok(tokens)
}

/// Issues an access token to a confidential client acting for itself
/// (RFC 6749 §4.4, Prioticket). No refresh token (§4.4.3); any number may be
/// active at once (R06).
pub(crate) fn issue_client_credentials(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    request: &ClientCredentialsRequest,
) -> Result<TokenResponse> {
    let client_id = request.client.id();
    let client = load_client(kv, &client_id)?;
    require(&client, GrantType::ClientCredentials)?;
    if client.kind != ClientKind::Confidential {
        return Err(Error::GrantTypeNotAllowed {
            grant_type: GrantType::ClientCredentials,
        });
    }
    let scope = resolve_scope(request.scope.as_ref(), &client.scopes)?;
    let ext = options_ext(
        &request.resources,
        request.confirmation.as_ref(),
        None,
        None,
    )?;
    let aud = ext.resources.clone();
    let origin = GrantOrigin::ClientCredentials;
    let mut grant = new_grant(kv, ctx, client_id, None, &scope, origin, ext)?;
    let issue = Issue {
        client: &client,
        scope: &scope,
        aud: &aud,
        with_refresh: false,
    };
    let tokens = issue_tokens(kv, ctx, &mut grant, issue)?;
    tell_grant(kv, ctx, EventKind::TokensIssued, &grant);
    Ok(tokens)
}

/// Refreshes: rotates an active refresh token (R07), or answers a consumed one
/// with a grace-period pair or by revoking its whole grant (R08).
///
/// Order of checks: shape (R02), existence, client, expiry, confirmation
/// (R24), consumption, grant type, scope, resources (R25). Every failure but
/// a reuse changes nothing.
pub(crate) fn refresh(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    request: &RefreshRequest,
) -> Result<TokenResponse> {
    let (client_id, scope) = (&request.client.id(), request.scope.as_ref());
    let presented = ctx
        .minter
        .parse(TokenKind::Refresh, request.refresh_token.expose())?;
    let hash = presented.id;
    let token = match load_token(kv, &presented)? {
        Some(token) if token.kind == StoredTokenKind::Refresh => token,
        _ if presented.verifier.is_none() => return reuse_under_retired_key(kv, ctx, request),
        _ => return Err(Error::UnknownRefreshToken),
    };
    if token.client != *client_id.as_bytes() {
        return Err(Error::TokenClientMismatch);
    }
    if token.is_expired_at(ctx.now) {
        return Err(Error::RefreshTokenExpired);
    }
    let Some(mut grant) = load_grant(kv, *client_id, GrantId(token.grant))? else {
        return Err(Error::UnknownRefreshToken);
    };
    let ctx = &ctx.at_least(latest_recorded_time(&token, &grant.record));
    if token.is_expired_at(ctx.now) {
        return Err(Error::RefreshTokenExpired);
    }
    bind_refresh(&mut grant, request.confirmation.as_ref())?;

    if let Some(consumed) = token.consumed {
        match presented_again(consumed, ctx) {
            // Past its retention the token is forgotten (R14), purged or not.
            Again::Forgotten => return Err(Error::UnknownRefreshToken),
            // RFC 9700 §4.14.2: a consumed refresh token presented again means
            // it leaked; revoke the whole family.
            Again::Reuse => {
                let reason = Some(EndReason::RefreshReuse);
                end_grant(kv, grant.client, grant.id, &Damage::fail(), reason)?;
                tell_grant(kv, ctx, EventKind::RefreshReuseDetected, &grant);
                return Err(Error::RefreshTokenReused);
            }
            Again::Grace => {}
        }
        // Grace reuse: a new pair in the same grant; the pair issued at the
        // rotation stays valid (R08).
        let client = load_client(kv, client_id)?;
        require(&client, GrantType::RefreshToken)?;
        let scope = refreshed_scope(&mut grant, &client, scope)?;
        let aud = audiences(&request.resources, &grant.record.ext.resources)?;
        // The grant keeps a bounded number of pairs: the oldest goes.
        make_room(kv, &mut grant, 2 * ctx.config.grant_live_pairs, 2)?;
        let counted = TokenRecord {
            consumed: Some(Consumed {
                reuses: consumed.reuses + 1,
                ..consumed
            }),
            ..token
        };
        // Same removal time, so its expiry entry stays right.
        record::save(kv, hash.as_bytes(), &counted)?;
        let tokens = rotate_into_grant(kv, ctx, &mut grant, &client, &scope, &aud)?;
        tell_grant(kv, ctx, EventKind::RefreshGraceReuse, &grant);
        return Ok(tokens);
    }

    let client = load_client(kv, client_id)?;
    require(&client, GrantType::RefreshToken)?;
    let scope = refreshed_scope(&mut grant, &client, scope)?;
    let aud = audiences(&request.resources, &grant.record.ext.resources)?;

    // Consume the presented token and revoke its connected access token at once
    // (pretix: "The previous access token will instantly become invalid").
    if let Some(access_hash) = token.partner {
        kv.delete(Table::Tokens, &access_hash)?;
        grant.record.live.retain(|live| *live != access_hash);
    }
    grant.record.live.retain(|live| live != hash.as_bytes());
    let consumed = TokenRecord {
        partner: None,
        consumed: Some(Consumed {
            at: ctx.now,
            reuses: 0,
            retain_until: ctx
                .config
                .consumed_retention
                .map(|r| ctx.now.saturating_add(r)),
        }),
        ..token
    };
    insert_token(kv, &hash, &consumed)?;
    kv.put(Table::Consumed, &keys::consumed(&grant.id, &hash), &[])?;
    let tokens = rotate_into_grant(kv, ctx, &mut grant, &client, &scope, &aud)?;
    tell_grant(kv, ctx, EventKind::TokensRefreshed, &grant);
    Ok(tokens)
}

/// A refresh token under a key no longer accepted (retired: R29 ended what
/// it minted) can still be one this store consumed: presented again, that is
/// a reuse whatever key minted it (R08), and its family is revoked, even if
/// the newer pair is under the newer key. Any other string is unknown.
fn reuse_under_retired_key(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    request: &RefreshRequest,
) -> Result<TokenResponse> {
    let client_id = request.client.id();
    let held = ctx
        .minter
        .parse_held(TokenKind::Refresh, request.refresh_token.expose())?;
    let consumed = load_token(kv, &held)?.and_then(|token| {
        let ours = token.kind == StoredTokenKind::Refresh && token.client == *client_id.as_bytes();
        token
            .consumed
            .filter(|_| ours)
            .map(|consumed| (token, consumed))
    });
    let Some((token, consumed)) = consumed else {
        return Err(Error::UnknownRefreshToken);
    };
    let Some(grant) = load_grant(kv, client_id, GrantId(token.grant))? else {
        return Err(Error::UnknownRefreshToken);
    };
    let ctx = &ctx.at_least(latest_recorded_time(&token, &grant.record));
    match presented_again(consumed, ctx) {
        Again::Reuse => {
            let reason = Some(EndReason::RefreshReuse);
            end_grant(kv, grant.client, grant.id, &Damage::fail(), reason)?;
            tell_grant(kv, ctx, EventKind::RefreshReuseDetected, &grant);
            Err(Error::RefreshTokenReused)
        }
        // Within the grace period (a retry) or past retention: no new pair
        // from a retired key, and no revocation either.
        Again::Grace | Again::Forgotten => Err(Error::UnknownRefreshToken),
    }
}

/// Notes an event about `grant`.
fn tell_grant(kv: &impl Records, ctx: &Ctx<'_>, kind: EventKind, grant: &Grant) {
    tell(
        kv,
        ctx,
        kind,
        Some(grant.client),
        grant.record.subject.as_deref(),
        Some(grant.id),
    );
}

/// A bound grant refreshes only with the same key or certificate (R24,
/// RFC 9449 §5, RFC 8705 §3): anything else changes nothing. An unbound grant
/// refreshed with a proof becomes bound to it, from then on.
fn bind_refresh(grant: &mut Grant, presented: Option<&Confirmation>) -> Result<()> {
    let presented = presented.map(StoredConfirmation::from);
    match (&grant.record.ext.cnf, presented) {
        (Some(bound), presented) if presented.as_ref() != Some(bound) => {
            Err(Error::ConfirmationMismatch)
        }
        (Some(_), _) | (None, None) => Ok(()),
        (None, Some(presented)) => {
            grant.record.ext.cnf = Some(presented);
            Ok(())
        }
    }
}

/// The scope of a refresh (R07, R16): RFC 6749 §6, the requested scope may
/// narrow the grant's, never widen it; omitted, it is the grant's. And never
/// beyond what the client may use now: after the client's scopes were
/// narrowed, the grant narrows with them (and stays so), or, if nothing of it
/// is left, the refresh is `invalid_scope`.
fn refreshed_scope(
    grant: &mut Grant,
    client: &ClientRecord,
    requested: Option<&Scope>,
) -> Result<Scope> {
    let allowed = grant.record.scope.intersection(&client.scopes);
    if allowed.is_empty() && !grant.record.scope.is_empty() {
        return Err(Error::ScopeNotAllowed);
    }
    let scope = resolve_scope(requested, &allowed)?;
    grant.record.scope = allowed;
    Ok(scope)
}

/// What presenting a consumed refresh token again means (R08, R14).
pub(crate) enum Again {
    /// Its retention has passed: it is forgotten.
    Forgotten,
    /// Inside the grace period and under the cap: a new pair.
    Grace,
    /// Theft: the grant is revoked.
    Reuse,
}

pub(crate) fn presented_again(consumed: Consumed, ctx: &Ctx<'_>) -> Again {
    if consumed.retain_until.is_some_and(|until| ctx.now >= until) {
        return Again::Forgotten;
    }
    // A grace only for `0 <= now - consumed_at < grace`: a time before the
    // rotation (a clock that stepped back, a node behind) is never one.
    let in_grace = ctx
        .now
        .checked_sub(consumed.at)
        .is_some_and(|elapsed| elapsed < ctx.config.reuse_grace);
    if in_grace && consumed.reuses < ctx.config.reuse_cap {
        Again::Grace
    } else {
        Again::Reuse
    }
}

/// What a refresh of `presented` would do now, without doing it.
pub(crate) fn refresh_state(
    kv: &impl Records,
    ctx: &Ctx<'_>,
    presented: &str,
) -> Result<RefreshState> {
    let Ok(presented) = ctx.minter.parse(TokenKind::Refresh, presented) else {
        return Ok(RefreshState::Inactive);
    };
    let token = match load_token(kv, &presented)? {
        Some(token) if token.kind == StoredTokenKind::Refresh && !token.is_expired_at(ctx.now) => {
            token
        }
        _ => return Ok(RefreshState::Inactive),
    };
    let Some(grant) = load_grant(kv, ClientId(token.client), GrantId(token.grant))? else {
        return Ok(RefreshState::Inactive);
    };
    let ctx = &ctx.at_least(latest_recorded_time(&token, &grant.record));
    if token.is_expired_at(ctx.now) {
        return Ok(RefreshState::Inactive);
    }
    let info = RefreshTokenInfo {
        client_id: ClientId(token.client),
        grant_id: GrantId(token.grant),
        subject: token.subject,
        scope: token.scope,
        expires_at: token.expires_at,
    };
    Ok(
        match token
            .consumed
            .map(|consumed| presented_again(consumed, ctx))
        {
            None => RefreshState::Active(info),
            Some(Again::Grace) => RefreshState::Grace(info),
            Some(Again::Reuse) => RefreshState::Reused(info),
            Some(Again::Forgotten) => RefreshState::Inactive,
        },
    )
}

/// The latest time a refresh token and its grant record: a refresh runs no
/// earlier (see [`Ctx::at_least`]).
fn latest_recorded_time(token: &TokenRecord, grant: &GrantRecord) -> u64 {
    [
        Some(token.issued_at),
        token.consumed.map(|consumed| consumed.at),
        Some(grant.created_at),
        grant.last_refreshed_at,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0)
}

/// Issues a new pair into `grant` and records the refresh time.
fn rotate_into_grant(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    grant: &mut Grant,
    client: &ClientRecord,
    scope: &Scope,
    aud: &[String],
) -> Result<TokenResponse> {
    grant.record.last_refreshed_at = Some(ctx.now);
    let issue = Issue {
        client,
        scope,
        aud,
        with_refresh: true,
    };
    issue_tokens(kv, ctx, grant, issue)
}
