//! The token endpoint (RFC 6749 §3.2): `authorization_code` with PKCE,
//! `refresh_token`, `client_credentials`, `password` when the host offers
//! it, and the device grant (RFC 8628 §3.4). The client authenticates
//! first; a DPoP proof (RFC 9449) binds what is issued to its key. The
//! answer is RFC 6749 §5.1's JSON with `Cache-Control: no-store`, or §5.2's
//! error.

use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use grantdb::kv::Backend;
use grantdb::{
    AuthenticatedClient, ClientCredentialsRequest, CodeExchange, Confirmation, Error, GrantType,
    IssueRequest, RefreshRequest, Scope, Secret, TokenResponse,
};
use http::{HeaderMap, Method, StatusCode};

use crate::client_auth::authenticate;
use crate::config::{OAuth, PasswordAttempt};
use crate::error::{OAuthError, no_store};
use crate::observe::observed;
use crate::params::{OAuthForm, Params};

/// `POST` at the token endpoint.
pub async fn token<B: Backend>(
    State(oauth): State<OAuth<B>>,
    OriginalUri(uri): OriginalUri,
    form: OAuthForm,
) -> Response {
    let url = endpoint_url(&oauth, uri.path());
    observed(&oauth, "token", &form.headers, async {
        grant(&oauth, &form, &url)
            .await
            .map_or_else(IntoResponse::into_response, |tokens| {
                no_store(StatusCode::OK, &tokens)
            })
    })
    .await
}

/// The endpoint's URL as a DPoP proof names it: the issuer and the path.
pub(crate) fn endpoint_url<B: Backend>(oauth: &OAuth<B>, path: &str) -> String {
    format!("{}{path}", oauth.config().issuer)
}

/// The scope parameter, if the request names one (RFC 6749 §3.3).
pub(crate) fn optional_scope(params: &Params) -> Result<Option<Scope>, OAuthError> {
    params
        .get("scope")
        .map(Scope::parse)
        .transpose()
        .map_err(|error| OAuthError::token(&error))
}

/// The key the client proved it holds with this request's DPoP proof, if
/// it sent one (RFC 9449 §5). Without the `dpop` feature a proof cannot be
/// checked, so a request that sends one is refused rather than issued an
/// unbound token.
pub(crate) async fn proved_key<B: Backend>(
    oauth: &OAuth<B>,
    client: &AuthenticatedClient,
    headers: &HeaderMap,
    url: &str,
) -> Result<Option<Confirmation>, OAuthError> {
    let Some(proof) = headers.get("dpop") else {
        return Ok(None);
    };
    let invalid = OAuthError::invalid_dpop_proof;
    let proof = proof
        .to_str()
        .map_err(|_| invalid("the DPoP header is not text".to_owned()))?;
    #[cfg(feature = "dpop")]
    {
        crate::dpop::verify(oauth, &client.id(), proof, &Method::POST, url, None)
            .await
            .map(|verified| Some(verified.confirmation))
            .map_err(|error| invalid(error.to_string()))
    }
    #[cfg(not(feature = "dpop"))]
    {
        let _ = (oauth, client, proof, url, Method::POST);
        Err(invalid(
            "this server does not check DPoP proofs (feature `dpop`)".to_owned(),
        ))
    }
}

async fn grant<B: Backend>(
    oauth: &OAuth<B>,
    form: &OAuthForm,
    url: &str,
) -> Result<TokenResponse, OAuthError> {
    let (headers, params) = (&form.headers, &form.params);
    let grant_type: GrantType = params
        .required("grant_type")?
        .parse()
        .map_err(|error: Error| OAuthError::token(&error))?;
    let client = authenticate(oauth, headers, params).await?;
    let confirmation = proved_key(oauth, &client, headers, url).await?;
    let store_error = |error: Error| OAuthError::token(&error);
    let store = oauth.store();
    match grant_type {
        GrantType::AuthorizationCode => {
            let mut exchange = CodeExchange::new(params.required("code")?, &client)
                .resources(params.resources().iter().cloned());
            exchange.redirect_uri = params.get("redirect_uri").map(str::to_owned);
            exchange.code_verifier = params.get("code_verifier").map(Secret::from);
            exchange.confirmation = confirmation;
            store.call(move |s| s.exchange_code(exchange)).await
        }
        GrantType::RefreshToken => {
            let mut request = RefreshRequest::new(params.required("refresh_token")?, &client)
                .resources(params.resources().iter().cloned());
            request.scope = optional_scope(params)?;
            request.confirmation = confirmation;
            store.call(move |s| s.refresh(request)).await
        }
        GrantType::ClientCredentials => {
            let mut request = ClientCredentialsRequest::new(&client)
                .resources(params.resources().iter().cloned());
            request.scope = optional_scope(params)?;
            request.confirmation = confirmation;
            store
                .call(move |s| s.issue_client_credentials(request))
                .await
        }
        GrantType::Password => {
            let subject = password_subject(oauth, &client, form).await?;
            let mut request =
                IssueRequest::new(&client, subject).resources(params.resources().iter().cloned());
            request.scope = optional_scope(params)?;
            request.confirmation = confirmation;
            store.call(move |s| s.issue_for_subject(request)).await
        }
        // RFC 8628 §3.4: authorization_pending, slow_down, access_denied,
        // expired_token until the tokens come, once.
        GrantType::DeviceCode => {
            let device_code = Secret::from(params.required("device_code")?);
            store
                .call(move |s| s.poll_device(device_code.expose(), &client))
                .await
        }
        _ => Err(Error::UnsupportedGrantType),
    }
    .map_err(store_error)
}

/// The subject of a password grant, as the host's check says; without one
/// configured, the grant type is not offered.
async fn password_subject<B: Backend>(
    oauth: &OAuth<B>,
    client: &AuthenticatedClient,
    form: &OAuthForm,
) -> Result<String, OAuthError> {
    let params = &form.params;
    let Some(check) = oauth.config().password.clone() else {
        return Err(OAuthError::token(&Error::UnsupportedGrantType));
    };
    if !client.client().allows(GrantType::Password) {
        return Err(OAuthError::token(&Error::GrantTypeNotAllowed {
            grant_type: GrantType::Password,
        }));
    }
    let attempt = PasswordAttempt {
        username: params.required("username")?.to_owned(),
        password: Secret::from(params.required("password")?),
        client: client.clone(),
        remote_addr: form.remote_addr,
    };
    check(attempt)
        .await
        .ok_or_else(|| OAuthError::invalid_grant("wrong username or password"))
}
