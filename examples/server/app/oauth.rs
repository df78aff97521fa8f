//! The endpoints: authorize (GET page, POST decision), token, revoke,
//! introspect, and the pretix profile API.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantdb::{
    AuthorizationRequest, Client, ClientId, CodeExchange, Endpoint, Error, ErrorResponse,
    GrantType, OAuthErrorCode, PkceChallenge, PkceMethod, Scope,
};
use rand::Rng as _;

use super::AppState;
use super::errors::OAuthError;
use super::pages::{consent_page, error_page};
use super::params::{Params, authenticate};

// ------------------------------------------------------------ authorize

/// A request to the authorization endpoint, checked as far as it can be
/// without the user.
struct Authorization {
    client: Client,
    redirect_uri: String,
    redirect_given: bool,
    state: Option<String>,
    scope: String,
    pkce: Option<(String, String)>,
}

/// What to answer instead of going on.
enum Stop {
    /// Unknown client or unregistered redirect URI: show, never redirect.
    Page(String),
    /// Any other error: redirect back with `error` (RFC 6749 §4.1.2.1).
    Redirect(String),
}

impl Stop {
    /// The page or redirect that ends the authorization request.
    fn answer(self, params: &Params) -> Response {
        match self {
            Stop::Page(message) => error_page(&message),
            Stop::Redirect(code) => {
                let uri = params.get("redirect_uri").unwrap_or_default();
                redirect_error(uri, params.get("state"), &code)
            }
        }
    }
}

fn redirect_to(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let separator = if uri.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{uri}{separator}{query}")).into_response()
}

fn redirect_error(auth_redirect: &str, state: Option<&str>, error: &str) -> Response {
    let mut pairs = vec![("error", error)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    redirect_to(auth_redirect, &pairs)
}

async fn check_authorization(app: &AppState, params: &Params) -> Result<Authorization, Stop> {
    let client_id: ClientId = params
        .get("client_id")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Stop::Page("unknown client".into()))?;
    let client = app
        .store
        .client(&client_id)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| Stop::Page("unknown client".into()))?;
    let (redirect_uri, redirect_given) = match params.get("redirect_uri") {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => (uri.to_owned(), true),
        Some(_) => {
            return Err(Stop::Page(
                "the redirect URI is not registered for this client".into(),
            ));
        }
        None => (
            client
                .redirect_uris
                .first()
                .cloned()
                .ok_or_else(|| Stop::Page("the client has no redirect URI".into()))?,
            false,
        ),
    };
    let state = params.get("state").map(str::to_owned);
    if params.get("response_type") != Some("code") {
        return Err(Stop::Redirect("unsupported_response_type".into()));
    }
    let scope = params.get("scope").unwrap_or_default().to_owned();
    let pkce = params.get("code_challenge").map(|challenge| {
        (
            challenge.to_owned(),
            params
                .get("code_challenge_method")
                .unwrap_or("plain")
                .to_owned(),
        )
    });
    Ok(Authorization {
        client,
        redirect_uri,
        redirect_given,
        state,
        scope,
        pkce,
    })
}

/// Issues the code and redirects back with it and the state.
async fn issue_and_redirect(app: &AppState, auth: &Authorization, subject: &str) -> Response {
    let error = |code: &str| redirect_error(&auth.redirect_uri, auth.state.as_deref(), code);
    let mut request = AuthorizationRequest::new(auth.client.id, subject);
    if !auth.scope.is_empty() {
        match Scope::parse(&auth.scope) {
            Ok(scope) => request = request.scope(scope),
            Err(_) => return error("invalid_scope"),
        }
    }
    if auth.redirect_given {
        request = request.redirect_uri(&auth.redirect_uri);
    }
    if let Some((challenge, method)) = &auth.pkce {
        match PkceMethod::parse(Some(method)).and_then(|m| PkceChallenge::new(m, challenge.clone()))
        {
            Ok(pkce) => request = request.pkce(pkce),
            Err(_) => return error("invalid_request"),
        }
    }
    match app.store.issue_code(&request).await {
        Ok(code) => {
            let mut pairs = vec![("code", code.code.expose())];
            if let Some(state) = &auth.state {
                pairs.push(("state", state));
            }
            redirect_to(&auth.redirect_uri, &pairs)
        }
        Err(e) => match e.oauth_code() {
            Some(code) => error(code.as_str()),
            None => error("server_error"),
        },
    }
}

fn hidden_fields(params: &Params) -> Vec<(&'static str, String)> {
    [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ]
    .into_iter()
    .filter_map(|name| params.get(name).map(|value| (name, value.to_owned())))
    .collect()
}

fn session_subject(app: &AppState, headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let sid = cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix("sid="))?;
    app.sessions.lock().get(sid).cloned()
}

/// `GET /oauth/authorize`: the login and consent page, or straight back to the
/// client with `approval_prompt=auto` when consent to `profile` alone was
/// already given (pretix).
pub async fn authorize_page(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::from_query(query.as_deref()) {
        Ok(params) => params,
        Err(error) => return error_page(&description(&error)),
    };
    let auth = match check_authorization(&app, &params).await {
        Ok(auth) => auth,
        Err(stop) => return stop.answer(&params),
    };
    if params.get("approval_prompt") == Some("auto")
        && auth.scope == "profile"
        && let Some(subject) = session_subject(&app, &headers)
    {
        let profile = Scope::parse("profile").unwrap_or_default();
        if app
            .store
            .has_consent(&subject, &auth.client.id, &profile)
            .await
            .unwrap_or(false)
        {
            return issue_and_redirect(&app, &auth, &subject).await;
        }
    }
    let hidden = hidden_fields(&params);
    let hidden: Vec<(&str, &str)> = hidden.iter().map(|(n, v)| (*n, v.as_str())).collect();
    consent_page(&auth.client.name, &auth.scope, &hidden, None)
}

/// The description of a refused request, for a page.
fn description(error: &OAuthError) -> String {
    error.0.error_description.clone().unwrap_or_default()
}

/// `POST /oauth/authorize`: the user's login and decision.
pub async fn authorize_decision(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::from_body(&headers, &body) {
        Ok(params) => params,
        Err(error) => return error_page(&description(&error)),
    };
    let auth = match check_authorization(&app, &params).await {
        Ok(auth) => auth,
        Err(stop) => return stop.answer(&params),
    };
    if params.get("decision") != Some("approve") {
        return redirect_error(&auth.redirect_uri, auth.state.as_deref(), "access_denied");
    }
    let username = params.get("username").unwrap_or_default();
    let Some(subject) = app
        .users
        .check(username, params.get("password").unwrap_or_default())
    else {
        let hidden = hidden_fields(&params);
        let hidden: Vec<(&str, &str)> = hidden.iter().map(|(n, v)| (*n, v.as_str())).collect();
        return consent_page(
            &auth.client.name,
            &auth.scope,
            &hidden,
            Some("wrong username or password"),
        );
    };
    let subject = subject.to_owned();
    if let Ok(scope) = Scope::parse(&auth.scope) {
        let _ = app
            .store
            .record_consent(&subject, &auth.client.id, &scope)
            .await;
    }
    let mut response = issue_and_redirect(&app, &auth, &subject).await;
    let mut sid = [0u8; 24];
    rand::rng().fill_bytes(&mut sid);
    let sid = URL_SAFE_NO_PAD.encode(sid);
    app.sessions.lock().insert(sid.clone(), subject);
    if let Ok(cookie) = HeaderValue::from_str(&format!("sid={sid}; HttpOnly; SameSite=Lax; Path=/"))
    {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

// ------------------------------------------------------------ token

fn token_response(tokens: &grantdb::TokenResponse) -> Response {
    let mut response = Json(tokens).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn optional_scope(params: &Params) -> Result<Option<Scope>, OAuthError> {
    params
        .get("scope")
        .map(Scope::parse)
        .transpose()
        .map_err(|e| OAuthError::from_store(&e))
}

async fn grant(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let params = Params::from_body(headers, body)?;
    let grant_type: GrantType = params
        .required("grant_type")?
        .parse()
        .map_err(|e: Error| OAuthError::from_store(&e))?;
    let client = authenticate(&app.store, headers, &params).await?;
    let store_error = |e: Error| OAuthError::from_store(&e);
    let tokens = match grant_type {
        GrantType::AuthorizationCode => {
            let mut exchange = CodeExchange::new(params.required("code")?, client.id);
            exchange.redirect_uri = params.get("redirect_uri");
            exchange.code_verifier = params.get("code_verifier");
            app.store
                .exchange_code(&exchange)
                .await
                .map_err(store_error)?
        }
        GrantType::RefreshToken => {
            let scope = optional_scope(&params)?;
            app.store
                .refresh(
                    params.required("refresh_token")?,
                    &client.id,
                    scope.as_ref(),
                )
                .await
                .map_err(store_error)?
        }
        GrantType::Password => {
            if !client.allows(GrantType::Password) {
                return Err(store_error(Error::GrantTypeNotAllowed {
                    grant_type: GrantType::Password,
                }));
            }
            let subject = app
                .users
                .check(params.required("username")?, params.required("password")?)
                .ok_or_else(|| OAuthError::invalid_grant("wrong username or password"))?;
            let scope = optional_scope(&params)?;
            app.store
                .issue_for_subject(&client.id, subject, scope.as_ref())
                .await
                .map_err(store_error)?
        }
        GrantType::ClientCredentials => {
            let scope = optional_scope(&params)?;
            app.store
                .issue_client_credentials(&client.id, scope.as_ref())
                .await
                .map_err(store_error)?
        }
        // A grant type this server does not serve.
        _ => return Err(store_error(Error::UnsupportedGrantType)),
    };
    Ok(token_response(&tokens))
}

/// `POST /oauth/token`: every grant type of the four seeds.
pub async fn token(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    grant(&app, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

// ------------------------------------------------------------ revoke, introspect

async fn revocation(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let params = Params::from_body(headers, body)?;
    let client = authenticate(&app.store, headers, &params).await?;
    let token = params.required("token")?;
    // The hint is optional and not needed: grantdb tokens carry their kind.
    match app.store.revoke(token, &client.id).await {
        // RFC 7009 §2.2: 200 whether or not the token was valid.
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(error) => Err(OAuthError(ErrorResponse::new(&error, Endpoint::Revocation))),
    }
}

/// `POST /oauth/revoke_token` (pretix) and `POST /oauth/revoke`: RFC 7009.
pub async fn revoke(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    revocation(&app, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn introspection(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let params = Params::from_body(headers, body)?;
    let client = authenticate(&app.store, headers, &params).await?;
    if client.kind != grantdb::ClientKind::Confidential {
        return Err(OAuthError::invalid_client());
    }
    let answer = app
        .store
        .introspect(params.required("token")?)
        .await
        .map_err(|e| OAuthError(ErrorResponse::new(&e, Endpoint::Introspection)))?;
    Ok(Json(answer).into_response())
}

/// `POST /oauth/introspect`: RFC 7662, for authenticated confidential clients.
pub async fn introspect(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    introspection(&app, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

// ------------------------------------------------------------ resource

/// The bearer token from `Authorization: Bearer`, or from `access_token` in
/// the query as Eventpop allows (RFC 6750 §2). No token at all is a bare
/// challenge (§3.1: no error code); a malformed one, or two at once,
/// `invalid_request`.
fn bearer(headers: &HeaderMap, params: &Params) -> Result<String, ErrorResponse> {
    let malformed =
        || ErrorResponse::from_code(OAuthErrorCode::InvalidRequest, "malformed bearer token");
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let text = value.to_str().map_err(|_| malformed())?;
            match text.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer")
                        && !token.trim().is_empty()
                        && !token.trim().contains(' ') =>
                {
                    Some(token.trim().to_owned())
                }
                _ => return Err(malformed()),
            }
        }
    };
    match (from_header, params.get("access_token")) {
        (Some(_), Some(_)) => Err(malformed()),
        (Some(token), None) => Ok(token),
        (None, Some(token)) => Ok(token.to_owned()),
        (None, None) => Err(ErrorResponse::missing_bearer_token()),
    }
}

/// `GET /api/v1/me`: the profile of the token's user (pretix).
pub async fn me(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let refuse = |answer: ErrorResponse| OAuthError(answer).into_response();
    let Ok(params) = Params::from_query(query.as_deref()) else {
        return refuse(ErrorResponse::invalid_request("malformed query string"));
    };
    let token = match bearer(&headers, &params) {
        Ok(token) => token,
        Err(answer) => return refuse(answer),
    };
    match app.store.validate(&token).await {
        Ok(info) => match info.subject.as_deref().and_then(|s| app.users.profile(s)) {
            Some(profile) => Json(profile).into_response(),
            None => Json(serde_json::json!({ "client_id": info.client_id, "scope": info.scope }))
                .into_response(),
        },
        Err(error) => refuse(ErrorResponse::new(&error, Endpoint::Resource)),
    }
}
