//! The request id: named by the header the host configures, carried into
//! the store's events (so a security event leads back to its request).

use http::HeaderName;

use crate::support::{Served, TestResult};

#[test]
fn store_events_carry_the_request_id_from_the_configured_header() -> TestResult {
    let served = Served::start_with(|config| {
        config.request_id_header(HeaderName::from_static("x-request-id"))
    });
    let client = served.code_client();
    let tokens = served.tokens(&client);
    let revoke = |token: &str, id: Option<&str>| {
        let mut request = served
            .http
            .post(served.url("/oauth/revoke"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&[("token", token)]);
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        assert_eq!(request.send().unwrap().status(), 200);
    };
    served.events.lock().unwrap().clear();
    revoke(tokens["refresh_token"].as_str().unwrap(), Some("rq-7"));
    let told = std::mem::take(&mut *served.events.lock().unwrap());
    assert!(!told.is_empty(), "revoking a grant is an event");
    assert!(
        told.iter()
            .all(|event| event.request_id.as_deref() == Some("rq-7")),
        "{told:?}"
    );

    // Without the header, no id.
    let second = served.tokens(&client);
    served.events.lock().unwrap().clear();
    revoke(second["refresh_token"].as_str().unwrap(), None);
    let told = std::mem::take(&mut *served.events.lock().unwrap());
    assert!(!told.is_empty());
    assert!(
        told.iter().all(|event| event.request_id.is_none()),
        "{told:?}"
    );
    Ok(())
}
