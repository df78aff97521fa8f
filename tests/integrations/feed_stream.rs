//! R33 for async hosts: `AsyncStore::subscribe` delivers every entry in
//! order, resumes from a named consumer's cursor (at least once), and on
//! PostgreSQL a node wakes on another node's revocation.

use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::support::*;
use futures_core::Stream;
use grantdb::{AsyncStore, ChangeStream, Config, IssueRequest, Store};

/// The next item of `stream`, within 30 s (a hung stream fails the test
/// instead of hanging it).
async fn next<B: grantdb::kv::Backend>(
    stream: &mut ChangeStream<B>,
) -> grantdb::Result<grantdb::Change> {
    let item = tokio::time::timeout(
        Duration::from_secs(30),
        std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)),
    )
    .await
    .expect("the stream yielded within 30 s");
    item.expect("the stream never ends")
}

/// Issues a pair for `subject` and revokes its grant: one feed entry.
fn revoke_one(store: &Store, client: &grantdb::AuthenticatedClient) -> grantdb::Result<()> {
    let tokens = store.issue_for_subject(IssueRequest::new(client, "alice"))?;
    store.revoke(refresh(&tokens), client)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn r33_a_subscriber_gets_every_entry_in_order_across_restarts() -> TestResult {
    let store = Store::in_memory(Config::default())?;
    let app = password_app(&store, "ticketpark");
    let handle = AsyncStore::new(store.clone());
    let mut stream = handle.subscribe(0);
    // Entries committed while the subscriber waits, from another thread.
    let writer = {
        let (store, client) = (store.clone(), app.client.clone());
        std::thread::spawn(move || -> grantdb::Result<()> {
            for _ in 0..10 {
                revoke_one(&store, &client)?;
            }
            Ok(())
        })
    };
    for expected in 1..=6 {
        assert_eq!(next(&mut stream).await?.seq, expected);
    }
    // The consumer acknowledged 5 of the 6 it handled, then "crashed".
    store.ack_changes("rs-1", 5)?;
    drop(stream);
    writer.join().expect("writer")?;
    // Restarted, it resumes after what it acknowledged: the sixth comes
    // again (at least once), then the rest, in order, none missing.
    let cursor = store.consumer_cursor("rs-1")?.expect("stored");
    let mut stream = handle.subscribe(cursor);
    for expected in 6..=10 {
        assert_eq!(next(&mut stream).await?.seq, expected);
    }
    // And it waits for what comes next.
    revoke_one(&store, &app.client)?;
    assert_eq!(next(&mut stream).await?.seq, 11);
    assert_eq!(stream.cursor(), 11);
    Ok(())
}

#[cfg(feature = "postgres")]
#[test]
fn r33_a_node_wakes_on_another_nodes_revocation() -> TestResult {
    use crate::support::pg;
    let Some(url) = pg::url() else {
        return Ok(());
    };
    let schema = format!("feed_wake_{}", std::process::id());
    let node = |allow: bool| -> grantdb::Result<Store<grantdb::kv::postgres::PostgresBackend>> {
        Store::with_backend(pg::connect(url, &schema, allow), Config::default())
    };
    let writer = node(true)?;
    let reader = node(true)?;
    let app = password_app(&writer, "ticketpark");
    // The reader waits (its listener up) before the writer revokes; each
    // round measures how long after the revocation returned the reader had
    // it. Polling alone (once a second) would give a median near 500 ms.
    let mut latencies = Vec::new();
    let mut cursor = 0;
    for _ in 0..15 {
        let waiting = {
            let reader = reader.clone();
            std::thread::spawn(move || -> grantdb::Result<(grantdb::ChangePage, Instant)> {
                let page = reader.wait_for_changes(cursor, 10, Duration::from_secs(20))?;
                Ok((page, Instant::now()))
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let tokens = writer.issue_for_subject(IssueRequest::new(&app.client, "alice"))?;
        writer.revoke(refresh(&tokens), &app.client)?;
        let revoked_at = Instant::now();
        let (page, seen_at) = waiting.join().expect("reader")?;
        assert_eq!(
            page.changes.len(),
            1,
            "the reader got the other node's entry"
        );
        assert_eq!(page.changes[0].grant_id, Some(tokens.grant_id));
        cursor = page.next;
        latencies.push(seen_at.saturating_duration_since(revoked_at));
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "another node's revocation reached a waiting reader: median {median:?}, max {:?}",
        latencies[latencies.len() - 1]
    );
    assert!(
        median < Duration::from_millis(250),
        "woken by polling, not by NOTIFY: {median:?}"
    );
    Ok(())
}
