//! The model of pushed authorization requests (R30) and the device
//! authorization grant (R31, R32), and the runner's ops for them.

use std::collections::HashMap;

use grantdb::kv::Backend;
use grantdb::{AttemptKey, DeviceApproval, PushedApproval};
use grantdb::{
    ClientId, GrantId, GrantOrigin, GrantType, PkceChallenge, PkceMethod, PushRequest, Scope, Store,
};

use super::{Expect, MCode, Model, S256_CHALLENGE, SUBJECTS, check, same_outcome, scope_choice};

/// A pushed request's lifetime (the store's default).
const PUSHED_LIFETIME: u64 = 60;
/// Device requests: lifetime, first interval, `slow_down` step (defaults).
const DEVICE_LIFETIME: u64 = 600;
const DEVICE_INTERVAL: u64 = 5;
const SLOW_DOWN_STEP: u64 = 5;
/// Wrong user codes: per attempt key and in total, per window (defaults).
const ATTEMPTS_PER_KEY: u32 = 5;
const ATTEMPTS_TOTAL: u32 = 1_000;
const WINDOW: u64 = 300;

#[derive(Debug, Clone)]
pub struct MPushed {
    client: ClientId,
    scope: Option<Scope>,
    pkce: bool,
    expires_at: u64,
    /// The ring key its request URI was minted under.
    key: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MDeviceState {
    Pending,
    Approved(&'static str),
    Denied,
    Spent(GrantId),
}

#[derive(Debug, Clone)]
pub struct MDevice {
    client: ClientId,
    device_code: String,
    user_code: String,
    scope: Scope,
    interval: u64,
    last_poll: Option<u64>,
    expires_at: u64,
    state: MDeviceState,
    /// Purged: the device code and user code name nothing any more.
    purged: bool,
    key: u8,
}

/// What the model keeps of R30–R32.
#[derive(Debug, Default)]
pub struct Requests {
    pushed: HashMap<String, MPushed>,
    pushed_list: Vec<String>,
    devices: Vec<MDevice>,
    /// Wrong user codes by (window end, attempt key; `None`: everyone).
    attempts: HashMap<(u64, Option<&'static str>), u32>,
}

impl Requests {
    /// A DPoP proof id claimed at `now` (R27): counted for its client and
    /// in the total, in the store's hour-long windows, which purge removes
    /// with the window.
    pub fn count_proof_claim(&mut self, now: u64) {
        let window_end = (now / 3_600 + 1) * 3_600;
        for scope in ["\0proof-client", "\0proof-total"] {
            *self.attempts.entry((window_end, Some(scope))).or_default() += 1;
        }
    }

    /// Purges what is due at `now`: (pushed requests, device requests,
    /// attempt windows) removed.
    pub fn purge(&mut self, now: u64) -> (u64, u64, u64) {
        let before = self.pushed.len();
        self.pushed.retain(|_, p| p.expires_at > now);
        let pushed = (before - self.pushed.len()) as u64;
        let mut devices = 0;
        for device in self
            .devices
            .iter_mut()
            .filter(|d| !d.purged && d.expires_at <= now)
        {
            device.purged = true;
            devices += 1;
        }
        let windows = self.attempts.len();
        self.attempts.retain(|(end, _), _| *end > now);
        let windows = windows - self.attempts.len();
        (pushed, devices, windows as u64)
    }
}

/// A pushed request (R30): the client's, with a scope choice and PKCE.
pub fn push<B: Backend>(
    store: &Store<B>,
    m: &mut Model,
    client: u8,
    scope: u8,
    pkce: bool,
) -> Result<(), String> {
    let Some(c) = m.client(client) else {
        return Ok(());
    };
    let requested = scope_choice(scope);
    let mut request = PushRequest::new(&c.client);
    request.scope.clone_from(&requested);
    if pkce {
        request.pkce = Some(PkceChallenge::new(PkceMethod::S256, S256_CHALLENGE).unwrap());
    }
    let actual = store.push_authorization_request(request);
    let expected = authorization_expectation(m, &c.id, requested.as_ref(), pkce);
    same_outcome(&actual, &expected)?;
    if let Ok(pushed) = actual {
        let uri = pushed.request_uri.expose().to_owned();
        m.requests.pushed.insert(
            uri.clone(),
            MPushed {
                client: c.id,
                scope: requested,
                pkce,
                expires_at: m.now + PUSHED_LIFETIME,
                key: m.minting_key(),
            },
        );
        m.requests.pushed_list.push(uri);
    }
    Ok(())
}

/// What checking an authorization request of `client` yields (R04, R16),
/// the redirect URI left to the client's default.
fn authorization_expectation(
    m: &Model,
    client: &ClientId,
    requested: Option<&Scope>,
    pkce: bool,
) -> Expect<Scope> {
    let c = m.live_client(client)?;
    if !c.t.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err("GrantTypeNotAllowed");
    }
    if c.t.redirect_uris.is_empty() {
        return Err("NoRedirectUri");
    }
    let scope = Model::resolve_scope(requested, &Scope::parse(c.t.scopes).unwrap())?;
    if c.t.public && !pkce {
        return Err("InvalidArgument");
    }
    Ok(scope)
}

/// A code from a pushed request, for a subject (R30): once, by its client,
/// before it expires.
pub fn use_pushed<B: Backend>(
    store: &Store<B>,
    m: &mut Model,
    request: u8,
    client: u8,
    subject: u8,
) -> Result<(), String> {
    let Some(uri) = super::pick(&m.requests.pushed_list, request) else {
        return Ok(());
    };
    // Mostly the client that pushed it, sometimes any other.
    let pusher = m.requests.pushed.get(&uri).map(|p| p.client);
    let Some(c) = m.client_or(pusher, client) else {
        return Ok(());
    };
    let subject = SUBJECTS[usize::from(subject) % SUBJECTS.len()];
    let actual = store.issue_code_from_pushed(PushedApproval::new(&uri, c.id, subject));
    let entry = m.requests.pushed.get(&uri).cloned();
    let expected = match &entry {
        Some(p) if p.client == c.id && m.now < p.expires_at && m.key_active(p.key) => {
            authorization_expectation(m, &c.id, p.scope.as_ref(), p.pkce)
        }
        _ => Err("UnknownRequestUri"),
    };
    same_outcome(&actual, &expected)?;
    if let (Ok((issued, read)), Ok(scope), Some(p)) = (actual, expected, entry) {
        check(read.scope == scope, "pushed request's scope")?;
        let code_life = m.live_client(&c.id).map(|c| c.t.code).unwrap_or_default();
        check(issued.expires_at == m.now + code_life, "code expiry")?;
        // Spent: the store deletes it (its expiry entry left for purge).
        m.requests.pushed.remove(&uri);
        let plaintext = issued.code.expose().to_owned();
        m.codes.insert(
            plaintext.clone(),
            MCode {
                client: c.id,
                subject: subject.to_owned(),
                scope,
                redirect_uri: None,
                pkce: p.pkce.then_some(0),
                expires_at: m.now + code_life,
                exchanged_into: None,
                resources: Vec::new(),
                dpop: false,
                sid: None,
                key: m.minting_key(),
            },
        );
        m.code_list.push(plaintext);
    }
    Ok(())
}

/// A device starts a request (R31).
pub fn start_device<B: Backend>(
    store: &Store<B>,
    m: &mut Model,
    client: u8,
    scope: u8,
) -> Result<(), String> {
    let Some(c) = m.client(client) else {
        return Ok(());
    };
    let requested = scope_choice(scope);
    let actual = store.start_device_authorization(&c.client, requested.as_ref());
    let expected = (|| {
        let c = m.live_client(&c.id)?;
        if !c.t.grant_types.contains(&GrantType::DeviceCode) {
            return Err("GrantTypeNotAllowed");
        }
        Model::resolve_scope(requested.as_ref(), &Scope::parse(c.t.scopes).unwrap())
    })();
    same_outcome(&actual, &expected)?;
    if let (Ok(started), Ok(scope)) = (actual, expected) {
        check(
            (started.expires_in, started.interval) == (DEVICE_LIFETIME, DEVICE_INTERVAL),
            "device request's lifetime and interval",
        )?;
        m.requests.devices.push(MDevice {
            client: c.id,
            device_code: started.device_code.expose().to_owned(),
            user_code: started.user_code,
            scope,
            interval: DEVICE_INTERVAL,
            last_poll: None,
            expires_at: m.now + DEVICE_LIFETIME,
            state: MDeviceState::Pending,
            purged: false,
            key: m.minting_key(),
        });
    }
    Ok(())
}

/// The user answers a device's request by its user code, or a wrong one
/// (R31), as subject `subject` (also the attempt key).
pub fn answer_device<B: Backend>(
    store: &Store<B>,
    m: &mut Model,
    device: u8,
    approve: bool,
    subject: u8,
    wrong: bool,
) -> Result<(), String> {
    let Some(index) =
        (!m.requests.devices.is_empty()).then(|| usize::from(device) % m.requests.devices.len())
    else {
        return Ok(());
    };
    let subject = SUBJECTS[usize::from(subject) % SUBJECTS.len()];
    let typed = if wrong {
        // Vowels: never a user code the store makes, whatever it draws.
        "AAAAA-EEEEE".to_owned()
    } else {
        m.requests.devices[index].user_code.to_lowercase()
    };
    let actual = if approve {
        store.approve_device(DeviceApproval::new(
            &typed,
            subject,
            AttemptKey::new(subject),
        ))
    } else {
        store.deny_device(&typed, &AttemptKey::new(subject))
    };
    let window_end = (m.now / WINDOW + 1) * WINDOW;
    let total = m
        .requests
        .attempts
        .get(&(window_end, None))
        .copied()
        .unwrap_or(0);
    let mine = m
        .requests
        .attempts
        .get(&(window_end, Some(subject)))
        .copied()
        .unwrap_or(0);
    let d = &m.requests.devices[index];
    let found = !wrong && !d.purged && d.state == MDeviceState::Pending && m.now < d.expires_at;
    let expected: Expect<()> = if total >= ATTEMPTS_TOTAL || mine >= ATTEMPTS_PER_KEY {
        Err("TooManyAttempts")
    } else if found {
        Ok(())
    } else {
        Err("UnknownUserCode")
    };
    same_outcome(&actual, &expected)?;
    match expected {
        Ok(()) => {
            m.requests.devices[index].state = if approve {
                MDeviceState::Approved(subject)
            } else {
                MDeviceState::Denied
            };
        }
        Err("UnknownUserCode") => {
            *m.requests.attempts.entry((window_end, None)).or_default() += 1;
            *m.requests
                .attempts
                .entry((window_end, Some(subject)))
                .or_default() += 1;
        }
        Err(_) => {}
    }
    Ok(())
}

/// The device polls (R32), as `client`.
pub fn poll_device<B: Backend>(
    store: &Store<B>,
    m: &mut Model,
    device: u8,
    client: u8,
) -> Result<(), String> {
    let Some(index) =
        (!m.requests.devices.is_empty()).then(|| usize::from(device) % m.requests.devices.len())
    else {
        return Ok(());
    };
    let d = m.requests.devices[index].clone();
    // Mostly the device's own client, sometimes any other.
    let Some(c) = m.client_or(Some(d.client), client) else {
        return Ok(());
    };
    let actual = store.poll_device(&d.device_code, &c.client);
    let now = m.now;
    let expected: Expect<&'static str> = if d.purged || d.client != c.id || !m.key_active(d.key) {
        Err("UnknownDeviceCode")
    } else if now >= d.expires_at {
        Err("DeviceCodeExpired")
    } else {
        match d.state {
            MDeviceState::Spent(_) => Err("DeviceCodeReplayed"),
            MDeviceState::Denied => Err("DeviceAccessDenied"),
            _ if d.last_poll.is_some_and(|last| now < last + d.interval) => Err("SlowDown"),
            MDeviceState::Pending => Err("AuthorizationPending"),
            MDeviceState::Approved(subject) => (|| {
                let c = m.live_client(&c.id)?;
                if !c.t.grant_types.contains(&GrantType::DeviceCode) {
                    return Err("GrantTypeNotAllowed");
                }
                m.grant_refused(subject, &c.id)?;
                Ok(subject)
            })(),
        }
    };
    same_outcome(&actual, &expected)?;
    match (&expected, actual) {
        (Err("SlowDown"), _) => {
            let entry = &mut m.requests.devices[index];
            entry.interval += SLOW_DOWN_STEP;
            entry.last_poll = Some(now);
        }
        (Err("AuthorizationPending"), _) => m.requests.devices[index].last_poll = Some(now),
        (Err("DeviceCodeReplayed"), _) => {
            if let MDeviceState::Spent(grant) = d.state {
                m.end_grant(&grant);
            }
        }
        (Ok(subject), Ok(tokens)) => {
            let subject = *subject;
            let entry = &mut m.requests.devices[index];
            entry.last_poll = Some(now);
            entry.state = MDeviceState::Spent(tokens.grant_id);
            let c = m.live_client(&c.id).unwrap().clone();
            m.accept_subject_grant(&tokens, &c, subject, &d.scope, GrantOrigin::DeviceCode)?;
        }
        _ => {}
    }
    Ok(())
}
