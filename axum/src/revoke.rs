//! The revocation endpoint (RFC 7009): the authenticated client revokes an
//! access token, or a refresh token with its grant; an unknown token, or
//! another client's, is answered `200` all the same (§2.2). A
//! `token_type_hint` other than `access_token` or `refresh_token` is
//! `unsupported_token_type` (§2.2.1).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use grantdb::kv::Backend;
use grantdb::{Endpoint, Secret, TokenTypeHint};
use http::StatusCode;

use crate::client_auth::authenticate;
use crate::config::OAuth;
use crate::error::OAuthError;
use crate::observe::observed;
use crate::params::OAuthForm;

/// `POST` at the revocation endpoint.
pub async fn revoke<B: Backend>(State(oauth): State<OAuth<B>>, form: OAuthForm) -> Response {
    observed(&oauth, "revoke", &form.headers, async {
        revocation(&oauth, &form)
            .await
            .map_or_else(IntoResponse::into_response, IntoResponse::into_response)
    })
    .await
}

async fn revocation<B: Backend>(
    oauth: &OAuth<B>,
    form: &OAuthForm,
) -> Result<StatusCode, OAuthError> {
    let client = authenticate(oauth, &form.headers, &form.params).await?;
    let token = Secret::from(form.params.required("token")?);
    if let Some(hint) = form.params.get("token_type_hint") {
        // The hint orders no lookup (a grantdb string says its kind), but a
        // type this server does not issue is refused, as §2.2.1 asks.
        hint.parse::<TokenTypeHint>()
            .map_err(|error| OAuthError::at(Endpoint::Revocation, &error))?;
    }
    oauth
        .store()
        .call(move |s| s.revoke(token.expose(), &client))
        .await
        .map(|_| StatusCode::OK)
        .map_err(|error| OAuthError::at(Endpoint::Revocation, &error))
}
