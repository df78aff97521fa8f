//! `tracing` spans (feature `tracing`): every public operation has one, with
//! its client, outcome and group-commit batch. A test binary of its own:
//! tracing caches each callsite's interest, and a test running beside it
//! without a subscriber could hide the spans from this one.

#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use grantdb::{Config, Store};
use support::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn every_operation_has_a_span_with_its_outcome_and_batch() -> TestResult {
    use tracing_subscriber::layer::SubscriberExt as _;
    let spans = Arc::new(Mutex::new(Vec::<String>::new()));
    let subscriber = tracing_subscriber::registry().with(SpanFields(Arc::clone(&spans)));
    tracing::subscriber::with_default(subscriber, || -> TestResult {
        let store = Store::in_memory(Config::default())?;
        let app = pretix_app(&store);
        let tokens = code_flow(&store, &app, "alice");
        let _ = store.validate(access(&tokens));
        Ok(())
    })?;
    let spans = spans.lock().unwrap().join("\n");
    assert!(spans.contains("operation=exchange_code"), "{spans}");
    assert!(spans.contains("outcome=ok"), "{spans}");
    assert!(spans.contains("batch=1"), "{spans}");
    assert!(spans.contains("operation=validate"), "{spans}");
    Ok(())
}

/// A layer that writes down every span's fields, as recorded.
struct SpanFields(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanFields {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }

    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        let _ = write!(self.0, "{}={} ", field.name(), value.trim_matches('"'));
    }
}
