//! Browser sessions of the authorization pages: a random id in an
//! `HttpOnly; SameSite=Lax` cookie (`Secure` when the server is told it is
//! served over TLS), a CSRF token bound to the session on every form, an
//! expiry, and a new id at login (no session fixation).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use rand::Rng as _;

/// The cookie's name.
const COOKIE: &str = "sid";

/// The most sessions of visitors who have not signed in kept at once
/// (about 200 bytes each); past it, the oldest of them makes room.
const MAX_ANONYMOUS: usize = 100_000;

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

/// Every live session. A flood of visitors who never sign in (every page
/// view of a new browser starts a session, for its form's CSRF token) must
/// neither grow memory without bound nor push out a signed-in user's
/// session: anonymous sessions are capped apart, and the oldest of them is
/// evicted in constant time (they are kept in the order they started,
/// which, all living as long, is the order they end).
pub struct Sessions {
    state: Mutex<State>,
    ttl: Duration,
    secure: bool,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Session>,
    /// Anonymous session ids, oldest first (ids of sessions since ended or
    /// signed in are skipped when they come up).
    anonymous: VecDeque<String>,
    /// Live anonymous sessions.
    anonymous_live: usize,
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl State {
    fn remove(&mut self, id: &str) {
        if let Some(removed) = self.sessions.remove(id)
            && removed.subject.is_none()
        {
            self.anonymous_live -= 1;
        }
    }

    /// Makes room for one more anonymous session: the oldest anonymous one
    /// goes (never a signed-in one). Amortised O(1).
    fn make_room(&mut self) {
        while self.anonymous_live >= MAX_ANONYMOUS {
            let Some(oldest) = self.anonymous.pop_front() else {
                return;
            };
            if self
                .sessions
                .get(&oldest)
                .is_some_and(|session| session.subject.is_none())
            {
                self.remove(&oldest);
            }
        }
        // Ids of sessions that ended meanwhile would otherwise pile up.
        if self.anonymous.len() > 2 * MAX_ANONYMOUS {
            let sessions = &self.sessions;
            self.anonymous
                .retain(|id| sessions.get(id).is_some_and(|s| s.subject.is_none()));
        }
    }
}

impl Sessions {
    /// Sessions that live `ttl`; `secure` adds `Secure` to the cookie.
    pub fn new(ttl: Duration, secure: bool) -> Sessions {
        Sessions {
            state: Mutex::new(State::default()),
            ttl,
            secure,
        }
    }

    /// The live session named by the request's cookie.
    pub fn current(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers)?;
        let mut state = self.state.lock();
        match state.sessions.get(&id) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                state.remove(&id);
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
        let session = Session {
            id: random_token(),
            subject,
            csrf: random_token(),
            expires: Instant::now() + self.ttl,
        };
        let mut state = self.state.lock();
        if session.subject.is_none() {
            state.make_room();
            state.anonymous.push_back(session.id.clone());
            state.anonymous_live += 1;
        }
        state.sessions.insert(session.id.clone(), session.clone());
        session
    }

    /// Ends a session (the id is replaced at login).
    pub fn end(&self, id: &str) {
        self.state.lock().remove(id);
    }

    /// Live sessions: anonymous, and signed in.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.state.lock();
        (
            state.anonymous_live,
            state.sessions.len() - state.anonymous_live,
        )
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
