//! Pushed authorization requests (RFC 9126, R30): push, read back, and issue
//! a code from one, once.

use super::codes::{Pushed, check_authorization, issue_checked};
use super::sessions::check_text;
use super::tell;
use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::{Presented, Secret};
use crate::engine::ctx::Ctx;
use crate::engine::op::Op;
use crate::error::{Error, Result};
use crate::kv::table::Table;
use crate::model::binding::AuthSession;
use crate::model::event::EventKind;
use crate::model::ids::ClientId;
use crate::model::request::{AuthorizationRequest, PushRequest};
use crate::model::response::{IssuedCode, PushedAuthorization, PushedRequest};
use crate::record::ext::StoredConfirmation;
use crate::record::keys::{self, ExpiryKind};
use crate::record::{self, MAX_STATE_LEN, PushedRecord, Records, RecordsMut};

/// Pushing an authorization request (R30).
pub(crate) const PUSH: Op = Op::grows("push_request");
/// Reading a pushed request for the authorization page (R30).
pub(crate) const READ: Op = Op::read("read_pushed_request");
/// Issuing a code from a pushed request (R30).
pub(crate) const ISSUE_CODE: Op = Op::grows("issue_code").minting(&[TokenKind::Code]);

/// What a `request_uri` starts with (RFC 9126 §2.2).
pub(crate) const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// A pushed request's default lifetime (RFC 9126 §2.2 suggests 5 to 600 s).
const DEFAULT_LIFETIME: u64 = 60;
/// The longest lifetime a pushed request may ask for.
const MAX_LIFETIME: u64 = 600;

/// Stores a pushed request, checked as an authorization request would be
/// (R30), and returns its `request_uri`.
pub(crate) fn push(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    push: &PushRequest,
) -> Result<PushedRequest> {
    if let Some(state) = &push.state {
        check_text("state", state, MAX_STATE_LEN)?;
    }
    let lifetime = push
        .lifetime
        .map_or(DEFAULT_LIFETIME, |l| l.as_secs())
        .clamp(1, MAX_LIFETIME);
    // Checked now as it will be at the code (the client may change meanwhile:
    // it is checked again then).
    let client_id = push.client.id();
    let mut request = AuthorizationRequest::new(client_id, String::new());
    request.redirect_uri.clone_from(&push.redirect_uri);
    request.scope.clone_from(&push.scope);
    request.pkce.clone_from(&push.pkce);
    request.nonce.clone_from(&push.nonce);
    request.resources.clone_from(&push.resources);
    request.dpop_jkt.clone_from(&push.dpop_jkt);
    check_authorization(kv, ctx, &request, Pushed::Yes)?;
    let (secret, minted) = ctx.minter.mint(TokenKind::RequestUri)?;
    let expires_at = ctx.now.saturating_add(lifetime);
    let record = PushedRecord {
        verifier: minted.verifier.0,
        client: *client_id.as_bytes(),
        redirect_uri: push.redirect_uri.clone(),
        scope: push.scope.clone(),
        state: push.state.clone(),
        pkce: push.pkce.clone(),
        nonce: push.nonce.clone(),
        resources: push.resources.clone(),
        dpop_jkt: push.dpop_jkt.as_ref().map(StoredConfirmation::from),
        issued_at: ctx.now,
        expires_at,
    };
    record::save(kv, minted.id.as_bytes(), &record)?;
    kv.put(
        Table::Expiry,
        &keys::expiry(expires_at, ExpiryKind::PushedRequest, &minted.id),
        &[],
    )?;
    tell(
        kv,
        ctx,
        EventKind::RequestPushed,
        Some(client_id),
        None,
        None,
    );
    let mut request_uri = String::with_capacity(REQUEST_URI_PREFIX.len() + 80);
    request_uri.push_str(REQUEST_URI_PREFIX);
    request_uri.push_str(secret.expose());
    Ok(PushedRequest {
        request_uri: Secret::from_string(request_uri),
        expires_in: lifetime,
    })
}

/// The pushed request `request_uri` names, if `client` pushed it and it is
/// unused and unexpired (R30).
pub(crate) fn read(
    kv: &impl Records,
    ctx: &Ctx<'_>,
    client: &ClientId,
    request_uri: &str,
) -> Result<PushedAuthorization> {
    let (_, record) = find(kv, ctx, client, request_uri)?;
    let request = authorization_request(*client, &record, String::new(), None);
    let checked = check_authorization(kv, ctx, &request, Pushed::Yes)?;
    Ok(PushedAuthorization {
        client_id: *client,
        redirect_uri: checked.redirect_uri,
        scope: checked.scope,
        state: record.state,
        nonce: record.nonce,
        resources: checked.ext.resources,
        expires_at: record.expires_at,
    })
}

/// Issues a code for `subject` from a pushed request, and spends the
/// request, in one transaction (R30): a second use finds nothing.
pub(crate) fn issue_code(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    client: &ClientId,
    request_uri: &str,
    subject: &str,
    auth_session: Option<&AuthSession>,
) -> Result<(IssuedCode, PushedAuthorization)> {
    let pushed = read(kv, ctx, client, request_uri)?;
    let (presented, record) = find(kv, ctx, client, request_uri)?;
    let request =
        authorization_request(*client, &record, subject.to_owned(), auth_session.cloned());
    let issued = issue_checked(kv, ctx, &request, Pushed::Yes)?;
    kv.delete(Table::PushedRequests, presented.id.as_bytes())?;
    Ok((issued, pushed))
}

/// The record of `request_uri`, checked: the right client, unexpired.
/// Anything else is `UnknownRequestUri`, saying no more.
fn find(
    kv: &impl Records,
    ctx: &Ctx<'_>,
    client: &ClientId,
    request_uri: &str,
) -> Result<(Presented, PushedRecord)> {
    let secret = request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .ok_or(Error::MalformedToken {
            expected: TokenKind::RequestUri,
        })?;
    let presented = ctx.minter.parse(TokenKind::RequestUri, secret)?;
    match record::load::<PushedRecord>(kv, presented.id.as_bytes())? {
        Some(record)
            if presented.matches(&record.verifier)
                && record.client == *client.as_bytes()
                && ctx.now < record.expires_at =>
        {
            Ok((presented, record))
        }
        _ => Err(Error::UnknownRequestUri),
    }
}

/// The authorization request a stored push of `client` stands for, for
/// `subject`.
fn authorization_request(
    client: ClientId,
    record: &PushedRecord,
    subject: String,
    auth_session: Option<AuthSession>,
) -> AuthorizationRequest {
    let mut request = AuthorizationRequest::new(client, subject);
    request.redirect_uri.clone_from(&record.redirect_uri);
    request.scope.clone_from(&record.scope);
    request.pkce.clone_from(&record.pkce);
    request.nonce.clone_from(&record.nonce);
    request.resources.clone_from(&record.resources);
    request.dpop_jkt = record
        .dpop_jkt
        .as_ref()
        .and_then(StoredConfirmation::to_public);
    request.auth_session = auth_session;
    request
}
