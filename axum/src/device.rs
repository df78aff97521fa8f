//! The device authorization endpoint (RFC 8628 §3.1, §3.2): a device's
//! client (public ones name themselves by `client_id`) starts a request and
//! gets its device code, the user code to show, where the user enters it,
//! how long it lives and how often to poll. Polling is at the token endpoint
//! (`grant_type=urn:ietf:params:oauth:grant-type:device_code`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use grantdb::kv::Backend;
use http::StatusCode;

use crate::client_auth::authenticate;
use crate::config::OAuth;
use crate::error::{OAuthError, no_store};
use crate::observe::observed;
use crate::params::OAuthForm;
use crate::token::optional_scope;

/// `POST` at the device authorization endpoint.
pub async fn device_authorization<B: Backend>(
    State(oauth): State<OAuth<B>>,
    form: OAuthForm,
) -> Response {
    observed(&oauth, "device_authorization", &form.headers, async {
        start(&oauth, &form)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    })
    .await
}

async fn start<B: Backend>(oauth: &OAuth<B>, form: &OAuthForm) -> Result<Response, OAuthError> {
    let client = authenticate(oauth, &form.headers, &form.params).await?;
    let scope = optional_scope(&form.params)?;
    let started = oauth
        .store()
        .call(move |s| s.start_device_authorization(&client, scope.as_ref()))
        .await
        .map_err(|error| OAuthError::token(&error))?;
    let verification_uri = &oauth.config().device_verification_uri;
    let separator = if verification_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let complete = format!(
        "{verification_uri}{separator}user_code={}",
        started.user_code
    );
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
