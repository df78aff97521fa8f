//! Crash-kill test (R19): a child process runs a stream of durable operations
//! (issue, exchange, refresh, revoke, purge) and writes an acknowledgement line
//! after each one returns; the parent SIGKILLs it at a random moment, reopens
//! the database, runs `verify()`, and checks that every acknowledged effect is
//! there and that the operation in flight happened entirely or not at all.
//!
//! 50 kill cycles by default; `GRANTDB_CRASH_CYCLES` sets another count. This
//! file has its own `main` (`harness = false`): run with an environment
//! variable set, it is the child.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use grantdb::{AuthorizationRequest, ClientId, CodeExchange, Config, GrantType, NewClient, Store};
use rand::RngExt as _;

const CHILD_DB: &str = "GRANTDB_CRASH_CHILD_DB";
const CHILD_CLIENT: &str = "GRANTDB_CRASH_CHILD_CLIENT";

fn main() {
    match (std::env::var_os(CHILD_DB), std::env::var(CHILD_CLIENT)) {
        (Some(path), Ok(client)) => child(Path::new(&path), client.parse().expect("client id")),
        _ => parent(),
    }
}

/// The child: durable operations until killed, one line per step, flushed.
fn child(path: &Path, client: ClientId) {
    let store = Store::open(path, Config::default()).expect("child opens the store");
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| {
        writeln!(out, "{line}").expect("write");
        out.flush().expect("flush");
    };
    let mut rng = rand::rng();
    for n in 0u64.. {
        let (mut access, mut refresh) = if rng.random_bool(0.3) {
            say("begin code".into());
            let code = store
                .issue_code(&AuthorizationRequest::new(client, format!("user-{n}")))
                .unwrap();
            say(format!("begin exchange {}", code.code.expose()));
            let tokens = store
                .exchange_code(&CodeExchange::new(code.code.expose(), client))
                .unwrap();
            let pair = split(&tokens);
            say(format!("issued {} {}", pair.0, pair.1));
            pair
        } else {
            say("begin issue".into());
            let tokens = store
                .issue_for_subject(&client, &format!("user-{n}"), None)
                .unwrap();
            let pair = split(&tokens);
            say(format!("issued {} {}", pair.0, pair.1));
            pair
        };
        for _ in 0..rng.random_range(0..4) {
            say(format!("begin refresh {refresh}"));
            let tokens = store.refresh(&refresh, &client, None).unwrap();
            let next = split(&tokens);
            say(format!("refreshed {refresh} {} {}", next.0, next.1));
            (access, refresh) = next;
        }
        if rng.random_bool(0.3) {
            say(format!("begin revoke {refresh}"));
            store.revoke(&refresh, &client).unwrap();
            say(format!("revoked {refresh}"));
        } else if rng.random_bool(0.2) {
            say(format!("begin revoke-access {access}"));
            store.revoke(&access, &client).unwrap();
            say(format!("revoked-access {access}"));
        }
        if rng.random_bool(0.1) {
            say("begin purge".into());
            store.purge_expired().unwrap();
            say("purged".into());
        }
    }
}

fn split(tokens: &grantdb::TokenResponse) -> (String, String) {
    (
        tokens.access_token.expose().to_owned(),
        tokens
            .refresh_token
            .as_ref()
            .expect("refresh token")
            .expose()
            .to_owned(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Both tokens work.
    Live,
    /// The access token was revoked; the refresh token works (R09).
    RefreshOnly,
    /// Rotated or revoked: neither works.
    Dead,
}

struct Pair {
    access: String,
    state: State,
}

/// What the parent knows: every acknowledged pair, by refresh token.
#[derive(Default)]
struct Model {
    pairs: HashMap<String, Pair>,
    access_to_refresh: HashMap<String, String>,
}

impl Model {
    fn apply(&mut self, line: &str) {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["issued", access, refresh] => self.add(access, refresh),
            ["refreshed", old, access, refresh] => {
                self.set(old, State::Dead);
                self.add(access, refresh);
            }
            ["revoked", refresh] => self.set(refresh, State::Dead),
            ["revoked-access", access] => {
                let refresh = self.access_to_refresh[*access].clone();
                self.set(&refresh, State::RefreshOnly);
            }
            _ => {}
        }
    }

    fn add(&mut self, access: &str, refresh: &str) {
        self.access_to_refresh
            .insert(access.to_owned(), refresh.to_owned());
        self.pairs.insert(
            refresh.to_owned(),
            Pair {
                access: access.to_owned(),
                state: State::Live,
            },
        );
    }

    fn set(&mut self, refresh: &str, state: State) {
        if let Some(pair) = self.pairs.get_mut(refresh) {
            pair.state = state;
        }
    }
}

/// What the store says about a pair now.
fn observe(store: &Store, refresh: &str, access: &str) -> State {
    let access_ok = store.validate(access).is_ok();
    let refresh_ok = store.introspect(refresh).expect("introspect").active;
    match (access_ok, refresh_ok) {
        (true, true) => State::Live,
        (false, true) => State::RefreshOnly,
        (false, false) => State::Dead,
        (true, false) => panic!("half-done rotation: access token live, refresh token dead"),
    }
}

fn parent() {
    let cycles: usize = std::env::var("GRANTDB_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let client = {
        let store = Store::open(&path, Config::default()).unwrap();
        store
            .register_client(
                &NewClient::confidential("crash")
                    .redirect_uri("https://crash.example/cb")
                    .grant_types([
                        GrantType::Password,
                        GrantType::AuthorizationCode,
                        GrantType::RefreshToken,
                    ]),
            )
            .unwrap()
            .client
            .id
    };
    let mut model = Model::default();
    let mut rng = rand::rng();
    let mut acknowledged = 0;
    for cycle in 0..cycles {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_DB, &path)
            .env(CHILD_CLIENT, client.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let kill_after = rng.random_range(1..80);
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            seen.push(line.unwrap());
            if seen.len() >= kill_after {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..3_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever the child wrote before dying was acknowledged after its commit.
        seen.extend(lines.map_while(Result::ok));
        let in_flight = seen
            .last()
            .filter(|line| line.starts_with("begin"))
            .cloned();
        for line in &seen {
            model.apply(line);
        }
        acknowledged += seen.iter().filter(|l| !l.starts_with("begin")).count();

        let store = Store::open(&path, Config::default())
            .unwrap_or_else(|e| panic!("cycle {cycle}: reopening after SIGKILL failed: {e}"));
        let report = store.verify().unwrap();
        assert!(report.is_ok(), "cycle {cycle}: {:#?}", report.problems);
        // The operation in flight touched this pair: it may have committed or
        // not, but entirely either way.
        let uncertain = in_flight
            .as_deref()
            .and_then(|line| line.split(' ').nth(2))
            .map(str::to_owned);
        let uncertain_refresh = uncertain.as_ref().map(|t| {
            model
                .access_to_refresh
                .get(t)
                .cloned()
                .unwrap_or_else(|| t.clone())
        });
        for (refresh, pair) in &mut model.pairs {
            let now = observe(&store, refresh, &pair.access);
            if uncertain_refresh.as_deref() == Some(refresh.as_str()) {
                pair.state = now;
            } else {
                assert_eq!(
                    now, pair.state,
                    "cycle {cycle}: acknowledged effect lost (in flight: {in_flight:?})"
                );
            }
        }
        drop(store);
    }
    println!(
        "crash test: {cycles} kill cycles, {acknowledged} acknowledged operations checked, 0 lost"
    );
}
