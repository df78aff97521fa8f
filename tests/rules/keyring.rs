//! R28, R29: the hashing-key ring: adding, retiring and removing keys (`ops/keyring.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthorizationRequest, ClientCredentialsRequest, CodeExchange, Config, ConfigBuilder, Error,
    HashingKey, IntrospectRequest, IssueRequest, KeyId, KeyState, RefreshRequest, Store,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

fn key(byte: u8) -> HashingKey {
    HashingKey::from_bytes([byte; 32])
}

/// The ring's entry for `id`.
fn entry<B: Backend>(store: &Store<B>, id: u8) -> grantdb::KeyInfo {
    store
        .hashing_keys()
        .unwrap()
        .into_iter()
        .find(|info| info.id == KeyId::new(id))
        .expect("a key with this id")
}

/// The open checks of R29 on any backend: `open` opens the same database
/// with the ring of the configuration it is given.
fn ring_checks_at_open<B: Backend>(
    open: impl Fn(Config) -> grantdb::Result<Store<B>>,
) -> TestResult {
    let ring = |keys: &[u8]| {
        Config::builder()
            .hashing_keys(keys.iter().map(|b| key(*b)))
            .build()
            .unwrap()
    };
    let tokens = {
        let store = open(ring(&[1]))?;
        let app = ticketpark_app(&store);
        store.add_hashing_key(Some(key(2)))?;
        store.issue_for_subject(IssueRequest::new(&app.client, "alice"))?
    };
    // A ring lacking a key in use: the error names its fingerprint.
    match open(ring(&[2])) {
        Err(Error::MissingHashingKeys { fingerprints }) => {
            assert_eq!(fingerprints, [key(1).fingerprint()]);
            let message = Error::MissingHashingKeys { fingerprints }.to_string();
            assert!(
                message.contains(&key(1).fingerprint().to_string()),
                "{message}"
            );
        }
        other => panic!("expected MissingHashingKeys, got {:?}", other.map(|_| ())),
    }
    assert!(matches!(
        open(ring(&[1])),
        Err(Error::MissingHashingKeys { fingerprints }) if fingerprints == [key(2).fingerprint()]
    ));
    // A ring sharing no key with the database is the wrong one.
    assert!(matches!(open(ring(&[3])), Err(Error::WrongHashingKey)));
    // Any order; a key the database does not know yet is held back.
    {
        let store = open(ring(&[2, 3, 1]))?;
        assert!(is_valid(&store, access(&tokens)));
        assert_eq!(store.hashing_keys()?.len(), 2);
        store.retire_hashing_key(KeyId::new(1))?;
    }
    // Retired is still in use (records sealed under it): still required.
    assert!(matches!(
        open(ring(&[2])),
        Err(Error::MissingHashingKeys { .. })
    ));
    {
        let store = open(ring(&[1, 2]))?;
        store.remove_hashing_key(KeyId::new(1))?;
    }
    // Removed: the ring may drop it, and the records read.
    let store = open(ring(&[2]))?;
    assert!(is_valid(&store, access(&tokens)));
    assert!(store.verify()?.is_ok());
    Ok(())
}

fn r28_a_new_key_mints_and_what_older_keys_minted_keeps_working<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().hashing_key(key(1)));
    let app = ticketpark_app(&f.store);
    let pretix = pretix_app(&f.store);
    let before = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    let pending = f
        .store
        .issue_code(AuthorizationRequest::new(pretix.id, "bob"))?;

    let added = f.store.add_hashing_key(Some(key(2)))?;
    assert_eq!(
        (added.id, added.state, added.minting),
        (KeyId::new(2), KeyState::Active, true)
    );
    assert_eq!(added.fingerprint, key(2).fingerprint());
    assert!(!entry(&f.store, 1).minting);

    // Minted under key 1: still accepted while key 1 is active.
    assert!(is_valid(&f.store, access(&before)));
    assert!(
        f.store
            .introspect(IntrospectRequest::new(refresh(&before), &pretix.client))?
            .active
    );
    let exchanged = f
        .store
        .exchange_code(CodeExchange::new(pending.code.expose(), &pretix.client))?;
    // A refresh re-mints under the newest key: the pair survives key 1's
    // retirement, the tokens minted under key 1 do not.
    let refreshed = f
        .store
        .refresh(RefreshRequest::new(refresh(&before), &app.client))?;
    let fresh = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "carol"))?;
    f.store.retire_hashing_key(KeyId::new(1))?;
    assert!(is_valid(&f.store, access(&refreshed)));
    assert!(is_valid(&f.store, access(&fresh)));
    assert!(is_valid(&f.store, access(&exchanged)));
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&refreshed), &app.client))
            .is_ok()
    );
    Ok(())
}

fn r28_a_client_secret_moves_to_the_newest_key_when_it_authenticates<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().hashing_key(key(1)));
    let active = pretix_app(&f.store);
    let dormant = eventpop_app(&f.store);
    f.store.add_hashing_key(Some(key(2)))?;
    assert_eq!(entry(&f.store, 1).client_secrets, 2);
    assert_eq!(entry(&f.store, 2).client_secrets, 0);

    // Verified under key 1, then hashed again under key 2: the string the
    // client holds does not change.
    f.store
        .authenticate_client(&active.id, Some(active.secret()))?;
    assert_eq!(entry(&f.store, 1).client_secrets, 1);
    assert_eq!(entry(&f.store, 2).client_secrets, 1);
    // A wrong secret moves nothing.
    assert!(matches!(
        f.store
            .authenticate_client(&dormant.id, Some(active.secret())),
        Err(Error::ClientAuthenticationFailed)
    ));
    assert_eq!(entry(&f.store, 1).client_secrets, 1);

    f.store.retire_hashing_key(KeyId::new(1))?;
    f.store
        .authenticate_client(&active.id, Some(active.secret()))?;
    // A client that never authenticated while both keys were active keeps a
    // hash under the retired key: its secret fails (documented; `keys list`
    // counts such clients before a key is retired).
    assert!(matches!(
        f.store
            .authenticate_client(&dormant.id, Some(dormant.secret())),
        Err(Error::ClientAuthenticationFailed)
    ));
    // A new secret is hashed under the minting key.
    let new_secret = f.store.rotate_client_secret(&dormant.id)?;
    f.store
        .authenticate_client(&dormant.id, Some(new_secret.expose()))?;
    assert_eq!(entry(&f.store, 2).client_secrets, 2);
    Ok(())
}

fn r28_a_proof_id_seen_under_an_older_key_is_still_a_replay<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().hashing_key(key(1)));
    let until = f.store.now() + 60;
    assert_eq!(
        f.store.claim_proof_jti(&proof_client(), "proof-1", until)?,
        grantdb::ProofJti::FirstUse
    );
    f.store.add_hashing_key(Some(key(2)))?;
    assert_eq!(
        f.store.claim_proof_jti(&proof_client(), "proof-1", until)?,
        grantdb::ProofJti::Replay
    );
    assert_eq!(
        f.store.claim_proof_jti(&proof_client(), "proof-2", until)?,
        grantdb::ProofJti::FirstUse
    );
    assert_eq!(
        f.store.claim_proof_jti(&proof_client(), "proof-2", until)?,
        grantdb::ProofJti::Replay
    );
    // Retired, key 1 still finds the proof ids it saw; it cannot be removed
    // while one of them could be replayed (R29).
    f.store.retire_hashing_key(KeyId::new(1))?;
    assert_eq!(
        f.store.claim_proof_jti(&proof_client(), "proof-1", until)?,
        grantdb::ProofJti::Replay
    );
    assert!(matches!(
        f.store.remove_hashing_key(KeyId::new(1)),
        Err(Error::KeyRing { .. })
    ));
    f.clock.advance(60);
    f.store.remove_hashing_key(KeyId::new(1))?;
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

/// Issue 24 §4: a consumed refresh token presented after the key that
/// minted it was retired is still a reuse (R08): the family is revoked, the
/// newer pair (under the newer key) with it.
fn r08_a_reuse_after_its_key_was_retired_still_revokes_the_family<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().hashing_key(key(1)));
    let app = ticketpark_app(&f.store);
    let first = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    f.store.add_hashing_key(Some(key(2)))?;
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&first), &app.client))?;
    f.store.retire_hashing_key(KeyId::new(1))?;
    assert!(
        is_valid(&f.store, access(&rotated)),
        "the newer pair is under key 2"
    );
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&first), &app.client)),
        Err(Error::RefreshTokenReused)
    ));
    assert!(
        !is_valid(&f.store, access(&rotated)),
        "the family is revoked"
    );
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&rotated), &app.client))
            .is_err()
    );
    // Another client presenting it learns nothing and ends nothing.
    let other = ticketpark_app(&f.store);
    let again = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "bob"))?;
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&first), &other.client)),
        Err(Error::UnknownRefreshToken)
    ));
    assert!(is_valid(&f.store, access(&again)));
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

/// Issue 24 §6: the ring's listing says how many live tokens each key
/// minted (what retiring it would end), from when each key began minting.
fn r29_the_ring_counts_the_live_tokens_each_key_minted<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().hashing_key(key(1)));
    let app = ticketpark_app(&f.store);
    let pairs: Vec<_> = (0..3)
        .map(|n| {
            f.store
                .issue_for_subject(IssueRequest::new(&app.client, format!("u{n}")))
        })
        .collect::<grantdb::Result<_>>()?;
    f.clock.advance(10);
    f.store.add_hashing_key(Some(key(2)))?;
    f.clock.advance(10);
    // A refresh moves its grant to key 2: a new pair, the old one ended.
    f.store
        .refresh(RefreshRequest::new(refresh(&pairs[0]), &app.client))?;
    let live: Vec<Option<u64>> = f
        .store
        .hashing_keys()?
        .iter()
        .map(|k| k.live_tokens)
        .collect();
    assert_eq!(live, [Some(4), Some(2)]);
    f.store.retire_hashing_key(KeyId::new(1))?;
    let live: Vec<Option<u64>> = f
        .store
        .hashing_keys()?
        .iter()
        .map(|k| k.live_tokens)
        .collect();
    assert_eq!(live[1], Some(2));
    Ok(())
}

fn r29_retiring_a_key_ends_what_was_minted_under_it_and_removing_it_reseals<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().hashing_key(key(1)));
    let app = ticketpark_app(&f.store);
    let pretix = pretix_app(&f.store);
    let old = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    let pending = f
        .store
        .issue_code(AuthorizationRequest::new(pretix.id, "bob"))?;

    // The last active key cannot be retired; nor can an unknown one.
    assert!(matches!(
        f.store.retire_hashing_key(KeyId::new(1)),
        Err(Error::KeyRing { .. })
    ));
    assert!(matches!(
        f.store.retire_hashing_key(KeyId::new(9)),
        Err(Error::KeyRing { .. })
    ));
    f.store.add_hashing_key(Some(key(2)))?;
    // Adding a key twice is refused.
    assert!(matches!(
        f.store.add_hashing_key(Some(key(2))),
        Err(Error::KeyRing { .. })
    ));
    // Removing an active key is refused: retire first.
    assert!(matches!(
        f.store.remove_hashing_key(KeyId::new(1)),
        Err(Error::KeyRing { .. })
    ));
    let retired = f.store.retire_hashing_key(KeyId::new(1))?;
    assert_eq!((retired.state, retired.minting), (KeyState::Retired, false));

    // What key 1 minted fails, as an unknown string would.
    assert!(matches!(
        f.store.validate(access(&old)),
        Err(Error::InactiveToken)
    ));
    assert!(
        !f.store
            .introspect(IntrospectRequest::new(access(&old), &pretix.client))?
            .active
    );
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&old), &app.client))
            .is_err()
    );
    assert!(
        f.store
            .exchange_code(CodeExchange::new(pending.code.expose(), &pretix.client))
            .is_err()
    );
    // The records are still there and read (sealed under key 1).
    assert_eq!(
        f.store
            .grants_of_subject("alice", &grantdb::PageRequest::first(10))?
            .items
            .len(),
        1
    );
    assert!(f.store.verify()?.is_ok());

    // Removing re-seals what key 1 sealed; the fingerprint stays.
    let resealed = f.store.remove_hashing_key(KeyId::new(1))?;
    assert!(resealed >= 4, "clients, grant, tokens, code: {resealed}");
    let removed = entry(&f.store, 1);
    assert_eq!(removed.state, KeyState::Removed);
    assert_eq!(removed.fingerprint, key(1).fingerprint());
    assert!(f.store.verify()?.is_ok());
    assert_eq!(
        f.store
            .grants_of_subject("alice", &grantdb::PageRequest::first(10))?
            .items
            .len(),
        1
    );
    // Nothing is left to re-seal.
    assert!(matches!(
        f.store.remove_hashing_key(KeyId::new(1)),
        Err(Error::KeyRing { .. })
    ));
    Ok(())
}

fn r29_a_database_that_keeps_its_keys_generates_the_next_one<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = prioticket_app(&f.store);
    let before = f
        .store
        .issue_client_credentials(ClientCredentialsRequest::new(&app.client))?;
    let added = f.store.add_hashing_key(None)?;
    assert!(added.kept_in_database && added.minting);
    let after = f
        .store
        .issue_client_credentials(ClientCredentialsRequest::new(&app.client))?;
    f.store.retire_hashing_key(KeyId::new(1))?;
    assert!(!is_valid(&f.store, access(&before)));
    assert!(is_valid(&f.store, access(&after)));
    f.store.remove_hashing_key(KeyId::new(1))?;
    assert!(
        !entry(&f.store, 1).kept_in_database,
        "the removed key is dropped"
    );
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

fn r29_a_host_keyed_database_refuses_to_generate_a_key<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder().hashing_key(key(1)));
    assert!(matches!(
        f.store.add_hashing_key(None),
        Err(Error::KeyRing { .. })
    ));
    assert_eq!(f.store.hashing_keys()?.len(), 1);
    Ok(())
}

#[test]
fn r29_opening_with_a_ring_that_lacks_a_key_in_use_names_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ring.redb");
    ring_checks_at_open(|config| Store::open(&path, config))
}

#[cfg(feature = "postgres")]
#[test]
fn r29_opening_with_a_ring_that_lacks_a_key_in_use_names_it_on_postgres() -> TestResult {
    let Some(url) = crate::support::pg::url() else {
        return Ok(());
    };
    let schema = format!("keyring_{}", std::process::id());
    ring_checks_at_open(|config| {
        Store::with_backend(crate::support::pg::connect(url, &schema, false), config)
    })
}

/// Rotating while 32 threads validate and refresh makes no request fail
/// (R28): each thread keeps one grant alive, validating its access token and
/// refreshing it in a loop, while keys are added, the first retired once
/// every thread holds tokens of the newer key, and another added.
#[test]
fn r28_rotating_while_32_threads_validate_and_refresh_fails_no_request() -> TestResult {
    const THREADS: usize = 32;
    let dir = tempfile::tempdir()?;
    let config = Config::builder()
        .hashing_key(key(1))
        .durability(grantdb::Durability::Fast)
        .build()?;
    let store = Store::open(dir.path().join("rotate.redb"), config)?;
    let app = ticketpark_app(&store);
    let stop = AtomicBool::new(false);
    let failures = AtomicU64::new(0);
    let rounds: Vec<AtomicU64> = (0..THREADS).map(|_| AtomicU64::new(0)).collect();
    // Every thread's rounds reach `at_least` beyond `from`.
    let wait_for_all = |from: &[u64], at_least: u64| {
        while rounds
            .iter()
            .zip(from)
            .any(|(r, f)| r.load(Ordering::SeqCst) < f + at_least)
        {
            assert_eq!(failures.load(Ordering::SeqCst), 0, "a request failed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    let snapshot = || -> Vec<u64> { rounds.iter().map(|r| r.load(Ordering::SeqCst)).collect() };
    std::thread::scope(|scope| -> TestResult {
        for (i, done) in rounds.iter().enumerate() {
            let (store, stop, failures, client) = (&store, &stop, &failures, &app.client);
            scope.spawn(move || {
                let mut tokens = store
                    .issue_for_subject(IssueRequest::new(client, format!("user-{i}")))
                    .unwrap();
                while !stop.load(Ordering::SeqCst) {
                    if store.validate(access(&tokens)).is_err() {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                    let Ok(next) = store.refresh(RefreshRequest::new(refresh(&tokens), client))
                    else {
                        failures.fetch_add(1, Ordering::SeqCst);
                        break;
                    };
                    tokens = next;
                    done.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        wait_for_all(&vec![0; THREADS], 3);
        store.add_hashing_key(Some(key(2)))?;
        // Two more refreshes each: every thread's pair is under key 2.
        wait_for_all(&snapshot(), 2);
        store.retire_hashing_key(KeyId::new(1))?;
        wait_for_all(&snapshot(), 3);
        store.add_hashing_key(Some(key(3)))?;
        wait_for_all(&snapshot(), 3);
        stop.store(true, Ordering::SeqCst);
        Ok(())
    })?;
    assert_eq!(failures.load(Ordering::SeqCst), 0, "no request failed");
    assert!(store.verify()?.is_ok());
    Ok(())
}

/// Issue 24 §3: removing a key re-seals what it sealed in transactions of
/// bounded work (10,000 records each), so that a large store never waits
/// long behind it; every record ends under the newer key.
#[test]
fn r29_removing_a_key_reseals_in_bounded_steps() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder().hashing_key(key(1)));
    let app = ticketpark_app(&f.store);
    for n in 0..3_500 {
        f.store
            .issue_for_subject(IssueRequest::new(&app.client, format!("u{n}")))?;
    }
    f.store.add_hashing_key(Some(key(2)))?;
    f.store.retire_hashing_key(KeyId::new(1))?;
    let commits = backend.commits();
    let resealed = f.store.remove_hashing_key(KeyId::new(1))?;
    assert!(resealed > 10_000, "{resealed}");
    assert!(
        backend.commits() - commits >= 3,
        "in two steps and the removal at least"
    );
    // The ring without key 1: everything still opens and verifies.
    drop(f.store);
    let store = Store::with_backend(
        backend.clone(),
        Config::builder().hashing_key(key(2)).build()?,
    )?;
    assert!(store.verify()?.is_ok());
    assert_eq!(store.stats()?.grants, 3_500);
    Ok(())
}

/// Issue 24 §2: a flood of well-formed strings naming a key the store has
/// never seen (forged, or minted by a store of other keys) reads the key
/// ring at most once per second, not once per string: such a string costs
/// what a malformed token costs.
#[test]
fn r28_strings_naming_unknown_keys_read_the_ring_at_most_once_a_second() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder().hashing_key(key(1)));
    // Strings naming key 2, which this store never saw: minted by another
    // store whose newest key is 2.
    let other = Store::in_memory(Config::builder().hashing_key(key(1)).build()?)?;
    other.add_hashing_key(Some(key(2)))?;
    let app = ticketpark_app(&other);
    let foreign = other.issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    let ring_reads = || backend.scanned(grantdb::kv::Table::Meta);
    // What one reading of the ring scans.
    let before = ring_reads();
    f.store.reload_hashing_keys()?;
    let per_read = ring_reads() - before;
    assert!(per_read > 0);
    let before = ring_reads();
    let started = std::time::Instant::now();
    for _ in 0..1_000 {
        assert!(f.store.validate(access(&foreign)).is_err());
        assert!(
            f.store
                .refresh(RefreshRequest::new(refresh(&foreign), &app.client))
                .is_err()
        );
    }
    let reads = (ring_reads() - before) / per_read;
    // One read per second that passed, and one more for the start.
    let allowed = started.elapsed().as_secs() + 1;
    assert!(
        reads <= allowed,
        "{reads} ring reads for 2,000 strings in {:?}",
        started.elapsed()
    );
    Ok(())
}

/// In a fleet, a node learns a key another node added when it first meets a
/// string minted under it, or a client secret hashed under it (R28): no
/// request fails because its node has not reloaded the ring yet. Each
/// check runs on a node of its own, opened before the key was added.
#[cfg(feature = "postgres")]
#[test]
fn r28_a_node_learns_a_key_another_node_added_when_it_meets_it() -> TestResult {
    let Some(url) = crate::support::pg::url() else {
        return Ok(());
    };
    let schema = format!("keyring_fleet_{}", std::process::id());
    // The database starts with key 1; every other node is then given both
    // keys (key 2 held back until it is added).
    let open = |keys: &[u8]| {
        let config = Config::builder()
            .hashing_keys(keys.iter().map(|b| key(*b)))
            .build()
            .unwrap();
        Store::with_backend(crate::support::pg::connect(url, &schema, false), config).unwrap()
    };
    let adder = open(&[1]);
    let node = || open(&[1, 2]);
    let app = ticketpark_app(&adder);
    let prio = prioticket_app(&adder);
    let (validator, refresher, authenticator, introspector) = (node(), node(), node(), node());
    let scoped = node();

    adder.add_hashing_key(Some(key(2)))?;
    let tokens = adder.issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    // The client secret moves to key 2 on the adding node.
    adder.authenticate_client(&prio.id, Some(prio.secret()))?;
    assert_eq!(entry(&adder, 2).client_secrets, 1);

    let validated = validator.validate(access(&tokens));
    assert!(validated.is_ok(), "{validated:?}");
    assert!(
        introspector
            .introspect(IntrospectRequest::new(refresh(&tokens), &prio.client))?
            .active
    );
    assert!(
        scoped
            .validate_for(access(&tokens), "https://any.example")
            .is_ok()
    );
    authenticator.authenticate_client(&prio.id, Some(prio.secret()))?;
    refresher.refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r08_a_reuse_after_its_key_was_retired_still_revokes_the_family,
    r29_the_ring_counts_the_live_tokens_each_key_minted,
    r28_a_new_key_mints_and_what_older_keys_minted_keeps_working,
    r28_a_client_secret_moves_to_the_newest_key_when_it_authenticates,
    r28_a_proof_id_seen_under_an_older_key_is_still_a_replay,
    r29_retiring_a_key_ends_what_was_minted_under_it_and_removing_it_reseals,
    r29_a_database_that_keeps_its_keys_generates_the_next_one,
    r29_a_host_keyed_database_refuses_to_generate_a_key,
);
