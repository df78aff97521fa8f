//! The HTML pages: login and consent, and the error page shown when a request
//! cannot be redirected (RFC 6749 §4.1.2.1).

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

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

/// The page for a request that names an unknown client or an unregistered
/// redirect URI: shown to the user, never redirected.
pub fn error_page(message: &str) -> Response {
    let body = format!(
        "<!doctype html><title>Authorization error</title><h1>Authorization error</h1><p>{}</p>",
        escape(message)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// The login and consent form, carrying the authorization request along.
pub fn consent_page(
    client_name: &str,
    scope: &str,
    hidden: &[(&str, &str)],
    problem: Option<&str>,
) -> Response {
    let mut fields = String::new();
    for (name, value) in hidden {
        let _ = write!(
            fields,
            "<input type=hidden name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    let mut scopes = String::new();
    for token in scope.split(' ').filter(|s| !s.is_empty()) {
        let _ = write!(scopes, "<li>{}</li>", escape(token));
    }
    let problem = problem
        .map(|p| format!("<p class=error>{}</p>", escape(p)))
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><title>Authorize {name}</title>\
         <h1>{name} asks for access</h1>{problem}<ul>{scopes}</ul>\
         <form method=post action=\"/oauth/authorize\">{fields}\
         <label>Username <input name=username></label>\
         <label>Password <input name=password type=password></label>\
         <button name=decision value=approve>Approve</button>\
         <button name=decision value=deny>Deny</button></form>",
        name = escape(client_name),
    );
    Html(body).into_response()
}
