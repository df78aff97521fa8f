//! The model-based harness: a small, naive reference model of the lifecycle
//! rules, and a runner that applies one sequence of operations to a grantdb
//! `Store` and to the model and compares every answer.
//!
//! Shared by the property test (`tests/model.rs`, proptest) and the fuzz target
//! `store_ops` (`fuzz/`), which includes this file by path: a crash input the
//! fuzzer finds is committed under `tests/fuzz_regressions/` and replays under
//! plain `cargo test`.
//!
//! The model keeps plain maps keyed by the plaintext strings the store handed
//! out; it has no indexes, no hashing and no encoding, so it shares no code with
//! what it checks.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fuzz;
mod requests;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use grantdb::IntrospectRequest;
use grantdb::kv::Backend;
use grantdb::{
    AtGrantLimit, AuthorizationRequest, ClientId, CodeExchange, Config, ConfigBuilder, Error,
    GrantId, GrantLimits, GrantOrigin, GrantType, LifetimeOverrides, ManualClock, NewClient,
    PageRequest, PkceChallenge, PkceMethod, RefreshLifetime, Revocation, Scope, Store,
    TokenResponse,
};
use grantdb::{AuthenticatedClient, ClientCredentialsRequest, GrantRef, IssueRequest, NewConsent};

/// Start of the manual clock.
pub const T0: u64 = 1_700_000_000;

const SUBJECTS: [&str; 3] = ["alice", "bob", "carol"];

/// The client the proof ids of the model are claimed for (R27 scopes them
/// by client).
fn proof_client() -> grantdb::ClientId {
    "pCJ3yvtcSmWb3bHkmGT9Aw".parse().expect("a client id")
}
const SCOPES: [Option<&str>; 7] = [
    None,
    // Named but empty: malformed (R16), never a silent grant of nothing.
    Some(""),
    Some("read"),
    Some("read write"),
    Some("profile"),
    Some("booking"),
    Some("admin"),
];
const STEPS: [u64; 8] = [1, 29, 30, 59, 60, 599, 3_600, 86_400];
/// How far the clock steps back.
const BACK_STEPS: [u64; 4] = [1, 5, 30, 3_600];
const EVIL_URI: &str = "https://evil.example/cb";
/// Three valid PKCE verifiers: the first answers the S256 challenge, the second
/// the plain one, the third neither.
const VERIFIERS: [&str; 3] = [
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "plain-verifier-plain-verifier-plain-verifier",
    "wrong-verifier-wrong-verifier-wrong-verifier",
];
const S256_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Resource indicators (RFC 8707, R25).
const RESOURCE_A: &str = "https://a.example/api";
const RESOURCE_B: &str = "https://b.example/api";
/// Two DPoP key thumbprints (R24).
const KEYS: [&str; 2] = [
    "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
];
/// Sign-in session ids (R26).
const SIDS: [&str; 2] = ["sid-1", "sid-2"];
/// DPoP proof ids and how long they are claimed for (R27).
const JTIS: [&str; 3] = ["jti-a", "jti-b", "jti-c"];
const JTI_WINDOWS: [u64; 3] = [1, 60, 3_600];

/// What an authorization covers: no resources, A, or A and B.
fn code_resources(choice: u8) -> Vec<String> {
    match choice % 3 {
        0 => vec![],
        1 => vec![RESOURCE_A.to_owned()],
        _ => vec![RESOURCE_A.to_owned(), RESOURCE_B.to_owned()],
    }
}

/// What a token request names: nothing, A, or B.
fn requested_resources(choice: u8) -> Vec<String> {
    match choice % 3 {
        0 => vec![],
        1 => vec![RESOURCE_A.to_owned()],
        _ => vec![RESOURCE_B.to_owned()],
    }
}

/// The key a request proves: none, the first or the second.
fn proof_key(choice: u8) -> Option<usize> {
    match choice % 3 {
        0 => None,
        n => Some(usize::from(n) - 1),
    }
}

fn confirmation(key: usize) -> grantdb::Confirmation {
    grantdb::Confirmation::dpop(KEYS[key]).unwrap()
}

/// The model's audiences of a token request (R25): what it names, within what
/// the grant covers when it covers anything; nothing named, all it covers.
fn model_audiences(requested: &[String], covered: &[String]) -> Expect<Vec<String>> {
    if requested.is_empty() {
        return Ok(covered.to_vec());
    }
    if !covered.is_empty() && !requested.iter().all(|r| covered.contains(r)) {
        return Err("InvalidTarget");
    }
    Ok(requested.to_vec())
}

/// One operation on the store, with small bounded indices that the runner
/// resolves against what has been issued so far.
#[derive(Debug, Clone, PartialEq, Eq, arbitrary::Arbitrary)]
pub enum Op {
    Register {
        template: u8,
    },
    Authenticate {
        client: u8,
        stale: bool,
    },
    RotateSecret {
        client: u8,
    },
    DeleteClient {
        client: u8,
    },
    IssueCode {
        client: u8,
        subject: u8,
        scope: u8,
        redirect: u8,
        pkce: u8,
        /// Resources, a `dpop_jkt` and a session id (R24–R26).
        binding: u8,
    },
    ExchangeCode {
        code: u8,
        client: u8,
        redirect: u8,
        verifier: u8,
        /// The key proved and the resources named (R24, R25).
        proof: u8,
    },
    Password {
        client: u8,
        subject: u8,
        scope: u8,
    },
    ClientCredentials {
        client: u8,
        scope: u8,
    },
    Refresh {
        token: u8,
        client: u8,
        scope: u8,
        /// The key proved and the resources named (R24, R25).
        proof: u8,
    },
    Revoke {
        token: u8,
        refresh: bool,
        client: u8,
    },
    RevokeSubject {
        subject: u8,
    },
    RevokeClient {
        client: u8,
    },
    RevokeSubjectAtClient {
        subject: u8,
        client: u8,
    },
    Validate {
        token: u8,
    },
    Introspect {
        token: u8,
        refresh: bool,
    },
    Malformed {
        token: u8,
        position: u8,
    },
    Purge,
    Advance {
        step: u8,
    },
    /// The host clock steps back (an NTP correction, a VM restore).
    StepBack {
        step: u8,
    },
    RecordConsent {
        subject: u8,
        client: u8,
        scope: u8,
    },
    HasConsent {
        subject: u8,
        client: u8,
        scope: u8,
    },
    ListSubject {
        subject: u8,
    },
    ListClient {
        client: u8,
    },
    /// "Sign out this device" (R21): a subject ends one grant.
    RevokeGrant {
        grant: u8,
        subject: u8,
    },
    /// The consents of a subject (R22).
    ListConsents {
        subject: u8,
    },
    /// A subject withdraws one consent (R22).
    WithdrawConsent {
        subject: u8,
        client: u8,
    },
    /// OpenID Connect logout: every grant and code of a session id (R26).
    RevokeSession {
        sid: u8,
    },
    /// A DPoP proof id is claimed (R27).
    ClaimJti {
        jti: u8,
        window: u8,
    },
    /// A hashing key is added to the ring and mints from then on (R28).
    AddKey,
    /// A key of the ring is retired: what it minted stops working (R29).
    RetireKey {
        key: u8,
    },
    /// A client pushes an authorization request (R30).
    Push {
        client: u8,
        scope: u8,
        pkce: bool,
    },
    /// A code is issued from a pushed request (R30).
    UsePushed {
        request: u8,
        client: u8,
        subject: u8,
    },
    /// A device starts a request (R31).
    StartDevice {
        client: u8,
        scope: u8,
    },
    /// The user answers a device's request, or types a wrong code (R31).
    AnswerDevice {
        device: u8,
        approve: bool,
        subject: u8,
        wrong: bool,
    },
    /// A device polls (R32).
    PollDevice {
        device: u8,
        client: u8,
    },
}

/// Store configurations the harness runs under.
pub fn config(preset: u8) -> ConfigBuilder {
    match preset % 3 {
        0 => Config::builder(),
        1 => Config::builder()
            .refresh_reuse_grace(Duration::from_secs(30))
            .refresh_reuse_cap(2)
            .consumed_refresh_retention(Some(Duration::from_mins(10)))
            .grant_limits(
                GrantLimits::default()
                    .per_subject(2)
                    .when_reached(AtGrantLimit::Refuse),
            ),
        _ => Config::builder()
            .access_lifetime(Duration::from_mins(10))
            .consumed_refresh_retention(None)
            .purge_batch_size(2)
            .grant_limits(
                GrantLimits::default()
                    .per_subject_at_client(1)
                    .per_subject(2)
                    .when_reached(AtGrantLimit::EndOldest),
            ),
    }
}

/// The reuse policy of a preset, as the model needs it.
fn policy(preset: u8) -> Policy {
    match preset % 3 {
        0 => Policy {
            access: 86_400,
            grace: 0,
            cap: 1,
            retention: Some(30 * 86_400),
            limits: Limits::default(),
        },
        1 => Policy {
            access: 86_400,
            grace: 30,
            cap: 2,
            retention: Some(600),
            limits: Limits {
                per_subject: Some(2),
                per_subject_at_client: None,
                refuse: true,
            },
        },
        _ => Policy {
            access: 600,
            grace: 0,
            cap: 1,
            retention: None,
            limits: Limits {
                per_subject: Some(2),
                per_subject_at_client: Some(1),
                refuse: false,
            },
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Policy {
    access: u64,
    grace: u64,
    cap: u32,
    retention: Option<u64>,
    limits: Limits,
}

/// Grant limits (R23) as the model needs them.
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    per_subject: Option<usize>,
    per_subject_at_client: Option<usize>,
    refuse: bool,
}

/// The client templates: the four seeds' applications and a public app.
fn template(index: u8) -> (NewClient, Template) {
    let uris = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    match index % 5 {
        4 => (
            NewClient::public("scanner")
                .grant_types([GrantType::DeviceCode, GrantType::RefreshToken])
                .scopes("read")
                .unwrap(),
            Template {
                redirect_uris: vec![],
                grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
                scopes: "read",
                access: None,
                refresh: None,
                code: 60,
                public: true,
            },
        ),
        0 => (
            NewClient::confidential("pretix")
                .redirect_uri("https://a.example/cb")
                .redirect_uri("https://a.example/cb2")
                .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
                .scopes("read write profile")
                .unwrap(),
            Template {
                redirect_uris: uris(&["https://a.example/cb", "https://a.example/cb2"]),
                grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                scopes: "read write profile",
                access: None,
                refresh: None,
                code: 60,
                public: false,
            },
        ),
        1 => (
            NewClient::confidential("ticketpark")
                .grant_types([GrantType::Password, GrantType::RefreshToken])
                .scopes("read write")
                .unwrap()
                .lifetimes(
                    LifetimeOverrides::default()
                        .access(Duration::from_mins(10))
                        .refresh(RefreshLifetime::AbsoluteSeconds(2_000)),
                ),
            Template {
                redirect_uris: vec![],
                grant_types: vec![GrantType::Password, GrantType::RefreshToken],
                scopes: "read write",
                access: Some(600),
                refresh: Some(2_000),
                code: 60,
                public: false,
            },
        ),
        2 => (
            NewClient::confidential("prioticket")
                .grant_types([GrantType::ClientCredentials])
                .scopes("booking")
                .unwrap()
                .lifetimes(LifetimeOverrides::default().access(Duration::from_hours(1))),
            Template {
                redirect_uris: vec![],
                grant_types: vec![GrantType::ClientCredentials],
                scopes: "booking",
                access: Some(3_600),
                refresh: None,
                code: 60,
                public: false,
            },
        ),
        _ => (
            NewClient::public("mobile")
                .redirect_uri("app.example:/cb")
                .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
                .scopes("read")
                .unwrap()
                .lifetimes(
                    LifetimeOverrides::default()
                        .code(Duration::from_mins(2))
                        .refresh(RefreshLifetime::AbsoluteSeconds(5_000)),
                ),
            Template {
                redirect_uris: uris(&["app.example:/cb"]),
                grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                scopes: "read",
                access: None,
                refresh: Some(5_000),
                code: 120,
                public: true,
            },
        ),
    }
}

#[derive(Debug, Clone)]
struct Template {
    redirect_uris: Vec<String>,
    grant_types: Vec<GrantType>,
    scopes: &'static str,
    access: Option<u64>,
    refresh: Option<u64>,
    code: u64,
    public: bool,
}

#[derive(Debug, Clone)]
struct MClient {
    id: ClientId,
    /// The client as it authenticated once registered: what the
    /// token-endpoint operations take, still usable (and refused as an
    /// unknown client) after the client is deleted.
    client: AuthenticatedClient,
    t: Template,
    secret: Option<String>,
    stale_secret: Option<String>,
    /// The ring key the current secret is hashed under (R28).
    secret_key: u8,
    deleted: bool,
}

#[derive(Debug, Clone)]
struct MCode {
    client: ClientId,
    subject: String,
    scope: Scope,
    redirect_uri: Option<String>,
    pkce: Option<usize>,
    expires_at: u64,
    exchanged_into: Option<GrantId>,
    resources: Vec<String>,
    /// Bound to `KEYS[0]` with `dpop_jkt`.
    dpop: bool,
    sid: Option<&'static str>,
    /// The ring key it was minted under (R28).
    key: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MGrant {
    client: ClientId,
    subject: Option<String>,
    scope: Scope,
    origin: GrantOrigin,
    created_at: u64,
    last_refreshed_at: Option<u64>,
    resources: Vec<String>,
    /// The key index it is bound to.
    cnf: Option<usize>,
    sid: Option<String>,
}

#[derive(Debug, Clone)]
struct MToken {
    refresh: bool,
    grant: GrantId,
    client: ClientId,
    subject: Option<String>,
    scope: Scope,
    issued_at: u64,
    expires_at: Option<u64>,
    partner: Option<String>,
    /// (consumed at, reuses, retained until)
    consumed: Option<(u64, u32, Option<u64>)>,
    /// Order of issue: the grant's oldest live token goes first when a grace
    /// pair needs room.
    seq: u64,
    aud: Vec<String>,
    cnf: Option<usize>,
    /// The ring key it was minted under (R28).
    key: u8,
}

impl MToken {
    fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
    fn live(&self, now: u64) -> bool {
        self.consumed.is_none() && !self.expired(now)
    }
    fn removal_time(&self) -> Option<u64> {
        let retention = self.consumed.and_then(|c| c.2);
        match (self.expires_at, retention) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The reference model.
struct Model {
    now: u64,
    policy: Policy,
    clients: Vec<MClient>,
    codes: HashMap<String, MCode>,
    code_list: Vec<String>,
    grants: BTreeMap<GrantId, MGrant>,
    tokens: HashMap<String, MToken>,
    access_list: Vec<String>,
    refresh_list: Vec<String>,
    consents: BTreeMap<(ClientId, String), Scope>,
    issued: u64,
    /// DPoP proof ids claimed, and until when.
    jtis: HashMap<&'static str, u64>,
    /// The ring: whether each key (id = index + 1) is still active.
    keys_active: Vec<bool>,
    /// Pushed requests and device requests (R30–R32).
    requests: requests::Requests,
    /// Refresh tokens whose key was retired: the name each was presented
    /// under → the name the model keeps it under. A consumed one presented
    /// again is still a reuse (R08).
    retired_refresh: HashMap<String, String>,
}

/// Pairs a grant keeps live at most (the default `grant_live_pairs`).
const GRANT_LIVE_PAIRS: usize = 4;

type Expect<T> = Result<T, &'static str>;

fn name(error: &Error) -> String {
    let debug = format!("{error:?}");
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn scope_choice(choice: u8) -> Option<Scope> {
    SCOPES[usize::from(choice) % SCOPES.len()].map(|s| Scope::parse(s).unwrap())
}

fn pick<T: Clone>(list: &[T], index: u8) -> Option<T> {
    (!list.is_empty()).then(|| list[usize::from(index) % list.len()].clone())
}

impl Model {
    fn client(&self, index: u8) -> Option<MClient> {
        pick(&self.clients, index)
    }

    /// Client `owner` three times in four (by `index`), else any client:
    /// flows that must come back to their client mostly do.
    fn client_or(&self, owner: Option<ClientId>, index: u8) -> Option<MClient> {
        match owner {
            Some(id) if !index.is_multiple_of(4) => {
                self.clients.iter().find(|c| c.id == id).cloned()
            }
            _ => self.client(index),
        }
    }

    /// The key new strings are minted under: the active key with the highest id.
    fn minting_key(&self) -> u8 {
        let index = self.keys_active.iter().rposition(|a| *a).unwrap();
        u8::try_from(index + 1).unwrap()
    }

    fn key_active(&self, id: u8) -> bool {
        self.keys_active[usize::from(id) - 1]
    }

    /// Retires key `id` (R29): every token and code minted under it is, to
    /// whoever presents it, as if it had never been issued; the records stay
    /// (grants, listings, purge), so they move to names no op presents.
    fn retire_key(&mut self, id: u8) {
        self.keys_active[usize::from(id) - 1] = false;
        let hidden = |plaintext: &str| format!("retired-{plaintext}");
        let names: Vec<String> = self
            .tokens
            .iter()
            .filter(|(_, t)| t.key == id)
            .map(|(p, _)| p.clone())
            .collect();
        for name in &names {
            let token = self.tokens.remove(name).unwrap();
            if token.refresh {
                self.retired_refresh.insert(name.clone(), hidden(name));
            }
            self.tokens.insert(hidden(name), token);
        }
        for token in self.tokens.values_mut() {
            if let Some(partner) = &token.partner
                && names.contains(partner)
            {
                token.partner = Some(hidden(partner));
            }
        }
        let codes: Vec<String> = self
            .codes
            .iter()
            .filter(|(_, c)| c.key == id)
            .map(|(p, _)| p.clone())
            .collect();
        for name in codes {
            let code = self.codes.remove(&name).unwrap();
            self.codes.insert(hidden(&name), code);
        }
    }

    fn live_client(&self, id: &ClientId) -> Expect<&MClient> {
        self.clients
            .iter()
            .find(|c| c.id == *id && !c.deleted)
            .ok_or("UnknownClient")
    }

    fn resolve_scope(requested: Option<&Scope>, allowed: &Scope) -> Expect<Scope> {
        match requested {
            None => Ok(allowed.clone()),
            Some(s) if s.is_empty() => Err("MalformedScope"),
            Some(s) if s.is_subset(allowed) => Ok(s.clone()),
            Some(_) => Err("ScopeNotAllowed"),
        }
    }

    fn end_grant(&mut self, grant: &GrantId) {
        self.tokens.retain(|_, t| t.grant != *grant);
        self.grants.remove(grant);
    }

    fn remove_token(&mut self, plaintext: &str) {
        if let Some(token) = self.tokens.remove(plaintext)
            && let Some(partner) = token.partner
            && let Some(p) = self.tokens.get_mut(&partner)
            && p.partner.as_deref() == Some(plaintext)
        {
            p.partner = None;
        }
    }

    /// Ends the grant's oldest live tokens (each with its partner) until a new
    /// pair fits under the limit, as a grace reuse does.
    fn make_room(&mut self, grant: &GrantId) {
        loop {
            let live: Vec<(u64, String)> = self
                .tokens
                .iter()
                .filter(|(_, t)| t.grant == *grant && t.consumed.is_none())
                .map(|(k, t)| (t.seq, k.clone()))
                .collect();
            if live.len() + 2 <= 2 * GRANT_LIVE_PAIRS {
                return;
            }
            let Some((_, oldest)) = live.into_iter().min() else {
                return;
            };
            let partner = self.tokens.remove(&oldest).and_then(|t| t.partner);
            if let Some(partner) = partner {
                self.tokens.remove(&partner);
            }
        }
    }

    fn settle(&mut self, grant: &GrantId) -> bool {
        let live_class = self
            .tokens
            .values()
            .any(|t| t.grant == *grant && t.consumed.is_none());
        if live_class {
            return false;
        }
        let existed = self.grants.contains_key(grant);
        self.end_grant(grant);
        existed
    }

    /// Checks an issuance against what the model expects and records it.
    fn accept_issue(
        &mut self,
        actual: &TokenResponse,
        grant: GrantId,
        client: &MClient,
        scope: &Scope,
        with_refresh: bool,
        aud: &[String],
    ) -> Result<(), String> {
        let access_life = client.t.access.unwrap_or(self.policy.access);
        let g = self
            .grants
            .get(&grant)
            .cloned()
            .ok_or("issue into a missing grant")?;
        check(actual.grant_id == grant, "grant id")?;
        check(actual.expires_in == access_life, "expires_in")?;
        check(actual.scope == *scope, "scope")?;
        check(actual.created_at == self.now, "created_at")?;
        check(
            actual.refresh_token.is_some() == with_refresh,
            "refresh presence",
        )?;
        check(actual.subject == g.subject, "subject")?;
        check(actual.resources == aud, "audiences")?;
        let dpop = g.cnf.is_some();
        check(
            (actual.token_type == grantdb::TokenType::DPoP) == dpop,
            "token_type DPoP for a key-bound grant",
        )?;
        check(
            actual.auth_session.as_ref().and_then(|s| s.sid.clone()) == g.sid,
            "sign-in session travels with the grant",
        )?;
        let access = actual.access_token.expose().to_owned();
        let refresh = actual.refresh_token.as_ref().map(|r| r.expose().to_owned());
        let seq = self.issued;
        self.issued += 2;
        let token = |is_refresh: bool, expires_at, partner: Option<String>| MToken {
            refresh: is_refresh,
            grant,
            client: client.id,
            subject: g.subject.clone(),
            scope: scope.clone(),
            issued_at: self.now,
            expires_at,
            partner,
            consumed: None,
            seq: seq + u64::from(is_refresh),
            aud: aud.to_vec(),
            cnf: g.cnf,
            key: self.minting_key(),
        };
        let access_token = token(false, Some(self.now + access_life), refresh.clone());
        let refresh_expiry = client.t.refresh.map(|s| g.created_at + s);
        let refresh_token = refresh
            .clone()
            .map(|r| (r, token(true, refresh_expiry, Some(access.clone()))));
        self.tokens.insert(access.clone(), access_token);
        self.access_list.push(access);
        if let Some((plaintext, token)) = refresh_token {
            self.tokens.insert(plaintext.clone(), token);
            self.refresh_list.push(plaintext);
        }
        Ok(())
    }

    /// The subject's grants, at `client` if given, oldest (smallest id) first.
    fn grants_of(&self, subject: &str, client: Option<&ClientId>) -> Vec<GrantId> {
        self.grants
            .iter()
            .filter(|(_, g)| {
                g.subject.as_deref() == Some(subject) && client.is_none_or(|c| g.client == *c)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// R23 with `Refuse`: whether one more grant of `subject` at `client` is refused.
    fn grant_refused(&self, subject: &str, client: &ClientId) -> Expect<()> {
        let limits = self.policy.limits;
        let full = |max: Option<usize>, at: Option<&ClientId>| {
            max.is_some_and(|max| self.grants_of(subject, at).len() >= max)
        };
        if limits.refuse
            && (full(limits.per_subject_at_client, Some(client)) || full(limits.per_subject, None))
        {
            return Err("GrantLimitReached");
        }
        Ok(())
    }

    /// R23 with `EndOldest`: ends the oldest grants so that one more fits,
    /// at the client first, then over all clients.
    fn make_room_for_grant(&mut self, subject: &str, client: &ClientId) {
        let limits = self.policy.limits;
        if limits.refuse {
            return;
        }
        for (max, at) in [
            (limits.per_subject_at_client, Some(client)),
            (limits.per_subject, None),
        ] {
            let Some(max) = max else { continue };
            let grants = self.grants_of(subject, at);
            if grants.len() >= max {
                for grant in &grants[..=grants.len() - max] {
                    self.end_grant(grant);
                }
            }
        }
    }

    /// A new grant of `subject` at client `c` that `tokens` started (R23's
    /// room made first), with a refresh token when the client may refresh.
    fn accept_subject_grant(
        &mut self,
        tokens: &TokenResponse,
        c: &MClient,
        subject: &str,
        scope: &Scope,
        origin: GrantOrigin,
    ) -> Result<(), String> {
        self.make_room_for_grant(subject, &c.id);
        self.new_grant(
            tokens.grant_id,
            c.id,
            Some(subject.to_owned()),
            scope.clone(),
            origin,
        );
        let with_refresh = c.t.grant_types.contains(&GrantType::RefreshToken);
        self.accept_issue(tokens, tokens.grant_id, c, scope, with_refresh, &[])
    }

    fn new_grant(
        &mut self,
        id: GrantId,
        client: ClientId,
        subject: Option<String>,
        scope: Scope,
        origin: GrantOrigin,
    ) {
        self.grants.insert(
            id,
            MGrant {
                client,
                subject,
                scope,
                origin,
                created_at: self.now,
                last_refreshed_at: None,
                resources: Vec::new(),
                cnf: None,
                sid: None,
            },
        );
    }

    fn purge(&mut self) -> (u64, u64, u64, u64) {
        let now = self.now;
        let mut codes = 0;
        self.codes.retain(|_, c| {
            let keep = c.expires_at > now;
            codes += u64::from(!keep);
            keep
        });
        let (mut access, mut refresh, mut grants) = (0, 0, 0);
        loop {
            // Live-class tokens one by one, settling their grants, as purge does.
            let due: Option<String> = self
                .tokens
                .iter()
                .filter(|(_, t)| {
                    t.consumed.is_none() && t.removal_time().is_some_and(|at| at <= now)
                })
                .map(|(k, _)| k.clone())
                .min();
            let Some(plaintext) = due else { break };
            let token = self.tokens[&plaintext].clone();
            if token.refresh {
                refresh += 1;
            } else {
                access += 1;
            }
            self.remove_token(&plaintext);
            if self.settle(&token.grant) {
                grants += 1;
            }
        }
        self.tokens
            .retain(|_, t| !(t.consumed.is_some() && t.removal_time().is_some_and(|at| at <= now)));
        (codes, access, refresh, grants)
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("mismatch in {what}"))
    }
}

fn same_outcome<T, U: std::fmt::Debug>(
    actual: &Result<T, Error>,
    expected: &Expect<U>,
) -> Result<(), String> {
    match (actual, expected) {
        (Ok(_), Ok(_)) => Ok(()),
        (Err(e), Err(want)) if name(e) == *want => Ok(()),
        (Err(e), Err(want)) => Err(format!("store failed with {e:?}, model expected {want}")),
        (Ok(_), Err(want)) => Err(format!("store succeeded, model expected {want}")),
        (Err(e), Ok(want)) => Err(format!(
            "store failed with {e:?}, model expected success {want:?}"
        )),
    }
}

/// Runs `ops` on a fresh in-memory redb store under `preset` and on the model.
pub fn run(preset: u8, ops: &[Op]) -> Result<(), String> {
    let clock = ManualClock::new(T0);
    let store = Store::in_memory(config(preset).clock(clock.handle()).build().unwrap()).unwrap();
    run_on(&store, &clock, preset, ops)
}

/// Runs `ops` on `store` (whose clock is `clock`, built from `config(preset)`)
/// and on the model, comparing every answer.
pub fn run_on<B: Backend>(
    store: &Store<B>,
    clock: &ManualClock,
    preset: u8,
    ops: &[Op],
) -> Result<(), String> {
    let mut model = Model {
        now: clock.now_value(),
        policy: policy(preset),
        clients: vec![],
        codes: HashMap::new(),
        code_list: vec![],
        grants: BTreeMap::new(),
        tokens: HashMap::new(),
        access_list: vec![],
        refresh_list: vec![],
        consents: BTreeMap::new(),
        issued: 0,
        jtis: HashMap::new(),
        keys_active: vec![true],
        requests: requests::Requests::default(),
        retired_refresh: HashMap::new(),
    };
    for (step, op) in ops.iter().enumerate() {
        apply(store, clock, &mut model, op).map_err(|e| format!("step {step} {op:?}: {e}"))?;
    }
    // Every invariant holds (Store::verify), and every token ever issued is
    // active in the store exactly when the model says so.
    let report = store.verify().map_err(|e| e.to_string())?;
    if !report.is_ok() {
        return Err(format!("verify found: {:#?}", report.problems));
    }
    // Introspection asks as the first client (there are tokens only once
    // there are clients).
    let caller = model.clients.first().map(|c| c.client.clone());
    for plaintext in model.access_list.iter().chain(&model.refresh_list) {
        let caller = caller.as_ref().ok_or("a token without a client")?;
        let active = store
            .introspect(IntrospectRequest::new(plaintext, caller))
            .map_err(|e| e.to_string())?
            .active;
        let expected = model
            .tokens
            .get(plaintext)
            .is_some_and(|t| t.live(model.now));
        check(active == expected, "final introspection")?;
    }
    Ok(())
}

trait NowValue {
    fn now_value(&self) -> u64;
}

impl NowValue for ManualClock {
    fn now_value(&self) -> u64 {
        grantdb::Clock::now(self)
    }
}

#[allow(clippy::too_many_lines)]
fn apply<B: Backend>(
    store: &Store<B>,
    clock: &ManualClock,
    m: &mut Model,
    op: &Op,
) -> Result<(), String> {
    let now = m.now;
    match op {
        Op::Register { template: t } => {
            let (new, t) = template(*t);
            let registered = store.register_client(new).map_err(|e| e.to_string())?;
            check(registered.secret.is_some() != t.public, "secret presence")?;
            let secret = registered.secret.as_ref().map(grantdb::Secret::expose);
            let client = store
                .authenticate_client(&registered.client.id, secret)
                .map_err(|e| format!("a new client authenticates: {e}"))?;
            m.clients.push(MClient {
                id: registered.client.id,
                client,
                t,
                secret: registered.secret.map(|s| s.expose().to_owned()),
                stale_secret: None,
                secret_key: m.minting_key(),
                deleted: false,
            });
        }
        Op::Authenticate { client, stale } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let presented = if *stale {
                c.stale_secret.clone().or(c.secret.clone())
            } else {
                c.secret.clone()
            };
            let actual = store.authenticate_client(&c.id, presented.as_deref());
            let expected: Expect<()> = if c.deleted {
                Err("UnknownClient")
            } else if *stale && c.stale_secret.is_some() {
                Err("ClientAuthenticationFailed")
            } else if !c.t.public && !m.key_active(c.secret_key) {
                // Hashed under a retired key (R29).
                Err("ClientAuthenticationFailed")
            } else {
                Ok(())
            };
            same_outcome(&actual, &expected)?;
            if actual.is_ok() {
                // Moved to the minting key as it authenticated (R28).
                let minting = m.minting_key();
                m.clients
                    .iter_mut()
                    .find(|x| x.id == c.id)
                    .unwrap()
                    .secret_key = minting;
            }
        }
        Op::RotateSecret { client } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let actual = store.rotate_client_secret(&c.id);
            let expected: Expect<()> = if c.deleted {
                Err("UnknownClient")
            } else if c.t.public {
                Err("InvalidArgument")
            } else {
                Ok(())
            };
            same_outcome(&actual, &expected)?;
            if let Ok(secret) = actual {
                let minting = m.minting_key();
                let entry = m.clients.iter_mut().find(|x| x.id == c.id).unwrap();
                entry.stale_secret = entry.secret.replace(secret.expose().to_owned());
                entry.secret_key = minting;
            }
        }
        Op::DeleteClient { client } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let actual = store.delete_client(&c.id).map_err(|e| e.to_string())?;
            check(actual.is_some() != c.deleted, "delete result")?;
            m.clients.iter_mut().find(|x| x.id == c.id).unwrap().deleted = true;
            let grants: Vec<_> = m
                .grants
                .iter()
                .filter(|(_, g)| g.client == c.id)
                .map(|(k, _)| *k)
                .collect();
            for g in grants {
                m.end_grant(&g);
            }
            m.codes.retain(|_, code| code.client != c.id);
            m.consents.retain(|(client, _), _| *client != c.id);
        }
        Op::IssueCode {
            client,
            subject,
            scope,
            redirect,
            pkce,
            binding,
        } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let requested = scope_choice(*scope);
            let redirect_uri = match redirect % 3 {
                0 => None,
                1 => c.t.redirect_uris.first().cloned().or(Some(EVIL_URI.into())),
                _ => Some(EVIL_URI.to_owned()),
            };
            let pkce_choice = match pkce % 3 {
                0 => None,
                n => Some(usize::from(n) - 1),
            };
            let resources = code_resources(*binding);
            let dpop = (binding / 3) % 2 == 1;
            let sid = match (binding / 6) % 3 {
                0 => None,
                n => Some(SIDS[usize::from(n) - 1]),
            };
            let mut request = AuthorizationRequest::new(c.id, subject).resources(resources.clone());
            if dpop {
                request = request.dpop_jkt(confirmation(0));
            }
            if let Some(sid) = sid {
                request = request.auth_session(grantdb::AuthSession::new().sid(sid).auth_time(now));
            }
            request.scope.clone_from(&requested);
            request.redirect_uri.clone_from(&redirect_uri);
            request.pkce = pkce_choice.map(|v| match v {
                0 => PkceChallenge::new(PkceMethod::S256, S256_CHALLENGE).unwrap(),
                _ => PkceChallenge::new(PkceMethod::Plain, VERIFIERS[1]).unwrap(),
            });
            let actual = store.issue_code(request);
            let expected = (|| {
                let c = m.live_client(&c.id)?;
                if !c.t.grant_types.contains(&GrantType::AuthorizationCode) {
                    return Err("GrantTypeNotAllowed");
                }
                match &redirect_uri {
                    Some(uri) if !c.t.redirect_uris.contains(uri) => {
                        return Err("RedirectUriMismatch");
                    }
                    _ => {}
                }
                let scope =
                    Model::resolve_scope(requested.as_ref(), &Scope::parse(c.t.scopes).unwrap())?;
                if c.t.public && pkce_choice.is_none() {
                    return Err("InvalidArgument");
                }
                Ok(scope)
            })();
            same_outcome(&actual, &expected)?;
            if let (Ok(issued), Ok(scope)) = (actual, expected) {
                check(issued.expires_at == now + c.t.code, "code expiry")?;
                let plaintext = issued.code.expose().to_owned();
                m.codes.insert(
                    plaintext.clone(),
                    MCode {
                        client: c.id,
                        subject: subject.to_owned(),
                        scope,
                        redirect_uri,
                        pkce: pkce_choice,
                        expires_at: now + c.t.code,
                        exchanged_into: None,
                        resources,
                        dpop,
                        sid,
                        key: m.minting_key(),
                    },
                );
                m.code_list.push(plaintext);
            }
        }
        Op::ExchangeCode {
            code,
            client,
            redirect,
            verifier,
            proof,
        } => {
            let (Some(plaintext), Some(c)) = (pick(&m.code_list, *code), m.client(*client)) else {
                return Ok(());
            };
            let presented_uri = match redirect % 4 {
                0 => None,
                1 => c.t.redirect_uris.first().cloned(),
                2 => c.t.redirect_uris.get(1).cloned(),
                _ => Some(EVIL_URI.to_owned()),
            };
            let presented_verifier = match verifier % 4 {
                0 => None,
                n => Some(VERIFIERS[usize::from(n) - 1]),
            };
            let key = proof_key(*proof);
            let proved = key.map(confirmation);
            let named = requested_resources(proof / 3);
            let mut exchange = CodeExchange::new(&plaintext, &c.client).resources(&named);
            exchange.redirect_uri.clone_from(&presented_uri);
            exchange.code_verifier = presented_verifier.map(grantdb::Secret::from);
            exchange.confirmation.clone_from(&proved);
            let actual = store.exchange_code(exchange.clone());
            let expected = (|| {
                let code = m.codes.get(&plaintext).ok_or("UnknownCode")?;
                if now >= code.expires_at {
                    return Err("CodeExpired");
                }
                if let Some(grant) = code.exchanged_into {
                    return Err(if m.grants.contains_key(&grant) {
                        "CodeReplayed+"
                    } else {
                        "CodeReplayed"
                    });
                }
                if code.client != c.id {
                    return Err("CodeClientMismatch");
                }
                let client = m.live_client(&c.id)?;
                let redirect_ok = match (&code.redirect_uri, &presented_uri) {
                    (Some(a), Some(p)) => a == p,
                    (Some(_), None) => false,
                    (None, Some(p)) => client.t.redirect_uris.first() == Some(p),
                    (None, None) => true,
                };
                if !redirect_ok {
                    return Err("RedirectUriMismatch");
                }
                let pkce_ok = matches!(
                    (code.pkce, verifier % 4),
                    (None, 0) | (Some(0), 1) | (Some(1), 2)
                );
                if !pkce_ok {
                    return Err("PkceMismatch");
                }
                if code.dpop && key != Some(0) {
                    return Err("ConfirmationMismatch");
                }
                let aud = model_audiences(&named, &code.resources)?;
                m.grant_refused(&code.subject, &c.id)?;
                Ok((code.clone(), aud))
            })();
            match expected {
                Err("CodeReplayed+") => {
                    same_outcome(&actual, &Expect::<()>::Err("CodeReplayed"))?;
                    let grant = m.codes[&plaintext].exchanged_into.unwrap();
                    m.end_grant(&grant);
                }
                Err(want) => same_outcome(&actual, &Expect::<()>::Err(want))?,
                Ok((code, aud)) => {
                    let tokens = actual
                        .map_err(|e| format!("store failed with {e:?}, model expected success"))?;
                    m.make_room_for_grant(&code.subject, &c.id);
                    m.new_grant(
                        tokens.grant_id,
                        c.id,
                        Some(code.subject.clone()),
                        code.scope.clone(),
                        GrantOrigin::AuthorizationCode,
                    );
                    let grant = m.grants.get_mut(&tokens.grant_id).unwrap();
                    grant.resources.clone_from(&code.resources);
                    grant.cnf = key;
                    grant.sid = code.sid.map(str::to_owned);
                    m.codes.get_mut(&plaintext).unwrap().exchanged_into = Some(tokens.grant_id);
                    let with_refresh = c.t.grant_types.contains(&GrantType::RefreshToken);
                    m.accept_issue(
                        &tokens,
                        tokens.grant_id,
                        &c,
                        &code.scope,
                        with_refresh,
                        &aud,
                    )?;
                }
            }
        }
        Op::Password {
            client,
            subject,
            scope,
        } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let requested = scope_choice(*scope);
            let actual = store.issue_for_subject({
                let mut request = IssueRequest::new(&c.client, subject);
                request.scope.clone_from(&requested);
                request
            });
            let expected = (|| {
                let c = m.live_client(&c.id)?;
                if !c.t.grant_types.contains(&GrantType::Password) {
                    return Err("GrantTypeNotAllowed");
                }
                let scope =
                    Model::resolve_scope(requested.as_ref(), &Scope::parse(c.t.scopes).unwrap())?;
                m.grant_refused(subject, &c.id)?;
                Ok(scope)
            })();
            same_outcome(&actual, &expected)?;
            if let (Ok(tokens), Ok(scope)) = (actual, expected) {
                m.accept_subject_grant(&tokens, &c, subject, &scope, GrantOrigin::Password)?;
            }
        }
        Op::ClientCredentials { client, scope } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let requested = scope_choice(*scope);
            let actual = store.issue_client_credentials({
                let mut request = ClientCredentialsRequest::new(&c.client);
                request.scope.clone_from(&requested);
                request
            });
            let expected = (|| {
                let c = m.live_client(&c.id)?;
                if !c.t.grant_types.contains(&GrantType::ClientCredentials) || c.t.public {
                    return Err("GrantTypeNotAllowed");
                }
                Model::resolve_scope(requested.as_ref(), &Scope::parse(c.t.scopes).unwrap())
            })();
            same_outcome(&actual, &expected)?;
            if let (Ok(tokens), Ok(scope)) = (actual, expected) {
                m.new_grant(
                    tokens.grant_id,
                    c.id,
                    None,
                    scope.clone(),
                    GrantOrigin::ClientCredentials,
                );
                m.accept_issue(&tokens, tokens.grant_id, &c, &scope, false, &[])?;
            }
        }
        Op::Refresh {
            token,
            client,
            scope,
            proof,
        } => {
            let (Some(plaintext), Some(c)) = (pick(&m.refresh_list, *token), m.client(*client))
            else {
                return Ok(());
            };
            let requested = scope_choice(*scope);
            let key = proof_key(*proof);
            let proved = key.map(confirmation);
            let named = requested_resources(proof / 3);
            let mut request = grantdb::RefreshRequest::new(&plaintext, &c.client).resources(&named);
            request.scope.clone_from(&requested);
            request.confirmation.clone_from(&proved);
            let actual = store.refresh(request.clone());
            let asked = Asked {
                scope: requested.as_ref(),
                key,
                resources: &named,
            };
            refresh_model(m, &plaintext, &c, &asked, actual)?;
        }
        Op::Revoke {
            token,
            refresh,
            client,
        } => {
            let list = if *refresh {
                &m.refresh_list
            } else {
                &m.access_list
            };
            let (Some(plaintext), Some(c)) = (pick(list, *token), m.client(*client)) else {
                return Ok(());
            };
            let actual = store.revoke(&plaintext, &c.client);
            // A rotated refresh token still remembered ends its grant too.
            let revocable = |t: &MToken| {
                t.live(now)
                    || (t.refresh
                        && !t.expired(now)
                        && t.consumed
                            .is_some_and(|(_, _, until)| until.is_none_or(|u| now < u)))
            };
            let expected = match m.tokens.get(&plaintext) {
                Some(t) if revocable(t) && t.client != c.id => Err("TokenClientMismatch"),
                Some(t) if revocable(t) && t.refresh => Ok(Revocation::Grant),
                Some(t) if revocable(t) => Ok(Revocation::AccessToken),
                _ => Ok(Revocation::NotActive),
            };
            same_outcome(&actual, &expected)?;
            if let (Ok(actual), Ok(expected)) = (&actual, &expected) {
                check(actual == expected, "revocation outcome")?;
                let grant = m.tokens.get(&plaintext).map(|t| t.grant);
                match (expected, grant) {
                    (Revocation::Grant, Some(grant)) => m.end_grant(&grant),
                    (Revocation::AccessToken, Some(grant)) => {
                        m.remove_token(&plaintext);
                        m.settle(&grant);
                    }
                    _ => {}
                }
            }
        }
        Op::RevokeSubject { subject } => {
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let ended = store
                .revoke_subject(subject)
                .map_err(|e| e.to_string())?
                .grants;
            let grants: Vec<_> = m
                .grants
                .iter()
                .filter(|(_, g)| g.subject.as_deref() == Some(subject))
                .map(|(k, _)| *k)
                .collect();
            check(ended == grants.len() as u64, "grants ended")?;
            for g in grants {
                m.end_grant(&g);
            }
            m.codes.retain(|_, c| c.subject != subject);
        }
        Op::RevokeClient { client } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let ended = store
                .revoke_client_grants(&c.id)
                .map_err(|e| e.to_string())?
                .grants;
            let grants: Vec<_> = m
                .grants
                .iter()
                .filter(|(_, g)| g.client == c.id)
                .map(|(k, _)| *k)
                .collect();
            check(ended == grants.len() as u64, "grants ended")?;
            for g in grants {
                m.end_grant(&g);
            }
            m.codes.retain(|_, code| code.client != c.id);
            m.consents.retain(|(client, _), _| *client != c.id);
        }
        Op::RevokeSubjectAtClient { subject, client } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let ended = store
                .revoke_subject_at_client(&c.id, subject)
                .map_err(|e| e.to_string())?
                .grants;
            let grants: Vec<_> = m
                .grants
                .iter()
                .filter(|(_, g)| g.client == c.id && g.subject.as_deref() == Some(subject))
                .map(|(k, _)| *k)
                .collect();
            check(ended == grants.len() as u64, "grants ended")?;
            for g in grants {
                m.end_grant(&g);
            }
            m.codes
                .retain(|_, code| !(code.client == c.id && code.subject == subject));
            m.consents.remove(&(c.id, subject.to_owned()));
        }
        Op::Validate { token } => {
            let Some(plaintext) = pick(&m.access_list, *token) else {
                return Ok(());
            };
            let actual = store.validate(&plaintext);
            let expected = match m.tokens.get(&plaintext) {
                Some(t) if t.live(now) => Ok(t.clone()),
                _ => Err("InactiveToken"),
            };
            same_outcome(&actual, &expected)?;
            if let (Ok(info), Ok(t)) = (actual, expected) {
                check(
                    info.client_id == t.client
                        && info.scope == t.scope
                        && info.subject == t.subject,
                    "token info",
                )?;
                check(
                    Some(info.expires_at) == t.expires_at && info.issued_at == t.issued_at,
                    "token times",
                )?;
                check(info.aud == t.aud, "token audiences")?;
                check(info.cnf == t.cnf.map(confirmation), "token confirmation")?;
                let other = if t.aud.first().map(String::as_str) == Some(RESOURCE_A) {
                    RESOURCE_B
                } else {
                    RESOURCE_A
                };
                let for_other = store.validate_for(&plaintext, other);
                let expected = if t.aud.is_empty() || t.aud.iter().any(|a| a == other) {
                    Ok(())
                } else {
                    Err("WrongAudience")
                };
                same_outcome(&for_other, &expected)?;
            }
        }
        Op::Introspect { token, refresh } => {
            let list = if *refresh {
                &m.refresh_list
            } else {
                &m.access_list
            };
            let Some(plaintext) = pick(list, *token) else {
                return Ok(());
            };
            let caller = &m.clients.first().ok_or("a token without a client")?.client;
            let actual = store
                .introspect(IntrospectRequest::new(&plaintext, caller))
                .map_err(|e| e.to_string())?;
            match m.tokens.get(&plaintext) {
                Some(t) if t.live(now) => {
                    check(actual.active, "active")?;
                    check(
                        actual.exp == t.expires_at && actual.iat == Some(t.issued_at),
                        "introspection times",
                    )?;
                    check(
                        actual.scope.as_ref() == Some(&t.scope) && actual.sub == t.subject,
                        "introspection fields",
                    )?;
                }
                _ => check(!actual.active, "inactive")?,
            }
        }
        Op::Malformed { token, position } => {
            let Some(plaintext) = pick(&m.access_list, *token) else {
                return Ok(());
            };
            let mut bytes = plaintext.into_bytes();
            let i = usize::from(*position) % bytes.len();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let damaged = String::from_utf8(bytes).unwrap();
            let actual = store.validate(&damaged);
            same_outcome(&actual, &Expect::<()>::Err("MalformedToken"))?;
        }
        Op::Purge => {
            let report = store.purge_expired().map_err(|e| e.to_string())?;
            let (codes, access, refresh, grants) = m.purge();
            let jtis_before = m.jtis.len();
            m.jtis.retain(|_, until| *until > now);
            check(
                report.proof_jtis == (jtis_before - m.jtis.len()) as u64,
                "purged proof ids",
            )?;
            check(report.codes == codes, "purged codes")?;
            check(report.access_tokens == access, "purged access tokens")?;
            check(report.refresh_tokens == refresh, "purged refresh tokens")?;
            check(report.grants == grants, "purged grants")?;
            let (pushed, devices, windows) = m.requests.purge(now);
            check(report.pushed_requests == pushed, "purged pushed requests")?;
            check(report.device_requests == devices, "purged device requests")?;
            check(report.attempt_windows == windows, "purged attempt windows")?;
        }
        Op::Advance { step } => {
            let step = STEPS[usize::from(*step) % STEPS.len()];
            clock.advance(step);
            observe_clock(store, clock, m)?;
        }
        Op::StepBack { step } => {
            let step = BACK_STEPS[usize::from(*step) % BACK_STEPS.len()];
            clock.set(clock.now_value().saturating_sub(step));
            observe_clock(store, clock, m)?;
        }
        Op::RecordConsent {
            subject,
            client,
            scope,
        } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let requested = scope_choice(*scope).unwrap_or_default();
            let actual = store.record_consent(NewConsent::new(c.id, subject, requested.clone()));
            let expected = (|| {
                if requested.is_empty() {
                    return Err("MalformedScope");
                }
                let client = m.live_client(&c.id)?;
                if requested.is_subset(&Scope::parse(client.t.scopes).unwrap()) {
                    Ok(())
                } else {
                    Err("ScopeNotAllowed")
                }
            })();
            same_outcome(&actual, &expected)?;
            if expected.is_ok() {
                let entry = m.consents.entry((c.id, subject.to_owned())).or_default();
                *entry = entry.union(&requested);
                check(actual.unwrap().scope == *entry, "consent scope")?;
            }
        }
        Op::HasConsent {
            subject,
            client,
            scope,
        } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let requested = scope_choice(*scope).unwrap_or_default();
            let actual = store
                .consent(&c.id, subject)
                .map(|consent| consent.is_some_and(|consent| consent.covers(&requested)));
            // An empty request is covered by nothing (R16, R17).
            let expected: Result<bool, &str> = Ok(!requested.is_empty()
                && m.consents
                    .get(&(c.id, subject.to_owned()))
                    .is_some_and(|s| requested.is_subset(s)));
            same_outcome(&actual, &expected)?;
            if let (Ok(actual), Ok(expected)) = (actual, expected) {
                check(actual == expected, "has_consent")?;
            }
        }
        Op::ListSubject { subject } => {
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let listed = list_all(|page| store.grants_of_subject(subject, page))?;
            let expected: BTreeMap<_, _> = m
                .grants
                .iter()
                .filter(|(_, g)| g.subject.as_deref() == Some(subject))
                .map(|(id, g)| (*id, g.clone()))
                .collect();
            check(listed == expected, "grants of subject")?;
        }
        Op::RevokeGrant { grant, subject } => {
            let grants: Vec<(GrantId, MGrant)> =
                m.grants.iter().map(|(id, g)| (*id, g.clone())).collect();
            let Some((id, g)) = pick(&grants, *grant) else {
                return Ok(());
            };
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let ended = store
                .revoke_grant(&GrantRef::new(g.client, id), subject)
                .map_err(|e| e.to_string())?;
            let expected = g.subject.as_deref() == Some(subject);
            check(
                ended == expected,
                "revoke_grant ends the subject's grant only",
            )?;
            if expected {
                m.end_grant(&id);
            }
        }
        Op::ListConsents { subject } => {
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let mut listed = BTreeMap::new();
            let mut request = PageRequest::first(2);
            loop {
                let page = store
                    .consents_of_subject(subject, &request)
                    .map_err(|e| e.to_string())?;
                for consent in page.items {
                    check(consent.subject == subject, "consent subject")?;
                    listed.insert(consent.client_id, consent.scope);
                }
                match page.next {
                    Some(cursor) => request = PageRequest::after(cursor, 2),
                    None => break,
                }
            }
            let expected: BTreeMap<ClientId, Scope> = m
                .consents
                .iter()
                .filter(|((_, s), _)| s == subject)
                .map(|((client, _), scope)| (*client, scope.clone()))
                .collect();
            check(listed == expected, "consents of subject")?;
        }
        Op::WithdrawConsent { subject, client } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let subject = SUBJECTS[usize::from(*subject) % 3];
            let withdrawn = store
                .withdraw_consent(&c.id, subject)
                .map_err(|e| e.to_string())?;
            let existed = m.consents.remove(&(c.id, subject.to_owned())).is_some();
            check(withdrawn == existed, "withdraw_consent")?;
        }
        Op::RevokeSession { sid } => {
            let sid = SIDS[usize::from(*sid) % SIDS.len()];
            let ended = store.revoke_session(sid).map_err(|e| e.to_string())?.grants;
            let grants: Vec<_> = m
                .grants
                .iter()
                .filter(|(_, g)| g.sid.as_deref() == Some(sid))
                .map(|(k, _)| *k)
                .collect();
            check(ended == grants.len() as u64, "grants of the session ended")?;
            for g in grants {
                m.end_grant(&g);
            }
            // Its codes go too, pending or exchanged (as with R12).
            m.codes.retain(|_, code| code.sid != Some(sid));
        }
        Op::ClaimJti { jti, window } => {
            let jti = JTIS[usize::from(*jti) % JTIS.len()];
            let until = now + JTI_WINDOWS[usize::from(*window) % JTI_WINDOWS.len()];
            let claimed = store
                .claim_proof_jti(&proof_client(), jti, until)
                .map_err(|e| e.to_string())?;
            let replay = m.jtis.get(jti).is_some_and(|seen| now < *seen);
            let expected = if replay {
                grantdb::ProofJti::Replay
            } else {
                m.jtis.insert(jti, until);
                m.requests.count_proof_claim(now);
                grantdb::ProofJti::FirstUse
            };
            check(claimed == expected, "proof id claim")?;
        }
        Op::Push {
            client,
            scope,
            pkce,
        } => requests::push(store, m, *client, *scope, *pkce)?,
        Op::UsePushed {
            request,
            client,
            subject,
        } => requests::use_pushed(store, m, *request, *client, *subject)?,
        Op::StartDevice { client, scope } => requests::start_device(store, m, *client, *scope)?,
        Op::AnswerDevice {
            device,
            approve,
            subject,
            wrong,
        } => requests::answer_device(store, m, *device, *approve, *subject, *wrong)?,
        Op::PollDevice { device, client } => requests::poll_device(store, m, *device, *client)?,
        Op::AddKey => {
            let added = store.add_hashing_key(None).map_err(|e| e.to_string())?;
            m.keys_active.push(true);
            check(
                usize::from(added.id.get()) == m.keys_active.len() && added.minting,
                "the added key mints",
            )?;
        }
        Op::RetireKey { key } => {
            let index = usize::from(*key) % m.keys_active.len();
            let id = u8::try_from(index + 1).unwrap();
            let actual = store.retire_hashing_key(grantdb::KeyId::new(id));
            let actives = m.keys_active.iter().filter(|a| **a).count();
            let expected: Expect<()> = if !m.keys_active[index] || actives == 1 {
                Err("KeyRing")
            } else {
                Ok(())
            };
            same_outcome(&actual, &expected)?;
            if actual.is_ok() {
                m.retire_key(id);
            }
        }
        Op::ListClient { client } => {
            let Some(c) = m.client(*client) else {
                return Ok(());
            };
            let listed = list_all(|page| store.grants_of_client(&c.id, page))?;
            let expected: BTreeMap<_, _> = m
                .grants
                .iter()
                .filter(|(_, g)| g.client == c.id)
                .map(|(id, g)| (*id, g.clone()))
                .collect();
            check(listed == expected, "grants of client")?;
        }
    }
    Ok(())
}

/// The store reads the clock: its time is the highest reading so far (R18:
/// time never runs backwards), which the model follows.
fn observe_clock<B: Backend>(
    store: &Store<B>,
    clock: &ManualClock,
    m: &mut Model,
) -> Result<(), String> {
    m.now = m.now.max(clock.now_value());
    check(store.now() == m.now, "store time never runs backwards")
}

/// Reads every page of a grant listing (pages of 2, to exercise cursors).
fn list_all(
    mut page: impl FnMut(&PageRequest) -> grantdb::Result<grantdb::Page<grantdb::GrantSummary>>,
) -> Result<BTreeMap<GrantId, MGrant>, String> {
    let mut all = BTreeMap::new();
    let mut request = PageRequest::first(2);
    loop {
        let result = page(&request).map_err(|e| e.to_string())?;
        for g in result.items {
            let grant = MGrant {
                client: g.client_id,
                subject: g.subject,
                scope: g.scope,
                origin: g.origin,
                created_at: g.created_at,
                last_refreshed_at: g.last_refreshed_at,
                resources: g.resources,
                cnf: g
                    .cnf
                    .as_ref()
                    .and_then(|cnf| KEYS.iter().position(|k| *k == cnf.thumbprint())),
                sid: g.auth_session.and_then(|s| s.sid),
            };
            if all.insert(g.grant_id, grant).is_some() {
                return Err("a grant listed twice".into());
            }
        }
        match result.next {
            Some(cursor) => request = PageRequest::after(cursor, 2),
            None => return Ok(all),
        }
    }
}

/// What the model decides a refresh does.
enum Plan {
    Rotate(Scope, Vec<String>),
    Grace(Scope, Vec<String>),
    Reuse,
    /// A consumed refresh token under a retired key presented again past
    /// its grace: the family it names ends (R08).
    ReuseUnderRetiredKey(GrantId),
}

/// The model of a refresh (R07, R08), compared with the store's answer.
/// What a refresh asks for beyond the token: a narrower scope, the key it
/// proves, the resources it names.
struct Asked<'a> {
    scope: Option<&'a Scope>,
    key: Option<usize>,
    resources: &'a [String],
}

fn refresh_model(
    m: &mut Model,
    plaintext: &str,
    c: &MClient,
    asked: &Asked<'_>,
    actual: grantdb::Result<TokenResponse>,
) -> Result<(), String> {
    let now = m.now;
    let requested = asked.scope;
    let plan = (|| {
        if !m.tokens.contains_key(plaintext)
            && let Some(token) = m
                .retired_refresh
                .get(plaintext)
                .and_then(|hidden| m.tokens.get(hidden))
        {
            // Under a retired key: only a reuse of one this client consumed
            // counts; a retry within the grace, or one past retention, is
            // unknown (no new pair from a retired key).
            let Some((at, reuses, retain_until)) = token.consumed else {
                return Err("UnknownRefreshToken");
            };
            if token.client != c.id
                || !m.grants.contains_key(&token.grant)
                || retain_until.is_some_and(|until| now >= until)
                || (now < at + m.policy.grace && reuses < m.policy.cap)
            {
                return Err("UnknownRefreshToken");
            }
            return Ok(Plan::ReuseUnderRetiredKey(token.grant));
        }
        let token = m
            .tokens
            .get(plaintext)
            .filter(|t| t.refresh)
            .ok_or("UnknownRefreshToken")?;
        if token.client != c.id {
            return Err("TokenClientMismatch");
        }
        if token.expired(now) {
            return Err("RefreshTokenExpired");
        }
        let grant = m.grants.get(&token.grant).ok_or("UnknownRefreshToken")?;
        // R24: a bound grant only with its key; changes nothing otherwise.
        if grant.cnf.is_some() && asked.key != grant.cnf {
            return Err("ConfirmationMismatch");
        }
        if let Some((at, reuses, retain_until)) = token.consumed {
            if retain_until.is_some_and(|until| now >= until) {
                return Err("UnknownRefreshToken");
            }
            if now < at + m.policy.grace && reuses < m.policy.cap {
                m.live_client(&c.id)?;
                let scope = Model::resolve_scope(requested, &grant.scope)?;
                let aud = model_audiences(asked.resources, &grant.resources)?;
                return Ok(Plan::Grace(scope, aud));
            }
            return Ok(Plan::Reuse);
        }
        m.live_client(&c.id)?;
        let scope = Model::resolve_scope(requested, &grant.scope)?;
        let aud = model_audiences(asked.resources, &grant.resources)?;
        Ok(Plan::Rotate(scope, aud))
    })();
    match plan {
        Err(want) => same_outcome(&actual, &Expect::<()>::Err(want)),
        Ok(Plan::Reuse) => {
            same_outcome(&actual, &Expect::<()>::Err("RefreshTokenReused"))?;
            let grant = m.tokens[plaintext].grant;
            m.end_grant(&grant);
            Ok(())
        }
        Ok(Plan::ReuseUnderRetiredKey(grant)) => {
            same_outcome(&actual, &Expect::<()>::Err("RefreshTokenReused"))?;
            m.end_grant(&grant);
            Ok(())
        }
        Ok(Plan::Grace(scope, aud)) => {
            let tokens = actual
                .map_err(|e| format!("store failed with {e:?}, model expected a grace pair"))?;
            let token = m.tokens.get_mut(plaintext).unwrap();
            token.consumed = token
                .consumed
                .map(|(at, reuses, until)| (at, reuses + 1, until));
            let grant = token.grant;
            let g = m.grants.get_mut(&grant).unwrap();
            g.last_refreshed_at = Some(now);
            // An unbound grant refreshed with a proof is bound from now on.
            g.cnf = g.cnf.or(asked.key);
            m.make_room(&grant);
            m.accept_issue(&tokens, grant, c, &scope, true, &aud)
        }
        Ok(Plan::Rotate(scope, aud)) => {
            let tokens = actual
                .map_err(|e| format!("store failed with {e:?}, model expected a rotation"))?;
            let token = m.tokens[plaintext].clone();
            if let Some(access) = &token.partner {
                m.remove_token(access);
            }
            let retention = m.policy.retention.map(|r| now + r);
            let t = m.tokens.get_mut(plaintext).unwrap();
            t.partner = None;
            t.consumed = Some((now, 0, retention));
            let g = m.grants.get_mut(&token.grant).unwrap();
            g.last_refreshed_at = Some(now);
            g.cnf = g.cnf.or(asked.key);
            m.accept_issue(&tokens, token.grant, c, &scope, true, &aud)
        }
    }
}
