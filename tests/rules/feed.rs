//! R33, R34: the change feed and subject erasure (`ops/feed.rs`, `ops/erase.rs`).

use crate::support::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantdb::kv::Backend;
use grantdb::{
    AttemptKey, AuthSession, AuthorizationRequest, Change, ChangeClass, ChangeKind, CodeExchange,
    Config, ConfigBuilder, DeviceApproval, EndReason, Error, FeedConfig, FeedSubject, GrantType,
    IssueRequest, NewClient, NewConsent, RefreshRequest, Store,
};
use std::time::Duration;

/// Every entry of the feed, from the start.
fn all_changes<B: Backend>(store: &Store<B>) -> grantdb::Result<Vec<Change>> {
    Ok(store.changes_since(0, 10_000)?.changes)
}

fn kinds(changes: &[Change]) -> Vec<ChangeKind> {
    changes.iter().map(|c| c.kind).collect()
}

fn ended(reason: EndReason) -> ChangeKind {
    ChangeKind::GrantEnded { reason }
}

fn r33_endings_are_recorded_in_commit_order_with_what_they_ended<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = password_app(&f.store, "ticketpark");
    let issue = |subject: &str| {
        f.store
            .issue_for_subject(IssueRequest::new(&app.client, subject))
    };
    // Issuance is not recorded by default.
    let revoked = issue("alice")?;
    let lone_access = issue("alice")?;
    let stolen = issue("alice")?;
    assert_eq!(all_changes(&f.store)?, []);

    // R10: a refresh token revoked ends its grant: the entry lists both tokens.
    f.store.revoke(refresh(&revoked), &app.client)?;
    // R09: an access token alone.
    f.store.revoke(access(&lone_access), &app.client)?;
    // R08: a reuse ends the family.
    let rotated = f
        .store
        .refresh(RefreshRequest::new(refresh(&stolen), &app.client))?;
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(refresh(&stolen), &app.client)),
        Err(Error::RefreshTokenReused)
    ));
    // R12: everything of a subject.
    issue("bob")?;
    issue("bob")?;
    f.store.revoke_subject("bob")?;

    let changes = all_changes(&f.store)?;
    assert_eq!(
        kinds(&changes),
        [
            ended(EndReason::Revoked),
            ChangeKind::AccessTokenRevoked,
            ended(EndReason::RefreshReuse),
            ended(EndReason::Subject),
            ended(EndReason::Subject),
        ]
    );
    // Sequence numbers 1, 2, 3, ... in commit order.
    let seqs: Vec<u64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let token_id = |t: &str| f.store.token_id(t);
    assert_eq!(changes[0].grant_id, Some(revoked.grant_id));
    let mut listed = changes[0].tokens.clone();
    listed.sort();
    let mut expected = vec![token_id(access(&revoked))?, token_id(refresh(&revoked))?];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(changes[1].tokens, [token_id(access(&lone_access))?]);
    assert_eq!(changes[1].grant_id, Some(lone_access.grant_id));
    // The reuse ended the rotated pair, which was live.
    assert!(changes[2].tokens.contains(&token_id(access(&rotated))?));
    assert!(changes.iter().all(|c| c.client_id == Some(app.id)));
    // Subjects as a keyed hash by default, never in plain text.
    let alice = f.store.feed_subject_id("alice")?;
    assert_eq!(changes[0].subject_id.as_deref(), Some(alice.as_str()));
    assert!(changes.iter().all(|c| c.subject.is_none()));
    // No secret and no token string anywhere in an entry.
    let json = serde_json::to_string(&changes)?;
    for tokens in [&revoked, &lone_access, &stolen, &rotated] {
        assert!(!json.contains(access(tokens)));
        assert!(!json.contains(refresh(tokens)));
    }
    assert!(!json.contains("alice") && !json.contains("bob"));
    // The next cursor is the last entry's.
    let page = f.store.changes_since(3, 10)?;
    assert_eq!((page.changes.len(), page.next), (2, 5));
    assert_eq!(f.store.changes_since(5, 10)?.changes, []);
    Ok(())
}

fn r33_a_change_that_did_not_commit_has_no_entry<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = password_app(&f.store, "ticketpark");
    let other = password_app(&f.store, "other");
    let tokens = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    // Refused operations change nothing, so they record nothing (R19).
    assert!(f.store.revoke(refresh(&tokens), &other.client).is_err());
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &other.client))
            .is_err()
    );
    assert_eq!(f.store.revoke_subject("nobody")?.grants, 0);
    assert_eq!(all_changes(&f.store)?, []);
    // A revocation whose answer is an error but whose writes are kept (R08)
    // has its entry.
    f.store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    assert!(
        f.store
            .refresh(RefreshRequest::new(refresh(&tokens), &app.client))
            .is_err()
    );
    assert_eq!(
        kinds(&all_changes(&f.store)?),
        [ended(EndReason::RefreshReuse)]
    );
    Ok(())
}

fn r33_sessions_clients_keys_and_consents_have_their_entries<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let feed = FeedConfig::default().record(ChangeClass::Administration, true);
    let f = make(Config::builder().feed(feed));
    let app = pretix_app(&f.store);
    let session = AuthSession::new().sid("browser-7");
    let code = f.store.issue_code(
        AuthorizationRequest::new(app.id, "alice")
            .auth_session(session)
            .redirect_uri("https://pretalx.com/orga/callback"),
    )?;
    let tokens = f.store.exchange_code(
        CodeExchange::new(code.code.expose(), &app.client)
            .redirect_uri("https://pretalx.com/orga/callback".to_owned()),
    )?;
    f.store.revoke_session("browser-7")?;
    f.store
        .record_consent(NewConsent::new(app.id, "alice", scope("read")))?;
    f.store.withdraw_consent(&app.id, "alice")?;
    let changes = all_changes(&f.store)?;
    let found = kinds(&changes);
    // Registered (administration), then the logout: the grant with its
    // sid, then the session itself.
    assert_eq!(
        found,
        [
            ChangeKind::ClientRegistered,
            ended(EndReason::Logout),
            ChangeKind::SessionEnded,
            ChangeKind::ConsentWithdrawn,
        ]
    );
    assert_eq!(changes[1].grant_id, Some(tokens.grant_id));
    assert_eq!(changes[1].session.as_deref(), Some("browser-7"));
    assert_eq!(changes[2].session.as_deref(), Some("browser-7"));
    // Deleting the client: its grants end, then the client.
    let again = code_flow(&f.store, &app, "carol");
    f.store.delete_client(&app.id)?;
    let after: Vec<Change> = f.store.changes_since(changes.len() as u64, 100)?.changes;
    assert_eq!(
        kinds(&after),
        [ended(EndReason::ClientDeleted), ChangeKind::ClientDeleted]
    );
    assert_eq!(after[0].grant_id, Some(again.grant_id));
    Ok(())
}

fn r33_issuance_and_plain_subjects_when_configured<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let feed = FeedConfig::default()
        .record(ChangeClass::Issuance, true)
        .subject(FeedSubject::Plain);
    let f = make(Config::builder().feed(feed));
    let app = password_app(&f.store, "ticketpark");
    let tokens = f
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    f.store
        .refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
    let changes = all_changes(&f.store)?;
    assert_eq!(
        kinds(&changes),
        [ChangeKind::TokensIssued, ChangeKind::TokensRefreshed]
    );
    assert_eq!(changes[0].subject.as_deref(), Some("alice"));
    // Nothing recorded at all when the feed is off.
    let off = make(Config::builder().feed(FeedConfig::off()));
    let app = password_app(&off.store, "ticketpark");
    let tokens = off
        .store
        .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    off.store.revoke(refresh(&tokens), &app.client)?;
    assert_eq!(all_changes(&off.store)?, []);
    Ok(())
}

fn r33_named_cursors_resume_and_retention_never_leaves_a_silent_gap<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let retention = Duration::from_hours(1);
    let f = make(Config::builder().feed(FeedConfig::default().retention(retention)));
    let app = password_app(&f.store, "ticketpark");
    let revoke_one = || -> grantdb::Result<()> {
        let tokens = f
            .store
            .issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
        f.store.revoke(refresh(&tokens), &app.client)?;
        Ok(())
    };
    for _ in 0..4 {
        revoke_one()?;
    }
    // A named consumer resumes where it acknowledged.
    assert_eq!(f.store.consumer_cursor("resource-server")?, None);
    assert_eq!(f.store.ack_changes("resource-server", 2)?, 2);
    // Behind the stored one: kept; past the latest: refused.
    assert_eq!(f.store.ack_changes("resource-server", 1)?, 2);
    assert!(matches!(
        f.store.ack_changes("resource-server", 99),
        Err(Error::FeedResync { latest: 4, .. })
    ));
    assert!(f.store.ack_changes("", 1).is_err());
    assert_eq!(f.store.consumer_cursor("resource-server")?, Some(2));
    let resumed = f.store.changes_since(2, 10)?;
    assert_eq!(resumed.changes.first().map(|c| c.seq), Some(3));
    // Purge removes what every named consumer acknowledged, not more.
    f.store.ack_changes("audit", 3)?;
    let report = f.store.purge_expired()?;
    assert_eq!(report.feed_entries, 2);
    assert_eq!(f.store.changes_since(2, 10)?.changes.len(), 2);
    assert!(matches!(
        f.store.changes_since(0, 10),
        Err(Error::FeedResync {
            cursor: 0,
            oldest: 3,
            latest: 4
        })
    ));
    // A consumer that is gone holds nothing back; age removes the rest.
    assert!(f.store.forget_consumer("audit")?);
    f.clock.advance(retention.as_secs() + 1);
    revoke_one()?;
    assert_eq!(f.store.purge_expired()?.feed_entries, 2);
    // The resource server's cursor (2) fell behind retention: resynchronise.
    assert!(matches!(
        f.store.changes_since(2, 10),
        Err(Error::FeedResync { oldest: 5, .. })
    ));
    assert_eq!(f.store.changes_since(4, 10)?.changes.len(), 1);
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

/// A name that appears nowhere but where the test writes it.
const ERASED: &str = "zelda-erasure-4417";

/// Writes `subject` through every kind of record that names one, with
/// clients of its own (named by `tag`, not after the subject).
fn write_everywhere<B: Backend>(store: &Store<B>, subject: &str, tag: &str) -> grantdb::Result<()> {
    let pretix = pretix_app(store);
    let password = password_app(store, &format!("pw-{tag}"));
    // A grant with a consumed refresh token, and one revoked (a feed entry).
    let tokens = store.issue_for_subject(IssueRequest::new(&password.client, subject))?;
    store.refresh(RefreshRequest::new(refresh(&tokens), &password.client))?;
    let revoked = store.issue_for_subject(IssueRequest::new(&password.client, subject))?;
    store.revoke(refresh(&revoked), &password.client)?;
    // A grant from a code with a session, and a pending code.
    let session = AuthSession::new().sid(format!("sid-{tag}"));
    code_flow(store, &pretix, subject);
    store.issue_code(AuthorizationRequest::new(pretix.id, subject).auth_session(session))?;
    // A consent.
    store.record_consent(NewConsent::new(pretix.id, subject, scope("read")))?;
    // An approved device request the device has not collected yet.
    let scanner = register(
        store,
        &NewClient::public(format!("scanner-{tag}"))
            .grant_types([GrantType::DeviceCode, GrantType::RefreshToken]),
    );
    let started = store.start_device_authorization(&scanner.client, None)?;
    store.approve_device(DeviceApproval::new(
        &started.user_code,
        subject,
        AttemptKey::new("kiosk"),
    ))?;
    Ok(())
}

/// Every table's keys and values of an export, decoded and joined.
fn exported_bytes<B: Backend>(store: &Store<B>) -> grantdb::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    store.export(|entry| {
        for part in [&entry.key, &entry.value] {
            bytes.extend(URL_SAFE_NO_PAD.decode(part).unwrap_or_default());
            bytes.push(0);
        }
        Ok(())
    })?;
    Ok(bytes)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn r34_erasure_removes_every_record_naming_the_subject<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    // Plain subjects, so that the feed holds the name too.
    let feed = FeedConfig::default()
        .subject(FeedSubject::Plain)
        .record(ChangeClass::Issuance, true);
    let f = make(Config::builder().feed(feed));
    write_everywhere(&f.store, ERASED, "a")?;
    write_everywhere(&f.store, "bob", "b")?;
    assert!(contains(&exported_bytes(&f.store)?, ERASED));
    let before_bob = exported_bytes(&f.store)?;
    let erased = f.store.erase_subject(ERASED)?;
    // The live grants: the rotated password grant and the code's.
    assert_eq!(erased.grants, 2);
    let after = exported_bytes(&f.store)?;
    assert!(!contains(&after, ERASED), "the erased name is still stored");
    // The other subject is untouched.
    assert!(contains(&after, "bob"));
    assert_eq!(
        f.store
            .grants_of_subject("bob", &grantdb::PageRequest::first(100))?
            .items
            .len(),
        2
    );
    assert!(grantdb_consent(&f.store, "bob")?);
    assert!(before_bob.len() > after.len());
    assert!(f.store.verify()?.is_ok());
    // The feed says what happened without naming whom.
    let changes = all_changes(&f.store)?;
    let last = changes.last().map(|c| c.kind);
    assert_eq!(last, Some(ChangeKind::SubjectErased));
    let erasure_entries: Vec<&Change> = changes
        .iter()
        .filter(|c| c.kind == ended(EndReason::SubjectErased))
        .collect();
    assert_eq!(erasure_entries.len(), 2);
    assert!(
        erasure_entries
            .iter()
            .all(|c| c.subject.is_none() && c.subject_id.is_none())
    );
    Ok(())
}

fn grantdb_consent<B: Backend>(store: &Store<B>, subject: &str) -> grantdb::Result<bool> {
    Ok(!store
        .consents_of_subject(subject, &grantdb::PageRequest::first(10))?
        .items
        .is_empty())
}

crate::rule_suite!(
    r33_endings_are_recorded_in_commit_order_with_what_they_ended,
    r33_a_change_that_did_not_commit_has_no_entry,
    r33_sessions_clients_keys_and_consents_have_their_entries,
    r33_issuance_and_plain_subjects_when_configured,
    r33_named_cursors_resume_and_retention_never_leaves_a_silent_gap,
    r34_erasure_removes_every_record_naming_the_subject,
);

#[test]
fn r34_an_erased_name_is_nowhere_in_the_compacted_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("erase.redb");
    let feed = FeedConfig::default().subject(FeedSubject::Plain);
    let clock = grantdb::ManualClock::new(T0);
    let config = || {
        Config::builder()
            .feed(feed.clone())
            .clock(clock.handle())
            .build()
    };
    let mut store = Store::open(&path, config()?)?;
    write_everywhere(&store, ERASED, "a")?;
    write_everywhere(&store, "bob", "b")?;
    store.erase_subject(ERASED)?;
    store.compact()?;
    drop(store);
    let bytes = std::fs::read(&path)?;
    assert!(!contains(&bytes, ERASED), "the erased name is in the file");
    assert!(contains(&bytes, "bob"));
    let store = Store::open(&path, config()?)?;
    assert!(store.verify()?.is_ok());
    assert!(!contains(&exported_bytes(&store)?, ERASED));
    Ok(())
}

#[test]
fn r33_a_key_ring_change_has_its_entry() -> TestResult {
    let f = fixture_with(Config::builder());
    let first = f.store.hashing_keys()?[0].id;
    f.store.add_hashing_key(None)?;
    let changes = all_changes(&f.store)?;
    // Adding is administration (off by default); retiring ends what the
    // key verified.
    assert_eq!(changes, []);
    f.store.retire_hashing_key(first)?;
    let changes = all_changes(&f.store)?;
    assert_eq!(kinds(&changes), [ChangeKind::KeyRetired]);
    assert_eq!(changes[0].key_id, Some(1));
    Ok(())
}

#[test]
fn r33_concurrent_revocations_share_transactions_with_their_entries() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().join("group.redb"), Config::default())?;
    let app = password_app(&store, "ticketpark");
    let pairs: Vec<_> = (0..256)
        .map(|i| store.issue_for_subject(IssueRequest::new(&app.client, format!("u{i}"))))
        .collect::<grantdb::Result<_>>()?;
    let before = store.write_stats();
    std::thread::scope(|scope| {
        for chunk in pairs.chunks(8) {
            let (store, client) = (&store, &app.client);
            scope.spawn(move || {
                for tokens in chunk {
                    store.revoke(refresh(tokens), client).unwrap();
                }
            });
        }
    });
    let after = store.write_stats();
    let operations = after.operations - before.operations;
    let transactions = after.transactions - before.transactions;
    assert_eq!(operations, 256);
    // 32 callers: group commit still shares fsyncs with the feed on.
    assert!(
        transactions < operations,
        "{transactions} transactions for {operations} revocations"
    );
    let changes = all_changes(&store)?;
    assert_eq!(changes.len(), 256);
    assert!(changes.iter().zip(1..).all(|(c, seq)| c.seq == seq));
    Ok(())
}

#[test]
fn r34_erasing_a_subject_with_many_grants_holds_the_write_lock_in_steps() -> TestResult {
    let f = fixture_with(Config::builder().grant_limits(grantdb::GrantLimits::none()));
    let app = password_app(&f.store, "ticketpark");
    for _ in 0..2_100 {
        f.store
            .issue_for_subject(IssueRequest::new(&app.client, ERASED))?;
    }
    let before = f.store.write_stats();
    assert_eq!(f.store.erase_subject(ERASED)?.grants, 2_100);
    let transactions = f.store.write_stats().transactions - before.transactions;
    // At most 1,000 grants per transaction, as R12.
    assert!(transactions >= 3, "{transactions} transactions");
    assert!(!contains(&exported_bytes(&f.store)?, ERASED));
    Ok(())
}
