//! The device authorization grant's page (RFC 8628 §3.3): the user enters
//! the code a device shows, signs in and answers. The device's side (the
//! device authorization endpoint, polling at the token endpoint) is
//! grantdb-axum's.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use grantdb::{AttemptKey, DeviceApproval};
use grantdb_axum::Params;

use super::AppState;
use super::authorize::{Peer, client_ip, refused_form, sign_in, verified_session, with_cookie};
use super::pages::{DeviceView, device_done_page, device_page, error_page};

/// `GET /device`: the page to enter the device's code
/// (`?user_code=` fills it in, RFC 8628 §3.3.1).
pub async fn form(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::from_query(query.as_deref()).unwrap_or_default();
    let (session, fresh) = app.sessions.current_or_new(&headers);
    let page = device_page(&DeviceView {
        server_name: &app.settings.server_name,
        csrf: &session.csrf,
        user_code: params.get("user_code").unwrap_or_default(),
        signed_in_as: session.subject.as_deref(),
        problem: None,
    });
    if fresh {
        with_cookie(&app, page, &session)
    } else {
        page
    }
}

/// `POST /device`: the user's sign-in and answer. The wrong codes a user
/// types are counted for that user (and for everyone): the store refuses
/// after too many (RFC 8628 §5.1).
pub async fn decision(
    State(app): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let server = &app.settings.server_name;
    let Ok(params) = Params::from_body(&headers, &body) else {
        return error_page(
            server,
            StatusCode::BAD_REQUEST,
            "The form could not be read.",
        );
    };
    let Some(session) = verified_session(&app, &headers, &params) else {
        return refused_form(&app);
    };
    let user_code = params.get("user_code").unwrap_or_default();
    let again = |problem: &str, subject: Option<&str>| {
        device_page(&DeviceView {
            server_name: server,
            csrf: &session.csrf,
            user_code,
            signed_in_as: subject,
            problem: Some(problem),
        })
    };
    let Ok((subject, new_session)) = sign_in(&app, &params, &session, client_ip(&peer)).await
    else {
        return again(
            "Sign in to answer: that email address and password do not match.",
            None,
        );
    };
    let approve = params.get("decision") == Some("approve");
    let (typed, attempt) = (user_code.to_owned(), AttemptKey::new(&subject));
    let answered = if approve {
        let approval = DeviceApproval::new(typed, &subject, attempt);
        app.store.call(move |s| s.approve_device(approval)).await
    } else {
        app.store
            .call(move |s| s.deny_device(&typed, &attempt))
            .await
    };
    let response = match answered {
        Ok(pending) => {
            let name = app
                .store
                .client(&pending.client_id)
                .await
                .ok()
                .flatten()
                .map(|client| client.name)
                .unwrap_or_default();
            device_done_page(server, approve, &name)
        }
        Err(grantdb::Error::TooManyAttempts { .. }) => again(
            "Too many wrong codes. Wait a few minutes, then try again.",
            Some(&subject),
        ),
        Err(_) => again(
            "That code is not one a device is waiting with. Check it and try again.",
            Some(&subject),
        ),
    };
    match new_session {
        Some(session) => with_cookie(&app, response, &session),
        None => response,
    }
}
