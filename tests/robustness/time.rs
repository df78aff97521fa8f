//! Time as the real world gives it (R18 with R07, R08, R13, R19): a host
//! clock that steps back (an NTP correction, a VM restored from a snapshot),
//! a restart with a clock that went back, and two nodes whose clocks disagree.
//! Whatever the clock does, no rule breaks, the store never writes a record it
//! would itself refuse as `Corrupted`, and a consumed refresh token presented
//! "before" its rotation is a reuse, never a grace (RFC 9700 §4.14.2).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthorizationRequest, ClientCredentialsRequest, ClientUpdate, CodeExchange, Config,
    ConfigBuilder, Error, GrantRef, IntrospectRequest, IssueRequest, ManualClock, NewConsent,
    PageRequest, RefreshRequest, RefreshState, Revocation, Store, TokenResponse,
};
use proptest::prelude::*;
use std::time::Duration;

/// How far the clock steps back in the tests: a second, a few, an hour.
const STEPS_BACK: [u64; 3] = [1, 5, 3_600];

/// When the world below was built.
const T: u64 = T0 + 100_000;

/// What every operation runs against, built at `T`.
struct World {
    pretix: App,
    ticketpark: App,
    prioticket: App,
    /// A code-flow grant rotated once at `T`: its consumed refresh token and
    /// the pair the rotation issued.
    consumed: String,
    rotated: TokenResponse,
    /// A password-grant pair issued at `T`.
    password: TokenResponse,
    /// A code issued at `T`, not yet exchanged.
    pending_code: String,
    /// A client-credentials token that expired at `T` exactly.
    expired: String,
}

/// Builds the world with `clock` (the store's clock) on `store`.
fn build_world<B: Backend>(store: &Store<B>, clock: &ManualClock) -> World {
    let pretix = pretix_app(store);
    let ticketpark = ticketpark_app(store);
    let prioticket = prioticket_app(store);
    clock.set(T - 3_600);
    let expired = store
        .issue_client_credentials(ClientCredentialsRequest::new(&prioticket.client))
        .unwrap()
        .access_token
        .expose()
        .to_owned();
    clock.set(T);
    let first = code_flow(store, &pretix, "alice");
    let rotated = store
        .refresh(RefreshRequest::new(refresh(&first), &pretix.client))
        .unwrap();
    let password = store
        .issue_for_subject(IssueRequest::new(&ticketpark.client, "alice"))
        .unwrap();
    let pending_code = store
        .issue_code(AuthorizationRequest::new(pretix.id, "alice"))
        .unwrap()
        .code
        .expose()
        .to_owned();
    store
        .record_consent(NewConsent::new(pretix.id, "alice", scope("read")))
        .unwrap();
    World {
        pretix,
        ticketpark,
        prioticket,
        consumed: refresh(&first).to_owned(),
        rotated,
        password,
        pending_code,
        expired,
    }
}

/// Every kind of operation of the public API.
#[derive(Debug, Clone, Copy)]
enum Act {
    Register,
    Authenticate,
    RotateSecret,
    UpdateClient,
    DeleteClient,
    ReadClients,
    IssueCode,
    ExchangeCode,
    Password,
    ClientCredentials,
    Refresh,
    RefreshConsumed,
    RevokeAccess,
    RevokeRefresh,
    RevokeAsOperator,
    RevokeSubject,
    RevokeClient,
    RevokeSubjectAtClient,
    Validate,
    Introspect,
    Purge,
    RecordConsent,
    ReadConsent,
    ListGrants,
    Inspect,
    Operators,
}

const ACTS: [Act; 26] = [
    Act::Register,
    Act::Authenticate,
    Act::RotateSecret,
    Act::UpdateClient,
    Act::DeleteClient,
    Act::ReadClients,
    Act::IssueCode,
    Act::ExchangeCode,
    Act::Password,
    Act::ClientCredentials,
    Act::Refresh,
    Act::RefreshConsumed,
    Act::RevokeAccess,
    Act::RevokeRefresh,
    Act::RevokeAsOperator,
    Act::RevokeSubject,
    Act::RevokeClient,
    Act::RevokeSubjectAtClient,
    Act::Validate,
    Act::Introspect,
    Act::Purge,
    Act::RecordConsent,
    Act::ReadConsent,
    Act::ListGrants,
    Act::Inspect,
    Act::Operators,
];

fn ensure(ok: bool, what: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.to_owned()) }
}

fn no_error<T>(result: grantdb::Result<T>) -> Result<T, String> {
    result.map_err(|e| format!("{e:?}"))
}

/// Runs `act` on `store` (whose time may be behind the world's `T`) and checks
/// what the rules say of it. `same_store`: the store that built the world, so
/// that its time never goes below `T`.
#[allow(clippy::too_many_lines)]
fn act<B: Backend>(store: &Store<B>, w: &World, act: Act, same_store: bool) -> Result<(), String> {
    match act {
        Act::Register => {
            no_error(
                store.register_client(
                    grantdb::NewClient::confidential("late")
                        .grant_types([grantdb::GrantType::ClientCredentials]),
                ),
            )?;
        }
        Act::Authenticate => {
            no_error(store.authenticate_client(&w.pretix.id, Some(w.pretix.secret())))?;
        }
        Act::RotateSecret => {
            let secret = no_error(store.rotate_client_secret(&w.pretix.id))?;
            no_error(store.authenticate_client(&w.pretix.id, Some(secret.expose())))?;
        }
        Act::UpdateClient => {
            no_error(store.update_client(&w.pretix.id, ClientUpdate::new().name("renamed")))?;
        }
        Act::DeleteClient => {
            ensure(
                no_error(store.delete_client(&w.pretix.id))?.is_some(),
                "deleted",
            )?;
            ensure(!is_valid(store, access(&w.rotated)), "R03 cascade")?;
        }
        Act::ReadClients => {
            no_error(store.client(&w.pretix.id))?;
            no_error(store.clients(&PageRequest::first(10)))?;
        }
        Act::IssueCode => {
            let code = no_error(store.issue_code(AuthorizationRequest::new(w.pretix.id, "bob")))?;
            let tokens = no_error(
                store.exchange_code(CodeExchange::new(code.code.expose(), &w.pretix.client)),
            )?;
            ensure(is_valid(store, access(&tokens)), "fresh code's token")?;
        }
        Act::ExchangeCode => {
            let tokens = no_error(
                store.exchange_code(CodeExchange::new(&w.pending_code, &w.pretix.client)),
            )?;
            ensure(tokens.created_at >= T, "tokens no older than their code")?;
            ensure(is_valid(store, access(&tokens)), "exchanged token")?;
        }
        Act::Password => {
            let tokens =
                no_error(store.issue_for_subject(IssueRequest::new(&w.ticketpark.client, "bob")))?;
            let again = no_error(
                store.refresh(RefreshRequest::new(refresh(&tokens), &w.ticketpark.client)),
            )?;
            ensure(again.created_at >= tokens.created_at, "R07 time order")?;
        }
        Act::ClientCredentials => {
            let tokens = no_error(
                store.issue_client_credentials(ClientCredentialsRequest::new(&w.prioticket.client)),
            )?;
            ensure(is_valid(store, access(&tokens)), "R06 cc token")?;
        }
        Act::Refresh => {
            let tokens = no_error(
                store.refresh(RefreshRequest::new(refresh(&w.rotated), &w.pretix.client)),
            )?;
            ensure(
                tokens.created_at >= T,
                "R07: a rotation no older than the last",
            )?;
            ensure(!is_valid(store, access(&w.rotated)), "R07 old access dies")?;
            let again =
                no_error(store.refresh(RefreshRequest::new(refresh(&tokens), &w.pretix.client)))?;
            ensure(again.created_at >= tokens.created_at, "R07 time order")?;
            // The old refresh token, now consumed, is a reuse (grace 0).
            ensure(
                matches!(
                    store.refresh(RefreshRequest::new(refresh(&w.rotated), &w.pretix.client)),
                    Err(Error::RefreshTokenReused)
                ),
                "R08 reuse after a step back",
            )?;
            ensure(!is_valid(store, access(&again)), "R08 family revoked")?;
        }
        Act::RefreshConsumed => {
            ensure(
                matches!(
                    no_error(store.refresh_state(&w.consumed))?,
                    RefreshState::Reused(_)
                ),
                "R08 predicted",
            )?;
            let outcome = store.refresh(RefreshRequest::new(&w.consumed, &w.pretix.client));
            ensure(
                matches!(outcome, Err(Error::RefreshTokenReused)),
                &format!("R08: a consumed token before its rotation is a reuse, got {outcome:?}"),
            )?;
            ensure(!is_valid(store, access(&w.rotated)), "R08 family revoked")?;
        }
        Act::RevokeAccess => {
            let outcome = no_error(store.revoke(access(&w.rotated), &w.pretix.client))?;
            ensure(outcome == Revocation::AccessToken, "R09")?;
            no_error(store.refresh(RefreshRequest::new(refresh(&w.rotated), &w.pretix.client)))?;
        }
        Act::RevokeRefresh => {
            let outcome = no_error(store.revoke(refresh(&w.rotated), &w.pretix.client))?;
            ensure(outcome == Revocation::Grant, "R10")?;
            ensure(!is_valid(store, access(&w.rotated)), "R10 access dies")?;
        }
        Act::RevokeAsOperator => {
            no_error(store.revoke_token_as_operator(access(&w.password)))?;
            no_error(store.revoke_token_as_operator(&w.consumed))?;
        }
        Act::RevokeSubject => {
            ensure(
                no_error(store.revoke_subject("alice"))?.grants >= 2,
                "R12 subject",
            )?;
            ensure(!is_valid(store, access(&w.password)), "R12")?;
        }
        Act::RevokeClient => {
            no_error(store.revoke_client_grants(&w.pretix.id))?;
            ensure(!is_valid(store, access(&w.rotated)), "R12 client")?;
        }
        Act::RevokeSubjectAtClient => {
            no_error(store.revoke_subject_at_client(&w.pretix.id, "alice"))?;
            ensure(
                !is_valid(store, access(&w.rotated)),
                "R12 subject at client",
            )?;
        }
        Act::Validate => {
            ensure(is_valid(store, access(&w.rotated)), "R13 live")?;
            ensure(is_valid(store, access(&w.password)), "R13 live")?;
            if same_store {
                // The store already lived through T: an expired token stays so.
                ensure(!is_valid(store, &w.expired), "R13: expiry never undone")?;
            }
        }
        Act::Introspect => {
            ensure(
                no_error(store.introspect(IntrospectRequest::new(
                    refresh(&w.rotated),
                    &w.pretix.client,
                )))?
                .active,
                "R13",
            )?;
            ensure(
                !no_error(store.introspect(IntrospectRequest::new(&w.consumed, &w.pretix.client)))?
                    .active,
                "R13 consumed",
            )?;
        }
        Act::Purge => {
            let report = no_error(store.purge_expired())?;
            ensure(
                !same_store || report.access_tokens == 1,
                "R14 purges the expired",
            )?;
            ensure(is_valid(store, access(&w.rotated)), "R14 keeps the live")?;
        }
        Act::RecordConsent => {
            let consent = no_error(store.record_consent(NewConsent::new(
                w.pretix.id,
                "alice",
                scope("write"),
            )))?;
            ensure(consent.granted_at >= T, "consent time never goes back")?;
        }
        Act::ReadConsent => {
            ensure(
                no_error(has_consent(store, &w.pretix.id, "alice", &scope("read")))?,
                "R17",
            )?;
        }
        Act::ListGrants => {
            let page = no_error(store.grants_of_subject("alice", &PageRequest::first(10)))?;
            ensure(page.items.len() == 2, "R15 subject")?;
            no_error(store.grants_of_client(&w.pretix.id, &PageRequest::first(10)))?;
        }
        Act::Inspect => {
            ensure(
                no_error(store.inspect_code(&w.pending_code))?.is_some(),
                "pending code",
            )?;
            no_error(store.grant(&GrantRef::new(w.pretix.id, w.rotated.grant_id)))?;
        }
        Act::Operators => {
            no_error(store.stats())?;
            no_error(store.purge_preview())?;
            no_error(store.export(|_| Ok(())))?;
            no_error(store.flush())?;
        }
    }
    Ok(())
}

/// After any operation: every invariant holds, and nothing reads as damage.
fn still_sound<B: Backend>(store: &Store<B>, what: &str) -> Result<(), String> {
    let report = no_error(store.verify())?;
    ensure(
        report.is_ok(),
        &format!("{what}: verify found {:?}", report.problems),
    )
}

fn r18_a_clock_step_back_before_any_operation_breaks_no_rule<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    for step in STEPS_BACK {
        for kind in ACTS {
            let f = make(Config::builder());
            let world = build_world(&f.store, &f.clock);
            f.clock.set(T - step);
            let what = format!("{kind:?} after a step back of {step} s");
            act(&f.store, &world, kind, true).map_err(|e| format!("{what}: {e}"))?;
            ensure(f.store.now() == T, "the store's time stood still")?;
            still_sound(&f.store, &what)?;
        }
    }
    Ok(())
}

fn r08_a_grace_period_never_starts_before_the_rotation<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    // With a grace period, a repeat "before" the rotation counts from the
    // rotation: elapsed 0, inside the grace, one new pair (R08).
    for step in STEPS_BACK {
        let f = make(Config::builder().refresh_reuse_grace(Duration::from_secs(30)));
        let world = build_world(&f.store, &f.clock);
        f.clock.set(T - step);
        let grace = f
            .store
            .refresh(RefreshRequest::new(&world.consumed, &world.pretix.client))?;
        assert!(grace.created_at >= T);
        assert!(is_valid(&f.store, access(&world.rotated)));
        // The cap (1) is spent: the next repeat is theft.
        assert!(matches!(
            f.store
                .refresh(RefreshRequest::new(&world.consumed, &world.pretix.client)),
            Err(Error::RefreshTokenReused)
        ));
        still_sound(&f.store, "grace")?;
    }
    Ok(())
}

/// Two stores ("nodes") on one shared database, each with its own clock.
fn two_nodes(
    builder: impl Fn() -> ConfigBuilder,
) -> (
    Store<mem::MemBackend>,
    ManualClock,
    Store<mem::MemBackend>,
    ManualClock,
) {
    let backend = mem::MemBackend::default();
    let clock_a = ManualClock::new(T0);
    let clock_b = ManualClock::new(T0);
    let a = Store::with_backend(
        backend.clone(),
        builder().clock(clock_a.handle()).build().unwrap(),
    )
    .unwrap();
    let b =
        Store::with_backend(backend, builder().clock(clock_b.handle()).build().unwrap()).unwrap();
    (a, clock_a, b, clock_b)
}

#[test]
fn r18_a_node_whose_clock_is_behind_breaks_no_rule() -> TestResult {
    // Node A built everything at T; node B's clock says T - step and its own
    // time never saw T: only the records tell it. What it writes is never
    // older than what it touches, and a reuse is a reuse.
    for step in STEPS_BACK {
        for kind in ACTS {
            let (a, clock_a, b, clock_b) = two_nodes(Config::builder);
            let world = build_world(&a, &clock_a);
            clock_b.set(T - step);
            let what = format!("{kind:?} on a node {step} s behind");
            act(&b, &world, kind, false).map_err(|e| format!("{what}: {e}"))?;
            still_sound(&b, &what)?;
            // And the node ahead goes on from there.
            clock_a.set(T + 1);
            no_error(a.issue_for_subject(IssueRequest::new(&world.ticketpark.client, "carol")))?;
            still_sound(&a, &what)?;
        }
    }
    Ok(())
}

#[test]
fn r18_a_restart_with_a_clock_that_went_back_keeps_the_stores_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("restart.redb");
    let clock = ManualClock::new(T0);
    let world = {
        let store = Store::open(&path, Config::builder().clock(clock.handle()).build()?)?;
        build_world(&store, &clock)
    };
    // The host comes back an hour in the past (a VM restored from a snapshot).
    let earlier = ManualClock::new(T - 3_600);
    let store = Store::open(&path, Config::builder().clock(earlier.handle()).build()?)?;
    assert_eq!(store.now(), T, "the recorded high-water mark holds");
    assert!(
        !is_valid(&store, &world.expired),
        "R13: expired stays expired"
    );
    let rotated = store.refresh(RefreshRequest::new(
        refresh(&world.rotated),
        &world.pretix.client,
    ))?;
    assert!(rotated.created_at >= T);
    assert!(matches!(
        store.refresh(RefreshRequest::new(&world.consumed, &world.pretix.client)),
        Err(Error::RefreshTokenReused)
    ));
    still_sound(&store, "after restart")?;
    Ok(())
}

// ---------------------------------------------------------------- property

/// One step of the two-node property test.
#[derive(Debug, Clone)]
enum Step {
    /// Moves a node's clock by this many seconds (negative: back).
    Clock {
        node: bool,
        by: i64,
    },
    Password {
        node: bool,
        subject: u8,
    },
    Code {
        node: bool,
        subject: u8,
    },
    Refresh {
        node: bool,
        token: u8,
    },
    Revoke {
        node: bool,
        token: u8,
        refresh: bool,
    },
    RevokeSubject {
        node: bool,
        subject: u8,
    },
    Validate {
        node: bool,
        token: u8,
    },
    Consent {
        node: bool,
        subject: u8,
    },
    Purge {
        node: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let node = any::<bool>;
    let n = any::<u8>;
    prop_oneof![
        3 => (node(), prop_oneof![-4_000i64..=-1, 1i64..=4_000, -90_000i64..=90_000])
            .prop_map(|(node, by)| Step::Clock { node, by }),
        3 => (node(), n()).prop_map(|(node, subject)| Step::Password { node, subject }),
        2 => (node(), n()).prop_map(|(node, subject)| Step::Code { node, subject }),
        5 => (node(), n()).prop_map(|(node, token)| Step::Refresh { node, token }),
        2 => (node(), n(), any::<bool>()).prop_map(|(node, token, refresh)| Step::Revoke { node, token, refresh }),
        1 => (node(), n()).prop_map(|(node, subject)| Step::RevokeSubject { node, subject }),
        2 => (node(), n()).prop_map(|(node, token)| Step::Validate { node, token }),
        1 => (node(), n()).prop_map(|(node, subject)| Step::Consent { node, subject }),
        1 => node().prop_map(|node| Step::Purge { node }),
    ]
}

/// An error the rules give (a refused refresh, an inactive token), not damage.
fn is_rule_error(error: &Error) -> bool {
    !matches!(error, Error::Corrupted { .. }) && !error.is_storage_failure()
}

fn run_two_nodes(steps: &[Step], grace: u64) -> Result<(), String> {
    let (a, clock_a, b, clock_b) = two_nodes(|| {
        Config::builder()
            .refresh_reuse_grace(Duration::from_secs(grace))
            .refresh_reuse_cap(2)
    });
    let app = ticketpark_app(&a);
    let pretix = pretix_app(&a);
    let mut pairs: Vec<TokenResponse> = Vec::new();
    // Whose pair it is: the client that presents it.
    let holder = |pair: &TokenResponse| {
        if pair.client_id == app.id {
            &app.client
        } else {
            &pretix.client
        }
    };
    let pick = |pairs: &Vec<TokenResponse>, i: u8| {
        (!pairs.is_empty()).then(|| pairs[usize::from(i) % pairs.len()].clone())
    };
    for (i, step) in steps.iter().enumerate() {
        let node = |n: bool| if n { &a } else { &b };
        let outcome: Result<(), Error> = match step {
            Step::Clock { node, by } => {
                let clock = if *node { &clock_a } else { &clock_b };
                let now = grantdb::Clock::now(clock);
                clock.set(now.saturating_add_signed(*by).max(T0));
                Ok(())
            }
            Step::Password { node: n, subject } => node(*n)
                .issue_for_subject(IssueRequest::new(
                    &app.client,
                    format!("user{}", subject % 4),
                ))
                .map(|tokens| pairs.push(tokens)),
            Step::Code { node: n, subject } => {
                let store = node(*n);
                store
                    .issue_code(AuthorizationRequest::new(
                        pretix.id,
                        format!("user{}", subject % 4),
                    ))
                    .and_then(|code| {
                        store.exchange_code(CodeExchange::new(code.code.expose(), &pretix.client))
                    })
                    .map(|tokens| pairs.push(tokens))
            }
            Step::Refresh { node: n, token } => match pick(&pairs, *token) {
                Some(pair) => node(*n)
                    .refresh(RefreshRequest::new(refresh(&pair), holder(&pair)))
                    .map(|tokens| pairs.push(tokens)),
                None => Ok(()),
            },
            Step::Revoke {
                node: n,
                token,
                refresh: r,
            } => match pick(&pairs, *token) {
                Some(pair) => {
                    let token = if *r { refresh(&pair) } else { access(&pair) };
                    node(*n).revoke(token, holder(&pair)).map(drop)
                }
                None => Ok(()),
            },
            Step::RevokeSubject { node: n, subject } => node(*n)
                .revoke_subject(&format!("user{}", subject % 4))
                .map(drop),
            Step::Validate { node: n, token } => match pick(&pairs, *token) {
                Some(pair) => node(*n)
                    .introspect(IntrospectRequest::new(access(&pair), &pretix.client))
                    .map(drop),
                None => Ok(()),
            },
            Step::Consent { node: n, subject } => node(*n)
                .record_consent(NewConsent::new(
                    pretix.id,
                    format!("user{}", subject % 4),
                    scope("read"),
                ))
                .map(drop),
            Step::Purge { node: n } => node(*n).purge_expired().map(drop),
        };
        if let Err(error) = outcome
            && !is_rule_error(&error)
        {
            return Err(format!("step {i} {step:?}: {error:?}"));
        }
    }
    still_sound(&a, "node a")?;
    // Every record decodes: each node reads every token it knows.
    for pair in &pairs {
        for store in [&a, &b] {
            store
                .introspect(IntrospectRequest::new(refresh(pair), &pretix.client))
                .map_err(|e| format!("introspect: {e:?}"))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// R20 under any clock sequence: two nodes whose clocks step back and
    /// forward at random share one database; no operation ever meets a record
    /// it refuses as damage, and every invariant holds at the end.
    #[test]
    fn r20_no_clock_sequence_makes_the_store_report_damage(
        steps in prop::collection::vec(step(), 1..60),
        grace in prop_oneof![Just(0u64), Just(30u64)],
    ) {
        let outcome = run_two_nodes(&steps, grace);
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

fn r18_every_expiry_decision_follows_the_injected_clock<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let prio = prioticket_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let cc = f
        .store
        .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))?;
    assert_eq!(tokens.created_at, T0);
    // Moved forward, the clock decides expiry.
    f.clock.set(T0 + 3_599);
    assert!(is_valid(&f.store, access(&cc)));
    f.clock.set(T0 + 3_600);
    assert!(!is_valid(&f.store, access(&cc)));
    // Moved back, it does not bring an expired token back: the store's time
    // never runs backwards (it stands still until the clock catches up).
    f.clock.set(T0 + 3_599);
    assert!(!is_valid(&f.store, access(&cc)));
    assert_eq!(f.store.now(), T0 + 3_600);
    f.clock.set(T0 + 3_700);
    assert_eq!(f.store.now(), T0 + 3_700);
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r18_a_clock_step_back_before_any_operation_breaks_no_rule,
    r08_a_grace_period_never_starts_before_the_rotation,
    r18_every_expiry_decision_follows_the_injected_clock,
);
