//! `Store::verify()` (R20): a consistent store verifies clean, and every kind
//! of damage is reported, never a panic.

use crate::support::mem::MemBackend;
use crate::support::*;
use grantdb::kv::Table;
use grantdb::{
    AuthorizationRequest, ClientCredentialsRequest, Config, IssueRequest, NewConsent,
    RefreshRequest, Store,
};

/// A store with a bit of everything: clients, codes, grants, rotated
/// families, consents.
fn populated() -> (Fixture<MemBackend>, MemBackend) {
    let (f, backend) = mem_fixture(Config::builder());
    let pretix = pretix_app(&f.store);
    let prio = prioticket_app(&f.store);
    for subject in ["alice", "bob"] {
        let tokens = code_flow(&f.store, &pretix, subject);
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &pretix.client))
            .unwrap();
    }
    f.store
        .issue_code(AuthorizationRequest::new(pretix.id, "carol"))
        .unwrap();
    f.store
        .issue_client_credentials(ClientCredentialsRequest::new(&prio.client))
        .unwrap();
    f.store
        .record_consent(NewConsent::new(pretix.id, "alice", scope("read")))
        .unwrap();
    (f, backend)
}

fn problems(store: &Store<MemBackend>) -> Vec<String> {
    store
        .verify()
        .unwrap()
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn r20_a_consistent_store_verifies_clean() -> TestResult {
    let (f, _) = populated();
    let report = f.store.verify()?;
    assert!(report.is_ok(), "{:#?}", report.problems);
    assert!(
        report
            .entries
            .iter()
            .any(|(table, n)| *table == "tokens" && *n == 7)
    );
    // Rotation left the old access tokens' expiry entries for purge.
    assert_eq!(report.stale_expiry_entries, 2);
    Ok(())
}

#[test]
fn r20_a_missing_token_record_is_reported() -> TestResult {
    let (f, backend) = populated();
    let (key, _) = backend.entries(Table::Tokens).into_iter().next().unwrap();
    backend.remove(Table::Tokens, &key);
    let found = problems(&f.store);
    assert!(!found.is_empty());
    assert!(
        found.iter().any(|p| p.contains("lists a token that is missing") || p.contains("no consumed token")),
        "{found:#?}"
    );
    Ok(())
}

#[test]
fn r20_a_missing_grant_is_reported_by_its_tokens_and_index() -> TestResult {
    let (f, backend) = populated();
    let (key, _) = backend.entries(Table::Grants).into_iter().next().unwrap();
    backend.remove(Table::Grants, &key);
    let found = problems(&f.store);
    assert!(
        found.iter().any(|p| p.contains("its grant is missing")),
        "{found:#?}"
    );
    Ok(())
}

#[test]
fn r20_a_missing_client_is_reported_by_everything_of_it() -> TestResult {
    let (f, backend) = populated();
    for (key, _) in backend.entries(Table::Clients) {
        backend.remove(Table::Clients, &key);
    }
    let found = problems(&f.store);
    for table in ["tokens", "grants", "codes", "consents"] {
        assert!(
            found
                .iter()
                .any(|p| p.starts_with(table) && p.contains("client is missing")),
            "{table}: {found:#?}"
        );
    }
    Ok(())
}

#[test]
fn r20_a_damaged_record_is_reported_not_fatal() -> TestResult {
    let (f, backend) = populated();
    for table in [
        Table::Tokens,
        Table::Grants,
        Table::Codes,
        Table::Clients,
        Table::Consents,
    ] {
        let (key, mut value) = backend.entries(table).into_iter().next().unwrap();
        value[2] ^= 0x40;
        backend.poke(table, &key, value);
    }
    let found = problems(&f.store);
    for table in ["tokens", "grants", "codes", "clients", "consents"] {
        assert!(
            found
                .iter()
                .any(|p| p.starts_with(table) && p.contains("does not decode")),
            "{table}: {found:#?}"
        );
    }
    Ok(())
}

#[test]
fn r20_missing_index_entries_are_reported() -> TestResult {
    let (f, backend) = populated();
    for table in [
        Table::Expiry,
        Table::BySubject,
        Table::ClientCodes,
        Table::Consumed,
    ] {
        for (key, _) in backend.entries(table) {
            backend.remove(table, &key);
        }
    }
    let found = problems(&f.store);
    for needle in [
        "no expiry entry",
        "missing from by_subject",
        "missing from client_codes",
        "missing from consumed_refresh",
    ] {
        assert!(
            found.iter().any(|p| p.contains(needle)),
            "{needle}: {found:#?}"
        );
    }
    Ok(())
}

#[test]
fn r20_dangling_index_entries_and_partners_are_reported() -> TestResult {
    let (f, backend) = populated();
    backend.poke(
        Table::BySubject,
        &[
            0, 1, b'z', 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1, 7, 7, 7, 7, 7, 7, 7, 7,
            7, 7, 7, 7, 7, 7, 7, 7,
        ],
        vec![],
    );
    backend.poke(Table::ClientCodes, &[3; 32], vec![]);
    backend.poke(Table::Consumed, &[4; 32], vec![]);
    backend.poke(Table::Expiry, b"not an expiry key", vec![]);
    // Remove one access token whose refresh token still points at it.
    let grants = backend.entries(Table::Grants).len();
    assert!(grants > 0);
    let found = problems(&f.store);
    for needle in [
        "points at nothing of this subject",
        "no code of this client",
        "no consumed token of this grant",
        "expiry [bm90IGFuIGV4cGlyeSBrZXk]: malformed key",
    ] {
        assert!(
            found.iter().any(|p| p.contains(needle)),
            "{needle}: {found:#?}"
        );
    }
    Ok(())
}

/// Damages the record at `key` of `table` (flips a byte in the middle).
fn damage(backend: &MemBackend, table: Table, key: &[u8]) {
    let (_, mut value) = backend
        .entries(table)
        .into_iter()
        .find(|(k, _)| k == key)
        .expect("the record to damage");
    let middle = value.len() / 2;
    value[middle] ^= 0x5a;
    backend.poke(table, key, value);
}

#[test]
fn r20_one_damaged_record_never_blocks_purge_bulk_revocation_or_export() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let app = ticketpark_app(&f.store);
    let pairs: Vec<_> = (0..6)
        .map(|_| {
            f.store
                .issue_for_subject(IssueRequest::new(&app.client, "alice"))
                .unwrap()
        })
        .collect();
    // One grant record and one token record damaged (outside grantdb).
    let grants = backend.entries(Table::Grants);
    damage(&backend, Table::Grants, &grants[0].0);
    let tokens = backend.entries(Table::Tokens);
    damage(&backend, Table::Tokens, &tokens[tokens.len() - 1].0);
    let broken = f.store.verify()?.problems.len();
    assert!(broken >= 2, "verify names the damage");

    // Export: everything else, the damaged two counted.
    let mut exported = 0;
    let summary = f.store.export(|_| {
        exported += 1;
        Ok(())
    })?;
    assert_eq!(summary.damaged, 2);
    assert_eq!(summary.entries, exported);

    // Purge, with everything expired: the others go, the damaged are counted.
    f.clock.advance(601);
    let purged = f.store.purge_expired()?;
    assert!(purged.damaged >= 1, "{purged:?}");
    assert!(purged.access_tokens >= 4, "{purged:?}");
    // A second purge is not held up either.
    assert_eq!(f.store.purge_expired()?.removed(), 0);

    // Bulk revocation: every healthy grant ends, the damaged one is skipped.
    let revoked = f.store.revoke_subject("alice")?;
    assert_eq!(revoked.damaged, 1);
    assert!(revoked.grants >= 4, "{revoked:?}");
    for pair in &pairs[1..5] {
        assert!(
            f.store
                .refresh(RefreshRequest::new(refresh(pair), &app.client))
                .is_err()
        );
    }
    assert!(f.store.delete_client(&app.id)?.is_some());
    // The damaged grant is still there, named, with what pointed at it.
    let report = f.store.verify()?;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.table == Table::Grants && p.what.contains("does not decode"))
    );
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.what.contains("does not decode")
                || p.what.contains("missing")
                || p.what.contains("points at nothing")),
        "{:#?}",
        report.problems
    );
    Ok(())
}

/// R33 with R20: a damaged feed entry and a subject index entry that points
/// at nothing are each reported; reading the feed over the damaged entry is
/// a typed error, never a wrong answer.
#[test]
fn r33_damage_to_the_change_feed_is_reported() -> TestResult {
    let (f, backend) = populated();
    let pretix = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &pretix, "dave");
    f.store.revoke(refresh(&tokens), &pretix.client)?;
    f.store.ack_changes("rs", 1)?;
    assert!(f.store.verify()?.is_ok(), "{:?}", problems(&f.store));
    let (key, mut damaged) = backend.entries(Table::Feed)[0].clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    backend.poke(Table::Feed, &key, damaged);
    let mut stray = [0u8; 24];
    stray[23] = 99;
    backend.poke(Table::FeedSubjects, &stray, Vec::new());
    let found = problems(&f.store);
    assert!(
        found
            .iter()
            .any(|p| p.contains("feed") && p.contains("does not decode")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|p| p.contains("points at no entry")),
        "{found:?}"
    );
    assert!(matches!(
        f.store.changes_since(0, 10),
        Err(grantdb::Error::Corrupted {
            table: Table::Feed,
            ..
        })
    ));
    Ok(())
}
