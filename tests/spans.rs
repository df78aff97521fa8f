//! `tracing` spans (feature `tracing`): every public operation has one, with
//! its client, outcome and group-commit batch, nested in the caller's span,
//! also when the async handle runs the operation on the blocking pool. A
//! test binary of its own: tracing caches each callsite's interest, and a
//! test running beside it without a subscriber could hide the spans from
//! this one. One global subscriber, installed before any span, so that the
//! threads of the blocking pool report to it too.

#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod span_log;
mod support;

use std::sync::{Arc, Mutex, OnceLock};

use grantdb::{Config, Store};
use span_log::{Seen, SpanFields};
use support::*;

/// Every span opened in this binary: its name, fields and parent's name.
fn spans() -> &'static Arc<Mutex<Vec<Seen>>> {
    static SPANS: OnceLock<Arc<Mutex<Vec<Seen>>>> = OnceLock::new();
    SPANS.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(SpanFields(Arc::clone(&spans)));
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        spans
    })
}

fn all_fields() -> String {
    let spans = spans().lock().unwrap();
    spans
        .iter()
        .map(|s| s.fields.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_operation_has_a_span_with_its_outcome_and_batch() -> TestResult {
    spans();
    let store = Store::in_memory(Config::default())?;
    let app = pretix_app(&store);
    let tokens = code_flow(&store, &app, "alice");
    let _ = store.validate(access(&tokens));
    let spans = all_fields();
    assert!(spans.contains("operation=exchange_code"), "{spans}");
    assert!(spans.contains("outcome=ok"), "{spans}");
    assert!(spans.contains("batch=1"), "{spans}");
    assert!(spans.contains("operation=validate"), "{spans}");
    Ok(())
}

/// The async handle runs writes on tokio's blocking pool and short reads in
/// its read queue: the store's spans still have the caller's span (an HTTP
/// request's, say) as their parent.
#[cfg(feature = "tokio")]
#[test]
fn the_async_handle_keeps_the_store_spans_in_the_callers_span() -> TestResult {
    use tracing::Instrument as _;
    spans();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let store = grantdb::AsyncStore::new(Store::in_memory(Config::default())?);
    runtime.block_on(
        async {
            let new = grantdb::NewClient::confidential("prioticket")
                .grant_types([grantdb::GrantType::ClientCredentials]);
            store.call(move |s| s.register_client(new)).await?;
            store.lookup(Store::stats).await?;
            Ok::<(), grantdb::Error>(())
        }
        .instrument(tracing::info_span!("request", test = "async-handle")),
    )?;
    let spans = spans().lock().unwrap().clone();
    let request = spans
        .iter()
        .find(|s| s.name == "request" && s.fields.contains("test=async-handle"))
        .expect("the request span");
    for operation in ["operation=register_client", "operation=operator"] {
        let span = spans
            .iter()
            .filter(|s| s.fields.contains(operation))
            .find(|s| s.parent == Some(request.id))
            .unwrap_or_else(|| panic!("no {operation} span inside the request: {spans:#?}"));
        assert_eq!(span.name, "grantdb");
    }
    Ok(())
}
