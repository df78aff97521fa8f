//! R19: every operation is one transaction, and what was acknowledged survives reopening the file.

use crate::support::*;
use grantdb::kv::{Backend, Table};
use grantdb::{Config, ConfigBuilder, Error, RefreshRequest, Store};

#[test]
fn r19_an_acknowledged_operation_survives_reopening_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("r19.redb");
    let (app, tokens) = {
        let store = Store::open(&path, Config::default())?;
        let app = pretix_app(&store);
        let tokens = code_flow(&store, &app, "alice");
        let rotated = store.refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
        (app, rotated)
    };
    let store = Store::open(&path, Config::default())?;
    assert!(is_valid(&store, access(&tokens)));
    let client = authenticated(&store, &app.id, Some(app.secret()));
    assert!(
        store
            .refresh(RefreshRequest::new(refresh(&tokens), &client))
            .is_ok()
    );
    Ok(())
}

fn r19_concurrent_refreshes_of_one_token_have_exactly_one_winner<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    for _round in 0..10 {
        let f = make(Config::builder());
        let app = pretix_app(&f.store);
        let tokens = code_flow(&f.store, &app, "alice");
        let presented = refresh(&tokens).to_owned();
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| {
                        f.store
                            .refresh(RefreshRequest::new(&presented, &app.client))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1);
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| matches!(e, Error::RefreshTokenReused | Error::UnknownRefreshToken))
        );
        // Grace 0: the reuse revoked the family, the winner's pair included.
        assert!(!is_valid(&f.store, access(winners[0])));
    }
    Ok(())
}

#[test]
fn r19_a_failed_operation_leaves_no_partial_effect() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let before: Vec<_> = Table::ALL.iter().map(|t| backend.entries(*t)).collect();
    // Each of these fails after reading, before or while deciding.
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client).scope(scope("admin")))
            .is_err()
    );
    assert!(
        f.store
            .refresh(RefreshRequest::new(
                refresh(&tokens),
                &pretix_app(&f.store).client
            ))
            .is_err()
    );
    let after: Vec<_> = Table::ALL
        .iter()
        .filter(|t| **t != Table::Clients)
        .map(|t| backend.entries(*t))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .zip(Table::ALL)
        .filter(|(_, t)| *t != Table::Clients)
        .map(|(e, _)| e)
        .collect();
    assert_eq!(before, after);
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(r19_concurrent_refreshes_of_one_token_have_exactly_one_winner,);
