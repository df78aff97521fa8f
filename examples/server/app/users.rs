//! A demo user store: the example checks passwords itself, as a real server
//! would against its own user database; grantdb only stores tokens. The
//! passwords are kept as argon2id hashes (PHC strings) and compared in
//! constant time; failed sign-ins are throttled per user and per client
//! address, so that guessing a password takes years, not seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use parking_lot::Mutex;
use serde::Serialize;

/// A user's profile, as pretix's `/api/v1/me` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Login and subject.
    pub email: String,
    /// Display name.
    pub fullname: String,
    /// Preferred locale.
    pub locale: String,
    /// Staff flag.
    pub is_staff: bool,
    /// Time zone.
    pub timezone: String,
}

struct User {
    /// The argon2id hash of the password, as a PHC string.
    password_hash: String,
    profile: Profile,
}

/// Failed sign-ins one user may have per [`WINDOW`] before every attempt
/// for that user waits for the window to end.
pub const FAILURES_PER_USER: u32 = 5;
/// Failed sign-ins one client address may have per [`WINDOW`].
pub const FAILURES_PER_ADDRESS: u32 = 20;
/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_mins(1);
/// The most counters kept (a flood of addresses must not grow them without
/// bound): past it, counters whose window ended are dropped first.
const MAX_COUNTERS: usize = 100_000;

/// Why a sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No user has this email and password.
    Wrong,
    /// Too many failures for this user or from this address: try again in
    /// this many seconds (the password was not even checked).
    Throttled {
        /// Seconds until the window ends.
        retry_after: u64,
    },
}

/// The demo users, with the sign-in throttle.
pub struct Users {
    users: &'static [User],
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

/// The demo users' hashes, made once per process (argon2 is slow on
/// purpose).
fn demo_users() -> &'static [User] {
    static USERS: OnceLock<Vec<User>> = OnceLock::new();
    USERS.get_or_init(|| {
        let user =
            |email: &str, password: &str, fullname: &str, locale: &str, timezone: &str| User {
                password_hash: hash(password),
                profile: Profile {
                    email: email.to_owned(),
                    fullname: fullname.to_owned(),
                    locale: locale.to_owned(),
                    is_staff: false,
                    timezone: timezone.to_owned(),
                },
            };
        vec![
            user(
                "admin@localhost",
                "admin",
                "John Doe",
                "de",
                "Europe/Berlin",
            ),
            user(
                "john@domain.ch",
                "secretabc123",
                "John Example",
                "de-ch",
                "Europe/Zurich",
            ),
        ]
    })
}

/// The argon2id PHC string of `password`, with a random salt.
fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut salt);
    SaltString::encode_b64(&salt)
        .ok()
        .and_then(|salt| {
            let hashed = Argon2::default().hash_password(password.as_bytes(), &salt);
            hashed.ok().map(|hash| hash.to_string())
        })
        // Neither fails for 16 bytes of salt; if one did, the user could
        // not sign in (an empty string verifies nothing).
        .unwrap_or_default()
}

/// Whether `password` is the one `phc` hashes (constant time).
fn verifies(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

impl Users {
    /// pretix's example user and Ticketpark's.
    pub fn demo() -> Users {
        Users {
            users: demo_users(),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The subject, if `password` is the user's and neither the user nor
    /// the address `from` has failed too often lately. An unknown user costs
    /// the same hash as a known one, so that timing tells no email apart.
    pub fn check(
        &self,
        username: &str,
        password: &str,
        from: Option<IpAddr>,
    ) -> Result<&str, Refused> {
        let keys = [
            Some(format!("user:{username}")),
            from.map(|ip| format!("addr:{ip}")),
        ];
        let limits = [FAILURES_PER_USER, FAILURES_PER_ADDRESS];
        if let Some(retry_after) = self.throttled(&keys, &limits) {
            return Err(Refused::Throttled { retry_after });
        }
        let user = self.users.iter().find(|u| u.profile.email == username);
        let phc = user.map_or_else(
            || self.users[0].password_hash.as_str(),
            |u| u.password_hash.as_str(),
        );
        if let (true, Some(user)) = (verifies(phc, password), user) {
            return Ok(user.profile.email.as_str());
        }
        self.count_failure(&keys);
        Err(Refused::Wrong)
    }

    /// Seconds until the longest throttle among `keys` ends, if any is over
    /// its limit.
    fn throttled(&self, keys: &[Option<String>], limits: &[u32]) -> Option<u64> {
        let failures = self.failures.lock();
        keys.iter()
            .zip(limits)
            .filter_map(|(key, limit)| {
                let (start, count) = failures.get(key.as_ref()?)?;
                let left = WINDOW.checked_sub(start.elapsed())?;
                (count >= limit).then(|| left.as_secs().max(1))
            })
            .max()
    }

    fn count_failure(&self, keys: &[Option<String>]) {
        let mut failures = self.failures.lock();
        if failures.len() >= MAX_COUNTERS {
            failures.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        for key in keys.iter().flatten() {
            let counter = failures.entry(key.clone()).or_insert((Instant::now(), 0));
            if counter.0.elapsed() >= WINDOW {
                *counter = (Instant::now(), 0);
            }
            counter.1 += 1;
        }
    }

    /// A subject's profile.
    pub fn profile(&self, subject: &str) -> Option<&Profile> {
        self.users
            .iter()
            .map(|u| &u.profile)
            .find(|p| p.email == subject)
    }
}
