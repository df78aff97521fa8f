//! Concurrency (R19, R05, R08): racing writers get exactly the outcomes the
//! rules allow, every round, and group commit keeps each operation's atomicity.
//!
//! `GRANTDB_CONCURRENCY_ROUNDS` sets the rounds per test (default 20).

use crate::support::*;
use grantdb::{
    AuthorizationRequest, ClientCredentialsRequest, CodeExchange, Config, Durability, Error,
    IntrospectRequest, RefreshRequest, Revocation,
};
use std::sync::Barrier;

const THREADS: usize = 32;

fn rounds() -> usize {
    std::env::var("GRANTDB_CONCURRENCY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Durable commits in a temporary file, as a server would run.
fn durable_fixture() -> (Fixture, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = grantdb::ManualClock::new(T0);
    let config = Config::builder()
        .clock(clock.handle())
        .durability(Durability::Durable)
        .build()
        .unwrap();
    let store = grantdb::Store::open(dir.path().join("db.redb"), config).unwrap();
    (Fixture { store, clock }, dir)
}

/// Runs `f` on `THREADS` threads released together.
fn race<T: Send>(f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                scope.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    })
}

#[test]
fn r19_32_threads_refreshing_one_token_one_wins_and_the_family_is_revoked() -> TestResult {
    let (f, _dir) = durable_fixture();
    let app = pretix_app(&f.store);
    for _ in 0..rounds() {
        let tokens = code_flow(&f.store, &app, "alice");
        let results = race(|_| {
            f.store
                .refresh(RefreshRequest::new(refresh(&tokens), &app.client))
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "exactly one refresh wins");
        let reuses = results
            .iter()
            .filter(|r| matches!(r, Err(Error::RefreshTokenReused)))
            .count();
        assert!(reuses >= 1, "the first loser is a reuse (R08)");
        for result in &results {
            assert!(
                matches!(
                    result,
                    Ok(_) | Err(Error::RefreshTokenReused | Error::UnknownRefreshToken)
                ),
                "{result:?}"
            );
        }
        // Grace 0: the reuse revoked the family, the winner's new pair included.
        assert!(!is_valid(&f.store, access(winners[0])));
        assert!(
            f.store
                .refresh(RefreshRequest::new(refresh(winners[0]), &app.client))
                .is_err()
        );
    }
    Ok(())
}

#[test]
fn r05_32_threads_exchanging_one_code_one_wins_and_the_replays_revoke_it() -> TestResult {
    let (f, _dir) = durable_fixture();
    let app = pretix_app(&f.store);
    for _ in 0..rounds() {
        let code = f
            .store
            .issue_code(AuthorizationRequest::new(app.id, "alice"))?;
        let results = race(|_| {
            f.store
                .exchange_code(CodeExchange::new(code.code.expose(), &app.client))
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "exactly one exchange wins");
        let replays = results
            .iter()
            .filter(|r| matches!(r, Err(Error::CodeReplayed)))
            .count();
        assert_eq!(replays, THREADS - 1, "every other exchange is a replay");
        assert!(
            !is_valid(&f.store, access(winners[0])),
            "replays revoke the grant (R05)"
        );
    }
    Ok(())
}

#[test]
fn r10_revocation_racing_a_refresh_ends_in_one_of_the_allowed_states() -> TestResult {
    let (f, _dir) = durable_fixture();
    let app = pretix_app(&f.store);
    let mut seen = [0usize; 2];
    for _ in 0..rounds() * 4 {
        let tokens = code_flow(&f.store, &app, "alice");
        let barrier = Barrier::new(2);
        let (revoked, refreshed) = std::thread::scope(|scope| {
            let revoke = scope.spawn(|| {
                barrier.wait();
                f.store.revoke(refresh(&tokens), &app.client)
            });
            let rotate = scope.spawn(|| {
                barrier.wait();
                f.store
                    .refresh(RefreshRequest::new(refresh(&tokens), &app.client))
            });
            (revoke.join().unwrap(), rotate.join().unwrap())
        });
        match (revoked?, refreshed) {
            // Revocation first: the refresh finds nothing, and nothing is live.
            (Revocation::Grant, Err(Error::UnknownRefreshToken)) => {
                assert!(!is_valid(&f.store, access(&tokens)));
                seen[0] += 1;
            }
            // Refresh first: the revocation finds the rotated token, still
            // kept for reuse detection, and ends the grant (R10): the new
            // pair dies with it.
            (Revocation::Grant, Ok(pair)) => {
                assert!(!is_valid(&f.store, access(&pair)));
                assert!(!is_valid(&f.store, access(&tokens)));
                seen[1] += 1;
            }
            other => panic!("outcome not allowed by R07/R10/R11: {other:?}"),
        }
    }
    assert_eq!(seen.iter().sum::<usize>(), rounds() * 4);
    Ok(())
}

#[test]
fn r19_a_failing_operation_in_a_batch_changes_nothing_and_spares_its_neighbours() -> TestResult {
    let (f, _dir) = durable_fixture();
    let app = pretix_app(&f.store);
    let before = f.store.write_stats();
    for _ in 0..rounds() {
        let families: Vec<_> = (0..THREADS)
            .map(|i| code_flow(&f.store, &app, &format!("user{i}")))
            .collect();
        // Even threads refresh properly; odd threads ask for a scope the grant
        // does not hold, which must fail and change nothing.
        let results = race(|i| {
            let mut request = RefreshRequest::new(refresh(&families[i]), &app.client);
            request.scope = (i % 2 == 1).then(|| scope("read write profile admin"));
            f.store.refresh(request)
        });
        for (i, result) in results.iter().enumerate() {
            if i % 2 == 0 {
                let pair = result.as_ref().expect("a proper refresh succeeds");
                assert!(is_valid(&f.store, access(pair)));
                assert!(!is_valid(&f.store, access(&families[i])));
            } else {
                assert!(matches!(result, Err(Error::ScopeNotAllowed)));
                assert!(
                    is_valid(&f.store, access(&families[i])),
                    "the failed refresh changed nothing"
                );
                assert!(
                    f.store
                        .introspect(IntrospectRequest::new(refresh(&families[i]), &app.client))?
                        .active
                );
            }
        }
    }
    let after = f.store.write_stats();
    let operations = after.operations - before.operations;
    let transactions = after.transactions - before.transactions;
    assert!(
        transactions < operations,
        "group commit shares transactions: {operations} operations in {transactions} transactions"
    );
    Ok(())
}

#[test]
fn write_stats_count_the_time_leaders_spend_running_operations_and_committing() -> TestResult {
    let (f, _dir) = durable_fixture();
    let prio = prioticket_app(&f.store);
    let before = f.store.write_stats();
    let results = race(|_| {
        f.store
            .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))
    });
    assert!(results.iter().all(Result::is_ok));
    let after = f.store.write_stats();
    // Every operation reads its client and writes records: time inside the
    // transaction; every durable commit writes pages and syncs them.
    assert!(after.running_nanos > before.running_nanos);
    assert!(after.committing_nanos > before.committing_nanos);
    assert_eq!(after.operations - before.operations, THREADS as u64);
    Ok(())
}

#[test]
fn r19_concurrent_issuers_all_get_distinct_working_tokens() -> TestResult {
    let (f, _dir) = durable_fixture();
    let prio = prioticket_app(&f.store);
    let results = race(|_| {
        (0..20)
            .map(|_| {
                f.store
                    .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let mut all = Vec::new();
    for tokens in results {
        all.extend(tokens?.into_iter().map(|t| access(&t).to_owned()));
    }
    assert_eq!(all.len(), THREADS * 20);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), THREADS * 20);
    for token in &all {
        assert!(is_valid(&f.store, token));
    }
    Ok(())
}

#[test]
fn r13_a_token_never_validates_once_its_revocation_returned() -> TestResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (f, _dir) = durable_fixture();
    let app = pretix_app(&f.store);
    for _ in 0..rounds() {
        let tokens = code_flow(&f.store, &app, "alice");
        let revoked = AtomicBool::new(false);
        let violations = std::thread::scope(|scope| {
            let validators: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let mut violations = 0;
                        for _ in 0..2_000 {
                            // Read the flag first: if the revocation had returned
                            // before this validation began, it must fail.
                            let after_revoke = revoked.load(Ordering::Acquire);
                            if f.store.validate(access(&tokens)).is_ok() && after_revoke {
                                violations += 1;
                            }
                        }
                        violations
                    })
                })
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(2));
            f.store.revoke(access(&tokens), &app.client).unwrap();
            revoked.store(true, Ordering::Release);
            validators
                .into_iter()
                .map(|v| v.join().unwrap())
                .sum::<usize>()
        });
        assert_eq!(
            violations, 0,
            "a revoked token validated after revoke returned"
        );
    }
    Ok(())
}

/// R13 with the hot-token cache under load: 24 threads validate 64 tokens
/// over and over (so that the cache holds them) while 8 others revoke them
/// one by one; once a revocation returned, no validation that began after
/// may succeed, whichever thread makes it.
#[test]
fn r13_the_hot_token_cache_never_validates_a_revoked_token_under_32_threads() -> TestResult {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (f, _dir) = durable_fixture();
    let app = pretix_app(&f.store);
    for _ in 0..rounds().min(5) {
        let tokens: Vec<_> = (0..64)
            .map(|_| code_flow(&f.store, &app, "alice"))
            .collect();
        let revoked: Vec<AtomicBool> = (0..tokens.len()).map(|_| AtomicBool::new(false)).collect();
        let (violations, validated) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for v in 0..24 {
                let (tokens, revoked, violations, validated, done) =
                    (&tokens, &revoked, &violations, &validated, &done);
                let store = &f.store;
                scope.spawn(move || {
                    let mut i = v;
                    while !done.load(Ordering::Acquire) {
                        let n = i % tokens.len();
                        let after_revoke = revoked[n].load(Ordering::Acquire);
                        if store.validate(access(&tokens[n])).is_ok() {
                            validated.fetch_add(1, Ordering::Relaxed);
                            if after_revoke {
                                violations.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        i += 7;
                    }
                });
            }
            let revokers: Vec<_> = (0..8)
                .map(|r| {
                    let (tokens, revoked, store, client) =
                        (&tokens, &revoked, &f.store, &app.client);
                    scope.spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        for n in (r..tokens.len()).step_by(8) {
                            store.revoke(access(&tokens[n]), client).unwrap();
                            revoked[n].store(true, Ordering::Release);
                            // The revoking thread itself, at once.
                            assert!(store.validate(access(&tokens[n])).is_err());
                        }
                    })
                })
                .collect();
            // The validators stop whatever the revokers did, so that a
            // failed assertion fails the test instead of hanging it.
            let outcomes: Vec<_> = revokers
                .into_iter()
                .map(std::thread::ScopedJoinHandle::join)
                .collect();
            done.store(true, Ordering::Release);
            assert!(
                outcomes.iter().all(Result::is_ok),
                "a revoked token validated at once"
            );
        });
        assert_eq!(
            violations.load(Ordering::Relaxed),
            0,
            "a revoked token validated"
        );
        assert!(validated.load(Ordering::Relaxed) > 0);
        for tokens in &tokens {
            assert!(f.store.validate(access(tokens)).is_err());
        }
    }
    Ok(())
}
