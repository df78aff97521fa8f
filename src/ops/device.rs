//! The device authorization grant (RFC 8628, R31, R32): start, find and
//! answer by user code with brute-force limits, poll.

use super::family::{Issue, end_grant, issue_tokens, new_grant};
use super::{budget, check_subject, load_client, resolve_scope, tell};
use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::{LookupDomain, TokenId};
use crate::engine::ctx::Ctx;
use crate::engine::op::Op;
use crate::error::{Error, Result};
use crate::kv::table::Table;
use crate::model::device::{DeviceAuthorization, PendingDevice};
use crate::model::event::EventKind;
use crate::model::grant::GrantOrigin;
use crate::model::grant_type::GrantType;
use crate::model::ids::{ClientId, GrantId};
use crate::model::response::TokenResponse;
use crate::model::scope::Scope;
use crate::record::ext::GrantExt;
use crate::record::keys::{self, AttemptScope, ExpiryKind};
use crate::record::{self, DeviceRecord, DeviceState, Records, RecordsMut, UserCodeRecord};

/// Starting a device request (R31).
pub(crate) const START: Op = Op::grows("start_device");
/// A user code looked up, approved or denied (R31).
pub(crate) const USER_CODE: Op = Op::grows("user_code");
/// A device polling (R32).
pub(crate) const POLL: Op = Op::grows("poll_device");

/// The user-code alphabet (RFC 8628 §6.1): 20 consonants, no vowels (no
/// words), no look-alikes.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code: 20^10 ≈ 2^43.
const USER_CODE_LEN: usize = 10;
/// What each `slow_down` adds to the interval (RFC 8628 §3.5).
const SLOW_DOWN_STEP: u64 = 5;

/// Starts a device request (R31).
pub(crate) fn start(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    client_id: &ClientId,
    scope: Option<&Scope>,
) -> Result<DeviceAuthorization> {
    let client = load_client(kv, client_id)?;
    if !client.allows(GrantType::DeviceCode) {
        return Err(Error::GrantTypeNotAllowed {
            grant_type: GrantType::DeviceCode,
        });
    }
    let scope = resolve_scope(scope, &client.scopes)?;
    let settings = ctx.config.device_flow;
    let lifetime = settings.lifetime.as_secs().max(1);
    let interval = settings.interval.as_secs().clamp(1, 3_600);
    let expires_at = ctx.now.saturating_add(lifetime);
    // A fresh user code; one already in use (2^-43 per live request) is
    // drawn again.
    let (user_code, user_id) = loop {
        let code = new_user_code()?;
        let (_, id) = user_code_ids(ctx, &code)[0];
        if kv.get(Table::UserCodes, id.as_bytes(), |_| ())?.is_none() {
            break (code, id);
        }
    };
    let (device_code, minted) = ctx.minter.mint(TokenKind::DeviceCode)?;
    let device = DeviceRecord {
        verifier: minted.verifier.0,
        client: *client_id.as_bytes(),
        scope,
        user_code: *user_id.as_bytes(),
        interval,
        last_poll: None,
        issued_at: ctx.now,
        expires_at,
        state: DeviceState::Pending,
    };
    record::save(kv, minted.id.as_bytes(), &device)?;
    let named = UserCodeRecord {
        device: *minted.id.as_bytes(),
        expires_at,
    };
    record::save(kv, user_id.as_bytes(), &named)?;
    kv.put(
        Table::Expiry,
        &keys::expiry(expires_at, ExpiryKind::DeviceCode, &minted.id),
        &[],
    )?;
    tell(
        kv,
        ctx,
        EventKind::DeviceAuthorizationStarted,
        Some(*client_id),
        None,
        None,
    );
    Ok(DeviceAuthorization {
        device_code,
        user_code: format!("{}-{}", &user_code[..5], &user_code[5..]),
        expires_in: lifetime,
        interval,
    })
}

/// A user code of [`USER_CODE_LEN`] letters of [`ALPHABET`], uniformly
/// drawn (bytes of 240 and up are drawn again: 240 is 12 × 20).
fn new_user_code() -> Result<String> {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        let mut bytes = [0u8; 16];
        crate::crypto::random::fill(&mut bytes)?;
        for byte in bytes.into_iter().filter(|b| *b < 240) {
            if code.len() < USER_CODE_LEN {
                code.push(char::from(ALPHABET[usize::from(byte % 20)]));
            }
        }
    }
    Ok(code)
}

/// A typed user code as stored: upper case, without dashes or spaces;
/// `None` if it cannot be one.
fn normalise(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let well_formed = code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b));
    well_formed.then_some(code)
}

/// The ids a normalised user code may be stored under (one per ring key).
fn user_code_ids(ctx: &Ctx<'_>, code: &str) -> Vec<(u8, TokenId)> {
    ctx.minter.lookup_ids(LookupDomain::UserCode, code)
}

/// A pending request found by its user code.
pub(crate) struct Found {
    pub pending: PendingDevice,
    device_id: TokenId,
    device: DeviceRecord,
}

/// The pending request `typed` names, counting a wrong code for
/// `attempt_key` and for all (R31). A key at its own limit is refused even
/// the right code (its next guess could be that code); the total never
/// refuses a right code, only wrong ones: strangers guessing wrong must not
/// lock out a user who has the code in front of them.
pub(crate) fn find_pending(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    typed: &str,
    attempt_key: &str,
) -> Result<Found> {
    let settings = ctx.config.device_flow;
    let window_end = budget::window_end(ctx.now, settings.window.as_secs());
    let refused = || Error::TooManyAttempts {
        retry_after: window_end - ctx.now,
    };
    let key_hash = *ctx
        .minter
        .stable_lookup_id(LookupDomain::AttemptKey, attempt_key)
        .as_bytes();
    let per_key = keys::attempts_id(AttemptScope::Key, &key_hash);
    let total = keys::attempts_id(AttemptScope::All, &[0; 16]);
    if budget::spent(kv, window_end, &per_key)? >= settings.attempts_per_key {
        return Err(refused());
    }
    if let Some(found) = lookup(kv, ctx, typed)? {
        return Ok(found);
    }
    // A wrong code. Once the total is spent every wrong code is refused as
    // too many (nothing is written then: the refusal commits nothing);
    // before, it counts for its key and in the total.
    if budget::spent(kv, window_end, &total)? >= settings.attempts_total {
        return Err(refused());
    }
    let key_count = budget::spend(kv, window_end, &per_key)?;
    let total_count = budget::spend(kv, window_end, &total)?;
    if key_count >= settings.attempts_per_key || total_count >= settings.attempts_total {
        tell(
            kv,
            ctx,
            EventKind::UserCodeAttemptsExceeded,
            None,
            None,
            None,
        );
    }
    Err(Error::UnknownUserCode)
}

/// The pending, unexpired request a typed user code names.
fn lookup(kv: &impl Records, ctx: &Ctx<'_>, typed: &str) -> Result<Option<Found>> {
    let Some(code) = normalise(typed) else {
        return Ok(None);
    };
    for (_, id) in user_code_ids(ctx, &code) {
        let Some(named) = record::load::<UserCodeRecord>(kv, id.as_bytes())? else {
            continue;
        };
        let device_id = TokenId(named.device);
        let Some(device) = record::load::<DeviceRecord>(kv, device_id.as_bytes())? else {
            continue;
        };
        if device.state != DeviceState::Pending || ctx.now >= device.expires_at {
            return Ok(None);
        }
        let pending = PendingDevice {
            client_id: ClientId(device.client),
            scope: device.scope.clone(),
            expires_at: device.expires_at,
        };
        return Ok(Some(Found {
            pending,
            device_id,
            device,
        }));
    }
    Ok(None)
}

/// The user approves (as `subject`) or denies (`None`) the request `typed`
/// names (R31).
pub(crate) fn answer(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    typed: &str,
    attempt_key: &str,
    subject: Option<&str>,
) -> Result<PendingDevice> {
    if let Some(subject) = subject {
        check_subject(subject)?;
    }
    let Found {
        pending,
        device_id,
        mut device,
    } = find_pending(kv, ctx, typed, attempt_key)?;
    let kind = if let Some(subject) = subject {
        device.state = DeviceState::Approved {
            subject: subject.to_owned(),
        };
        EventKind::DeviceApproved
    } else {
        device.state = DeviceState::Denied;
        EventKind::DeviceDenied
    };
    record::save(kv, device_id.as_bytes(), &device)?;
    tell(kv, ctx, kind, Some(pending.client_id), subject, None);
    Ok(pending)
}

/// A device polls (R32).
pub(crate) fn poll(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    presented: &str,
    client_id: &ClientId,
) -> Result<TokenResponse> {
    let presented = ctx.minter.parse(TokenKind::DeviceCode, presented)?;
    let found = record::load::<DeviceRecord>(kv, presented.id.as_bytes())?;
    let Some(mut device) =
        found.filter(|d| presented.matches(&d.verifier) && d.client == *client_id.as_bytes())
    else {
        return Err(Error::UnknownDeviceCode);
    };
    let ctx = &ctx.at_least(device.last_poll.unwrap_or(device.issued_at));
    if ctx.now >= device.expires_at {
        return Err(Error::DeviceCodeExpired);
    }
    match &device.state {
        DeviceState::Spent { grant } => {
            // The code gave its tokens already: someone has a copy (R32, as
            // R05 for codes). Its grant ends.
            end_grant(
                kv,
                *client_id,
                GrantId(*grant),
                &super::damage::Damage::fail(),
                Some(crate::model::feed::EndReason::DeviceCodeReplay),
            )?;
            tell(
                kv,
                ctx,
                EventKind::DeviceCodeReplayed,
                Some(*client_id),
                None,
                Some(GrantId(*grant)),
            );
            return Err(Error::DeviceCodeReplayed);
        }
        DeviceState::Denied => return Err(Error::DeviceAccessDenied),
        DeviceState::Pending | DeviceState::Approved { .. } => {}
    }
    let too_soon = device
        .last_poll
        .is_some_and(|last| ctx.now < last.saturating_add(device.interval));
    device.last_poll = Some(ctx.now);
    if too_soon {
        device.interval = device.interval.saturating_add(SLOW_DOWN_STEP).min(3_600);
        record::save(kv, presented.id.as_bytes(), &device)?;
        return Err(Error::SlowDown);
    }
    let DeviceState::Approved { subject } = device.state.clone() else {
        record::save(kv, presented.id.as_bytes(), &device)?;
        return Err(Error::AuthorizationPending);
    };
    let client = load_client(kv, client_id)?;
    if !client.allows(GrantType::DeviceCode) {
        return Err(Error::GrantTypeNotAllowed {
            grant_type: GrantType::DeviceCode,
        });
    }
    let origin = GrantOrigin::DeviceCode;
    let mut grant = new_grant(
        kv,
        ctx,
        *client_id,
        Some(&subject),
        &device.scope,
        origin,
        GrantExt::default(),
    )?;
    let issue = Issue {
        client: &client,
        scope: &device.scope,
        aud: &[],
        with_refresh: client.allows(GrantType::RefreshToken),
    };
    let tokens = issue_tokens(kv, ctx, &mut grant, issue)?;
    device.state = DeviceState::Spent {
        grant: *grant.id.as_bytes(),
    };
    record::save(kv, presented.id.as_bytes(), &device)?;
    tell(
        kv,
        ctx,
        EventKind::TokensIssued,
        Some(*client_id),
        Some(&subject),
        Some(grant.id),
    );
    Ok(tokens)
}
