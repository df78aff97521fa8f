//! A fleet (R19 across nodes): two `Store`s, standing for two server nodes,
//! on one PostgreSQL database, with threads on each refreshing the same
//! tokens, exchanging the same codes and revoking concurrently. Exactly the
//! outcomes the rules allow, every round. Skipped (and said so) without
//! PostgreSQL.
//!
//! `GRANTDB_FLEET_ROUNDS` sets the rounds (default 10).

use crate::support::TestResult;
use std::sync::Barrier;

use crate::support::{pg, proof_client, register};
use grantdb::kv::postgres::{PostgresBackend, PostgresOptions};
use grantdb::{AuthenticatedClient, IntrospectRequest, Secret};
use grantdb::{
    AuthorizationRequest, CodeExchange, Config, Error, GrantType, HashingKey, NewClient,
    Revocation, Store,
};
use grantdb::{ClientCredentialsRequest, IssueRequest, NewConsent, RefreshRequest};

const PER_NODE: usize = 8;

fn rounds() -> usize {
    std::env::var("GRANTDB_FLEET_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// Two nodes on one schema, both given the same hashing key (the production
/// setup: the key comes from the host, never from the shared database).
fn fleet() -> Option<(Store<PostgresBackend>, Store<PostgresBackend>)> {
    fleet_configured(|builder| builder)
}

/// [`fleet`], each node's configuration made by `configure`.
fn fleet_configured(
    configure: impl Fn(grantdb::ConfigBuilder) -> grantdb::ConfigBuilder,
) -> Option<(Store<PostgresBackend>, Store<PostgresBackend>)> {
    fleet_on(|options| options, configure)
}

/// [`fleet`], each node's backend options made by `options` and its
/// configuration by `configure`.
fn fleet_on(
    options: impl Fn(PostgresOptions) -> PostgresOptions,
    configure: impl Fn(grantdb::ConfigBuilder) -> grantdb::ConfigBuilder,
) -> Option<(Store<PostgresBackend>, Store<PostgresBackend>)> {
    let url = pg::url()?;
    let schema = format!("fleet{}_{}", std::process::id(), rand::random::<u32>());
    let key = HashingKey::from_bytes([7; 32]);
    let node = || {
        let config = configure(Config::builder().hashing_key(key.clone()))
            .build()
            .unwrap();
        let backend = options(PostgresOptions::new(url).schema(&schema).pool_size(8));
        Store::with_backend(PostgresBackend::connect(&backend).unwrap(), config).unwrap()
    };
    Some((node(), node()))
}

/// Write transactions both nodes ran again after a conflict, so far.
fn retries(nodes: [&Store<PostgresBackend>; 2]) -> u64 {
    nodes.iter().map(|n| n.backend().conflict_retries()).sum()
}

/// A confidential client allowed the password and refresh grants.
fn password_client(node: &Store<PostgresBackend>) -> grantdb::Result<AuthenticatedClient> {
    let client = NewClient::confidential("fleet")
        .grant_types([GrantType::Password, GrantType::RefreshToken])
        .scopes("read")?;
    let registered = node.register_client(client)?;
    node.authenticate_client(
        &registered.client.id,
        registered.secret.as_ref().map(Secret::expose),
    )
}

/// Runs `f(node, i)` on `PER_NODE` threads per node, released together.
fn race<T: Send>(
    nodes: [&Store<PostgresBackend>; 2],
    f: impl Fn(&Store<PostgresBackend>) -> T + Sync,
) -> Vec<T> {
    let barrier = Barrier::new(PER_NODE * 2);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..PER_NODE * 2)
            .map(|i| {
                let (barrier, f, node) = (&barrier, &f, nodes[i % 2]);
                scope.spawn(move || {
                    barrier.wait();
                    f(node)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Runs `check` on a fleet whose refreshes run on row locks (the default),
/// then on one where every write is `SERIALIZABLE`.
fn in_both_isolations(
    check: impl Fn(&Store<PostgresBackend>, &Store<PostgresBackend>) -> TestResult,
) -> TestResult {
    for row_locks in [true, false] {
        let Some((a, b)) = fleet_on(|o| o.row_locks(row_locks), |c| c) else {
            return Ok(());
        };
        check(&a, &b)?;
    }
    Ok(())
}

#[test]
fn r08_refreshes_of_one_token_on_two_nodes_have_one_winner_and_revoke_the_family() -> TestResult {
    in_both_isolations(one_winner_per_refreshed_token)
}

/// Every round, one token refreshed by `PER_NODE` threads on each node:
/// one rotation, one reuse detected, the family gone on both nodes (R08).
fn one_winner_per_refreshed_token(
    a: &Store<PostgresBackend>,
    b: &Store<PostgresBackend>,
) -> TestResult {
    let client = password_client(a)?;
    for _ in 0..rounds() {
        let tokens = a.issue_for_subject(IssueRequest::new(&client, "alice"))?;
        let refresh = tokens.refresh_token.as_ref().unwrap().expose().to_owned();
        let results = race([a, b], |node| {
            node.refresh(RefreshRequest::new(&refresh, &client))
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(
            winners.len(),
            1,
            "exactly one refresh wins across the fleet"
        );
        for result in &results {
            assert!(
                matches!(
                    result,
                    Ok(_) | Err(Error::RefreshTokenReused | Error::UnknownRefreshToken)
                ),
                "a conflict surfaced as {result:?}"
            );
        }
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(Error::RefreshTokenReused)))
        );
        // Both nodes agree the family is gone.
        assert!(a.validate(winners[0].access_token.expose()).is_err());
        assert!(b.validate(winners[0].access_token.expose()).is_err());
    }
    Ok(())
}

/// Issue 26 §3: refreshes run on row locks, so threads on two nodes each
/// rotating a grant of its own never conflict: every rotation succeeds and
/// not one transaction is run again (R07 across nodes). Under `SERIALIZABLE`
/// alone the same load meets predicate-lock conflicts on the shared
/// indexes (the fleet benchmark counts them).
#[test]
fn r07_refreshes_of_different_grants_on_two_nodes_never_conflict() -> TestResult {
    const ROTATIONS: usize = 25;
    let Some((a, b)) = fleet() else { return Ok(()) };
    let client = password_client(&a)?;
    let mut chains = Vec::new();
    for i in 0..PER_NODE * 2 {
        let pair = a.issue_for_subject(IssueRequest::new(&client, format!("chain{i}")))?;
        chains.push(std::sync::Mutex::new(refresh_of(&pair).to_owned()));
    }
    let before = retries([&a, &b]);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = race([&a, &b], |node| {
        let mine = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut refresh = chains[mine].lock().unwrap();
        for _ in 0..ROTATIONS {
            match node.refresh(RefreshRequest::new(refresh.as_str(), &client)) {
                Ok(pair) => *refresh = refresh_of(&pair).to_owned(),
                Err(error) => return Some(error),
            }
        }
        None
    });
    let failures: Vec<_> = failures.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        retries([&a, &b]) - before,
        0,
        "refreshes of different grants conflicted"
    );
    // Each chain's latest token is the one live refresh token of its grant.
    for chain in &chains {
        let refresh = chain.lock().unwrap();
        assert!(matches!(
            b.refresh_state(&refresh)?,
            grantdb::RefreshState::Active(_)
        ));
    }
    assert!(a.verify()?.is_ok());
    Ok(())
}

/// A client deleted (a serializable transaction) on one node while the
/// other node refreshes its grants on row locks: once the deletion
/// returned, no token of the client validates and none refreshes,
/// whichever rotations won their race first (R12, R13). A refresh writes
/// the token and grant rows the deletion ends, so one of the two always
/// waits for the other and runs again.
#[test]
fn r12_a_client_deleted_on_one_node_ends_what_the_other_node_refreshes() -> TestResult {
    in_both_isolations(deletion_racing_refreshes)
}

/// Every round, a client with 8 grants, each refreshed by a thread of its
/// own on `refresher` until `deleter` deleted the client.
fn deletion_racing_refreshes(
    deleter: &Store<PostgresBackend>,
    refresher: &Store<PostgresBackend>,
) -> TestResult {
    const GRANTS: usize = 8;
    for _ in 0..rounds() {
        let client = password_client(deleter)?;
        let mut latest = Vec::new();
        for i in 0..GRANTS {
            let pair = deleter.issue_for_subject(IssueRequest::new(&client, format!("d{i}")))?;
            latest.push(std::sync::Mutex::new(pair));
        }
        let gone = std::sync::atomic::AtomicBool::new(false);
        let barrier = Barrier::new(GRANTS + 1);
        std::thread::scope(|scope| {
            for slot in &latest {
                let (barrier, gone, client) = (&barrier, &gone, &client);
                scope.spawn(move || {
                    barrier.wait();
                    let mut pair = slot.lock().unwrap();
                    // Rotate until a refresh fails, and at least once
                    // after the deletion returned.
                    loop {
                        let done = gone.load(std::sync::atomic::Ordering::SeqCst);
                        match refresher.refresh(RefreshRequest::new(refresh_of(&pair), client)) {
                            Ok(rotated) if !done => *pair = rotated,
                            Ok(rotated) => panic!("refreshed after the deletion: {rotated:?}"),
                            Err(Error::UnknownRefreshToken | Error::UnknownClient) => break,
                            Err(other) => panic!("a refresh failed with {other:?}"),
                        }
                    }
                });
            }
            barrier.wait();
            let ended = deleter.delete_client(&client.id());
            gone.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(matches!(ended, Ok(Some(_))), "{ended:?}");
        });
        for slot in &latest {
            let pair = slot.lock().unwrap();
            assert!(refresher.validate(pair.access_token.expose()).is_err());
            assert!(deleter.validate(pair.access_token.expose()).is_err());
        }
    }
    assert!(deleter.verify()?.is_ok());
    Ok(())
}

#[test]
fn r05_exchanges_of_one_code_on_two_nodes_have_one_winner_and_the_replays_revoke_it() -> TestResult
{
    let Some((a, b)) = fleet() else { return Ok(()) };
    let client = register(
        &b,
        &NewClient::confidential("fleet")
            .redirect_uri("https://fleet.example/cb")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]),
    )
    .client;
    for _ in 0..rounds() {
        let code = a.issue_code(AuthorizationRequest::new(client.id(), "alice"))?;
        let results = race([&a, &b], |node| {
            node.exchange_code(CodeExchange::new(code.code.expose(), &client))
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1);
        assert_eq!(
            results
                .iter()
                .filter(|r| matches!(r, Err(Error::CodeReplayed)))
                .count(),
            PER_NODE * 2 - 1
        );
        assert!(b.validate(winners[0].access_token.expose()).is_err());
    }
    Ok(())
}

#[test]
fn r10_revocation_on_one_node_racing_refresh_on_the_other() -> TestResult {
    let Some((a, b)) = fleet() else { return Ok(()) };
    let client = password_client(&a)?;
    for _ in 0..rounds() * 2 {
        let tokens = a.issue_for_subject(IssueRequest::new(&client, "bob"))?;
        let refresh = tokens.refresh_token.as_ref().unwrap().expose().to_owned();
        let barrier = Barrier::new(2);
        let (revoked, rotated) = std::thread::scope(|scope| {
            let revoke = scope.spawn(|| {
                barrier.wait();
                a.revoke(&refresh, &client)
            });
            let rotate = scope.spawn(|| {
                barrier.wait();
                b.refresh(RefreshRequest::new(&refresh, &client))
            });
            (revoke.join().unwrap(), rotate.join().unwrap())
        });
        match (revoked?, rotated) {
            (Revocation::Grant, Err(Error::UnknownRefreshToken)) => {
                assert!(b.validate(tokens.access_token.expose()).is_err());
            }
            // Refresh first: revoking the rotated token ends the grant (R10).
            (Revocation::Grant, Ok(pair)) => {
                assert!(a.validate(pair.access_token.expose()).is_err());
            }
            other => panic!("outcome not allowed by R07/R10/R11: {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn r01_a_shared_database_keeps_no_generated_key_unless_allowed() -> TestResult {
    let Some(url) = pg::url() else { return Ok(()) };
    let schema = format!("nokey{}", std::process::id());
    let refused = Store::with_backend(pg::connect(url, &schema, false), Config::default());
    assert!(matches!(refused, Err(Error::HashingKeyRequired)));
    let allowed = Store::with_backend(pg::connect(url, &schema, true), Config::default());
    assert!(allowed.is_ok());
    Ok(())
}

#[test]
fn r19_an_embedded_store_moves_to_postgres_through_export_and_import() -> TestResult {
    let Some(url) = pg::url() else { return Ok(()) };
    let key = HashingKey::from_bytes([5; 32]);
    let config = || Config::builder().hashing_key(key.clone()).build().unwrap();
    let embedded = Store::in_memory(config())?;
    let client = register(
        &embedded,
        &NewClient::confidential("mover")
            .grant_types([GrantType::Password, GrantType::RefreshToken]),
    )
    .client;
    let tokens = embedded.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    let mut exported = Vec::new();
    embedded.export(|entry| {
        exported.push(entry);
        Ok(())
    })?;
    let entries = || exported.iter().cloned().map(Ok).collect::<Vec<_>>();
    let schema = format!("moved{}", std::process::id());
    let target = pg::connect(url, &schema, false);
    // All or nothing, in one transaction: a bad entry near the end, or a key
    // that is not the backup's, leaves the schema empty.
    let mut damaged = entries();
    let last = damaged.len() - 1;
    if let Ok(entry) = &mut damaged[last] {
        entry.value = "AAAA".to_owned();
    }
    let refused = grantdb::import_into(&target, &config(), damaged);
    assert!(
        matches!(refused, Err(Error::BadBackup { line: Some(line), .. }) if line == last as u64 + 1),
        "{refused:?}"
    );
    let other_key = Config::builder()
        .hashing_key(HashingKey::from_bytes([6; 32]))
        .build()?;
    assert!(matches!(
        grantdb::import_into(&target, &other_key, entries()),
        Err(Error::WrongHashingKey)
    ));
    let written = grantdb::import_into(&target, &config(), entries())?;
    assert!(written > 5);
    let node = Store::with_backend(pg::connect(url, &schema, false), config())?;
    assert!(node.validate(tokens.access_token.expose()).is_ok());
    let refreshed = node.refresh(RefreshRequest::new(
        tokens.refresh_token.as_ref().unwrap().expose(),
        &client,
    ))?;
    assert!(node.verify()?.is_ok());

    // And back: the fleet, its key ring rotated meanwhile, exported and
    // imported into a new redb file.
    node.add_hashing_key(Some(HashingKey::from_bytes([8; 32])))?;
    let rotated = node.refresh(RefreshRequest::new(
        refreshed.refresh_token.as_ref().unwrap().expose(),
        &client,
    ))?;
    let mut back = Vec::new();
    node.export(|entry| {
        back.push(entry);
        Ok(())
    })?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("back.redb");
    let ring = || {
        Config::builder()
            .hashing_keys([key.clone(), HashingKey::from_bytes([8; 32])])
            .build()
            .unwrap()
    };
    grantdb::import(&file, &ring(), back.into_iter().map(Ok))?;
    let embedded = Store::open(&file, ring())?;
    assert!(embedded.validate(rotated.access_token.expose()).is_ok());
    assert_eq!(embedded.hashing_keys()?.len(), 2);
    assert!(embedded.verify()?.is_ok());
    Ok(())
}

/// Two nodes on one schema with clocks of their own, `skew` seconds apart
/// (node b ahead), taking time from those clocks or from the database server.
fn skewed_fleet(
    skew: u64,
    database_clock: bool,
) -> Option<[(Store<PostgresBackend>, grantdb::ManualClock); 2]> {
    let url = pg::url()?;
    let schema = format!("skew{}_{}", std::process::id(), rand::random::<u32>());
    let key = HashingKey::from_bytes([9; 32]);
    let now = grantdb::SystemClock.now();
    let node = |at: u64| {
        let clock = grantdb::ManualClock::new(at);
        let config = Config::builder()
            .hashing_key(key.clone())
            .clock(clock.handle())
            .build()
            .unwrap();
        let backend = pg::connect_with(url, &schema, false, database_clock);
        (Store::with_backend(backend, config).unwrap(), clock)
    };
    Some([node(now - skew), node(now + skew)])
}

use grantdb::Clock as _;

fn refresh_of(tokens: &grantdb::TokenResponse) -> &str {
    tokens.refresh_token.as_ref().unwrap().expose()
}

#[test]
fn r18_nodes_whose_clocks_differ_by_30_seconds_keep_every_rule() -> TestResult {
    // Each node on its own clock, 30 s apart either way: what either writes is
    // never older than what it touches, a consumed token is a reuse on either
    // node (RFC 9700 §4.14.2), and nothing is ever read back as damage.
    let Some([(behind, _), (ahead, _)]) = skewed_fleet(15, false) else {
        return Ok(());
    };
    let client = password_client(&behind)?;
    for (first, second) in [(&behind, &ahead), (&ahead, &behind)] {
        let issued = first.issue_for_subject(IssueRequest::new(&client, "alice"))?;
        let rotated = second.refresh(RefreshRequest::new(refresh_of(&issued), &client))?;
        assert!(rotated.created_at >= issued.created_at);
        let again = first.refresh(RefreshRequest::new(refresh_of(&rotated), &client))?;
        assert!(again.created_at >= rotated.created_at, "R07 time order");
        // The first refresh token, consumed, presented on either node: theft.
        assert!(matches!(
            first.refresh(RefreshRequest::new(refresh_of(&issued), &client)),
            Err(Error::RefreshTokenReused)
        ));
        assert!(second.validate(again.access_token.expose()).is_err());
        let revoked = second.revoke_subject("alice")?;
        assert_eq!(revoked.damaged, 0);
        let read = grantdb::Scope::parse("read")?;
        let consent = first.record_consent(NewConsent::new(client.id(), "alice", read.clone()))?;
        let later = second.record_consent(NewConsent::new(client.id(), "alice", read))?;
        assert!(later.granted_at >= consent.granted_at);
    }
    ahead.purge_expired()?;
    let report = behind.verify()?;
    assert!(report.is_ok(), "{:?}", report.problems);
    Ok(())
}

#[test]
fn r18_on_the_database_clock_nodes_agree_whatever_their_own_clocks_say() -> TestResult {
    // The production default: the database server's clock. Node clocks an
    // hour apart do not matter: both stamp the database's time, and a token
    // valid for 10 minutes is valid on the node whose clock says it expired.
    let Some([(behind, _), (ahead, _)]) = skewed_fleet(3_600, true) else {
        return Ok(());
    };
    let client = password_client(&behind)?;
    let lifetime = std::time::Duration::from_mins(10);
    behind.update_client(
        &client.id(),
        grantdb::ClientUpdate::new()
            .lifetimes(grantdb::LifetimeOverrides::default().access(lifetime)),
    )?;
    let database_now = grantdb::SystemClock.now();
    for node in [&behind, &ahead] {
        let tokens = node.issue_for_subject(IssueRequest::new(&client, "bob"))?;
        assert!(
            tokens.created_at.abs_diff(database_now) <= 5,
            "stamped with the database's time"
        );
        for reader in [&behind, &ahead] {
            assert!(reader.validate(tokens.access_token.expose()).is_ok());
            assert!(
                reader
                    .introspect(IntrospectRequest::new(
                        tokens.access_token.expose(),
                        &client
                    ))?
                    .active
            );
            assert!(matches!(
                reader.refresh_state(refresh_of(&tokens))?,
                grantdb::RefreshState::Active(_)
            ));
        }
    }
    Ok(())
}

#[test]
fn r19_every_serialization_failure_is_retried_never_a_storage_error() -> TestResult {
    // Two nodes, threads issuing and revoking ("log out everywhere") for the
    // same few subjects: serializable transactions conflict, on reads as well
    // as at commit. Each is retried inside grantdb, whichever operation of a
    // group commit met it; no caller ever sees the conflict.
    let Some((a, b)) = fleet() else { return Ok(()) };
    let client = password_client(&a)?;
    let outcomes = race([&a, &b], |node| {
        let mut failures = Vec::new();
        for round in 0..60 {
            let subject = format!("s{}", round % 3);
            if let Err(error) = node.issue_for_subject(IssueRequest::new(&client, &subject)) {
                failures.push(format!("issue: {error:?}"));
            }
            if let Err(error) = node.revoke_subject(&subject) {
                failures.push(format!("revoke: {error:?}"));
            }
        }
        failures
    });
    let failures: Vec<String> = outcomes.into_iter().flatten().collect();
    // A transaction that lost 8 races runs alone: none is starved into
    // `Contended`, however often the others win.
    eprintln!(
        "{} retries, {} transactions run alone",
        retries([&a, &b]),
        a.backend().runs_alone() + b.backend().runs_alone()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(a.verify()?.is_ok());
    Ok(())
}

#[test]
fn a_schema_of_the_previous_version_gets_the_new_tables_and_keeps_its_data() -> TestResult {
    let Some(url) = pg::url() else { return Ok(()) };
    let schema = format!("oldschema{}", std::process::id());
    let config = || Config::builder().build().unwrap();
    let issued = {
        let store = Store::with_backend(pg::connect(url, &schema, true), config())?;
        let client = password_client(&store)?;
        let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
        (client, tokens)
    };
    // Make it a version 1 schema: no session or proof tables, version 1.
    let mut raw = postgres::Client::connect(url, postgres::NoTls)?;
    raw.batch_execute(&format!(
        "DROP TABLE {schema}.by_session; DROP TABLE {schema}.proof_jtis;
         DELETE FROM {schema}.schema_migrations WHERE version > 1;
         INSERT INTO {schema}.schema_migrations (version) SELECT 1
             WHERE NOT EXISTS (SELECT 1 FROM {schema}.schema_migrations);"
    ))?;
    let store = Store::with_backend(pg::connect(url, &schema, true), config())?;
    let (client, tokens) = issued;
    assert!(store.validate(tokens.access_token.expose()).is_ok());
    let until = store.now() + 60;
    assert_eq!(
        store.claim_proof_jti(&proof_client(), "after-upgrade", until)?,
        grantdb::ProofJti::FirstUse
    );
    let session = grantdb::AuthSession::new().sid("s");
    store.issue_for_subject(IssueRequest::new(&client, "alice").auth_session(session))?;
    assert_eq!(store.revoke_session("s")?.grants, 1);
    assert!(store.verify()?.is_ok());
    raw.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))?;
    Ok(())
}

/// Bulk work on PostgreSQL takes a bounded number of statements (issue 16,
/// point 5): revoking a subject's 1,000 grants (with consumed refresh tokens
/// and pending codes) and deleting a client with 1,000 grants each send a
/// few dozen statements, not two or three per grant.
#[test]
fn bulk_revocation_on_postgres_sends_a_bounded_number_of_statements() -> TestResult {
    const GRANTS: usize = 1_000;
    let Some((node, _)) = fleet() else {
        return Ok(());
    };
    let client = password_client(&node)?;
    let coder = register(
        &node,
        &NewClient::confidential("web")
            .redirect_uri("https://web.example/cb")
            .grant_types([GrantType::AuthorizationCode]),
    )
    .client;
    for i in 0..GRANTS {
        let tokens = node.issue_for_subject(IssueRequest::new(&client, "bulk"))?;
        if i % 10 == 0 {
            // A consumed refresh token in the grant, kept for R08.
            node.refresh(RefreshRequest::new(
                tokens.refresh_token.as_ref().unwrap().expose(),
                &client,
            ))?;
        }
    }
    for _ in 0..10 {
        node.issue_code(AuthorizationRequest::new(coder.id(), "bulk"))?;
    }
    let before = node.backend().statements_sent();
    let started = std::time::Instant::now();
    let revoked = node.revoke_subject("bulk")?;
    let took = started.elapsed();
    let sent = node.backend().statements_sent() - before;
    assert_eq!(revoked.grants, GRANTS as u64);
    assert!(
        sent <= 40,
        "revoke_subject of {GRANTS} grants sent {sent} statements"
    );
    eprintln!(
        "revoke_subject of {GRANTS} grants: {sent} statements, {:.0} ms",
        took.as_secs_f64() * 1e3
    );

    for _ in 0..GRANTS {
        node.issue_for_subject(IssueRequest::new(&client, "again"))?;
    }
    let before = node.backend().statements_sent();
    let deleted = node
        .delete_client(&client.id())?
        .expect("the client existed");
    let sent = node.backend().statements_sent() - before;
    assert_eq!(deleted.grants, GRANTS as u64);
    eprintln!("delete_client with {GRANTS} grants: {sent} statements");
    assert!(
        sent <= 40,
        "delete_client with {GRANTS} grants sent {sent} statements"
    );
    assert!(node.verify()?.is_ok());

    // Purge of 1,000 expired grants (client credentials), on a clock of
    // the test's.
    let clock = grantdb::ManualClock::new(crate::support::T0);
    let config = Config::builder()
        .hashing_key(HashingKey::from_bytes([7; 32]))
        .clock(clock.handle())
        .build()?;
    let expiring = Store::with_backend(pg::backend(false).expect("the test server"), config)?;
    let prio = register(
        &expiring,
        &NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]),
    )
    .client;
    for _ in 0..GRANTS {
        expiring.issue_client_credentials(ClientCredentialsRequest::new(&prio))?;
    }
    clock.advance(2 * 86_400);
    let before = expiring.backend().statements_sent();
    let purged = expiring.purge_expired()?;
    let sent = expiring.backend().statements_sent() - before;
    assert_eq!(
        (purged.access_tokens, purged.grants),
        (GRANTS as u64, GRANTS as u64)
    );
    eprintln!("purge of {GRANTS} expired grants: {sent} statements");
    assert!(
        sent <= 40,
        "purge of {GRANTS} grants sent {sent} statements"
    );
    assert!(expiring.verify()?.is_ok());
    Ok(())
}

/// Issue 24, PostgreSQL: a bulk revocation on one node (in transactions of
/// 1,000 grants) while the other node refreshes the same subject's grants:
/// when it returns, every grant the subject held is ended, whichever
/// refreshes won their race first (a refresh rotates within its grant,
/// which a later transaction then ends).
#[test]
fn r12_a_bulk_revocation_on_one_node_ends_grants_the_other_node_refreshes() -> TestResult {
    const GRANTS: usize = 2_500;
    let unlimited =
        |builder: grantdb::ConfigBuilder| builder.grant_limits(grantdb::GrantLimits::none());
    let Some((revoker, refresher)) = fleet_configured(unlimited) else {
        return Ok(());
    };
    let client = password_client(&revoker)?;
    let mut pairs = Vec::with_capacity(GRANTS);
    for _ in 0..GRANTS {
        pairs.push(revoker.issue_for_subject(IssueRequest::new(&client, "bulk"))?);
    }
    let latest: Vec<std::sync::Mutex<grantdb::TokenResponse>> =
        pairs.into_iter().map(std::sync::Mutex::new).collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    let ended = std::thread::scope(|scope| {
        let refreshing = scope.spawn(|| {
            let mut n = 0usize;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let slot = &latest[n * 7919 % GRANTS];
                n += 1;
                let mut pair = slot.lock().unwrap();
                let refresh = pair.refresh_token.as_ref().unwrap().expose().to_owned();
                if let Ok(rotated) = refresher.refresh(RefreshRequest::new(&refresh, &client)) {
                    *pair = rotated;
                }
            }
        });
        let ended = revoker.revoke_subject("bulk");
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        refreshing.join().unwrap();
        ended
    })?;
    assert_eq!(ended.grants, GRANTS as u64);
    for slot in &latest {
        let pair = slot.lock().unwrap();
        assert!(refresher.validate(pair.access_token.expose()).is_err());
        let refresh = pair.refresh_token.as_ref().unwrap().expose();
        assert!(
            refresher
                .refresh(RefreshRequest::new(refresh, &client))
                .is_err()
        );
    }
    assert!(revoker.verify()?.is_ok());
    Ok(())
}
