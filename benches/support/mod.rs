//! Data sets shared by the benchmarks: grantdb stores and peer databases with
//! N live tokens, built once and cached under `target/grantdb-bench/`, then
//! copied for each benchmark so that every run starts from the same state.
//!
//! `cargo bench -- --test` (the CI smoke run) uses 1,000 live tokens; a real run
//! uses 10k, 100k and 1M, or the sizes in `GRANTDB_BENCH_SIZES` (comma
//! separated).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::Criterion;

pub mod dot;
pub mod peers;
pub mod sqlite;
use grantdb::{
    AuthenticatedClient, ClientId, Config, Durability, GrantType, LifetimeOverrides, NewClient,
    Secret, Store,
};
use grantdb::{ClientCredentialsRequest, IssueRequest, RefreshRequest};

/// Whether this is the smoke run (`cargo bench -- --test`).
pub fn quick() -> bool {
    std::env::args().any(|arg| arg == "--test") || std::env::var_os("GRANTDB_BENCH_QUICK").is_some()
}

/// Live-token counts to measure at.
pub fn sizes() -> Vec<usize> {
    if quick() {
        return vec![1_000];
    }
    match std::env::var("GRANTDB_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        Err(_) => vec![10_000, 100_000, 1_000_000],
    }
}

/// The size the concurrency and purge benchmarks use: the largest up to 100k.
pub fn middle_size() -> usize {
    sizes()
        .into_iter()
        .filter(|s| *s <= 100_000)
        .max()
        .unwrap_or(1_000)
}

/// Criterion settings sized for a shared 2-core machine.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

/// Bumped whenever the record layout changes before a format version does, so
/// that cached data sets are rebuilt.
const DATASET_REVISION: u32 = 3;

/// Where cached data sets live.
pub fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let dir = target
        .join("grantdb-bench")
        .join(format!("v{}.{DATASET_REVISION}", grantdb::FORMAT_VERSION));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies `template` into a fresh temporary directory.
pub fn copy_of(template: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(template.file_name().unwrap());
    std::fs::copy(template, &path).unwrap();
    (dir, path)
}

/// The sampled pairs a data set's builder kept, one `access refresh` per line.
pub fn read_pairs(samples: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(samples)
        .unwrap()
        .lines()
        .map(|line| {
            let (access, refresh) = line.split_once(' ').unwrap();
            (access.to_owned(), refresh.to_owned())
        })
        .collect()
}

/// The page cache every engine gets: grantdb, bare redb and SQLite alike.
pub const CACHE_BYTES: usize = 256 * 1024 * 1024;

/// The same value size the peers store: a 32-byte key and ~120-byte value.
pub const VALUE: [u8; 120] = [0x5a; 120];

/// A grantdb store with `live` live tokens (`live / 2` access/refresh pairs of
/// a password client), plus samples of their plaintexts.
pub struct GrantdbSet {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub password_client: AuthenticatedClient,
    pub code_client: AuthenticatedClient,
    pub cc_client: AuthenticatedClient,
    pub access: Vec<String>,
    pub refresh: Vec<String>,
}

pub const SAMPLES: usize = 20_000;

/// Opens a copy of the cached data set of `live` tokens.
pub fn grantdb_set(live: usize, durability: Durability) -> GrantdbSet {
    grantdb_set_configured(live, Config::builder().durability(durability))
}

/// [`grantdb_set`] with the store configured by `builder` (its cache size
/// set to [`CACHE_BYTES`]).
pub fn grantdb_set_configured(live: usize, builder: grantdb::ConfigBuilder) -> GrantdbSet {
    let template = cache_dir().join(format!("grantdb-{live}.redb"));
    let samples = cache_dir().join(format!("grantdb-{live}.samples"));
    // A cache from before the clients' secrets were kept is built again.
    let current = std::fs::read_to_string(&samples)
        .is_ok_and(|text| text.lines().next().is_some_and(|line| line.contains(' ')));
    if !template.exists() || !current {
        build_grantdb_template(live, &template, &samples);
    }
    let (dir, path) = copy_of(&template);
    let config = builder.cache_size(CACHE_BYTES).build().unwrap();
    let store = Store::open(&path, config).unwrap();
    let text = std::fs::read_to_string(&samples).unwrap();
    let mut lines = text.lines();
    // The clients, each `id secret`, authenticated as a token endpoint would.
    let clients: Vec<AuthenticatedClient> = (0..3)
        .map(|_| {
            let (id, secret) = lines.next().unwrap().split_once(' ').unwrap();
            let id: ClientId = id.parse().unwrap();
            store.authenticate_client(&id, Some(secret)).unwrap()
        })
        .collect();
    let mut clients = clients.into_iter();
    let mut access = Vec::new();
    let mut refresh = Vec::new();
    for line in lines {
        let (a, r) = line.split_once(' ').unwrap();
        access.push(a.to_owned());
        refresh.push(r.to_owned());
    }
    GrantdbSet {
        store,
        dir,
        password_client: clients.next().unwrap(),
        code_client: clients.next().unwrap(),
        cc_client: clients.next().unwrap(),
        access,
        refresh,
    }
}

/// Removes a database file and the commit log beside it (a log left over
/// from an earlier file is refused next to a new one).
pub fn remove_database(path: &Path) {
    let _ = std::fs::remove_file(path);
    let mut log = path.as_os_str().to_owned();
    log.push(".commitlog");
    let _ = std::fs::remove_file(PathBuf::from(log));
}

fn build_grantdb_template(live: usize, template: &Path, samples: &Path) {
    eprintln!(
        "building the grantdb data set with {live} live tokens (cached in {})",
        template.display()
    );
    remove_database(template);
    let config = Config::builder()
        .durability(Durability::Fast)
        .build()
        .unwrap();
    let store = Store::open(template, config).unwrap();
    let register = |client: NewClient| {
        let registered = store.register_client(client).unwrap();
        let secret = registered.secret.unwrap().expose().to_owned();
        (registered.client.id, secret)
    };
    let password_id = register(
        NewClient::confidential("bench-password")
            .grant_types([GrantType::Password, GrantType::RefreshToken])
            .scopes("read write")
            .unwrap(),
    );
    let code = register(
        NewClient::confidential("bench-code")
            .redirect_uri("https://bench.example/cb")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read write")
            .unwrap(),
    );
    let cc = register(
        NewClient::confidential("bench-cc")
            .grant_types([GrantType::ClientCredentials])
            .scopes("read")
            .unwrap()
            .lifetimes(LifetimeOverrides::default().access(Duration::from_hours(24))),
    );
    let password = store
        .authenticate_client(&password_id.0, Some(&password_id.1))
        .unwrap();
    let pairs = live / 2;
    let threads = 4;
    let every = (pairs / SAMPLES).max(1);
    let per_thread: Vec<Vec<(String, String)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (store, password) = (&store, &password);
                scope.spawn(move || {
                    let mut kept = Vec::new();
                    for i in (t..pairs).step_by(threads) {
                        let tokens = store
                            .issue_for_subject(IssueRequest::new(password, format!("user-{i}")))
                            .unwrap();
                        if i % every == 0 {
                            let refresh =
                                tokens.refresh_token.as_ref().unwrap().expose().to_owned();
                            kept.push((tokens.access_token.expose().to_owned(), refresh));
                        }
                    }
                    kept
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    store.flush().unwrap();
    drop(store);
    let client_line = |(id, secret): &(ClientId, String)| format!("{id} {secret}\n");
    let mut text = format!(
        "{}{}{}",
        client_line(&password_id),
        client_line(&code),
        client_line(&cc)
    );
    for (a, r) in per_thread.into_iter().flatten() {
        use std::fmt::Write as _;
        let _ = writeln!(text, "{a} {r}");
    }
    std::fs::write(samples, text).unwrap();
}

/// Rotates the refresh token in `chain` (a rotation chain of the password
/// client) and keeps the new one there.
pub fn rotate(set: &GrantdbSet, chain: &mut String) {
    let rotated = set
        .store
        .refresh(RefreshRequest::new(chain.as_str(), &set.password_client))
        .unwrap();
    rotated.refresh_token.unwrap().expose().clone_into(chain);
}

/// A well-formed access token that no store issued.
pub fn foreign_access_token() -> String {
    access_token_of(&Store::in_memory(Config::default()).unwrap())
}

/// A well-formed access token naming key id 2, which the benches' stores
/// (one key) never saw: what a flood of forged key ids presents.
pub fn unknown_key_access_token() -> String {
    let store = Store::in_memory(Config::default()).unwrap();
    store.add_hashing_key(None).unwrap();
    access_token_of(&store)
}

/// An access token of a client-credentials client of `store`.
fn access_token_of(store: &Store) -> String {
    let registered = store
        .register_client(NewClient::confidential("x").grant_types([GrantType::ClientCredentials]))
        .unwrap();
    let client = store
        .authenticate_client(
            &registered.client.id,
            registered.secret.as_ref().map(Secret::expose),
        )
        .unwrap();
    store
        .issue_client_credentials(ClientCredentialsRequest::new(&client))
        .unwrap()
        .access_token
        .expose()
        .to_owned()
}

/// Runs `op(thread, i)` for `total` operations spread over `callers` threads,
/// started together; returns the wall time.
pub fn run_concurrently(callers: usize, total: u64, op: impl Fn(usize, u64) + Sync) -> Duration {
    let per_caller = total.div_ceil(callers as u64).max(1);
    let barrier = std::sync::Barrier::new(callers + 1);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let elapsed = std::thread::scope(|scope| {
        for caller in 0..callers {
            let (barrier, op, failed) = (&barrier, &op, &failed);
            scope.spawn(move || {
                barrier.wait();
                // A panicking operation must still reach the barrier, or the
                // other callers would wait for it forever.
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    for i in 0..per_caller {
                        op(caller, i);
                    }
                }));
                if run.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = std::time::Instant::now();
        barrier.wait();
        start.elapsed()
    });
    assert!(!failed.into_inner(), "a benchmarked operation panicked");
    elapsed.mul_f64(total as f64 / (per_caller * callers as u64) as f64)
}

/// Registers `client` and authenticates it with its secret (or as a public
/// client), as a token endpoint would before its first request.
pub fn registered<B: grantdb::kv::Backend>(
    store: &Store<B>,
    client: NewClient,
) -> AuthenticatedClient {
    let registered = store.register_client(client).unwrap();
    store
        .authenticate_client(
            &registered.client.id,
            registered.secret.as_ref().map(Secret::expose),
        )
        .unwrap()
}
