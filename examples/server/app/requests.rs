//! The device authorization grant (RFC 8628: `/oauth/device_authorization`
//! and the `/device` page; polling is at the token endpoint) and pushed
//! authorization requests (RFC 9126: `/oauth/par`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use grantdb::{AttemptKey, DeviceApproval};
use grantdb::{ErrorResponse, PkceChallenge, PkceMethod, PushRequest};

use super::AppState;
use super::errors::OAuthError;
use super::oauth::{
    no_store, optional_scope, refused_form, sign_in, verified_session, with_cookie,
};
use super::pages::{DeviceView, device_done_page, device_page, error_page};
use super::params::{Params, authenticate};

/// This server's origin as the request reached it (for the verification URI).
fn origin(app: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if app.settings.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

// ------------------------------------------------------------ device

async fn start_device(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let params = Params::from_body(headers, body)?;
    let client = authenticate(&app.store, headers, &params).await?;
    let scope = optional_scope(&params)?;
    let started = app
        .store
        .call(move |s| s.start_device_authorization(&client, scope.as_ref()))
        .await
        .map_err(|e| OAuthError::from_store(&e))?;
    let verification_uri = format!("{}/device", origin(app, headers));
    let complete = format!("{verification_uri}?user_code={}", started.user_code);
    Ok(no_store(
        StatusCode::OK,
        &serde_json::json!({
            "device_code": started.device_code.expose(),
            "user_code": started.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": complete,
            "expires_in": started.expires_in,
            "interval": started.interval,
        }),
    ))
}

/// `POST /oauth/device_authorization` (RFC 8628 §3.1).
pub async fn device_authorization(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    start_device(&app, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `GET /device`: the page to enter the device's code
/// (`?user_code=` fills it in, RFC 8628 §3.3.1).
pub async fn device_form(
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
pub async fn device_decision(
    State(app): State<Arc<AppState>>,
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
    let Ok((subject, new_session)) = sign_in(&app, &params, &session) else {
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

// ------------------------------------------------------------ PAR

async fn push(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let params = Params::from_body(headers, body)?;
    let client = authenticate(&app.store, headers, &params).await?;
    let invalid = |description: &str| OAuthError(ErrorResponse::invalid_request(description));
    if params.get("request_uri").is_some() {
        // RFC 9126 §2.1: a pushed request cannot point at another.
        return Err(invalid("request_uri is not allowed in a pushed request"));
    }
    if params.get("response_type") != Some("code") {
        return Err(invalid("response_type must be code"));
    }
    let mut request = PushRequest::new(&client);
    request.redirect_uri = params.get("redirect_uri").map(str::to_owned);
    request.scope = optional_scope(&params)?;
    request.state = params.get("state").map(str::to_owned);
    request.nonce = params.get("nonce").map(str::to_owned);
    if let Some(challenge) = params.get("code_challenge") {
        let method = PkceMethod::parse(params.get("code_challenge_method"))
            .map_err(|_| invalid("code_challenge_method must be S256 or plain"))?;
        request.pkce = Some(
            PkceChallenge::new(method, challenge)
                .map_err(|_| invalid("malformed code_challenge"))?,
        );
    }
    let pushed = app
        .store
        .call(move |s| s.push_authorization_request(request))
        .await
        .map_err(|e| OAuthError::from_store(&e))?;
    // RFC 9126 §2.2: 201 Created.
    Ok(no_store(
        StatusCode::CREATED,
        &serde_json::json!({
            "request_uri": pushed.request_uri.expose(),
            "expires_in": pushed.expires_in,
        }),
    ))
}

/// `POST /oauth/par` (RFC 9126 §2).
pub async fn par(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    push(&app, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}
