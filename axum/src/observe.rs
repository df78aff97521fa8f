//! What a host's observability stack sees of each request: a span per
//! request (feature `tracing`) with the endpoint and its outcome, inside
//! which the store's own spans nest; counters and a latency histogram per
//! endpoint and outcome (feature `metrics`); and the request's id, from the
//! header the host names, carried into the store's events.

use std::future::Future;

use axum::response::Response;
use grantdb::kv::Backend;
use http::HeaderMap;

use crate::config::OAuth;

/// The metrics this crate records, with their help texts (feature
/// `metrics`): call it once at start-up, after installing a recorder, so an
/// exporter shows them before the first request.
#[cfg(feature = "metrics")]
pub fn describe_metrics() {
    use metrics::Unit;
    metrics::describe_counter!(
        "grantdb_http_requests_total",
        Unit::Count,
        "OAuth endpoint requests answered, by endpoint and outcome (ok, or the OAuth error code)"
    );
    metrics::describe_histogram!(
        "grantdb_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an OAuth endpoint request, by endpoint"
    );
}

/// Runs `answer`, the handling of one request at `endpoint`, observed.
pub(crate) async fn observed<B: Backend>(
    oauth: &OAuth<B>,
    endpoint: &'static str,
    headers: &HeaderMap,
    answer: impl Future<Output = Response>,
) -> Response {
    let request_id = oauth
        .config()
        .request_id_header
        .as_ref()
        .and_then(|name| headers.get(name))
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 200)
        .map(str::to_owned);
    #[cfg(feature = "metrics")]
    let started = std::time::Instant::now();
    #[cfg(feature = "tracing")]
    let span = tracing::info_span!(
        "oauth",
        endpoint,
        request_id = request_id.as_deref().unwrap_or_default(),
        status = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let answer = async {
        match request_id {
            Some(id) => grantdb::scope_request_id(id, answer).await,
            None => answer.await,
        }
    };
    #[cfg(feature = "tracing")]
    let response = tracing::Instrument::instrument(answer, span.clone()).await;
    #[cfg(not(feature = "tracing"))]
    let response = answer.await;
    let outcome = outcome(&response);
    #[cfg(feature = "tracing")]
    {
        span.record("status", response.status().as_u16());
        span.record("outcome", outcome);
    }
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("grantdb_http_requests_total", "endpoint" => endpoint, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("grantdb_http_request_duration_seconds", "endpoint" => endpoint)
            .record(started.elapsed().as_secs_f64());
    }
    let _ = (endpoint, outcome);
    response
}

/// `ok` for a success, the OAuth error code otherwise (read from the
/// response: every refusal of this crate says its code in a header-free
/// way only in its body, so the status stands in when there is none).
fn outcome(response: &Response) -> &'static str {
    match response.extensions().get::<Outcome>() {
        Some(Outcome(code)) => code,
        None if response.status().is_success() || response.status().is_redirection() => "ok",
        None => "error",
    }
}

/// The OAuth error code of a refused request, attached to its response for
/// [`observed`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome(pub &'static str);
