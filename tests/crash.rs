//! Crash-kill test (R19): a child process runs a stream of durable operations
//! (issue, exchange, refresh, revoke, purge) and writes an acknowledgement line
//! after each one returns; the parent SIGKILLs it at a random moment, reopens
//! the database, runs `verify()`, and checks that every acknowledged effect is
//! there and that the operation in flight happened entirely or not at all.
//!
//! 300 kill cycles by default, every other one with a child that checkpoints
//! its commit log every 2 ms (kills land in log appends, in checkpoints and
//! between them); `GRANTDB_CRASH_CYCLES` sets another count. This
//! file has its own `main` (`harness = false`): run with an environment
//! variable set, it is the child.
//!
//! Then the same in `Durability::Fast` with a 200 ms flush interval: the child
//! announces when it goes idle (600 ms without a write), and the parent kills
//! it 400 ms into the idle stretch. The background flush must have made every
//! operation acknowledged before it durable (8 cycles;
//! `GRANTDB_CRASH_FAST_CYCLES` sets another count).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use grantdb::{AuthenticatedClient, IntrospectRequest};
use grantdb::{
    AuthorizationRequest, ClientId, CodeExchange, Config, Durability, GrantType, NewClient, Store,
};
use grantdb::{IssueRequest, RefreshRequest};
use rand::RngExt as _;

const CHILD_DB: &str = "GRANTDB_CRASH_CHILD_DB";
const CHILD_CLIENT: &str = "GRANTDB_CRASH_CHILD_CLIENT";
const CHILD_FAST: &str = "GRANTDB_CRASH_CHILD_FAST";
/// Set: the durable child checkpoints its commit log every 2 ms, so that
/// kills land inside checkpoints too, not only inside log appends.
const CHILD_CHECKPOINTS: &str = "GRANTDB_CRASH_CHILD_CHECKPOINTS";

/// The flush interval of the child in fast mode.
const FAST_FLUSH: Duration = Duration::from_millis(200);
/// How long the fast child stays idle, and when into it the parent kills it.
const IDLE: Duration = Duration::from_millis(600);
const KILL_INTO_IDLE: Duration = Duration::from_millis(400);

fn main() {
    match (std::env::var_os(CHILD_DB), std::env::var(CHILD_CLIENT)) {
        (Some(path), Ok(client)) => {
            let (id, secret) = client.split_once(' ').expect("client id and secret");
            child(
                Path::new(&path),
                (id.parse().expect("client id"), secret),
                std::env::var_os(CHILD_FAST).is_some(),
            );
        }
        _ => parent(),
    }
}

/// The child: operations until killed, one line per step, flushed. In fast
/// mode it goes idle now and then, and says so.
fn child(path: &Path, (client_id, secret): (ClientId, &str), fast: bool) {
    let config = if fast {
        Config::builder()
            .durability(Durability::Fast)
            .fast_flush_interval(FAST_FLUSH)
            .build()
            .expect("config")
    } else if std::env::var_os(CHILD_CHECKPOINTS).is_some() {
        Config::builder()
            .checkpoint_interval(Duration::from_millis(2))
            .build()
            .expect("config")
    } else {
        Config::default()
    };
    let store = Store::open(path, config).expect("child opens the store");
    let client = store
        .authenticate_client(&client_id, Some(secret))
        .expect("the child's client authenticates");
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
                .issue_code(AuthorizationRequest::new(client_id, format!("user-{n}")))
                .unwrap();
            say(format!("begin exchange {}", code.code.expose()));
            let tokens = store
                .exchange_code(CodeExchange::new(code.code.expose(), &client))
                .unwrap();
            let pair = split(&tokens);
            say(format!("issued {} {}", pair.0, pair.1));
            pair
        } else {
            say("begin issue".into());
            let tokens = store
                .issue_for_subject(IssueRequest::new(&client, format!("user-{n}")))
                .unwrap();
            let pair = split(&tokens);
            say(format!("issued {} {}", pair.0, pair.1));
            pair
        };
        for _ in 0..rng.random_range(0..4) {
            say(format!("begin refresh {refresh}"));
            let tokens = store
                .refresh(RefreshRequest::new(&refresh, &client))
                .unwrap();
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
        if fast && rng.random_bool(0.3) {
            say("idle".into());
            std::thread::sleep(IDLE);
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
fn observe(store: &Store, caller: &AuthenticatedClient, refresh: &str, access: &str) -> State {
    let access_ok = store.validate(access).is_ok();
    let refresh_ok = store
        .introspect(IntrospectRequest::new(refresh, caller))
        .expect("introspect")
        .active;
    match (access_ok, refresh_ok) {
        (true, true) => State::Live,
        (false, true) => State::RefreshOnly,
        (false, false) => State::Dead,
        (true, false) => panic!("half-done rotation: access token live, refresh token dead"),
    }
}

fn cycles(variable: &str, default: usize) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn parent() {
    let durable = cycles("GRANTDB_CRASH_CYCLES", 300);
    let (acknowledged, replayed) = kill_cycles(durable, false);
    println!(
        "crash test: {durable} kill cycles, {acknowledged} acknowledged operations checked, 0 lost; \
         {replayed} commit log entries replayed at reopening"
    );
    let fast = cycles("GRANTDB_CRASH_FAST_CYCLES", 8);
    let (acknowledged, _) = kill_cycles(fast, true);
    println!(
        "crash test, Durability::Fast killed while idle: {fast} kill cycles, {acknowledged} acknowledged operations checked, 0 lost"
    );
}

/// The child of cycle `cycle` on `path`, as client `client` (`id secret`).
fn child_command(path: &Path, client: &str, fast: bool, cycle: usize) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env(CHILD_DB, path)
        .env(CHILD_CLIENT, client)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if fast {
        command.env(CHILD_FAST, "1");
    } else if cycle % 2 == 1 {
        command.env(CHILD_CHECKPOINTS, "1");
    }
    command
}

/// Runs `cycles` child processes on one database, SIGKILLs each, and checks
/// every acknowledged effect after reopening; returns how many were checked,
/// and how many commit log entries the reopenings replayed.
fn kill_cycles(cycles: usize, fast: bool) -> (usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let (client, secret) = {
        let store = Store::open(&path, Config::default()).unwrap();
        let registered = store
            .register_client(
                NewClient::confidential("crash")
                    .redirect_uri("https://crash.example/cb")
                    .grant_types([
                        GrantType::Password,
                        GrantType::AuthorizationCode,
                        GrantType::RefreshToken,
                    ]),
            )
            .unwrap();
        let secret = registered.secret.expect("a confidential client");
        (registered.client.id, secret)
    };
    let mut model = Model::default();
    let mut rng = rand::rng();
    let mut acknowledged = 0;
    let mut replayed = 0;
    let mut feed = FeedLedger::default();
    for cycle in 0..cycles {
        let mut child = child_command(&path, &format!("{client} {}", secret.expose()), fast, cycle)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let kill_after = rng.random_range(1..80);
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            seen.push(line.unwrap());
            // In fast mode, only once it has gone idle.
            if seen.len() >= kill_after && (!fast || seen.last().is_some_and(|l| l == "idle")) {
                break;
            }
        }
        if fast {
            std::thread::sleep(KILL_INTO_IDLE);
        } else {
            std::thread::sleep(Duration::from_micros(rng.random_range(0..3_000)));
        }
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
        feed.note(&seen, in_flight.as_deref());
        acknowledged += seen
            .iter()
            .filter(|l| !l.starts_with("begin") && *l != "idle")
            .count();

        let store = Store::open(&path, Config::default())
            .unwrap_or_else(|e| panic!("cycle {cycle}: reopening after SIGKILL failed: {e}"));
        replayed += store
            .backend()
            .commit_log_stats()
            .expect("a file store has a commit log")
            .replayed_at_open;
        let report = store.verify().unwrap();
        assert!(report.is_ok(), "cycle {cycle}: {:#?}", report.problems);
        let caller = store
            .authenticate_client(&client, Some(secret.expose()))
            .unwrap();
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
            let now = observe(&store, &caller, refresh, &pair.access);
            if uncertain_refresh.as_deref() == Some(refresh.as_str()) {
                pair.state = now;
            } else {
                assert_eq!(
                    now, pair.state,
                    "cycle {cycle}: acknowledged effect lost (in flight: {in_flight:?})"
                );
            }
        }
        feed.check(&store, cycle);
        drop(store);
    }
    (acknowledged, replayed)
}

/// The change feed's side of the crash test (R33): the revocations
/// acknowledged so far, and how many were in flight at a kill.
#[derive(Default)]
struct FeedLedger {
    acknowledged: Vec<String>,
    in_flight: usize,
}

impl FeedLedger {
    /// Notes the revocations among a child's lines.
    fn note(&mut self, seen: &[String], in_flight: Option<&str>) {
        for line in seen {
            if let ["revoked" | "revoked-access", token] =
                line.split(' ').collect::<Vec<_>>().as_slice()
            {
                self.acknowledged.push((*token).to_owned());
            }
        }
        if in_flight.is_some_and(|line| line.starts_with("begin revoke")) {
            self.in_flight += 1;
        }
    }

    fn check(&self, store: &Store, cycle: usize) {
        check_feed(store, cycle, &self.acknowledged, self.in_flight);
    }
}

/// R33 after a crash: the feed holds an entry for every acknowledged
/// revocation, at most the in-flight ones besides, numbered 1, 2, 3, ...
fn check_feed(store: &Store, cycle: usize, acknowledged: &[String], in_flight: usize) {
    let changes = store.changes_since(0, 10_000).unwrap().changes;
    let seqs: Vec<u64> = changes.iter().map(|c| c.seq).collect();
    let expected: Vec<u64> = (1..=changes.len() as u64).collect();
    assert_eq!(seqs, expected, "cycle {cycle}: feed numbering has a gap");
    let ended: std::collections::HashSet<grantdb::TokenId> = changes
        .iter()
        .flat_map(|c| c.tokens.iter().copied())
        .collect();
    for token in acknowledged {
        let id = store.token_id(token).unwrap();
        assert!(
            ended.contains(&id),
            "cycle {cycle}: an acknowledged revocation has no feed entry"
        );
    }
    assert!(
        changes.len() >= acknowledged.len() && changes.len() <= acknowledged.len() + in_flight,
        "cycle {cycle}: {} feed entries for {} acknowledged revocations ({in_flight} in flight)",
        changes.len(),
        acknowledged.len()
    );
}
