//! A throwaway PostgreSQL server for the tests: `GRANTDB_PG_URL` when set,
//! otherwise one started once per test process with `initdb` and `pg_ctl` on a
//! private Unix socket, and stopped and deleted when the process exits (a
//! watchdog waits for the test process to end). Each store gets a schema of
//! its own, so tests do not see each other.
//!
//! Without PostgreSQL the PostgreSQL tests pass as skipped and say so on the
//! terminal; with `GRANTDB_REQUIRE_POSTGRES=1` (as `.ci/run` sets) they fail.

#![cfg(feature = "postgres")]
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use grantdb::kv::postgres::{PostgresBackend, PostgresOptions};

/// The connection string of the test server (started with `fsync=off`: the
/// tests check logic, not the disk), if one is running.
pub fn url() -> Option<&'static str> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    server(&URL, false)
}

/// A server that fsyncs its commits, for benchmarks beside durable peers.
pub fn durable_url() -> Option<&'static str> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    server(&URL, true)
}

fn server(cell: &'static OnceLock<Option<String>>, fsync: bool) -> Option<&'static str> {
    let url = cell
        .get_or_init(|| {
            std::env::var("GRANTDB_PG_URL").ok().or_else(|| match start_server(fsync) {
                Ok(url) => Some(url),
                Err(why) => {
                    // Straight to the terminal: the test harness captures println!.
                    let _ = writeln!(
                        std::io::stderr(),
                        "\nPostgreSQL tests SKIPPED: no server ({why}); set GRANTDB_PG_URL or install PostgreSQL"
                    );
                    None
                }
            })
        })
        .as_deref();
    assert!(
        url.is_some() || std::env::var_os("GRANTDB_REQUIRE_POSTGRES").is_none(),
        "GRANTDB_REQUIRE_POSTGRES is set but no PostgreSQL server could be started"
    );
    url
}

/// A backend on a fresh schema of the test server.
pub fn backend(allow_generated_key: bool) -> Option<PostgresBackend> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url = url()?;
    let schema = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    Some(connect(url, &schema, allow_generated_key))
}

/// A backend on `schema` of the test server (for several nodes on one store),
/// whose time is the store's configured clock: the tests drive it by hand.
pub fn connect(url: &str, schema: &str, allow_generated_key: bool) -> PostgresBackend {
    connect_with(url, schema, allow_generated_key, false)
}

/// A backend on `schema` taking its time from the database server when
/// `database_clock` (the production default).
pub fn connect_with(
    url: &str,
    schema: &str,
    allow_generated_key: bool,
    database_clock: bool,
) -> PostgresBackend {
    let options = PostgresOptions::new(url)
        .schema(schema)
        .pool_size(8)
        .allow_generated_key(allow_generated_key)
        .database_clock(database_clock);
    PostgresBackend::connect(&options).expect("connect to the test PostgreSQL server")
}

fn find(tool: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(tool));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(tool));
    on_path.chain(debian).find(|path| path.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0"))
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root
/// (`initdb` refuses to run as root).
fn run_as_server_user(tool: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(tool);
        c
    } else {
        Command::new(tool)
    };
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            tool.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn start_server(fsync: bool) -> Result<String, String> {
    let (dir, data) = init_cluster(&format!("{}", u8::from(fsync)))?;
    let port = 20_000 + (std::process::id() % 10_000) * 2 + u32::from(fsync);
    let fsync = if fsync { "on" } else { "off" };
    let dir_text = dir.to_str().ok_or("temporary directory is not UTF-8")?;
    let options = format!(
        "-c listen_addresses='' -k {dir_text} -p {port} -c fsync={fsync} -c max_connections=200 -c shared_buffers=256MB"
    );
    start_cluster(&dir, &data, &options)?;
    Ok(format!(
        "host={dir_text} port={port} user=grantdb dbname=postgres"
    ))
}

/// A throwaway server on 127.0.0.1 that accepts TCP connections over TLS
/// only (`hostssl`), with `cert_pem` and `key_pem`; returns its port. Stopped
/// and deleted when the test process exits.
pub fn start_tls_server(cert_pem: &str, key_pem: &str) -> Result<u16, String> {
    let (dir, data) = init_cluster("tls")?;
    std::fs::write(data.join("server.crt"), cert_pem).map_err(|e| e.to_string())?;
    std::fs::write(data.join("server.key"), key_pem).map_err(|e| e.to_string())?;
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .map_err(|e| e.to_string())?;
    hand_to_server_user(&dir)?;
    let status = Command::new("chmod")
        .arg("600")
        .arg(data.join("server.key"))
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cannot restrict the key file".into());
    }
    let dir_text = dir.to_str().ok_or("temporary directory is not UTF-8")?;
    // A free port: bound and released, so another process may take it
    // before the server does: then another one, a few times.
    let mut last = String::new();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let options = format!(
            "-c listen_addresses='127.0.0.1' -k {dir_text} -p {port} -c fsync=off \
             -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        );
        match start_cluster(&dir, &data, &options) {
            Ok(()) => return Ok(port),
            Err(why) => last = why,
        }
    }
    Err(last)
}

/// Gives `dir` to the `postgres` user when we are root.
fn hand_to_server_user(dir: &Path) -> Result<(), String> {
    if !is_root() {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(dir)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err("cannot hand the data directory to the postgres user".into())
    }
}

/// `initdb` of a new cluster in a temporary directory named with `tag`;
/// returns the directory and its data directory.
fn init_cluster(tag: &str) -> Result<(PathBuf, PathBuf), String> {
    let initdb = find("initdb").ok_or("initdb not found")?;
    let dir = std::env::temp_dir().join(format!("grantdb-pg-{}-{tag}", std::process::id()));
    let data = dir.join("data");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    hand_to_server_user(&dir)?;
    let data_text = data.to_str().ok_or("temporary directory is not UTF-8")?;
    run_as_server_user(
        &initdb,
        &[
            "-D",
            data_text,
            "-U",
            "grantdb",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
    )?;
    Ok((dir, data))
}

/// Starts the cluster in `data` with server `options`, and a watchdog that
/// stops it and deletes `dir` once this test process is gone.
fn start_cluster(dir: &Path, data: &Path, options: &str) -> Result<(), String> {
    let pg_ctl = find("pg_ctl").ok_or("pg_ctl not found")?;
    let dir_text = dir.to_str().ok_or("temporary directory is not UTF-8")?;
    let data_text = data.to_str().ok_or("temporary directory is not UTF-8")?;
    let log = dir.join("server.log");
    run_as_server_user(
        &pg_ctl,
        &[
            "-D",
            data_text,
            "-o",
            options,
            "-l",
            log.to_str().unwrap_or_default(),
            "-w",
            "start",
        ],
    )?;
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {stop} {pg_ctl} -D {data_text} -m immediate stop >/dev/null 2>&1; rm -rf {dir_text}",
        pid = std::process::id(),
        stop = if is_root() {
            "runuser -u postgres --"
        } else {
            ""
        },
        pg_ctl = pg_ctl.display(),
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A throwaway primary and synchronous hot standby on one Unix-socket
/// directory (issue 16): `synchronous_standby_names='*'`, so a commit is
/// acknowledged only once the standby has it. Stopped and deleted when the
/// test process exits.
pub struct Replicated {
    dir: PathBuf,
    /// Data directories and ports of the two nodes; `primary` names the
    /// one that takes writes now.
    nodes: [(PathBuf, u16); 2],
    pub primary: usize,
}

impl Replicated {
    /// Starts the primary, then a standby made with `pg_basebackup -R`;
    /// `slot` tells the clusters of one test process apart.
    pub fn start(slot: u32) -> Result<Replicated, String> {
        let (dir, first) = init_cluster(&format!("replicated{slot}"))?;
        let second = dir.join("data2");
        let base = 30_000 + (std::process::id() % 5_000) * 4 + slot * 2;
        let nodes = [(first, base as u16), (second, base as u16 + 1)];
        let cluster = Replicated {
            dir,
            nodes,
            primary: 0,
        };
        start_cluster(&cluster.dir, &cluster.nodes[0].0, &cluster.options(0))?;
        cluster.rebuild_standby(1)?;
        Ok(cluster)
    }

    fn options(&self, node: usize) -> String {
        format!(
            "-c listen_addresses='' -k {} -p {} -c fsync=off -c wal_level=replica \
             -c max_wal_senders=8 -c hot_standby=on -c synchronous_commit=on \
             -c synchronous_standby_names='*' -c max_connections=100 -c wal_keep_size=64MB",
            self.dir.display(),
            self.nodes[node].1
        )
    }

    /// The connection string naming both nodes, to the one that takes writes.
    pub fn url(&self) -> String {
        let dir = self.dir.display();
        format!(
            "host={dir},{dir} port={},{} user=grantdb dbname=postgres \
             target_session_attrs=read-write",
            self.nodes[0].1, self.nodes[1].1
        )
    }

    /// The connection string of the standby (a read replica).
    pub fn standby_url(&self) -> String {
        format!(
            "host={} port={} user=grantdb dbname=postgres",
            self.dir.display(),
            self.nodes[1 - self.primary].1
        )
    }

    /// Kills the primary as a crash would: SIGKILL to its postmaster (its
    /// backends notice and exit), then waits until the postmaster is gone.
    pub fn kill_primary(&self) -> Result<(), String> {
        let data = &self.nodes[self.primary].0;
        let pid_file = std::fs::read_to_string(data.join("postmaster.pid"))
            .map_err(|e| format!("no postmaster.pid: {e}"))?;
        let pid = pid_file
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let killed = Command::new("kill")
            .args(["-9", &pid])
            .status()
            .map_err(|e| e.to_string())?;
        if !killed.success() {
            return Err(format!("kill -9 {pid} failed"));
        }
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while proc.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(())
    }

    /// Promotes the standby (`pg_ctl promote`, waiting for it to finish).
    pub fn promote_standby(&mut self) -> Result<(), String> {
        let pg_ctl = find("pg_ctl").ok_or("pg_ctl not found")?;
        let standby = 1 - self.primary;
        let data = &self.nodes[standby].0;
        run_as_server_user(
            &pg_ctl,
            &["-D", &data.display().to_string(), "-w", "promote"],
        )?;
        self.primary = standby;
        Ok(())
    }

    /// Makes `node` a fresh synchronous standby of the primary: its data
    /// directory replaced by a base backup, then started.
    pub fn rebuild_standby(&self, node: usize) -> Result<(), String> {
        let basebackup = find("pg_basebackup").ok_or("pg_basebackup not found")?;
        let data = &self.nodes[node].0;
        let _ = std::fs::remove_dir_all(data);
        run_as_server_user(
            &basebackup,
            &[
                "-D",
                &data.display().to_string(),
                "-R",
                "-X",
                "stream",
                "-h",
                &self.dir.display().to_string(),
                "-p",
                &self.nodes[self.primary].1.to_string(),
                "-U",
                "grantdb",
                "--no-sync",
            ],
        )?;
        start_cluster(&self.dir, data, &self.options(node))
    }
}
