//! The authorization endpoint, without its pages: the host shows its own
//! sign-in and consent pages; this checks the request before any page
//! (client, redirect URI by exact match, response type, scope, PKCE, a
//! pushed request's `request_uri`), says whether an error may go back to
//! the client or must be shown to the user, and completes the request once
//! the user approved (the code, `state`, and `iss` as RFC 9207 asks) or
//! denied.

use axum::extract::{FromRequestParts, RawQuery};
use axum::response::{IntoResponse, Redirect, Response};
use grantdb::kv::Backend;
use grantdb::{
    AuthSession, AuthorizationRequest, Client, ClientId, ClientKind, Confirmation, GrantType,
    OAuthErrorCode, PkceChallenge, PushedApproval, Scope, Secret,
};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::config::OAuth;
use crate::error::OAuthError;
use crate::par::pkce_of;
use crate::params::Params;

/// An authorization request, checked in full: what the consent page shows
/// and what the code will carry.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Authorization {
    /// The client asking.
    pub client: Client,
    /// The registered redirect URI the answer goes to.
    pub redirect_uri: String,
    /// The `state` parameter, handed back with the answer.
    pub state: Option<String>,
    /// The scope to grant: the requested one, or the client's registered
    /// scopes when the request names none.
    pub scope: Scope,
    /// The PKCE challenge (RFC 7636).
    pub pkce: Option<PkceChallenge>,
    /// The OpenID Connect nonce.
    pub nonce: Option<String>,
    /// The `resource` parameters (RFC 8707).
    pub resources: Vec<String>,
    /// The key the code is bound to (`dpop_jkt`, RFC 9449 §10).
    pub dpop_jkt: Option<Confirmation>,
    /// The pushed request everything above came from (RFC 9126).
    pub request_uri: Option<Secret>,
    /// Whether the request named its redirect URI (the code is then bound
    /// to it, RFC 6749 §4.1.3).
    redirect_given: bool,
}

/// Why an authorization request goes no further.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizationError {
    /// The request cannot go back to the client (an unknown client, a
    /// redirect URI it did not register): show the message to the user,
    /// never redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11.1).
    Show {
        /// What to tell the user.
        message: &'static str,
    },
    /// Any other error: back to the registered redirect URI with `error`
    /// (RFC 6749 §4.1.2.1).
    Redirect {
        /// The registered redirect URI.
        redirect_uri: String,
        /// The request's `state`.
        state: Option<String>,
        /// The error code.
        error: OAuthErrorCode,
        /// A description for the client's developer.
        description: &'static str,
    },
}

impl AuthorizationError {
    /// The answer: the redirect to the client, or (for what must be shown)
    /// `400` with the message as plain text, for a host without a page of
    /// its own for it.
    pub fn into_response_for<B: Backend>(self, oauth: &OAuth<B>) -> Response {
        match self {
            AuthorizationError::Show { message } => {
                (StatusCode::BAD_REQUEST, message).into_response()
            }
            AuthorizationError::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => {
                let mut pairs = vec![
                    ("error", error.as_str()),
                    ("error_description", description),
                ];
                if let Some(state) = state.as_deref() {
                    pairs.push(("state", state));
                }
                pairs.push(("iss", &oauth.config().issuer));
                redirect_with(&redirect_uri, &pairs)
            }
        }
    }
}

const UNKNOWN_CLIENT: &str = "The request does not name an application this server knows.";

impl<B: Backend> OAuth<B> {
    /// Checks an authorization request (from the query of a `GET`, or the
    /// body of a `POST`) before any page is shown.
    pub async fn check_authorization(
        &self,
        params: &Params,
    ) -> Result<Authorization, AuthorizationError> {
        let show = |message| AuthorizationError::Show { message };
        let client_id: ClientId = params
            .get("client_id")
            .and_then(|id| id.parse().ok())
            .ok_or(show(UNKNOWN_CLIENT))?;
        let client = self
            .store()
            .client(&client_id)
            .await
            .ok()
            .flatten()
            .ok_or(show(UNKNOWN_CLIENT))?;
        if let Some(request_uri) = params.get("request_uri") {
            return self.pushed(client, request_uri).await;
        }
        let (redirect_uri, redirect_given) = resolve_redirect(&client, params.get("redirect_uri"))?;
        let state = params.get("state").map(str::to_owned);
        // From here on the redirect URI is known to be the client's: errors
        // go back to it.
        let back = |error, description| AuthorizationError::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description,
        };
        // RFC 6749 §3.1.1 treats a missing response_type as one not
        // understood: both are unsupported_response_type.
        if params.get("response_type") != Some("code") {
            return Err(back(
                OAuthErrorCode::UnsupportedResponseType,
                "response_type must be code",
            ));
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(back(
                OAuthErrorCode::UnauthorizedClient,
                "the client may not use the authorization code grant",
            ));
        }
        if client.require_pushed_requests {
            return Err(back(
                OAuthErrorCode::InvalidRequest,
                "this client must push its authorization requests (RFC 9126)",
            ));
        }
        let scope = match params.get("scope") {
            None => client.scopes.clone(),
            Some(text) => {
                let scope = Scope::parse(text)
                    .map_err(|_| back(OAuthErrorCode::InvalidScope, "malformed scope"))?;
                if !scope.is_subset(&client.scopes) {
                    return Err(back(
                        OAuthErrorCode::InvalidScope,
                        "the scope asks for more than the client registered",
                    ));
                }
                scope
            }
        };
        let pkce = pkce_of(params)
            .map_err(|_| back(OAuthErrorCode::InvalidRequest, "malformed PKCE parameters"))?;
        if pkce.is_none() && client.kind == ClientKind::Public {
            // RFC 9700 §2.1.1: PKCE for every public client.
            return Err(back(
                OAuthErrorCode::InvalidRequest,
                "a public client must send a PKCE code_challenge",
            ));
        }
        let dpop_jkt = params
            .get("dpop_jkt")
            .map(Confirmation::dpop)
            .transpose()
            .map_err(|_| back(OAuthErrorCode::InvalidRequest, "malformed dpop_jkt"))?;
        grantdb::check_resources(params.resources())
            .map_err(|_| back(OAuthErrorCode::InvalidTarget, "malformed resource"))?;
        Ok(Authorization {
            client,
            redirect_uri,
            redirect_given,
            state,
            scope,
            pkce,
            nonce: params.get("nonce").map(str::to_owned),
            resources: params.resources().to_vec(),
            dpop_jkt,
            request_uri: None,
        })
    }

    /// An authorization request by `request_uri` (RFC 9126 §4): everything
    /// but the client comes from what the client pushed.
    async fn pushed(
        &self,
        client: Client,
        request_uri: &str,
    ) -> Result<Authorization, AuthorizationError> {
        let (uri, id) = (Secret::from(request_uri), client.id);
        let looked_up = uri.clone();
        let pushed = self
            .store()
            .lookup(move |s| s.pushed_request(looked_up.expose(), &id))
            .await
            .map_err(|_| AuthorizationError::Show {
                message: "This sign-in request has expired or was used already. \
                          Go back to the application and start again.",
            })?;
        Ok(Authorization {
            client,
            redirect_uri: pushed.redirect_uri,
            redirect_given: true,
            state: pushed.state,
            scope: pushed.scope,
            pkce: None,
            nonce: pushed.nonce,
            resources: pushed.resources,
            dpop_jkt: None,
            request_uri: Some(uri),
        })
    }

    /// The user approved `authorization` as `subject` (with the sign-in
    /// behind it, for OpenID Connect): issues the code and answers the
    /// redirect back with `code`, `state` and `iss` (RFC 9207). A failure
    /// goes back as an error redirect.
    pub async fn approve(
        &self,
        authorization: &Authorization,
        subject: &str,
        session: Option<AuthSession>,
    ) -> Response {
        let issued = if let Some(uri) = &authorization.request_uri {
            let mut approval = PushedApproval::new(uri.clone(), authorization.client.id, subject);
            approval.auth_session = session;
            self.store()
                .call(move |s| s.issue_code_from_pushed(approval))
                .await
                .map(|(code, _)| code)
        } else {
            let request = code_request(authorization, subject, session);
            self.store().call(move |s| s.issue_code(request)).await
        };
        match issued {
            Ok(code) => {
                let mut pairs = vec![("code", code.code.expose())];
                if let Some(state) = authorization.state.as_deref() {
                    pairs.push(("state", state));
                }
                pairs.push(("iss", &self.config().issuer));
                redirect_with(&authorization.redirect_uri, &pairs)
            }
            Err(error) => {
                let code = error.oauth_code().unwrap_or(OAuthErrorCode::ServerError);
                AuthorizationError::Redirect {
                    redirect_uri: authorization.redirect_uri.clone(),
                    state: authorization.state.clone(),
                    error: code,
                    description: "the authorization could not be completed",
                }
                .into_response_for(self)
            }
        }
    }

    /// The user denied `authorization`: `access_denied` back to the client.
    pub fn deny(&self, authorization: &Authorization) -> Response {
        AuthorizationError::Redirect {
            redirect_uri: authorization.redirect_uri.clone(),
            state: authorization.state.clone(),
            error: OAuthErrorCode::AccessDenied,
            description: "the user denied the request",
        }
        .into_response_for(self)
    }
}

/// The store's request for an authorization sent in the query.
fn code_request(
    authorization: &Authorization,
    subject: &str,
    session: Option<AuthSession>,
) -> AuthorizationRequest {
    let mut request = AuthorizationRequest::new(authorization.client.id, subject)
        .resources(authorization.resources.iter().cloned());
    if !authorization.scope.is_empty() {
        request = request.scope(authorization.scope.clone());
    }
    if authorization.redirect_given {
        request = request.redirect_uri(&authorization.redirect_uri);
    }
    request.pkce.clone_from(&authorization.pkce);
    request.nonce.clone_from(&authorization.nonce);
    request.dpop_jkt.clone_from(&authorization.dpop_jkt);
    request.auth_session = session;
    request
}

/// The registered redirect URI the request names, or the only one the
/// client registered (RFC 6749 §3.1.2.3: with several, the request must name
/// one); compared as exact strings (RFC 9700 §4.1.3).
fn resolve_redirect(
    client: &Client,
    requested: Option<&str>,
) -> Result<(String, bool), AuthorizationError> {
    let show = |message| AuthorizationError::Show { message };
    match requested {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => Ok((uri.to_owned(), true)),
        Some(_) => Err(show(
            "The application asked to send you to an address it has not registered, \
             so this server will not send you there.",
        )),
        None => match client.redirect_uris.as_slice() {
            [only] => Ok((only.clone(), false)),
            [] => Err(show(
                "The application has no registered address to send you back to.",
            )),
            _ => Err(show(
                "The application registered several addresses to send you back to \
                 and did not say which one to use.",
            )),
        },
    }
}

/// A redirect to `uri` with `pairs` added to its query, never cached (it
/// carries a code), and no `Referer` for the client's page.
fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let separator = if uri.contains('?') { '&' } else { '?' };
    let mut response = Redirect::to(&format!("{uri}{separator}{query}")).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// An extractor: the parameters of an authorization request in the query
/// (RFC 6749 §4.1.1). Repeated parameters are refused (`400` with an
/// `invalid_request` body: the request cannot be trusted to go back).
#[derive(Debug, Clone)]
pub struct AuthorizationQuery(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for AuthorizationQuery {
    type Rejection = OAuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, OAuthError> {
        let RawQuery(query) = RawQuery::from_request_parts(parts, state)
            .await
            .unwrap_or(RawQuery(None));
        Params::from_query(query.as_deref()).map(AuthorizationQuery)
    }
}
