//! What a host's observability stack sees (features `metrics` and
//! `tracing`): a counter per endpoint and outcome and a latency histogram,
//! described with units; a span per request with the store's spans inside.
//! A binary of its own: the recorder and the subscriber are process-wide,
//! installed once before any request, so that the threads of the blocking
//! pool report to them too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};

#[path = "../../tests/span_log/mod.rs"]
mod span_log;

use span_log::{Seen, SpanFields};

use grantdb::{AsyncStore, GrantType, NewClient, Store};
use grantdb_axum::{OAuth, OAuthConfig};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

struct Installed {
    metrics: Snapshotter,
    spans: Arc<Mutex<Vec<Seen>>>,
}

fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        let recorder = DebuggingRecorder::new();
        let metrics = recorder.snapshotter();
        recorder.install().expect("the only recorder");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(SpanFields(Arc::clone(&spans)));
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        grantdb_axum::describe_metrics();
        Installed { metrics, spans }
    })
}

/// A server with one client-credentials client: its base URL, id and
/// secret.
fn serve(runtime: &tokio::runtime::Runtime) -> (String, String, String) {
    let store = Store::in_memory(grantdb::Config::default()).unwrap();
    let registered = store
        .register_client(
            NewClient::confidential("svc")
                .grant_types([GrantType::ClientCredentials])
                .scopes("read")
                .unwrap(),
        )
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let oauth = OAuth::new(
        AsyncStore::new(store),
        OAuthConfig::new(&base).request_id_header(http::HeaderName::from_static("x-request-id")),
    );
    let router: axum::Router = oauth.router();
    runtime.spawn(async move { axum::serve(listener, router).await });
    (
        base,
        registered.client.id.to_string(),
        registered.secret.unwrap().expose().to_owned(),
    )
}

#[test]
fn requests_are_counted_timed_and_traced_with_the_store_inside() {
    let installed = installed();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (base, id, secret) = serve(&runtime);
    let http = reqwest::blocking::Client::new();
    let token = |secret: &str| {
        http.post(format!("{base}/oauth/token"))
            .basic_auth(&id, Some(secret))
            .header("x-request-id", "rq-telemetry")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(token(&secret), 200);
    assert_eq!(token(&secret), 200);
    assert_eq!(token("wrong"), 401);

    let snapshot = installed.metrics.snapshot().into_vec();
    let counter = |outcome: &str| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            (key.key().name() == "grantdb_http_requests_total"
                && labels.contains(&"endpoint=token".to_owned())
                && labels.contains(&format!("outcome={outcome}")))
            .then(|| match value {
                DebugValue::Counter(count) => *count,
                other => panic!("{other:?}"),
            })
        })
    };
    assert_eq!(counter("ok"), Some(2));
    assert_eq!(counter("invalid_client"), Some(1));
    let (_, unit, description, latencies) = snapshot
        .iter()
        .find(|(key, ..)| key.key().name() == "grantdb_http_request_duration_seconds")
        .expect("the latency histogram");
    assert_eq!(*unit, Some(metrics::Unit::Seconds));
    assert!(description.is_some());
    assert!(matches!(latencies, DebugValue::Histogram(values) if values.len() == 3));

    let spans = installed.spans.lock().unwrap().clone();
    let requests: Vec<&Seen> = spans
        .iter()
        .filter(|s| s.name == "oauth" && s.fields.contains("request_id=rq-telemetry"))
        .collect();
    assert_eq!(requests.len(), 3, "{spans:#?}");
    assert!(
        requests
            .iter()
            .filter(|s| s.fields.contains("outcome=ok") && s.fields.contains("status=200"))
            .count()
            == 2
    );
    assert!(
        requests
            .iter()
            .any(|s| s.fields.contains("outcome=invalid_client"))
    );
    // The store's spans nest in the request's.
    let inside = spans
        .iter()
        .filter(|s| s.name == "grantdb" && s.fields.contains("operation=issue_client_credentials"))
        .filter(|s| requests.iter().any(|r| Some(r.id) == s.parent))
        .count();
    assert_eq!(inside, 2, "{spans:#?}");
}
