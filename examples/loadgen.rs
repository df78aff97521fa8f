//! A mixed authorization-server workload against grantdb: mostly validations,
//! some issues, refreshes and revokes, across threads for a fixed time. Prints
//! a live progress line, then throughput and p50/p99 latency per operation.
//!
//! ```text
//! cargo run --release --example loadgen -- [--seconds 10] [--threads 8] [--live 20000]
//!                                          [--durability durable|fast] [--commit-log on|off]
//!                                          [--db data/loadgen.redb]
//! ```

use std::error::Error;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use grantdb::{AuthenticatedClient, Config, Durability, GrantType, NewClient, Store};
use grantdb::{IssueRequest, RefreshRequest};
use parking_lot::Mutex;
use rand::RngExt as _;

/// The operations of the mix, with their share in percent.
const MIX: [(Op, u32); 4] = [
    (Op::Validate, 90),
    (Op::Issue, 4),
    (Op::Refresh, 4),
    (Op::Revoke, 2),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Validate,
    Issue,
    Refresh,
    Revoke,
}

impl Op {
    fn index(self) -> usize {
        self as usize
    }
    fn name(self) -> &'static str {
        match self {
            Op::Validate => "validate",
            Op::Issue => "issue",
            Op::Refresh => "refresh",
            Op::Revoke => "revoke",
        }
    }
}

struct Options {
    seconds: u64,
    threads: usize,
    live: usize,
    durability: Durability,
    /// Durable commits through the commit log (`--commit-log off`: the
    /// file's own durable commits, as before it).
    commit_log: bool,
    db: PathBuf,
}

fn options() -> Result<Options, Box<dyn Error>> {
    let mut options = Options {
        seconds: 10,
        threads: 8,
        live: 20_000,
        durability: Durability::Durable,
        commit_log: true,
        db: PathBuf::from("data/loadgen.redb"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => options.seconds = value()?.parse()?,
            "--threads" => options.threads = value()?.parse()?,
            "--live" => options.live = value()?.parse()?,
            "--db" => options.db = PathBuf::from(value()?),
            "--commit-log" => {
                options.commit_log = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("--commit-log is on or off, not {other:?}").into()),
                };
            }
            "--durability" => {
                options.durability = match value()?.as_str() {
                    "durable" => Durability::Durable,
                    "fast" => Durability::Fast,
                    other => return Err(format!("unknown durability {other:?}").into()),
                };
            }
            other => return Err(format!("unknown flag {other:?}").into()),
        }
    }
    Ok(options)
}

/// One access/refresh pair a worker can use; replaced as it is rotated.
struct Pair {
    access: String,
    refresh: String,
}

fn issue(store: &Store, client: &AuthenticatedClient, n: u64) -> Result<Pair, grantdb::Error> {
    let tokens = store.issue_for_subject(IssueRequest::new(client, format!("load-{n}")))?;
    let refresh = tokens
        .refresh_token
        .as_ref()
        .map(|t| t.expose().to_owned())
        .unwrap_or_default();
    Ok(Pair {
        access: tokens.access_token.expose().to_owned(),
        refresh,
    })
}

/// Makes room for a fresh database at `path`: no file, and no commit log
/// of the last run beside it.
fn fresh_database(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let mut log = path.as_os_str().to_owned();
    log.push(".commitlog");
    let _ = std::fs::remove_file(PathBuf::from(log));
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let options = options()?;
    fresh_database(&options.db)?;
    let config = Config::builder()
        .durability(options.durability)
        .commit_log(options.commit_log)
        .build()?;
    let store = Store::open(&options.db, config)?;
    let client = {
        let registered = store.register_client(
            NewClient::confidential("loadgen")
                .grant_types([GrantType::Password, GrantType::RefreshToken])
                .scopes("read write")?,
        )?;
        store.authenticate_client(
            &registered.client.id,
            registered.secret.as_ref().map(grantdb::Secret::expose),
        )?
    };

    eprintln!(
        "seeding {} live tokens ({} pairs)…",
        options.live,
        options.live / 2
    );
    let counter = AtomicU64::new(0);
    let pairs: Vec<Mutex<Pair>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..options.threads.min(8))
            .map(|t| {
                let (store, counter, client) = (&store, &counter, &client);
                let share = options.live / 2 / options.threads.min(8);
                scope.spawn(move || {
                    (0..share)
                        .map(|i| issue(store, client, (t * share + i) as u64).map(Mutex::new))
                        .collect::<Result<Vec<_>, _>>()
                        .inspect(|_| {
                            counter.fetch_add(share as u64, Ordering::Relaxed);
                        })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(grantdb::Error::StoreShared))
            })
            .collect::<Result<Vec<_>, _>>()
    })?
    .into_iter()
    .flatten()
    .collect();

    let stop = AtomicBool::new(false);
    let done: [AtomicU64; 4] = Default::default();
    let started = Instant::now();
    let latencies: Vec<[Vec<u32>; 4]> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads)
            .map(|_| scope.spawn(|| worker(&store, &client, &pairs, &stop, &done)))
            .collect();
        progress(&options, &stop, &done, started);
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();

    println!(
        "\n{} threads, {:.1} s, {:?} commits",
        options.threads, elapsed, options.durability
    );
    println!(
        "{:<10} {:>10} {:>12} {:>10} {:>10}",
        "operation", "count", "ops/s", "p50 µs", "p99 µs"
    );
    for (op, _) in MIX {
        let mut all: Vec<u32> = latencies
            .iter()
            .flat_map(|l| l[op.index()].iter().copied())
            .collect();
        all.sort_unstable();
        // Nearest-rank percentile, `p` in percent.
        let pct = |p: usize| {
            all.get(all.len().saturating_sub(1) * p / 100)
                .copied()
                .unwrap_or(0)
        };
        println!(
            "{:<10} {:>10} {:>12.0} {:>10} {:>10}",
            op.name(),
            all.len(),
            all.len() as f64 / elapsed,
            pct(50),
            pct(99)
        );
    }
    let stats = store.write_stats();
    println!(
        "group commit: {} write operations in {} transactions ({:.1} per transaction)",
        stats.operations,
        stats.transactions,
        stats.operations as f64 / stats.transactions.max(1) as f64
    );
    Ok(())
}

fn worker(
    store: &Store,
    client: &AuthenticatedClient,
    pairs: &[Mutex<Pair>],
    stop: &AtomicBool,
    done: &[AtomicU64; 4],
) -> [Vec<u32>; 4] {
    let mut rng = rand::rng();
    let mut latencies: [Vec<u32>; 4] = Default::default();
    let total: u32 = MIX.iter().map(|(_, share)| share).sum();
    while !stop.load(Ordering::Relaxed) {
        let mut roll = rng.random_range(0..total);
        let op = MIX
            .iter()
            .find(|(_, share)| {
                let hit = roll < *share;
                roll = roll.saturating_sub(*share);
                hit
            })
            .map_or(Op::Validate, |(op, _)| *op);
        let slot = &pairs[rng.random_range(0..pairs.len())];
        let began = Instant::now();
        let outcome = match op {
            Op::Validate => {
                let access = slot.lock().access.clone();
                // A pair may have just been rotated by another worker: inactive is fine.
                let _ = store.validate(&access);
                Ok(())
            }
            Op::Issue => issue(store, client, rng.random()).map(|pair| *slot.lock() = pair),
            Op::Refresh => {
                let mut pair = slot.lock();
                store
                    .refresh(RefreshRequest::new(&pair.refresh, client))
                    .map(|tokens| {
                        tokens.access_token.expose().clone_into(&mut pair.access);
                        pair.refresh = tokens
                            .refresh_token
                            .map(|t| t.expose().to_owned())
                            .unwrap_or_default();
                    })
            }
            Op::Revoke => {
                let mut pair = slot.lock();
                store
                    .revoke(&pair.refresh, client)
                    .and_then(|_| issue(store, client, rng.random()))
                    .map(|fresh| *pair = fresh)
            }
        };
        if let Err(error) = outcome {
            eprintln!("{} failed: {error}", op.name());
            stop.store(true, Ordering::Relaxed);
        }
        let micros = u32::try_from(began.elapsed().as_micros()).unwrap_or(u32::MAX);
        latencies[op.index()].push(micros);
        done[op.index()].fetch_add(1, Ordering::Relaxed);
    }
    latencies
}

/// Prints a live progress line every second until the time is up.
fn progress(options: &Options, stop: &AtomicBool, done: &[AtomicU64; 4], started: Instant) {
    let terminal = std::io::stderr().is_terminal();
    let mut last = [0u64; 4];
    while started.elapsed() < Duration::from_secs(options.seconds) && !stop.load(Ordering::Relaxed)
    {
        std::thread::sleep(Duration::from_secs(1));
        let now: Vec<u64> = done.iter().map(|d| d.load(Ordering::Relaxed)).collect();
        let line = MIX
            .iter()
            .map(|(op, _)| format!("{} {}/s", op.name(), now[op.index()] - last[op.index()]))
            .collect::<Vec<_>>()
            .join("  ");
        let secs = started.elapsed().as_secs();
        if terminal {
            eprint!("\r[{secs:>3}s] {line}   ");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("[{secs:>3}s] {line}");
        }
        last.copy_from_slice(&now);
    }
    stop.store(true, Ordering::Relaxed);
}
