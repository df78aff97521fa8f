//! A fleet that survives its database (issue 16, points 2 and 3): a
//! primary and a synchronous hot standby (throwaway clusters), two grantdb
//! nodes connected to both hosts with `target_session_attrs=read-write`,
//! each issuing, refreshing and revoking; the primary is killed mid-load
//! (SIGKILL to its postmaster), the standby promoted, a new standby built
//! from the old primary; `GRANTDB_FAILOVERS` times (3 by default). While no
//! primary is reachable, operations fail with `Error::Unavailable` (or
//! `CommitOutcomeUnknown` for a commit that was on its way), never with a
//! rule's answer; then they resume without anything restarted. Every
//! acknowledged operation is there at the end, and `verify` is clean.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use grantdb::IntrospectRequest;
use grantdb::kv::postgres::{PostgresBackend, PostgresOptions};
use grantdb::{
    AuthenticatedClient, Config, Error, GrantType, HashingKey, NewClient, Store, TokenResponse,
};
use grantdb::{ClientCredentialsRequest, IssueRequest, RefreshRequest};
use parking_lot::Mutex;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// What the nodes were told, kept to check against the database at the end.
#[derive(Default)]
struct Ledger {
    /// Access tokens whose issue (or refresh) was acknowledged, and not
    /// ended by an acknowledged revocation or rotation since.
    live: HashSet<String>,
    /// Access tokens an acknowledged revocation or rotation ended.
    dead: HashSet<String>,
    /// Operations whose outcome the store could not know (commit lost).
    unknown: u64,
    /// Operations refused as unavailable.
    unavailable: u64,
    /// Anything else: a failure of the test.
    wrong: Vec<String>,
}

/// Acknowledged operations so far, for the pacing of the failovers.
static ACKED: AtomicU64 = AtomicU64::new(0);

/// One node's load: client credentials issued and revoked, and a password
/// grant refreshed again and again.
fn load(
    store: &Store<PostgresBackend>,
    client: &AuthenticatedClient,
    stop: &AtomicBool,
    ledger: &Mutex<Ledger>,
) {
    let mut mine: Vec<String> = Vec::new();
    let mut pair: Option<TokenResponse> = None;
    let mut round = 0u64;
    let access = |tokens: &TokenResponse| tokens.access_token.expose().to_owned();
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        let outcome: Result<(), Error> = match round % 4 {
            0 | 3 => store
                .issue_client_credentials(ClientCredentialsRequest::new(client))
                .map(|tokens| {
                    let mut ledger = ledger.lock();
                    ledger.live.insert(access(&tokens));
                    mine.push(access(&tokens));
                }),
            1 => match mine.pop() {
                None => Ok(()),
                Some(token) => match store.revoke(&token, client) {
                    Ok(_) => {
                        let mut ledger = ledger.lock();
                        ledger.live.remove(&token);
                        ledger.dead.insert(token);
                        Ok(())
                    }
                    Err(error) => {
                        // Unknown or refused: the token may or may not be revoked.
                        ledger.lock().live.remove(&token);
                        Err(error)
                    }
                },
            },
            _ => match pair.take() {
                None => store
                    .issue_for_subject(IssueRequest::new(client, "alice"))
                    .map(|tokens| {
                        ledger.lock().live.insert(access(&tokens));
                        pair = Some(tokens);
                    }),
                Some(old) => {
                    let refresh = old.refresh_token.as_ref().unwrap().expose().to_owned();
                    match store.refresh(RefreshRequest::new(&refresh, client)) {
                        Ok(new) => {
                            let mut ledger = ledger.lock();
                            ledger.live.remove(&access(&old));
                            ledger.dead.insert(access(&old));
                            ledger.live.insert(access(&new));
                            pair = Some(new);
                            Ok(())
                        }
                        Err(Error::Unavailable { source }) => {
                            // Nothing was written: the pair is as it was.
                            pair = Some(old);
                            Err(Error::Unavailable { source })
                        }
                        Err(error) => {
                            // The old pair's fate is unknown: leave it out.
                            ledger.lock().live.remove(&access(&old));
                            Err(error)
                        }
                    }
                }
            },
        };
        match outcome {
            Ok(()) => {
                ACKED.fetch_add(1, Ordering::SeqCst);
            }
            Err(Error::Unavailable { .. }) => {
                ledger.lock().unavailable += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(Error::CommitOutcomeUnknown { .. }) => ledger.lock().unknown += 1,
            Err(other) => ledger.lock().wrong.push(format!("{other:?}")),
        }
    }
}

/// Waits until `more` operations were acknowledged (at most a minute).
fn wait_for_acks(more: u64) -> Result<Duration, String> {
    let start = Instant::now();
    let target = ACKED.load(Ordering::SeqCst) + more;
    while ACKED.load(Ordering::SeqCst) < target {
        if start.elapsed() > Duration::from_mins(1) {
            return Err("no progress for a minute".to_owned());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(start.elapsed())
}

/// Retries `op` while the database is unavailable (a pooled connection to
/// the dead node is met once).
fn settled<T>(mut op: impl FnMut() -> grantdb::Result<T>) -> grantdb::Result<T> {
    for _ in 0..50 {
        match op() {
            Err(Error::Unavailable { .. }) => std::thread::sleep(Duration::from_millis(50)),
            other => return other,
        }
    }
    op()
}

#[test]
fn failovers_lose_no_acknowledged_operation_and_verify_is_clean() -> TestResult {
    if support::pg::url().is_none() {
        return Ok(()); // No PostgreSQL here (the suite said so once).
    }
    let failovers: u32 = std::env::var("GRANTDB_FAILOVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut cluster = support::pg::Replicated::start(0)?;
    let options = PostgresOptions::new(cluster.url())
        .schema("failover")
        .pool_size(4)
        .connect_timeout(Duration::from_millis(500));
    let config = Config::builder()
        .hashing_key(HashingKey::from_bytes([0x16; 32]))
        .build()?;
    let nodes = [
        Store::with_backend(PostgresBackend::connect(&options)?, config.clone())?,
        Store::with_backend(PostgresBackend::connect(&options)?, config)?,
    ];
    let registered = nodes[0].register_client(NewClient::confidential("fleet").grant_types([
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
    ]))?;
    let client = nodes[0].authenticate_client(
        &registered.client.id,
        registered.secret.as_ref().map(grantdb::Secret::expose),
    )?;
    let stop = AtomicBool::new(false);
    let ledger = Mutex::new(Ledger::default());
    let mut downtimes = Vec::new();
    std::thread::scope(|scope| -> TestResult {
        for node in &nodes {
            let (stop, ledger) = (&stop, &ledger);
            let client = &client;
            scope.spawn(move || load(node, client, stop, ledger));
        }
        for _ in 0..failovers {
            wait_for_acks(40)?;
            let killed = Instant::now();
            cluster.kill_primary()?;
            cluster.promote_standby()?;
            // A synchronous primary waits for a standby: the old primary
            // comes back as one.
            cluster.rebuild_standby(1 - cluster.primary)?;
            wait_for_acks(1)?;
            downtimes.push(killed.elapsed());
            wait_for_acks(40)?;
        }
        stop.store(true, Ordering::SeqCst);
        Ok(())
    })?;

    let ledger = ledger.into_inner();
    assert!(
        ledger.wrong.is_empty(),
        "errors that are neither unavailable nor unknown: {:?}",
        ledger.wrong
    );
    for token in &ledger.live {
        let valid = settled(|| nodes[0].validate(token));
        assert!(valid.is_ok(), "an acknowledged token is lost: {valid:?}");
    }
    for token in &ledger.dead {
        assert!(
            settled(|| nodes[1].validate(token)).is_err(),
            "an acknowledged revocation or rotation is lost"
        );
    }
    let report = settled(|| nodes[0].verify())?;
    assert!(report.is_ok(), "{:?}", report.problems);
    let slowest = downtimes.iter().max().copied().unwrap_or_default();
    eprintln!(
        "failover test: {failovers} failovers, {} acknowledged operations checked ({} live, {} ended), \
         {} unavailable, {} with unknown outcome, longest outage {:.1} s",
        ledger.live.len() + ledger.dead.len(),
        ledger.live.len(),
        ledger.dead.len(),
        ledger.unavailable,
        ledger.unknown,
        slowest.as_secs_f64()
    );
    Ok(())
}

/// Replica reads keep R13 (issue 16, point 4): two nodes whose validations
/// go to the hot standby; every round one issues a token and revokes it,
/// and the other validates it through the replica at once: valid after the
/// issue, never after the revocation returned (the writes commit with
/// `remote_apply`).
#[test]
fn a_revoked_token_never_validates_on_a_replica() -> TestResult {
    if support::pg::url().is_none() {
        return Ok(()); // No PostgreSQL here (the suite said so once).
    }
    let cluster = support::pg::Replicated::start(1)?;
    let options = PostgresOptions::new(cluster.url())
        .schema("replica_reads")
        .pool_size(2)
        .read_replica(cluster.standby_url());
    let config = Config::builder()
        .hashing_key(HashingKey::from_bytes([0x17; 32]))
        .build()?;
    let writer = Store::with_backend(PostgresBackend::connect(&options)?, config.clone())?;
    let reader = Store::with_backend(PostgresBackend::connect(&options)?, config)?;
    let registered = writer.register_client(
        NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]),
    )?;
    let client = writer.authenticate_client(
        &registered.client.id,
        registered.secret.as_ref().map(grantdb::Secret::expose),
    )?;
    let rounds = 200;
    for round in 0..rounds {
        let tokens = writer.issue_client_credentials(ClientCredentialsRequest::new(&client))?;
        let token = tokens.access_token.expose();
        assert!(
            reader.validate(token).is_ok(),
            "round {round}: issued, valid on the replica"
        );
        writer.revoke(token, &client)?;
        assert!(
            matches!(reader.validate(token), Err(Error::InactiveToken)),
            "round {round}: revoked, yet active on the replica"
        );
        assert!(
            !reader
                .introspect(IntrospectRequest::new(token, &client))?
                .active
        );
    }
    // What remote_apply costs a write, beside a node without replicas
    // (synchronous_commit = on) on the same cluster: printed, not asserted.
    let plain = PostgresOptions::new(cluster.url())
        .schema("replica_reads")
        .pool_size(2);
    let config = Config::builder()
        .hashing_key(HashingKey::from_bytes([0x17; 32]))
        .build()?;
    let without = Store::with_backend(PostgresBackend::connect(&plain)?, config)?;
    let mut timings = Vec::new();
    for store in [&writer, &without] {
        let started = Instant::now();
        for _ in 0..100 {
            store.issue_client_credentials(ClientCredentialsRequest::new(&client))?;
        }
        timings.push(started.elapsed() / 100);
    }
    eprintln!(
        "replica reads: {rounds} rounds, never active after revocation; a durable issue takes \
         {:.0} µs with remote_apply, {:.0} µs with synchronous_commit = on",
        timings[0].as_secs_f64() * 1e6,
        timings[1].as_secs_f64() * 1e6
    );
    Ok(())
}
