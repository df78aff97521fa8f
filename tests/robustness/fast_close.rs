//! Closing a `Durability::Fast` store (R19): its background flush thread
//! ends with the last handle, and the file can be reopened at once. A test
//! binary of its own, so that no other test's flush thread runs beside it.

use crate::support::*;
use grantdb::{Config, Durability, IssueRequest, Store};
use std::time::Duration;

#[test]
fn r19_dropping_a_fast_store_stops_its_flush_thread() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fast.redb");
    let config = || {
        Config::builder()
            .durability(Durability::Fast)
            .fast_flush_interval(Duration::from_millis(20))
            .build()
            .unwrap()
    };
    let flush_threads = || {
        std::fs::read_dir("/proc/self/task").map_or(0, |tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|name| name.trim() == "grantdb-flush")
                })
                .count()
        })
    };
    let before = flush_threads();
    let store = Store::open(&path, config())?;
    let app = ticketpark_app(&store);
    let kept = store.issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
    drop(store);
    assert_eq!(
        flush_threads(),
        before,
        "the flush thread ended with the store"
    );
    // Reopened at once: nothing else holds the file; the pair is there.
    let store = Store::open(&path, config())?;
    assert!(is_valid(&store, access(&kept)));
    Ok(())
}
