//! The authorization endpoint's pages (grantdb-axum checks the request and
//! completes it; this shows the sign-in and consent page and takes the
//! user's decision) and the seeds' profile APIs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use grantdb::NewConsent;
use grantdb_axum::{Authorization, AuthorizationError, OAuth, OAuthError, Params, ValidToken};

use super::AppState;
use super::pages::{ConsentView, LoginProblem, consent_page, error_page, protect};
use super::session::{Session, csrf_matches, same_origin};
use super::users::Refused;

/// What ends an authorization request before any page: the error page for
/// what cannot go back to the application, or the redirect for what can.
fn refusal(app: &AppState, oauth: &OAuth, error: AuthorizationError) -> Response {
    match error {
        AuthorizationError::Show { message } => {
            error_page(&app.settings.server_name, StatusCode::BAD_REQUEST, message)
        }
        redirect => protect(redirect.into_response_for(oauth)),
    }
}

/// The authorization request's parameters, carried through the form.
fn hidden_fields(params: &Params) -> Vec<(&'static str, String)> {
    let mut fields: Vec<(&'static str, String)> = [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "request_uri",
        "nonce",
        "dpop_jkt",
    ]
    .into_iter()
    .filter_map(|name| params.get(name).map(|value| (name, value.to_owned())))
    .collect();
    fields.extend(params.resources().iter().map(|r| ("resource", r.clone())));
    fields
}

/// The host (and port) of a redirect URI, as the page names it; a URI with
/// no host (an app's private scheme) is named by its scheme.
fn redirect_host(uri: &str) -> String {
    match fluent_uri::Uri::parse(uri) {
        Ok(parsed) => match parsed.authority() {
            Some(authority) if !authority.host().is_empty() => {
                let host = authority.host().to_ascii_lowercase();
                match authority.port() {
                    Some(port) if !port.is_empty() => format!("{host}:{port}"),
                    _ => host,
                }
            }
            _ => parsed.scheme().as_str().to_owned(),
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

/// The client's address, as the listener recorded it.
pub type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The IP address of `peer`, if known.
pub fn client_ip(peer: &Peer) -> Option<IpAddr> {
    peer.as_ref().map(|Extension(ConnectInfo(addr))| addr.ip())
}

/// The description of a refused request, for a page.
fn description(error: &OAuthError) -> String {
    error.0.error_description.clone().unwrap_or_default()
}

/// `GET /oauth/authorize`: the sign-in and consent page, or straight back to
/// the client with `approval_prompt=auto` when the signed-in user already
/// consented to `profile` alone (pretix).
pub async fn page(
    State(app): State<Arc<AppState>>,
    State(oauth): State<OAuth>,
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
    let auth = match oauth.check_authorization(&params).await {
        Ok(auth) => auth,
        Err(error) => return refusal(&app, &oauth, error),
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
        return protect(oauth.approve(&auth, subject, None).await);
    }
    let page = render(&app, &auth, &params, &session, None);
    if fresh {
        with_cookie(&app, page, &session)
    } else {
        page
    }
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
pub async fn sign_in(
    app: &AppState,
    params: &Params,
    session: &Session,
    from: Option<IpAddr>,
) -> Result<(String, Option<Session>), LoginProblem> {
    let (username, password) = (params.get("username"), params.get("password"));
    if let (None, None, Some(subject)) = (username, password, &session.subject) {
        return Ok((subject.clone(), None));
    }
    let username = username.ok_or(LoginProblem::MissingUsername)?.to_owned();
    let password = grantdb::Secret::from(password.ok_or(LoginProblem::MissingPassword)?);
    // Argon2 takes tens of milliseconds on purpose: off the runtime's threads.
    let users = Arc::clone(&app.users);
    let checked = tokio::task::spawn_blocking(move || {
        users
            .check(&username, password.expose(), from)
            .map(str::to_owned)
    })
    .await
    .unwrap_or(Err(Refused::Wrong));
    let subject = checked.map_err(|refused| match refused {
        Refused::Wrong => LoginProblem::WrongPassword,
        Refused::Throttled { .. } => LoginProblem::Throttled,
    })?;
    // A new session id at sign-in: an id planted before it (session
    // fixation) is worth nothing after.
    app.sessions.end(&session.id);
    let signed_in = app.sessions.start(Some(subject.clone()));
    Ok((subject, Some(signed_in)))
}

/// `POST /oauth/authorize`: the user's sign-in and decision.
pub async fn decision(
    State(app): State<Arc<AppState>>,
    State(oauth): State<OAuth>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let server = &app.settings.server_name;
    let params = match Params::from_body(&headers, &body) {
        Ok(params) => params,
        Err(error) => return error_page(server, StatusCode::BAD_REQUEST, &description(&error)),
    };
    let auth = match oauth.check_authorization(&params).await {
        Ok(auth) => auth,
        Err(error) => return refusal(&app, &oauth, error),
    };
    let Some(session) = verified_session(&app, &headers, &params) else {
        return refused_form(&app);
    };
    if params.get("decision") != Some("approve") {
        return protect(oauth.deny(&auth));
    }
    let (subject, new_session) = match sign_in(&app, &params, &session, client_ip(&peer)).await {
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
    let response = protect(oauth.approve(&auth, &subject, None).await);
    match new_session {
        Some(session) => with_cookie(&app, response, &session),
        None => response,
    }
}

/// `GET /api/v1/me` (pretix) and `GET /api/public/me` (Eventpop): the
/// profile of the token's user (the token in the header, or in the query).
pub async fn me(State(app): State<Arc<AppState>>, token: ValidToken) -> Response {
    match token.subject.as_deref().and_then(|s| app.users.profile(s)) {
        Some(profile) => Json(profile).into_response(),
        None => Json(serde_json::json!({ "client_id": token.client_id, "scope": token.scope }))
            .into_response(),
    }
}
