//! Browser sessions of the authorization pages: a random id in an
//! `HttpOnly; SameSite=Lax` cookie (`Secure` when the server is told it is
//! served over TLS), a CSRF token bound to the session on every form, an
//! expiry, and a new id at login (no session fixation).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use rand::Rng as _;

/// The cookie's name.
const COOKIE: &str = "sid";

/// The most sessions kept at once (about 200 bytes each).
const MAX_SESSIONS: usize = 100_000;

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session id (the cookie's value).
    pub id: String,
    /// Who logged in, if anyone did.
    pub subject: Option<String>,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// When the session ends (a sign-in does not extend it).
    pub expires: Instant,
}

/// Every live session.
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    ttl: Duration,
    secure: bool,
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    /// Sessions that live `ttl`; `secure` adds `Secure` to the cookie.
    pub fn new(ttl: Duration, secure: bool) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            ttl,
            secure,
        }
    }

    /// The live session named by the request's cookie.
    pub fn current(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers)?;
        let mut map = self.map.lock();
        match map.get(&id) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                map.remove(&id);
                None
            }
            None => None,
        }
    }

    /// The request's live session, or a new one (not signed in); `true` when
    /// it is new and its cookie must be set.
    pub fn current_or_new(&self, headers: &HeaderMap) -> (Session, bool) {
        match self.current(headers) {
            Some(session) => (session, false),
            None => (self.start(None), true),
        }
    }

    /// Starts a session for `subject` (a login: always a new id).
    pub fn start(&self, subject: Option<String>) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_token(),
            subject,
            csrf: random_token(),
            expires: now + self.ttl,
        };
        let mut map = self.map.lock();
        if map.len() >= MAX_SESSIONS {
            // Every page view starts a session: a flood of them must not
            // grow without bound. Expired ones go first, then the oldest.
            map.retain(|_, s| s.expires > now);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map.values().min_by_key(|s| s.expires).map(|s| s.id.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(session.id.clone(), session.clone());
        session
    }

    /// Ends a session (the id is replaced at login).
    pub fn end(&self, id: &str) {
        self.map.lock().remove(id);
    }

    /// The `Set-Cookie` value for `session`.
    pub fn cookie(&self, session: &Session) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{secure}",
            session.id,
            self.ttl.as_secs()
        ))
        .ok()
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(&format!("{COOKIE}=")))
        .map(str::to_owned)
}

/// Whether `presented` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(session: &Session, presented: Option<&str>) -> bool {
    presented.is_some_and(|token| {
        constant_time_eq::constant_time_eq(token.as_bytes(), session.csrf.as_bytes())
    })
}

/// Whether a state-changing request comes from this server's own pages:
/// `Origin` (every current browser sends it on a POST), else `Referer`, must
/// name this server's origin. A request with neither (not a browser) is left
/// to the CSRF token.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let ours = |origin: &str| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|rest| rest == host)
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().is_ok_and(ours);
    }
    if let Some(referer) = headers.get(header::REFERER) {
        return referer.to_str().is_ok_and(|referer| {
            let origin_end = referer.find("://").map_or(referer.len(), |scheme| {
                referer[scheme + 3..]
                    .find('/')
                    .map_or(referer.len(), |path| scheme + 3 + path)
            });
            ours(&referer[..origin_end])
        });
    }
    true
}
