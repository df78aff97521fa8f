//! A `tracing` layer that writes down every span: its name, its fields as
//! recorded (at creation and after) and its parent. Shared by the tests that
//! check spans nest: `tests/spans.rs` here and grantdb-axum's
//! `tests/telemetry.rs`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// One span as the layer saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The span's id (the registry reuses ids of closed spans).
    pub id: u64,
    /// Its name.
    pub name: &'static str,
    /// Its parent's id.
    pub parent: Option<u64>,
    /// `name=value ` for every field, in the order recorded.
    pub fields: String,
}

/// The layer; the spans go to the shared list.
pub struct SpanFields(pub Arc<Mutex<Vec<Seen>>>);

impl<S> tracing_subscriber::Layer<S> for SpanFields
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.id().into_u64());
        self.0.lock().unwrap().push(Seen {
            id: id.into_u64(),
            name: attrs.metadata().name(),
            parent,
            fields: fields.0,
        });
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        let mut spans = self.0.lock().unwrap();
        if let Some(seen) = spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            seen.fields.push_str(&fields.0);
        }
    }
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        let _ = write!(self.0, "{}={} ", field.name(), value.trim_matches('"'));
    }
}
