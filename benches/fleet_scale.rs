//! A fleet that scales (issue 16, point 6): 1, 2 and 4 node *processes*,
//! each a `Store` with 8 worker threads, against one PostgreSQL primary with
//! a synchronous hot standby (throwaway clusters on this machine, `fsync`
//! off: the figures compare node counts, not disks). Durable issue and
//! refresh throughput and p99 per node count; validation throughput on the
//! primary and on the replica.
//!
//! ```text
//! cargo bench --features postgres --bench fleet_scale           # 10 s per phase
//! cargo bench --features postgres --bench fleet_scale -- --test # smoke: 1 s, 1 and 2 nodes
//! ```
//!
//! The parent starts the clusters and re-runs this binary as each node
//! (`GRANTDB_FLEET_NODE` set), which prints one line per phase.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/pg.rs"]
mod pg;
mod support;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use grantdb::kv::postgres::{PostgresBackend, PostgresOptions};
use grantdb::{ClientId, Config, GrantType, HashingKey, NewClient, Store};
use grantdb::{IssueRequest, RefreshRequest};
use parking_lot::Mutex;

const THREADS: usize = 8;
/// `refresh-ssi`: the same refreshes with every write `SERIALIZABLE`
/// (`PostgresOptions::row_locks(false)`), the baseline of `refresh` on row
/// locks (issue 26 §3), in the same run.
const PHASES: [&str; 5] = [
    "issue",
    "refresh-ssi",
    "refresh",
    "validate-primary",
    "validate-replica",
];

fn main() {
    if let Ok(node) = std::env::var("GRANTDB_FLEET_NODE") {
        run_node(&node);
        return;
    }
    let quick = support::quick();
    let seconds = if quick { 1 } else { 10 };
    let counts: &[usize] = if quick { &[1, 2] } else { &[1, 2, 4] };
    if pg::url().is_none() {
        eprintln!("fleet_scale: no PostgreSQL, skipped");
        return;
    }
    let cluster = pg::Replicated::start(3).expect("a primary and a standby");
    let schema = format!("scale{}", std::process::id());
    // The schema and the client, made once.
    // The client's id and secret, for every node process to authenticate it.
    let client = {
        let store = node_store(&cluster.url(), None, &schema, true);
        let registered = store
            .register_client(
                NewClient::confidential("fleet")
                    .grant_types([GrantType::Password, GrantType::RefreshToken]),
            )
            .unwrap();
        format!(
            "{} {}",
            registered.client.id,
            registered.secret.unwrap().expose()
        )
    };
    println!("nodes  phase             ops/s     p99 µs   retries/op");
    let mut first = std::collections::HashMap::new();
    for &nodes in counts {
        let children: Vec<_> = (0..nodes)
            .map(|i| {
                Command::new(std::env::current_exe().unwrap())
                    .env("GRANTDB_FLEET_NODE", i.to_string())
                    .env("GRANTDB_FLEET_URL", cluster.url())
                    .env("GRANTDB_FLEET_REPLICA", cluster.standby_url())
                    .env("GRANTDB_FLEET_SCHEMA", &schema)
                    .env("GRANTDB_FLEET_CLIENT", &client)
                    .env("GRANTDB_FLEET_SECONDS", seconds.to_string())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<String> = children
            .into_iter()
            .map(|child| {
                let output = child.wait_with_output().unwrap();
                // A node that failed fails the benchmark (and its smoke run).
                assert!(output.status.success(), "a node process failed");
                String::from_utf8(output.stdout).unwrap()
            })
            .collect();
        for phase in PHASES {
            let (mut ops, mut p99, mut retries) = (0.0f64, 0u64, 0.0f64);
            for output in &outputs {
                for line in output
                    .lines()
                    .filter(|l| l.split_whitespace().next() == Some(phase))
                {
                    let mut fields = line.split_whitespace().skip(1);
                    let node_ops = fields
                        .next()
                        .and_then(|v| v.parse::<f64>().ok())
                        .unwrap_or(0.0);
                    ops += node_ops;
                    p99 = p99.max(fields.next().and_then(|v| v.parse().ok()).unwrap_or(0));
                    let per_op: f64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
                    retries += per_op * node_ops;
                }
            }
            let base = *first.entry(phase).or_insert(ops);
            println!(
                "{nodes:>5}  {phase:<16} {ops:>9.0} {p99:>9}   {:>10.3}   ({:.2}x of 1 node)",
                retries / ops.max(1.0),
                ops / base.max(1.0)
            );
        }
    }
}

/// A store of one node: the primary (both hosts named, read-write), and
/// the standby as a read replica when given; refreshes on row locks or not.
fn node_store(
    url: &str,
    replica: Option<&str>,
    schema: &str,
    row_locks: bool,
) -> Store<PostgresBackend> {
    let mut options = PostgresOptions::new(url)
        .schema(schema)
        .pool_size(THREADS as u32)
        .row_locks(row_locks);
    if let Some(replica) = replica {
        options = options.read_replica(replica);
    }
    // The issue phase gives one subject many grants: no per-subject limit,
    // or its oldest grants (the refresh phase's chains) would be ended (R23).
    let config = Config::builder()
        .hashing_key(HashingKey::from_bytes([0x36; 32]))
        .grant_limits(grantdb::GrantLimits::none())
        .build()
        .unwrap();
    Store::with_backend(PostgresBackend::connect(&options).unwrap(), config).unwrap()
}

/// One node process: every phase for the given seconds with `THREADS`
/// threads; prints `phase ops_per_second p99_micros` per phase.
fn run_node(node: &str) {
    let var = |name: &str| std::env::var(name).unwrap();
    let seconds: u64 = var("GRANTDB_FLEET_SECONDS").parse().unwrap();
    let url = var("GRANTDB_FLEET_URL");
    let schema = var("GRANTDB_FLEET_SCHEMA");
    let primary = node_store(&url, None, &schema, true);
    let serializable = node_store(&url, None, &schema, false);
    let client = var("GRANTDB_FLEET_CLIENT");
    let (id, secret) = client.split_once(' ').unwrap();
    let id: ClientId = id.parse().unwrap();
    let client = primary.authenticate_client(&id, Some(secret)).unwrap();
    let replicated = node_store(&url, Some(&var("GRANTDB_FLEET_REPLICA")), &schema, true);
    let subject = format!("node-{node}");
    // Pairs to refresh and tokens to validate, one chain per thread.
    let pairs: Vec<Mutex<(String, String)>> = (0..THREADS)
        .map(|_| {
            let tokens = primary
                .issue_for_subject(IssueRequest::new(&client, &subject))
                .unwrap();
            Mutex::new((
                tokens.access_token.expose().to_owned(),
                tokens.refresh_token.unwrap().expose().to_owned(),
            ))
        })
        .collect();
    for phase in PHASES {
        let stop = AtomicBool::new(false);
        let latencies = Mutex::new(Vec::new());
        let writer = if phase == "refresh-ssi" {
            &serializable
        } else {
            &primary
        };
        let retries_before = writer.backend().conflict_retries();
        let started = Instant::now();
        std::thread::scope(|scope| {
            for pair in &pairs {
                let (stop, latencies, primary, replicated, subject, client) =
                    (&stop, &latencies, writer, &replicated, &subject, &client);
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        match phase {
                            "issue" => {
                                primary
                                    .issue_for_subject(IssueRequest::new(client, subject))
                                    .unwrap();
                            }
                            "refresh" | "refresh-ssi" => {
                                let mut pair = pair.lock();
                                let next = primary
                                    .refresh(RefreshRequest::new(&pair.1, client))
                                    .unwrap();
                                *pair = (
                                    next.access_token.expose().to_owned(),
                                    next.refresh_token.unwrap().expose().to_owned(),
                                );
                            }
                            "validate-primary" => {
                                primary.validate(&pair.lock().0).unwrap();
                            }
                            _ => {
                                replicated.validate(&pair.lock().0).unwrap();
                            }
                        }
                        mine.push(t.elapsed());
                    }
                    latencies.lock().extend(mine);
                });
            }
            std::thread::sleep(Duration::from_secs(seconds));
            stop.store(true, Ordering::Relaxed);
        });
        let elapsed = started.elapsed().as_secs_f64();
        let mut latencies = latencies.into_inner();
        latencies.sort();
        let p99 = latencies
            .get(latencies.len() * 99 / 100)
            .copied()
            .unwrap_or_default();
        let retries = writer.backend().conflict_retries() - retries_before;
        println!(
            "{phase} {:.1} {} {:.4}",
            latencies.len() as f64 / elapsed,
            p99.as_micros(),
            retries as f64 / latencies.len().max(1) as f64
        );
    }
}
