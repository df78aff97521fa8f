//! grantdb beside SQLite in fixed time windows, the way issue 17 measures it:
//! every engine runs for the same wall-clock window (not a fixed number of
//! operations, which would report the most-starved caller's time), write
//! engines take turns window by window, and each window reports throughput,
//! p50 and p99 apart, and the process CPU time per operation.
//!
//! Engines: grantdb (`Durability::Durable`), SQLite in WAL mode with
//! `synchronous=FULL` in two shapes (the lean schema of `support/sqlite.rs`
//! and the django-oauth-toolkit-shaped one of `support/dot.rs`), each with
//! one connection shared behind a mutex and with a connection per caller
//! (`BEGIN IMMEDIATE` and `busy_timeout`, as a multi-process deployment
//! runs). Every engine gets a 256 MiB page cache. Validation also runs
//! against a raw redb get on a copy of grantdb's own token tree, and grantdb
//! at several cache sizes (the sizing curve).
//!
//! "Pairs" are access/refresh pairs issued by the password grant: N pairs
//! are 2N live tokens.
//!
//! ```text
//! cargo bench --bench windows                                  # 1M pairs, 3 s windows, 3 rounds
//! GRANTDB_WINDOW_PAIRS=100000 GRANTDB_WINDOW_SECONDS=2 cargo bench --bench windows
//! GRANTDB_WINDOW_PARTS=validate cargo bench --bench windows   # parts: space, validate, cache, layout, writes (writes32: 32 callers only)
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantdb::IssueRequest;
use grantdb::{Config, Durability, Store, WriteStats};

#[path = "windows/layout.rs"]
mod layout;
use parking_lot::Mutex;
use redb::{ReadableDatabase as _, TableDefinition};
use rusqlite::Connection;
use support::sqlite::{self, Sync as SqliteSync};
use support::{CACHE_BYTES, dot};

/// What one window measured.
#[derive(Debug, Clone)]
struct Window {
    ops: u64,
    wall: Duration,
    cpu: Duration,
    /// Bytes this process handed to write system calls in the window.
    written: u64,
    p50: Duration,
    p99: Duration,
}

impl Window {
    fn per_second(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }

    fn micros_per_op(&self) -> f64 {
        self.wall.as_secs_f64() * 1e6 / self.ops as f64
    }

    fn cpu_micros_per_op(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ops as f64
    }

    fn kib_written_per_op(&self) -> f64 {
        self.written as f64 / 1024.0 / self.ops as f64
    }
}

/// User and system CPU time of this process so far, from `/proc/self/stat`
/// (in clock ticks of 10 ms: a window's thousands of operations make the
/// tick negligible).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may
    // hold spaces): utime and stime are the 14th and 15th of the line.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Bytes this process has handed to write system calls (`wchar` of
/// `/proc/self/io`): redb's page writes and SQLite's WAL appends alike.
fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("wchar: "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// The latency below which `per_mille` thousandths of `sorted` fall.
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) * per_mille + 500) / 1000]
}

/// Runs `op(caller)` on `callers` threads until `length` has passed; every
/// caller finishes the operation it is in. Latencies are taken over `batch`
/// operations at a time (their mean stands for each): for sub-microsecond
/// operations the clock reads would otherwise be a good part of what is
/// measured.
fn window(callers: usize, length: Duration, batch: usize, op: impl Fn(usize) + Sync) -> Window {
    let barrier = std::sync::Barrier::new(callers + 1);
    let (start, cpu_start, written_start, per_caller) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|caller| {
                let (barrier, op) = (&barrier, &op);
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    barrier.wait();
                    let deadline = Instant::now() + length;
                    loop {
                        let begun = Instant::now();
                        if begun >= deadline {
                            break;
                        }
                        for _ in 0..batch {
                            op(caller);
                        }
                        let each = begun.elapsed() / u32::try_from(batch).unwrap();
                        latencies.extend(std::iter::repeat_n(each, batch));
                    }
                    latencies
                })
            })
            .collect();
        let (start, cpu_start, written_start) = (Instant::now(), process_cpu(), bytes_written());
        barrier.wait();
        let per_caller: Vec<Vec<Duration>> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        (start, cpu_start, written_start, per_caller)
    });
    let wall = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_start);
    let written = bytes_written().saturating_sub(written_start);
    let mut all: Vec<Duration> = per_caller.into_iter().flatten().collect();
    all.sort_unstable();
    Window {
        ops: all.len() as u64,
        wall,
        cpu,
        written,
        p50: percentile(&all, 500),
        p99: percentile(&all, 990),
    }
}

struct Settings {
    pairs: usize,
    /// The parts to run (all when `GRANTDB_WINDOW_PARTS` is unset).
    parts: Option<String>,
    length: Duration,
    rounds: usize,
}

impl Settings {
    fn runs(&self, part: &str) -> bool {
        self.parts
            .as_ref()
            .is_none_or(|parts| parts.split(',').any(|p| p.trim() == part))
    }
}

fn settings() -> Settings {
    fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    }
    if support::quick() {
        return Settings {
            parts: None,
            pairs: 500,
            length: Duration::from_millis(100),
            rounds: 1,
        };
    }
    Settings {
        parts: std::env::var("GRANTDB_WINDOW_PARTS").ok(),
        pairs: env("GRANTDB_WINDOW_PAIRS", 1_000_000),
        length: Duration::from_secs_f64(env("GRANTDB_WINDOW_SECONDS", 3.0)),
        rounds: env("GRANTDB_WINDOW_ROUNDS", 3),
    }
}

/// One row of results: an engine, a workload, its windows.
struct Row {
    engine: &'static str,
    workload: String,
    windows: Vec<Window>,
}

impl Row {
    /// The median window by throughput.
    fn median(&self) -> &Window {
        let mut sorted: Vec<&Window> = self.windows.iter().collect();
        sorted.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
        sorted[sorted.len() / 2]
    }
}

fn print_rows(title: &str, rows: &[Row]) {
    println!("\n### {title}\n");
    println!(
        "| workload | engine | ops/s (each window) | µs/op | p50 | p99 | CPU µs/op | KiB written/op |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        let each: Vec<String> = row
            .windows
            .iter()
            .map(|w| format!("{:.0}", w.per_second()))
            .collect();
        let m = row.median();
        println!(
            "| {} | {} | {} | {:.2} | {:.1} µs | {:.1} µs | {:.2} | {:.1} |",
            row.workload,
            row.engine,
            each.join(", "),
            m.micros_per_op(),
            m.p50.as_secs_f64() * 1e6,
            m.p99.as_secs_f64() * 1e6,
            m.cpu_micros_per_op(),
            m.kib_written_per_op(),
        );
    }
}

fn find<'r>(rows: &'r [Row], engine: &str, workload: &str) -> &'r Window {
    rows.iter()
        .find(|row| row.engine == engine && row.workload == workload)
        .unwrap()
        .median()
}

/// The id a token string names: the record key in grantdb's token tree (the
/// string's body is the last 71 characters; the id is bytes 1..17 of it).
fn token_id(token: &str) -> [u8; 16] {
    let body = &token[token.len() - 71..];
    let raw = URL_SAFE_NO_PAD.decode(body).unwrap();
    raw[1..17].try_into().unwrap()
}

/// Whether a raw get found a value, copied out as a caller of `get` would
/// use it (finding the key alone leaves the value's bytes unread).
fn got_value(found: Option<redb::AccessGuard<'_, &'static [u8]>>) -> bool {
    found.is_some_and(|value| !std::hint::black_box(value.value().to_vec()).is_empty())
}

/// Validations timed together (see [`window`]).
const VALIDATE_BATCH: usize = 16;

const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tokens");

/// Validation, one caller: grantdb, a raw get on its own token tree, SQLite
/// in both shapes; then grantdb at several cache sizes.
fn validation(settings: &Settings, set: &support::GrantdbSet, template: &Path) -> Vec<Row> {
    let samples = &set.access;
    let next = AtomicUsize::new(0);
    // A stride through the samples, so that consecutive lookups land apart.
    let pick =
        |len: usize| -> usize { next.fetch_add(1, Ordering::Relaxed).wrapping_mul(7_919) % len };

    let (_raw_dir, raw_path) = support::copy_of(template);
    let mut builder = redb::Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    let raw = builder.open(&raw_path).unwrap();
    let ids: Vec<[u8; 16]> = samples.iter().map(|t| token_id(t)).collect();
    // As grantdb reads: through one snapshot taken once, its table opened once.
    let held = raw.begin_read().unwrap();
    let held_table = held.open_table(TOKENS).unwrap();

    let now = sqlite::now();
    let (_lean_dir, lean_path, lean_pairs) = sqlite::sqlite_set(settings.pairs * 2);
    let lean_access: Vec<String> = lean_pairs.into_iter().map(|(a, _)| a).collect();
    let lean = Mutex::new(sqlite::connect(&lean_path, SqliteSync::Full));
    let (_dot_dir, dot_path, dot_pairs) = dot::dot_set(settings.pairs);
    let dot_access: Vec<String> = dot_pairs.into_iter().map(|(a, _)| a).collect();
    let dot_conn = Mutex::new(sqlite::connect(&dot_path, SqliteSync::Full));

    let engines: Vec<(&'static str, Op<'_>)> = vec![
        (
            "grantdb",
            Box::new(|_| assert!(set.store.validate(&samples[pick(samples.len())]).is_ok())),
        ),
        (
            "raw redb get, grantdb's token tree",
            Box::new(|_| {
                let txn = raw.begin_read().unwrap();
                let table = txn.open_table(TOKENS).unwrap();
                let id = &ids[pick(ids.len())];
                assert!(got_value(table.get(id.as_slice()).unwrap()));
            }),
        ),
        (
            "raw redb get, one read transaction held",
            Box::new(|_| {
                let id = &ids[pick(ids.len())];
                assert!(got_value(held_table.get(id.as_slice()).unwrap()));
            }),
        ),
        (
            "SQLite, lean schema",
            Box::new(|_| {
                let token = &lean_access[pick(lean_access.len())];
                assert!(sqlite::validate(&lean.lock(), token, now));
            }),
        ),
        (
            "SQLite, django-oauth-toolkit shape",
            Box::new(|_| {
                let token = &dot_access[pick(dot_access.len())];
                assert!(dot::validate(&dot_conn.lock(), token, now));
            }),
        ),
    ];
    // Warm every cache with one pass over the samples, then give the
    // engines their windows in turn, round after round.
    for (_, op) in &engines {
        for _ in 0..samples.len() {
            op(0);
        }
    }
    let mut windows: Vec<Vec<Window>> = vec![Vec::new(); engines.len()];
    for _ in 0..settings.rounds {
        for (slot, (_, op)) in engines.iter().enumerate() {
            windows[slot].push(window(1, settings.length, VALIDATE_BATCH, op));
        }
    }
    engines
        .iter()
        .zip(windows)
        .map(|((engine, _), windows)| Row {
            engine,
            workload: "validate".to_owned(),
            windows,
        })
        .collect()
}

/// grantdb's validation at several page-cache sizes, on a copy of the data set.
fn cache_curve(
    settings: &Settings,
    set: &support::GrantdbSet,
    template: &Path,
) -> Vec<(usize, Window)> {
    let (_dir, path) = support::copy_of(template);
    let samples = &set.access;
    let mut curve = Vec::new();
    for mib in [16, 32, 64, 128, 256, 512] {
        let config = Config::builder().cache_size(mib << 20).build().unwrap();
        let store = Store::open(&path, config).unwrap();
        let next = AtomicUsize::new(0);
        let op = || {
            let i = next.fetch_add(1, Ordering::Relaxed).wrapping_mul(7_919) % samples.len();
            assert!(store.validate(&samples[i]).is_ok());
        };
        for _ in 0..samples.len() {
            op();
        }
        curve.push((mib, window(1, settings.length, VALIDATE_BATCH, |_| op())));
    }
    curve
}

/// One engine's operation, run by caller `n`.
type Op<'a> = Box<dyn Fn(usize) + Sync + 'a>;

/// The write engines of one caller count, each given the same windows in turn.
// One table of engines, read top to bottom: splitting it would only move the
// connections and chains it borrows into a struct.
#[allow(clippy::too_many_lines)]
/// Durable writes, `callers` at once: grantdb (commit log), grantdb without
/// its commit log (`before`: the durable redb commit of earlier rounds),
/// SQLite in both shapes and both connection layouts.
fn writes(
    settings: &Settings,
    set: &support::GrantdbSet,
    before: &support::GrantdbSet,
    callers: usize,
) -> Vec<Row> {
    let now = sqlite::now();
    let (_lean_dir, lean_path, lean_pairs) = sqlite::sqlite_set(settings.pairs * 2);
    let (_dot_dir, dot_path, dot_pairs) = dot::dot_set(settings.pairs);
    let shared = |path: &Path| Mutex::new(sqlite::connect(path, SqliteSync::Full));
    let per_caller = |path: &Path| -> Vec<Mutex<Connection>> {
        (0..callers)
            .map(|_| Mutex::new(sqlite::connect(path, SqliteSync::Full)))
            .collect()
    };
    let (lean_shared, lean_own) = (shared(&lean_path), per_caller(&lean_path));
    let (dot_shared, dot_own) = (shared(&dot_path), per_caller(&dot_path));

    // Refresh chains: each engine and caller rotates its own chain, started
    // from a sampled pair no other chain uses.
    let chains = |tokens: Vec<String>, offset: usize| -> Vec<Mutex<String>> {
        (0..callers)
            .map(|caller| Mutex::new(tokens[(offset + caller) % tokens.len()].clone()))
            .collect()
    };
    let lean_refresh: Vec<String> = lean_pairs.iter().map(|(_, r)| r.clone()).collect();
    let dot_refresh: Vec<String> = dot_pairs.iter().map(|(_, r)| r.clone()).collect();
    let offset = callers * 2;
    let grantdb_chains = chains(set.refresh.clone(), offset);
    let before_chains = chains(before.refresh.clone(), offset + callers);
    let lean_shared_chains = chains(lean_refresh.clone(), offset);
    let lean_own_chains = chains(lean_refresh, offset + callers);
    let dot_shared_chains = chains(dot_refresh.clone(), offset);
    let dot_own_chains = chains(dot_refresh, offset + callers);

    let counter = AtomicUsize::new(0);
    let subject = |caller: usize| {
        format!(
            "w{callers}-{caller}-{}",
            counter.fetch_add(1, Ordering::Relaxed)
        )
    };
    let user = |caller: usize| i64::try_from(caller + 10_000_000).unwrap();

    let engines: Vec<(&'static str, Op<'_>, Op<'_>)> = vec![
        (
            "grantdb",
            Box::new(|caller| {
                set.store
                    .issue_for_subject(IssueRequest::new(&set.password_client, subject(caller)))
                    .unwrap();
            }),
            Box::new(|caller| support::rotate(set, &mut grantdb_chains[caller].lock())),
        ),
        (
            "grantdb without the commit log (before)",
            Box::new(|caller| {
                before
                    .store
                    .issue_for_subject(IssueRequest::new(&before.password_client, subject(caller)))
                    .unwrap();
            }),
            Box::new(|caller| support::rotate(before, &mut before_chains[caller].lock())),
        ),
        (
            "SQLite lean, shared connection",
            Box::new(|_| {
                sqlite::issue_pair(&mut lean_shared.lock(), "user", now);
            }),
            Box::new(|caller| {
                let mut chain = lean_shared_chains[caller].lock();
                *chain = sqlite::refresh(&mut lean_shared.lock(), &chain, now)
                    .unwrap()
                    .1;
            }),
        ),
        (
            "SQLite lean, connection per caller",
            Box::new(|caller| {
                sqlite::issue_pair(&mut lean_own[caller].lock(), "user", now);
            }),
            Box::new(|caller| {
                let mut chain = lean_own_chains[caller].lock();
                *chain = sqlite::refresh(&mut lean_own[caller].lock(), &chain, now)
                    .unwrap()
                    .1;
            }),
        ),
        (
            "SQLite DOT shape, shared connection",
            Box::new(|caller| {
                dot::issue_pair(&mut dot_shared.lock(), user(caller), now);
            }),
            Box::new(|caller| {
                let mut chain = dot_shared_chains[caller].lock();
                *chain = dot::refresh(&mut dot_shared.lock(), &chain, now).unwrap().1;
            }),
        ),
        (
            "SQLite DOT shape, connection per caller",
            Box::new(|caller| {
                dot::issue_pair(&mut dot_own[caller].lock(), user(caller), now);
            }),
            Box::new(|caller| {
                let mut chain = dot_own_chains[caller].lock();
                *chain = dot::refresh(&mut dot_own[caller].lock(), &chain, now)
                    .unwrap()
                    .1;
            }),
        ),
    ];

    let mut rows: Vec<Row> = Vec::new();
    for (workload, pick) in [("issue", 0), ("refresh", 1)] {
        let label = format!(
            "{workload}, {callers} caller{}",
            if callers == 1 { "" } else { "s" }
        );
        let mut windows: Vec<Vec<Window>> = vec![Vec::new(); engines.len()];
        let mut leader = Vec::new();
        for _ in 0..settings.rounds {
            for (slot, (_, issue, refresh)) in engines.iter().enumerate() {
                let op = if pick == 0 { issue } else { refresh };
                let before = set.store.write_stats();
                windows[slot].push(window(callers, settings.length, 1, op));
                if slot == 0 {
                    leader.push(LeaderTime::between(&before, &set.store.write_stats()));
                }
            }
        }
        print_leader_time(&label, &leader);
        for ((engine, _, _), windows) in engines.iter().zip(windows) {
            rows.push(Row {
                engine,
                workload: label.clone(),
                windows,
            });
        }
    }
    rows
}

/// Where grantdb's group-commit leaders spent a window, per operation.
struct LeaderTime {
    running_micros: f64,
    committing_micros: f64,
    per_transaction: f64,
}

impl LeaderTime {
    fn between(before: &WriteStats, after: &WriteStats) -> LeaderTime {
        let operations = (after.operations - before.operations).max(1) as f64;
        let per_op = |nanos: u64| nanos as f64 / operations / 1e3;
        LeaderTime {
            running_micros: per_op(after.running_nanos - before.running_nanos),
            committing_micros: per_op(after.committing_nanos - before.committing_nanos),
            per_transaction: operations / (after.transactions - before.transactions).max(1) as f64,
        }
    }
}

/// The leader's serial time per operation in each grantdb window (issue 17,
/// target 3): running the operations, and committing.
fn print_leader_time(label: &str, windows: &[LeaderTime]) {
    let list = |value: fn(&LeaderTime) -> f64| {
        let values: Vec<String> = windows.iter().map(|w| format!("{:.1}", value(w))).collect();
        values.join(", ")
    };
    println!(
        "grantdb leader, {label}: running {} µs/op, committing {} µs/op, {} ops/transaction",
        list(|w| w.running_micros),
        list(|w| w.committing_micros),
        list(|w| w.per_transaction)
    );
}

fn file_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

fn main() {
    let settings = settings();
    println!(
        "# Side by side in fixed windows: {} pairs ({} live tokens), {:.1} s windows, {} rounds",
        settings.pairs,
        settings.pairs * 2,
        settings.length.as_secs_f64(),
        settings.rounds
    );
    let live = settings.pairs * 2;
    let set = support::grantdb_set(live, Durability::Durable);
    let template = support::cache_dir().join(format!("grantdb-{live}.redb"));

    let mut targets = Vec::new();
    if settings.runs("space") {
        targets.push(space(&settings, &template));
    }
    if settings.runs("validate") {
        let rows = validation(&settings, &set, &template);
        print_rows("Validate, one caller", &rows);
        let v = |engine| find(&rows, engine, "validate").micros_per_op();
        let vs_dot = v("SQLite, django-oauth-toolkit shape") / v("grantdb");
        let vs_raw = v("grantdb") / v("raw redb get, grantdb's token tree");
        targets.push(format!(
            "- validate: {vs_dot:.2}x faster than SQLite DOT (≥ 3x: {}), {vs_raw:.2}x a raw get (≤ 1.2x: {})",
            verdict(vs_dot >= 3.0),
            verdict(vs_raw <= 1.2)
        ));
    }
    if settings.runs("cache") {
        let curve = cache_curve(&settings, &set, &template);
        println!("\n### grantdb validate by page-cache size\n");
        println!("| cache | µs/op | p99 |");
        println!("|---|---|---|");
        for (mib, w) in &curve {
            println!(
                "| {mib} MiB | {:.2} | {:.1} µs |",
                w.micros_per_op(),
                w.p99.as_secs_f64() * 1e6
            );
        }
    }
    if settings.runs("layout") {
        let rows = layout::layouts(&settings, CACHE_BYTES);
        print_rows("Durable writes by tree layout (raw redb)", &rows);
        let per_op =
            |engine| find(&rows, engine, "password grant's rows, 1 caller").micros_per_op();
        let four = per_op("raw redb, four trees (grantdb's layout)");
        targets.push(format!(
            "- layout: expiry entries in the tokens tree {:.2}x the four trees' time per durable write; all rows adjacent in one tree {:.2}x",
            per_op("raw redb, expiry entries in the tokens tree") / four,
            per_op("raw redb, all rows adjacent in one tree") / four
        ));
    }
    if settings.runs("writes") || settings.runs("writes32") {
        let before = support::grantdb_set_configured(
            live,
            Config::builder()
                .durability(Durability::Durable)
                .commit_log(false),
        );
        let mut rows = Vec::new();
        if settings.runs("writes") {
            rows.extend(writes(&settings, &set, &before, 1));
        }
        rows.extend(writes(&settings, &set, &before, 32));
        print_rows("Durable writes", &rows);
        let stats = set.store.write_stats();
        println!(
            "\ngrantdb writes per transaction over the run: {:.1} ({} operations, {} transactions)",
            stats.operations as f64 / stats.transactions.max(1) as f64,
            stats.operations,
            stats.transactions
        );
        if settings.runs("writes") {
            targets.extend(write_targets(&rows));
        }
    }
    println!("\n### Targets (issue 17), this run\n");
    for line in targets {
        println!("{line}");
    }
}

/// Bytes per pair of each engine's data set as built; the target line.
fn space(settings: &Settings, template: &Path) -> String {
    let live = settings.pairs * 2;
    let lean_template = support::cache_dir().join(format!("sqlite-{live}.db"));
    let _ = sqlite::sqlite_set(live);
    let _ = dot::dot_set(settings.pairs);
    let dot_template = support::cache_dir().join(format!("sqlite-dot-{}-pairs.db", settings.pairs));
    let per_pair = |path: &Path| file_bytes(path) as f64 / settings.pairs as f64;
    let (grantdb, lean, dot) = (
        per_pair(template),
        per_pair(&lean_template),
        per_pair(&dot_template),
    );
    println!("\n### Space per pair (file size / pairs)\n");
    println!("| engine | bytes per pair | vs DOT shape |");
    println!("|---|---|---|");
    for (engine, bytes) in [
        ("grantdb", grantdb),
        ("SQLite lean", lean),
        ("SQLite DOT shape", dot),
    ] {
        println!("| {engine} | {bytes:.0} | {:.2}x |", bytes / dot);
    }
    let ratio = grantdb / dot;
    format!(
        "- space: {ratio:.2}x SQLite DOT per pair (≤ 1.2x: {})",
        verdict(ratio <= 1.2)
    )
}

/// The write targets' lines.
fn write_targets(rows: &[Row]) -> Vec<String> {
    let mut lines = Vec::new();
    for workload in ["issue", "refresh"] {
        let one = |engine| find(rows, engine, &format!("{workload}, 1 caller")).micros_per_op();
        let many = |engine| find(rows, engine, &format!("{workload}, 32 callers")).per_second();
        let single = one("grantdb") / one("SQLite DOT shape, shared connection");
        lines.push(format!(
            "- {workload}, one durable writer: grantdb {:.0} µs, SQLite DOT FULL {:.0} µs, lean {:.0} µs: {single:.2}x SQLite DOT (target ≤ 1.0x): {}",
            one("grantdb"),
            one("SQLite DOT shape, shared connection"),
            one("SQLite lean, shared connection"),
            verdict(single <= 1.0)
        ));
        let shared = many("grantdb") / many("SQLite DOT shape, shared connection");
        let own = many("grantdb") / many("SQLite DOT shape, connection per caller");
        let scale = many("grantdb") / (1e6 / one("grantdb"));
        lines.push(format!(
            "- {workload}, 32 writers: {:.0}/s; {shared:.1}x SQLite DOT shared (≥ 5x: {}), {own:.1}x connection per caller (≥ 4x: {}), {scale:.1}x grantdb's single caller (≥ 8x: {})",
            many("grantdb"),
            verdict(shared >= 5.0),
            verdict(own >= 4.0),
            verdict(scale >= 8.0)
        ));
    }
    let cpu = find(rows, "grantdb", "issue, 32 callers").cpu_micros_per_op();
    let cpu_before = find(
        rows,
        "grantdb without the commit log (before)",
        "issue, 32 callers",
    )
    .cpu_micros_per_op();
    lines.push(format!(
        "- CPU per issue at 32 callers (whole process): {cpu:.1} µs (before: {cpu_before:.1} µs)"
    ));
    lines.push("\n### Targets (issue 26, against the lean SQLite shape), this run\n".to_owned());
    for workload in ["issue", "refresh"] {
        let one = |engine| find(rows, engine, &format!("{workload}, 1 caller"));
        let (now, before, lean) = (
            one("grantdb"),
            one("grantdb without the commit log (before)"),
            one("SQLite lean, shared connection"),
        );
        let ratio = now.micros_per_op() / lean.micros_per_op();
        lines.push(format!(
            "- {workload}, one durable caller: grantdb {:.0} µs (p99 {:.0}), before {:.0} µs (p99 {:.0}), SQLite lean FULL {:.0} µs (p99 {:.0}): {ratio:.2}x SQLite's time (≤ 0.7x: {})",
            now.micros_per_op(),
            now.p99.as_secs_f64() * 1e6,
            before.micros_per_op(),
            before.p99.as_secs_f64() * 1e6,
            lean.micros_per_op(),
            lean.p99.as_secs_f64() * 1e6,
            verdict(ratio <= 0.7)
        ));
    }
    let many = |engine| find(rows, engine, "issue, 32 callers").per_second();
    let single = 1e6 / find(rows, "grantdb", "issue, 1 caller").micros_per_op();
    let (shared, own) = (
        many("grantdb") / many("SQLite lean, shared connection"),
        many("grantdb") / many("SQLite lean, connection per caller"),
    );
    lines.push(format!(
        "- issue, 32 callers: grantdb {:.0}/s (before {:.0}/s); {shared:.1}x SQLite lean shared (≥ 8x: {}), {own:.1}x connection per caller (≥ 6x: {}), {:.1}x grantdb's one caller (≥ 8x: {})",
        many("grantdb"),
        many("grantdb without the commit log (before)"),
        verdict(shared >= 8.0),
        verdict(own >= 6.0),
        many("grantdb") / single,
        verdict(many("grantdb") / single >= 8.0)
    ));
    lines
}
