//! The introspection endpoint (RFC 7662): a protected resource that
//! authenticated as a client, and that the host's policy lets introspect
//! ([`OAuthConfig::introspection_policy`](crate::OAuthConfig::introspection_policy)),
//! learns whether a token is active and what it carries. An unknown,
//! expired or revoked token is `{"active": false}` (§2.2).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use grantdb::kv::Backend;
use grantdb::{Endpoint, IntrospectRequest, TokenTypeHint};

use crate::client_auth::authenticate;
use crate::config::OAuth;
use crate::error::OAuthError;
use crate::observe::observed;
use crate::params::OAuthForm;

/// `POST` at the introspection endpoint.
pub async fn introspect<B: Backend>(State(oauth): State<OAuth<B>>, form: OAuthForm) -> Response {
    observed(&oauth, "introspect", &form.headers, async {
        introspection(&oauth, &form)
            .await
            .map_or_else(IntoResponse::into_response, IntoResponse::into_response)
    })
    .await
}

async fn introspection<B: Backend>(
    oauth: &OAuth<B>,
    form: &OAuthForm,
) -> Result<Json<grantdb::Introspection>, OAuthError> {
    let caller = authenticate(oauth, &form.headers, &form.params).await?;
    if !(oauth.config().introspection)(&caller) {
        // RFC 7662 §2.3: the protected resource is not authorized to ask.
        return Err(OAuthError::invalid_client());
    }
    let mut request = IntrospectRequest::new(form.params.required("token")?, &caller);
    // §2.1: a hint the server does not know may be ignored.
    request.hint = form
        .params
        .get("token_type_hint")
        .and_then(|hint| hint.parse::<TokenTypeHint>().ok());
    oauth
        .store()
        .introspect(request)
        .await
        .map(Json)
        .map_err(|error| OAuthError::at(Endpoint::Introspection, &error))
}
