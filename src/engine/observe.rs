//! What the store tells the host's observability stack about each public
//! operation (named by its [`Op`](crate::engine::op::Op)): a `tracing` span (feature `tracing`; at DEBUG, so off at INFO)
//! with the operation, the client, the outcome and the size of the group
//! commit it rode in, and counters and histograms through the `metrics`
//! facade (feature `metrics`). Without those features this is empty.

#[cfg(feature = "metrics")]
use crate::error::Error;
use crate::error::Result;
use crate::model::ids::ClientId;

/// One operation being observed, from its start to its outcome.
pub(crate) struct Observation {
    #[cfg(feature = "tracing")]
    span: tracing::span::EnteredSpan,
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
    #[cfg(feature = "metrics")]
    operation: &'static str,
}

impl Observation {
    /// Starts observing `operation` on behalf of `client`.
    // `client` is only recorded in a span; `operation` only kept for metrics.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn start(operation: &'static str, client: Option<&ClientId>) -> Observation {
        Observation {
            #[cfg(feature = "tracing")]
            span: {
                let span = tracing::debug_span!(
                    "grantdb",
                    operation,
                    client_id = tracing::field::Empty,
                    outcome = tracing::field::Empty,
                    batch = tracing::field::Empty,
                );
                if let Some(client) = client {
                    span.record("client_id", tracing::field::display(client));
                }
                span.entered()
            },
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
            #[cfg(feature = "metrics")]
            operation,
        }
    }

    /// Records the outcome, and the size of the group commit the operation
    /// rode in (writes).
    // `batch` is only recorded in a span.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[cfg_attr(
        not(any(feature = "tracing", feature = "metrics")),
        allow(clippy::unused_self)
    )]
    pub(crate) fn finish<T>(self, result: &Result<T>, batch: Option<usize>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(error) => error.label(),
        };
        #[cfg(feature = "tracing")]
        {
            self.span.record("outcome", outcome);
            if let Some(batch) = batch {
                self.span.record("batch", batch);
            }
            tracing::debug!("done");
        }
        #[cfg(feature = "metrics")]
        {
            let operation = self.operation;
            metrics::counter!("grantdb_operations_total", "operation" => operation, "outcome" => outcome)
                .increment(1);
            metrics::histogram!("grantdb_operation_seconds", "operation" => operation)
                .record(self.started.elapsed().as_secs_f64());
            if let Err(Error::RefreshTokenReused | Error::CodeReplayed) = result {
                metrics::counter!("grantdb_reuse_detected_total", "operation" => operation)
                    .increment(1);
            }
        }
        let _ = outcome;
    }
}

/// Counts what a purge batch removed.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn purged(removed: u64) {
    #[cfg(feature = "metrics")]
    metrics::counter!("grantdb_purged_total").increment(removed);
}

/// Describes the store's metrics (feature `metrics`): their help texts and
/// units, for an exporter to show before the first sample. Call it once at
/// start-up, after installing a recorder.
#[cfg(feature = "metrics")]
pub fn describe_metrics() {
    use metrics::Unit;
    metrics::describe_counter!(
        "grantdb_operations_total",
        Unit::Count,
        "Store operations, by operation and outcome (ok, or the error's label)"
    );
    metrics::describe_histogram!(
        "grantdb_operation_seconds",
        Unit::Seconds,
        "Time a store operation took, by operation, waiting for its commit included"
    );
    metrics::describe_counter!(
        "grantdb_reuse_detected_total",
        Unit::Count,
        "Replayed codes and reused refresh tokens: each revoked a grant (R05, R08)"
    );
    metrics::describe_counter!(
        "grantdb_purged_total",
        Unit::Count,
        "Expired records removed by purges"
    );
    metrics::describe_histogram!(
        "grantdb_commit_seconds",
        Unit::Seconds,
        "Time a group commit took to make its batch durable"
    );
    metrics::describe_histogram!(
        "grantdb_batch_size",
        Unit::Count,
        "Writes made durable by one group commit"
    );
}
