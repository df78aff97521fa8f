//! The HTML pages a person sees: sign-in and consent, and the error page
//! shown when a request cannot be sent back to the application (RFC 6749
//! §4.1.2.1). Every page and redirect of the authorization endpoint carries
//! [`protect`]'s headers.

use std::fmt::Write as _;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use grantdb::Scope;

use super::scopes::describe;

/// The Content-Security-Policy of the authorization pages: nothing but this
/// server's stylesheet loads, no page may frame them (RFC 9700 §4.16), and
/// no `<base>` may redirect the form. (`form-action` is left out on purpose:
/// browsers apply it to the redirect that follows the form, which goes to the
/// application's own redirect URI.)
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The stylesheet of the pages, served at `/oauth/style.css`.
const STYLESHEET: &str = include_str!("style.css");

/// Adds the headers every authorization page and redirect needs: no framing
/// (clickjacking), no caching (the page carries a CSRF token, the redirect a
/// code), no referrer leaving the site.
pub fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::CONTENT_SECURITY_POLICY, CSP);
    set(header::CACHE_CONTROL, "no-store");
    set(header::PRAGMA, "no-cache");
    // `same-origin`, not `no-referrer`: with `no-referrer` a browser sends
    // `Origin: null` on the form's POST, and the origin check needs it.
    set(header::REFERRER_POLICY, "same-origin");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    response
}

/// `GET /oauth/style.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title`, the server's name above `main`, and `main`.
fn page(status: StatusCode, server_name: &str, title: &str, main: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=stylesheet href=\"/oauth/style.css\"></head>\
         <body><main><p class=server>{server}</p>{main}</main></body></html>",
        title = escape(title),
        server = escape(server_name),
    );
    protect((status, Html(body)).into_response())
}

/// The page for a request that cannot go back to the application (unknown
/// client, unregistered redirect URI) or a form that failed its CSRF check.
pub fn error_page(server_name: &str, status: StatusCode, message: &str) -> Response {
    let main = format!(
        "<h1>Authorization error</h1><p class=problem role=alert>{}</p>\
         <p>Nothing was shared. Go back to the application you came from and start again.</p>",
        escape(message)
    );
    page(status, server_name, "Authorization error", &main)
}

/// What went wrong with the sign-in fields, shown next to the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginProblem {
    /// The email field was empty.
    MissingUsername,
    /// The password field was empty.
    MissingPassword,
    /// No user has this email and password.
    WrongPassword,
    /// Too many failed sign-ins for this user or from this address: the
    /// password was not checked.
    Throttled,
}

/// What the consent page shows.
pub struct ConsentView<'a> {
    /// The server asking (the page's header).
    pub server_name: &'a str,
    /// The application's registered name.
    pub client_name: &'a str,
    /// Where the user goes back to: the redirect URI's host.
    pub redirect_host: &'a str,
    /// The scope that will be granted, defaults resolved.
    pub scope: &'a Scope,
    /// The authorization request, carried through the form.
    pub hidden: &'a [(&'static str, String)],
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// The signed-in user, when there is one: then only Approve and Deny show.
    pub signed_in_as: Option<&'a str>,
    /// The email typed so far (kept after a failed sign-in).
    pub username: &'a str,
    /// A sign-in problem to show next to its field.
    pub problem: Option<LoginProblem>,
}

fn scope_list(view: &ConsentView<'_>, out: &mut String) {
    let client = escape(view.client_name);
    if view.scope.is_empty() {
        let _ = write!(
            out,
            "<p>{client} asks only to know that you signed in: no access to your data.</p>"
        );
        return;
    }
    let _ = write!(
        out,
        "<h2 id=scopes-heading>{client} will be able to</h2>\
         <ul class=scopes aria-labelledby=scopes-heading>"
    );
    for token in view.scope.iter() {
        let _ = write!(
            out,
            "<li>{}<span class=scope-name>{}</span></li>",
            escape(&describe(token)),
            escape(token)
        );
    }
    out.push_str("</ul>");
}

/// One labelled input, with its error (if any) right below it.
fn field(out: &mut String, name: &str, label: &str, attributes: &str, error: Option<&str>) {
    let _ = write!(out, "<label for={name}>{label}</label>");
    let invalid = if error.is_some() {
        format!(" aria-invalid=true aria-describedby={name}-error")
    } else {
        String::new()
    };
    let _ = write!(out, "<input id={name} name={name} {attributes}{invalid}>");
    if let Some(error) = error {
        let _ = write!(
            out,
            "<p id={name}-error class=field-error role=alert>{}</p>",
            escape(error)
        );
    }
}

fn sign_in_fields(view: &ConsentView<'_>, out: &mut String) {
    if let Some(subject) = view.signed_in_as {
        let _ = write!(
            out,
            "<p class=signed-in>Signed in as <strong>{}</strong>.</p>",
            escape(subject)
        );
        return;
    }
    let (username_error, password_error) = match view.problem {
        Some(LoginProblem::MissingUsername) => (Some("Enter your email address."), None),
        Some(LoginProblem::MissingPassword) => (None, Some("Enter your password.")),
        Some(LoginProblem::WrongPassword) => (
            None,
            Some("That email address and password do not match. Check both and try again."),
        ),
        Some(LoginProblem::Throttled) => (
            None,
            Some("Too many failed sign-ins. Wait a minute, then try again."),
        ),
        None => (None, None),
    };
    // Focus goes where the user has to type next.
    let focus_username = view.username.is_empty() || username_error.is_some();
    out.push_str("<fieldset><legend>Sign in to decide</legend>");
    field(
        out,
        "username",
        "Email address",
        &format!(
            "type=text inputmode=email autocomplete=username autocapitalize=none \
             spellcheck=false value=\"{}\"{}",
            escape(view.username),
            if focus_username { " autofocus" } else { "" }
        ),
        username_error,
    );
    field(
        out,
        "password",
        "Password",
        &format!(
            "type=password autocomplete=current-password{}",
            if focus_username { "" } else { " autofocus" }
        ),
        password_error,
    );
    out.push_str("</fieldset>");
}

/// The sign-in and consent page, carrying the authorization request along.
pub fn consent_page(view: &ConsentView<'_>) -> Response {
    let client = escape(view.client_name);
    let mut main = format!(
        "<h1><span class=client>{client}</span> asks for access to your account</h1>\
         <p class=return>Whatever you decide, you go back to <strong>{}</strong>.</p>",
        escape(view.redirect_host)
    );
    scope_list(view, &mut main);
    main.push_str("<form method=post action=\"/oauth/authorize\">");
    for (name, value) in view.hidden {
        let _ = write!(
            main,
            "<input type=hidden name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    let _ = write!(
        main,
        "<input type=hidden name=\"csrf_token\" value=\"{}\">",
        escape(view.csrf)
    );
    sign_in_fields(view, &mut main);
    main.push_str(
        "<div class=actions>\
         <button type=submit name=decision value=approve class=primary>Approve</button>\
         <button type=submit name=decision value=deny>Deny</button></div></form>",
    );
    page(
        StatusCode::OK,
        view.server_name,
        &format!("Authorize {}", view.client_name),
        &main,
    )
}

/// What the device page shows (RFC 8628 §3.3): the code the device shows,
/// to type in, and the sign-in.
pub struct DeviceView<'a> {
    /// The server asking.
    pub server_name: &'a str,
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// The code typed so far (or from `verification_uri_complete`).
    pub user_code: &'a str,
    /// The signed-in user, if any.
    pub signed_in_as: Option<&'a str>,
    /// What went wrong with the last try, shown above the form.
    pub problem: Option<&'a str>,
}

/// `GET /device`: enter the code the device shows, sign in, approve or deny.
pub fn device_page(view: &DeviceView<'_>) -> Response {
    let mut main = String::from(
        "<h1>Connect a device</h1>\
         <p>Enter the code your device shows, then approve or deny its access.</p>",
    );
    if let Some(problem) = view.problem {
        let _ = write!(main, "<p class=problem role=alert>{}</p>", escape(problem));
    }
    main.push_str("<form method=post action=\"/device\">");
    let _ = write!(
        main,
        "<input type=hidden name=\"csrf_token\" value=\"{}\">",
        escape(view.csrf)
    );
    field(
        &mut main,
        "user_code",
        "Code shown on the device",
        &format!(
            "type=text autocomplete=off autocapitalize=characters spellcheck=false \
             value=\"{}\" autofocus",
            escape(view.user_code)
        ),
        None,
    );
    let sign_in = ConsentView {
        server_name: view.server_name,
        client_name: "",
        redirect_host: "",
        scope: &Scope::empty(),
        hidden: &[],
        csrf: view.csrf,
        signed_in_as: view.signed_in_as,
        username: "",
        problem: None,
    };
    sign_in_fields(&sign_in, &mut main);
    main.push_str(
        "<div class=actions>\
         <button type=submit name=decision value=approve class=primary>Approve</button>\
         <button type=submit name=decision value=deny>Deny</button></div></form>",
    );
    page(StatusCode::OK, view.server_name, "Connect a device", &main)
}

/// The page after the user answered a device's request.
pub fn device_done_page(server_name: &str, approved: bool, client_name: &str) -> Response {
    let main = if approved {
        format!(
            "<h1>Device connected</h1><p><span class=client>{}</span> can now use your \
             account. Go back to your device: it continues by itself.</p>",
            escape(client_name)
        )
    } else {
        "<h1>Request denied</h1><p>The device got no access. You can close this page.</p>"
            .to_owned()
    };
    page(StatusCode::OK, server_name, "Connect a device", &main)
}
