//! The endpoints: authorize (GET page, POST decision), token, revoke,
//! introspect, and the seeds' profile APIs.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use grantdb::{
    AuthorizationRequest, Client, ClientId, ClientKind, CodeExchange, Endpoint, Error,
    ErrorResponse, GrantType, OAuthErrorCode, PkceChallenge, PkceMethod, Scope,
};
use grantdb::{ClientCredentialsRequest, IssueRequest, NewConsent, PushedApproval, RefreshRequest};
use grantdb::{IntrospectRequest, Secret};

use super::AppState;
use super::errors::OAuthError;
use super::pages::{ConsentView, LoginProblem, consent_page, error_page, protect};
use super::params::{Params, authenticate};
use super::session::{Session, csrf_matches, same_origin};

// ------------------------------------------------------------ authorize

/// A request to the authorization endpoint, checked in full (client,
/// redirect URI, response type, scope, PKCE) before any page is shown.
struct Authorization {
    client: Client,
    /// The registered redirect URI the answer goes to (absolute).
    redirect_uri: String,
    /// Whether the request named it (then the code is bound to it).
    redirect_given: bool,
    state: Option<String>,
    /// The scope that will be granted: the requested one, or the client's
    /// registered scope when the request names none.
    scope: Scope,
    pkce: Option<PkceChallenge>,
    /// The `request_uri` of a pushed request (RFC 9126): the code is issued
    /// from it, and everything above was read from it.
    pushed: Option<String>,
}

/// What to answer instead of going on.
enum Stop {
    /// The request cannot go back to the application (unknown client, a
    /// redirect URI that is not registered): show a page, never redirect.
    Page(&'static str),
    /// Any other error: back to the registered redirect URI with `error`
    /// (RFC 6749 §4.1.2.1).
    Redirect {
        uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

impl Stop {
    /// The page or redirect that ends the authorization request.
    fn answer(self, app: &AppState) -> Response {
        match self {
            Stop::Page(message) => {
                error_page(&app.settings.server_name, StatusCode::BAD_REQUEST, message)
            }
            Stop::Redirect {
                uri,
                state,
                error,
                description,
            } => redirect_error(&uri, state.as_deref(), error, description),
        }
    }
}

/// A redirect to `uri` with `pairs` added to its query, with the
/// authorization pages' headers (no caching of a code).
fn redirect_to(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let separator = if uri.contains('?') { '&' } else { '?' };
    protect(Redirect::to(&format!("{uri}{separator}{query}")).into_response())
}

fn redirect_error(uri: &str, state: Option<&str>, error: &str, description: &str) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    redirect_to(uri, &pairs)
}

/// The registered redirect URI the request names, or the only one the client
/// registered (RFC 6749 §3.1.2.3: with several, the request must name one).
fn resolve_redirect(client: &Client, requested: Option<&str>) -> Result<(String, bool), Stop> {
    match requested {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => Ok((uri.to_owned(), true)),
        Some(_) => Err(Stop::Page(
            "The application asked to send you to an address it has not registered, \
             so this server will not send you there.",
        )),
        None => match client.redirect_uris.as_slice() {
            [only] => Ok((only.clone(), false)),
            [] => Err(Stop::Page(
                "The application has no registered address to send you back to.",
            )),
            _ => Err(Stop::Page(
                "The application registered several addresses to send you back to \
                 and did not say which one to use.",
            )),
        },
    }
}

/// An authorization request by `request_uri` (RFC 9126 §4): everything but
/// the client comes from what the client pushed.
async fn pushed_authorization(
    app: &AppState,
    client: Client,
    request_uri: &str,
) -> Result<Authorization, Stop> {
    let (uri, id) = (request_uri.to_owned(), client.id);
    let pushed = app
        .store
        .lookup(move |s| s.pushed_request(&uri, &id))
        .await
        .map_err(|_| {
            Stop::Page(
                "This sign-in request has expired or was used already. \
                 Go back to the application and start again.",
            )
        })?;
    Ok(Authorization {
        client,
        redirect_uri: pushed.redirect_uri,
        redirect_given: true,
        state: pushed.state,
        scope: pushed.scope,
        pkce: None,
        pushed: Some(request_uri.to_owned()),
    })
}

async fn check_authorization(app: &AppState, params: &Params) -> Result<Authorization, Stop> {
    const UNKNOWN: &str = "The request does not name an application this server knows.";
    let client_id: ClientId = params
        .get("client_id")
        .and_then(|id| id.parse().ok())
        .ok_or(Stop::Page(UNKNOWN))?;
    let client = app
        .store
        .client(&client_id)
        .await
        .ok()
        .flatten()
        .ok_or(Stop::Page(UNKNOWN))?;
    if let Some(request_uri) = params.get("request_uri") {
        return pushed_authorization(app, client, request_uri).await;
    }
    let (redirect_uri, redirect_given) = resolve_redirect(&client, params.get("redirect_uri"))?;
    let state = params.get("state").map(str::to_owned);
    // From here on the redirect URI is known to be safe: errors go back to it.
    let back = |error, description| Stop::Redirect {
        uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    };
    if params.get("response_type") != Some("code") {
        return Err(back(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(back(
            "unauthorized_client",
            "the client may not use the authorization code grant",
        ));
    }
    if client.require_pushed_requests {
        return Err(back(
            "invalid_request",
            "this client must push its authorization requests (RFC 9126)",
        ));
    }
    let scope = match params.get("scope") {
        None => client.scopes.clone(),
        Some(text) => {
            let scope = Scope::parse(text).map_err(|_| back("invalid_scope", "malformed scope"))?;
            if !scope.is_subset(&client.scopes) {
                return Err(back(
                    "invalid_scope",
                    "the scope asks for more than the client registered",
                ));
            }
            scope
        }
    };
    let pkce = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, Some(_)) => {
            return Err(back(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        (None, None) if client.kind == ClientKind::Public => {
            return Err(back(
                "invalid_request",
                "a public client must send a PKCE code_challenge",
            ));
        }
        (None, None) => None,
        (Some(challenge), method) => {
            let method = PkceMethod::parse(method).map_err(|_| {
                back(
                    "invalid_request",
                    "code_challenge_method must be S256 or plain",
                )
            })?;
            Some(
                PkceChallenge::new(method, challenge)
                    .map_err(|_| back("invalid_request", "malformed code_challenge"))?,
            )
        }
    };
    Ok(Authorization {
        client,
        redirect_uri,
        redirect_given,
        state,
        scope,
        pkce,
        pushed: None,
    })
}

/// Issues the code and redirects back with it and the state.
async fn issue_and_redirect(app: &AppState, auth: &Authorization, subject: &str) -> Response {
    let issued = if let Some(uri) = &auth.pushed {
        let approval = PushedApproval::new(uri, auth.client.id, subject);
        app.store
            .call(move |s| s.issue_code_from_pushed(approval))
            .await
            .map(|(code, _)| code)
    } else {
        let request = direct_request(auth, subject);
        app.store.call(move |s| s.issue_code(request)).await
    };
    match issued {
        Ok(code) => {
            let mut pairs = vec![("code", code.code.expose())];
            if let Some(state) = &auth.state {
                pairs.push(("state", state));
            }
            redirect_to(&auth.redirect_uri, &pairs)
        }
        Err(e) => {
            let code = e.oauth_code().map_or("server_error", |code| code.as_str());
            redirect_error(
                &auth.redirect_uri,
                auth.state.as_deref(),
                code,
                "the authorization could not be completed",
            )
        }
    }
}

/// The store's request for an authorization sent in the query.
fn direct_request(auth: &Authorization, subject: &str) -> AuthorizationRequest {
    let mut request = AuthorizationRequest::new(auth.client.id, subject);
    if !auth.scope.is_empty() {
        request = request.scope(auth.scope.clone());
    }
    if auth.redirect_given {
        request = request.redirect_uri(&auth.redirect_uri);
    }
    if let Some(pkce) = &auth.pkce {
        request = request.pkce(pkce.clone());
    }
    request
}

/// The authorization request's parameters, carried through the form.
fn hidden_fields(params: &Params) -> Vec<(&'static str, String)> {
    [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "request_uri",
    ]
    .into_iter()
    .filter_map(|name| params.get(name).map(|value| (name, value.to_owned())))
    .collect()
}

/// The host (and port) of a redirect URI, as the page names it; a URI with
/// no host (an app's private scheme) is named by its scheme.
fn redirect_host(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(url) => match url.host_str() {
            Some(host) => url
                .port()
                .map_or_else(|| host.to_owned(), |port| format!("{host}:{port}")),
            None => url.scheme().to_owned(),
        },
        Err(_) => uri.to_owned(),
    }
}

/// The sign-in and consent page for `auth`, in `session`.
fn render(
    app: &AppState,
    auth: &Authorization,
    params: &Params,
    session: &Session,
    problem: Option<LoginProblem>,
) -> Response {
    let hidden = hidden_fields(params);
    consent_page(&ConsentView {
        server_name: &app.settings.server_name,
        client_name: &auth.client.name,
        redirect_host: &redirect_host(&auth.redirect_uri),
        scope: &auth.scope,
        hidden: &hidden,
        csrf: &session.csrf,
        signed_in_as: session.subject.as_deref(),
        username: params.get("username").unwrap_or_default(),
        problem,
    })
}

/// Sets `session`'s cookie on `response`.
pub fn with_cookie(app: &AppState, mut response: Response, session: &Session) -> Response {
    if let Some(cookie) = app.sessions.cookie(session) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /oauth/authorize`: the sign-in and consent page, or straight back to
/// the client with `approval_prompt=auto` when the signed-in user already
/// consented to `profile` alone (pretix).
pub async fn authorize_page(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::from_query(query.as_deref()) {
        Ok(params) => params,
        Err(error) => {
            let message = description(&error);
            return error_page(&app.settings.server_name, StatusCode::BAD_REQUEST, &message);
        }
    };
    let auth = match check_authorization(&app, &params).await {
        Ok(auth) => auth,
        Err(stop) => return stop.answer(&app),
    };
    let (session, fresh) = app.sessions.current_or_new(&headers);
    if params.get("approval_prompt") == Some("auto")
        && auth.scope.as_str() == "profile"
        && let Some(subject) = &session.subject
        && let (id, who) = (auth.client.id, subject.clone())
        && app
            .store
            .lookup(move |s| s.consent(&id, &who))
            .await
            .is_ok_and(|consent| consent.is_some_and(|c| c.covers(&auth.scope)))
    {
        return issue_and_redirect(&app, &auth, subject).await;
    }
    let page = render(&app, &auth, &params, &session, None);
    if fresh {
        with_cookie(&app, page, &session)
    } else {
        page
    }
}

/// The description of a refused request, for a page.
fn description(error: &OAuthError) -> String {
    error.0.error_description.clone().unwrap_or_default()
}

/// The session of a form POST, if the form is this server's: the request
/// comes from this server's origin and carries the session's CSRF token.
pub fn verified_session(app: &AppState, headers: &HeaderMap, params: &Params) -> Option<Session> {
    let session = app.sessions.current(headers)?;
    (same_origin(headers) && csrf_matches(&session, params.get("csrf_token"))).then_some(session)
}

/// The page that refuses a form [`verified_session`] does not accept.
pub fn refused_form(app: &AppState) -> Response {
    error_page(
        &app.settings.server_name,
        StatusCode::FORBIDDEN,
        "This form could not be verified: it was not sent from this server's page, \
         or the page was open too long.",
    )
}

/// The user behind an approval: the one who signs in with this form (then
/// with a new session), or the session's signed-in user.
pub fn sign_in(
    app: &AppState,
    params: &Params,
    session: &Session,
) -> Result<(String, Option<Session>), LoginProblem> {
    let (username, password) = (params.get("username"), params.get("password"));
    if let (None, None, Some(subject)) = (username, password, &session.subject) {
        return Ok((subject.clone(), None));
    }
    let username = username.ok_or(LoginProblem::MissingUsername)?;
    let password = password.ok_or(LoginProblem::MissingPassword)?;
    let subject = app
        .users
        .check(username, password)
        .ok_or(LoginProblem::WrongPassword)?;
    // A new session id at sign-in: an id planted before it (session
    // fixation) is worth nothing after.
    app.sessions.end(&session.id);
    let signed_in = app.sessions.start(Some(subject.to_owned()));
    Ok((subject.to_owned(), Some(signed_in)))
}

/// `POST /oauth/authorize`: the user's sign-in and decision.
pub async fn authorize_decision(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let server = &app.settings.server_name;
    let params = match Params::from_body(&headers, &body) {
        Ok(params) => params,
        Err(error) => return error_page(server, StatusCode::BAD_REQUEST, &description(&error)),
    };
    let auth = match check_authorization(&app, &params).await {
        Ok(auth) => auth,
        Err(stop) => return stop.answer(&app),
    };
    let Some(session) = verified_session(&app, &headers, &params) else {
        return refused_form(&app);
    };
    if params.get("decision") != Some("approve") {
        return redirect_error(
            &auth.redirect_uri,
            auth.state.as_deref(),
            "access_denied",
            "the user denied the request",
        );
    }
    let (subject, new_session) = match sign_in(&app, &params, &session) {
        Ok(signed_in) => signed_in,
        Err(problem) => {
            // Ask again, signed out, the email kept and the problem next to its field.
            let signed_out = Session {
                subject: None,
                ..session
            };
            return render(&app, &auth, &params, &signed_out, Some(problem));
        }
    };
    if !auth.scope.is_empty() {
        let consent = NewConsent::new(auth.client.id, &subject, auth.scope.clone());
        let _ = app.store.call(move |s| s.record_consent(consent)).await;
    }
    let response = issue_and_redirect(&app, &auth, &subject).await;
    match new_session {
        Some(session) => with_cookie(&app, response, &session),
        None => response,
    }
}

// ------------------------------------------------------------ token

pub fn token_response(tokens: &grantdb::TokenResponse) -> Response {
    no_store(StatusCode::OK, tokens)
}

/// A JSON answer that must not be cached: it carries a credential.
pub fn no_store(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

pub fn optional_scope(params: &Params) -> Result<Option<Scope>, OAuthError> {
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
            let mut exchange = CodeExchange::new(params.required("code")?, &client);
            exchange.redirect_uri = params.get("redirect_uri").map(str::to_owned);
            exchange.code_verifier = params.get("code_verifier").map(Secret::from);
            app.store
                .call(move |s| s.exchange_code(exchange))
                .await
                .map_err(store_error)?
        }
        GrantType::RefreshToken => {
            let mut request = RefreshRequest::new(params.required("refresh_token")?, &client);
            request.scope = optional_scope(&params)?;
            app.store
                .call(move |s| s.refresh(request))
                .await
                .map_err(store_error)?
        }
        GrantType::Password => {
            if !client.client().allows(GrantType::Password) {
                return Err(store_error(Error::GrantTypeNotAllowed {
                    grant_type: GrantType::Password,
                }));
            }
            let subject = app
                .users
                .check(params.required("username")?, params.required("password")?)
                .ok_or_else(|| OAuthError::invalid_grant("wrong username or password"))?;
            let mut request = IssueRequest::new(&client, subject);
            request.scope = optional_scope(&params)?;
            app.store
                .call(move |s| s.issue_for_subject(request))
                .await
                .map_err(store_error)?
        }
        GrantType::ClientCredentials => {
            let mut request = ClientCredentialsRequest::new(&client);
            request.scope = optional_scope(&params)?;
            app.store
                .call(move |s| s.issue_client_credentials(request))
                .await
                .map_err(store_error)?
        }
        // RFC 8628 §3.4: authorization_pending, slow_down, access_denied,
        // expired_token until the tokens come, once.
        GrantType::DeviceCode => {
            let device_code = Secret::from(params.required("device_code")?);
            app.store
                .call(move |s| s.poll_device(device_code.expose(), &client))
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
    let token = Secret::from(token);
    match app
        .store
        .call(move |s| s.revoke(token.expose(), &client))
        .await
    {
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
    if client.client().kind != grantdb::ClientKind::Confidential {
        return Err(OAuthError::invalid_client());
    }
    let answer = app
        .store
        .introspect(IntrospectRequest::new(params.required("token")?, &client))
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
/// the query as Eventpop allows (RFC 6750 §2). No bearer token at all (no
/// `Authorization`, or another scheme such as `Basic`) is a bare challenge
/// (§3.1: no error code, 401); a malformed one, or two at once,
/// `invalid_request`.
fn bearer(headers: &HeaderMap, params: &Params) -> Result<String, ErrorResponse> {
    let malformed =
        || ErrorResponse::from_code(OAuthErrorCode::InvalidRequest, "malformed bearer token");
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let text = value.to_str().map_err(|_| malformed())?;
            let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
            if !scheme.eq_ignore_ascii_case("bearer") {
                // Another scheme carries no bearer token.
                None
            } else if token.trim().is_empty() || token.trim().contains(' ') {
                return Err(malformed());
            } else {
                Some(token.trim().to_owned())
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

/// `GET /api/v1/me` (pretix) and `GET /api/public/me` (Eventpop): the
/// profile of the token's user.
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
