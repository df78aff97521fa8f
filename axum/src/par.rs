//! The pushed authorization request endpoint (RFC 9126): the authenticated
//! client pushes what it would have sent to the authorization endpoint and
//! gets a `request_uri` (`201 Created`), single use and bound to it. The
//! push is checked as the authorization request would be (R30); a DPoP proof
//! or `dpop_jkt` binds the code to a key (RFC 9449 §10).

use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use grantdb::kv::Backend;
use grantdb::{Confirmation, PkceChallenge, PkceMethod, PushRequest};
use http::StatusCode;

use crate::client_auth::authenticate;
use crate::config::OAuth;
use crate::error::{OAuthError, no_store};
use crate::observe::observed;
use crate::params::OAuthForm;
use crate::token::{endpoint_url, optional_scope, proved_key};

/// `POST` at the pushed authorization request endpoint.
pub async fn par<B: Backend>(
    State(oauth): State<OAuth<B>>,
    OriginalUri(uri): OriginalUri,
    form: OAuthForm,
) -> Response {
    let url = endpoint_url(&oauth, uri.path());
    observed(&oauth, "par", &form.headers, async {
        push(&oauth, &form, &url)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    })
    .await
}

/// The PKCE challenge of a request, if it has one.
pub(crate) fn pkce_of(params: &crate::Params) -> Result<Option<PkceChallenge>, OAuthError> {
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )),
        (None, None) => Ok(None),
        (Some(challenge), method) => {
            let method = PkceMethod::parse(method).map_err(|_| {
                OAuthError::invalid_request("code_challenge_method must be S256 or plain")
            })?;
            PkceChallenge::new(method, challenge)
                .map(Some)
                .map_err(|_| OAuthError::invalid_request("malformed code_challenge"))
        }
    }
}

async fn push<B: Backend>(
    oauth: &OAuth<B>,
    form: &OAuthForm,
    url: &str,
) -> Result<Response, OAuthError> {
    let params = &form.params;
    let client = authenticate(oauth, &form.headers, params).await?;
    if params.get("request_uri").is_some() {
        // RFC 9126 §2.1: a pushed request cannot point at another.
        return Err(OAuthError::invalid_request(
            "request_uri is not allowed in a pushed request",
        ));
    }
    // As at the authorization endpoint (RFC 6749 §3.1.1): missing or not
    // understood, unsupported_response_type.
    if params.get("response_type") != Some("code") {
        return Err(OAuthError::token(&grantdb::Error::UnsupportedResponseType));
    }
    let mut request = PushRequest::new(&client).resources(params.resources().iter().cloned());
    request.redirect_uri = params.get("redirect_uri").map(str::to_owned);
    request.scope = optional_scope(params)?;
    request.state = params.get("state").map(str::to_owned);
    request.nonce = params.get("nonce").map(str::to_owned);
    request.pkce = pkce_of(params)?;
    request.dpop_jkt = match (
        proved_key(oauth, &client, &form.headers, url).await?,
        params.get("dpop_jkt"),
    ) {
        (Some(proved), Some(named)) if proved != dpop_jkt(named)? => {
            // RFC 9449 §10.1: both given, they must name one key.
            return Err(OAuthError::invalid_request(
                "dpop_jkt names another key than the DPoP proof",
            ));
        }
        (Some(proved), _) => Some(proved),
        (None, Some(named)) => Some(dpop_jkt(named)?),
        (None, None) => None,
    };
    let pushed = oauth
        .store()
        .call(move |s| s.push_authorization_request(request))
        .await
        // What was pushed is an authorization request, and its errors are
        // that endpoint's (a redirect URI it did not register is
        // `invalid_request`, not the token endpoint's `invalid_grant`).
        .map_err(|error| OAuthError::at(grantdb::Endpoint::Authorization, &error))?;
    // RFC 9126 §2.2: 201 Created.
    Ok(no_store(StatusCode::CREATED, &pushed))
}

fn dpop_jkt(named: &str) -> Result<Confirmation, OAuthError> {
    Confirmation::dpop(named).map_err(|error| OAuthError::token(&error))
}
