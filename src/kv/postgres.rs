//! The shared backend (feature `postgres`): the same tables on PostgreSQL (or
//! a Postgres-compatible distributed engine), so that several server nodes
//! share one store under the same rules.
//!
//! * Each grantdb table is a PostgreSQL table `(k bytea PRIMARY KEY, v bytea)`
//!   in one schema, created by a versioned migration at connect.
//! * Write transactions are `SERIALIZABLE`: two nodes rotating the same
//!   refresh token cannot both succeed. A serialization failure or deadlock is
//!   retried inside grantdb with bounded, jittered backoff, so a caller never
//!   sees a conflict as a spurious `invalid_grant`.
//! * A transaction of operations content with row locks
//!   ([`Isolation::RowLocks`]: refreshes) runs `REPEATABLE READ`: no
//!   predicate locks, only the row locks its writes take at commit.
//!   Refreshes of different grants never conflict; of two refreshes of one
//!   token, the second to write the token row waits for the first and then
//!   fails, to run again on what the first wrote (first updater wins).
//! * A transaction that lost 8 races runs alone: it locks `grantdb_meta`
//!   `EXCLUSIVE` before its snapshot, and every other write transaction
//!   takes that lock `ROW SHARE` with its `BEGIN`, so none is starved.
//! * Writes are buffered in the transaction and sent at commit: up to 256
//!   rows as one statement (a data-modifying `WITH` per table and kind),
//!   more as one `INSERT … ON CONFLICT` and one `DELETE … = ANY` per table
//!   and chunk; reads that a rule announces (purge) are fetched with one
//!   `= ANY` query per table.
//! * A validation or introspection is one statement outside any transaction:
//!   one round trip.
//! * `Durability::Fast` maps to `synchronous_commit = off` for the transaction.
//! * Time is the database server's (`PostgresOptions::database_clock`, on by
//!   default): every transaction reads it with its `BEGIN`, in the same round
//!   trip, and a validation with its one statement, so nodes whose clocks
//!   disagree still agree on every expiry and on reuse detection.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator as _;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, SimpleQueryMessage, Statement};
use rand::RngExt as _;

use super::overlay::{Overlay, Writes};
pub use super::pg_tls::PostgresTls;
use super::{Backend, CommitMode, FeedWatcher, Isolation, KeyRange, KvRead, KvWrite, Table, TxEnd};
use crate::error::{Error, InputError, Result};

/// The database server's time, in whole Unix seconds.
const NOW: &str = "floor(extract(epoch FROM statement_timestamp()))::int8";

/// The schema migration this build applies and expects.
const SCHEMA_VERSION: i32 = 4;
/// Rows written per bulk statement.
const BULK: usize = 5_000;
/// Rows fetched per page of a range scan.
const PAGE: i64 = 512;
/// Rows a transaction writes in one statement at most; more go in
/// statements per table and kind. (A bulk revocation racing refreshes, sent
/// as one statement of thousands of rows, ran many times slower.)
const AT_ONCE: usize = 256;
/// Conflicts after which a transaction runs alone (see
/// `PostgresBackend::attempt`).
const RUN_ALONE_AFTER: u32 = 8;
/// Prepared statements a connection keeps.
const MAX_PREPARED: usize = 512;
/// Attempts of a transaction that keeps conflicting before the error surfaces.
const MAX_ATTEMPTS: u32 = 30;

/// How to reach the database.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// A libpq-style connection string (`host=… user=… dbname=…`) or URL.
    pub url: String,
    /// The schema holding grantdb's tables (letters, digits, `_`).
    pub schema: String,
    /// Connections in the pool (default 16).
    pub pool_size: u32,
    /// Whether a store opened without a hashing key may generate one and keep
    /// it in this shared database (default false: every node should be given
    /// the key, so that the database alone holds no key).
    pub allow_generated_key: bool,
    /// Whether operations take the time from the database server instead of
    /// the store's configured clock (default true: the nodes of a fleet then
    /// agree on time whatever their own clocks say). Turn it off to drive a
    /// store with an injected clock (tests).
    pub database_clock: bool,
    /// How connections are secured (default [`PostgresTls::Disable`]);
    /// overrides any `sslmode` in `url`.
    pub tls: PostgresTls,
    /// How long to wait for a connection (default 10 s): past it, an
    /// operation is [`Error::Unavailable`]. With several hosts (a primary
    /// and its standbys, `target_session_attrs=read-write`), each is tried.
    pub connect_timeout: Duration,
    /// Hot standbys that serve validation and introspection (connection
    /// strings; none by default). With replicas, every durable write
    /// commits with `synchronous_commit = remote_apply`, so it returns only
    /// once the standbys named in the primary's `synchronous_standby_names`
    /// have applied it: a revoked token never validates on a replica after
    /// its revocation returned (R13). See `docs/design.md`, "Replica reads".
    pub read_replicas: Vec<String>,
    /// Whether operations content with row locks (refreshes) run on them
    /// (default true): `REPEATABLE READ`, where the rows a transaction
    /// writes are locked and one changed since its snapshot fails it. Off,
    /// every write transaction is `SERIALIZABLE`, as on an engine that offers
    /// nothing else; refreshes of different grants may then conflict and be
    /// retried. See `docs/design.md`, "Row locks for refreshes".
    pub row_locks: bool,
}

impl PostgresOptions {
    /// Options for `url`, schema `grantdb`, 16 connections, no generated key.
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            schema: "grantdb".to_owned(),
            pool_size: 16,
            allow_generated_key: false,
            database_clock: true,
            tls: PostgresTls::Disable,
            connect_timeout: Duration::from_secs(10),
            read_replicas: Vec::new(),
            row_locks: true,
        }
    }

    /// Adds a hot standby that serves validation and introspection.
    pub fn read_replica(mut self, url: impl Into<String>) -> PostgresOptions {
        self.read_replicas.push(url.into());
        self
    }

    /// Sets how long to wait for a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> PostgresOptions {
        self.connect_timeout = timeout;
        self
    }

    /// Secures the connections (libpq's `sslmode`): see [`PostgresTls`].
    pub fn tls(mut self, tls: PostgresTls) -> PostgresOptions {
        self.tls = tls;
        self
    }

    /// Whether operations take the time from the database server (default
    /// true) or from the store's configured clock.
    pub fn database_clock(mut self, on: bool) -> PostgresOptions {
        self.database_clock = on;
        self
    }

    /// Sets the schema.
    pub fn schema(mut self, schema: impl Into<String>) -> PostgresOptions {
        self.schema = schema.into();
        self
    }

    /// Sets the pool size.
    pub fn pool_size(mut self, size: u32) -> PostgresOptions {
        self.pool_size = size;
        self
    }

    /// Whether refreshes run on row locks (default true) or `SERIALIZABLE`.
    pub fn row_locks(mut self, on: bool) -> PostgresOptions {
        self.row_locks = on;
        self
    }

    /// Lets a store without a host-supplied key keep a generated one here.
    pub fn allow_generated_key(mut self, allow: bool) -> PostgresOptions {
        self.allow_generated_key = allow;
        self
    }
}

/// The SQL of every statement, per table, built once.
#[derive(Debug)]
struct Sql {
    get: Vec<String>,
    /// `get` that also returns the database server's time.
    get_timed: Vec<String>,
    get_many: Vec<String>,
    upsert: Vec<String>,
    upsert_many: Vec<String>,
    delete: Vec<String>,
    delete_many: Vec<String>,
    schema: String,
    /// The `LISTEN/NOTIFY` channel of the schema's change feed.
    feed_channel: String,
    /// Takes the writers' lock of the schema shared, until the transaction
    /// ends: every write transaction does, with its `BEGIN`.
    writers_shared: String,
    /// Takes it exclusively: a transaction that keeps losing races.
    writers_alone: String,
    /// Statements sent on this backend's connections (a round trip each).
    sent: std::sync::atomic::AtomicU64,
}

impl Sql {
    fn new(schema: &str) -> Sql {
        let each = |template: &str| {
            Table::ALL
                .iter()
                .map(|t| template.replace("{t}", &format!("{schema}.{}", t.name())))
                .collect()
        };
        Sql {
            get: each("SELECT v FROM {t} WHERE k = $1"),
            get_timed: each(&format!("SELECT v, {NOW} FROM {{t}} WHERE k = $1")),
            get_many: each("SELECT k, v FROM {t} WHERE k = ANY($1)"),
            upsert: each(
                "INSERT INTO {t} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
            ),
            upsert_many: Table::ALL
                .iter()
                .map(|&t| upsert_rows(schema, t, 1, 2))
                .collect(),
            delete: each("DELETE FROM {t} WHERE k = $1"),
            delete_many: Table::ALL
                .iter()
                .map(|&t| delete_rows(schema, t, 1))
                .collect(),
            schema: schema.to_owned(),
            feed_channel: format!("grantdb_feed_{schema}"),
            // The writers' lock is the meta table's: `ROW SHARE` admits every
            // other writer and reader, `EXCLUSIVE` only readers. Both end
            // with the transaction, on the server, whatever the client does.
            writers_shared: format!("LOCK TABLE {schema}.grantdb_meta IN ROW SHARE MODE"),
            writers_alone: format!("LOCK TABLE {schema}.grantdb_meta IN EXCLUSIVE MODE"),
            sent: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A page of a range scan, for the kinds of bound given.
    fn scan(&self, table: Table, lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> String {
        let mut conditions = Vec::new();
        let mut n = 0;
        let mut bound = |b: &Bound<Vec<u8>>, inclusive: &str, exclusive: &str| match b {
            Bound::Included(_) => {
                n += 1;
                conditions.push(format!("k {inclusive} ${n}"));
            }
            Bound::Excluded(_) => {
                n += 1;
                conditions.push(format!("k {exclusive} ${n}"));
            }
            Bound::Unbounded => {}
        };
        bound(lower, ">=", ">");
        bound(upper, "<=", "<");
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        format!(
            "SELECT k, v FROM {}.{}{filter} ORDER BY k LIMIT {PAGE}",
            self.schema,
            table.name()
        )
    }
}

impl Sql {
    /// Counts one statement sent (see [`PostgresBackend::statements_sent`]).
    fn count_statement(&self) {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A pooled connection and its prepared statements.
pub struct PgConnection {
    client: Client,
    statements: HashMap<String, Statement>,
}

struct Manager {
    config: postgres::Config,
    /// The rustls connector; `None`: plain connections.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConnection, postgres::Error> {
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone())?,
            None => self.config.connect(NoTls)?,
        };
        Ok(PgConnection {
            client,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.client.is_closed()
    }
}

/// grantdb's tables in a PostgreSQL schema, behind a connection pool.
pub struct PostgresBackend {
    /// `None` only while being dropped.
    pool: Option<r2d2::Pool<Manager>>,
    /// Pools of the read replicas, taken in turn by validations.
    replicas: Vec<r2d2::Pool<Manager>>,
    /// The next replica to read from.
    next_replica: std::sync::atomic::AtomicUsize,
    sql: Sql,
    allow_generated_key: bool,
    database_clock: bool,
    row_locks: bool,
    /// How the change feed's listener connects (R33).
    listen: Arc<Manager>,
    /// The listener, once a reader waits for the feed.
    listening: std::sync::OnceLock<()>,
    /// Write transactions retried after a conflict.
    retries: std::sync::atomic::AtomicU64,
    /// Tries run alone after losing `RUN_ALONE_AFTER` races.
    runs_alone: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("schema", &self.sql.schema)
            .finish_non_exhaustive()
    }
}

fn storage(error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::storage(error)
}

/// A connection pool on `url` with the options' TLS, timeout and size.
fn pool_for(url: &str, options: &PostgresOptions) -> Result<r2d2::Pool<Manager>> {
    let manager = manager_for(url, options)?;
    // One connection first, so that a refused one (a certificate that does
    // not verify, a wrong password) is reported as it is, not as a pool that
    // timed out.
    drop(r2d2::ManageConnection::connect(&manager).map_err(storage)?);
    r2d2::Pool::builder()
        .max_size(options.pool_size.max(1))
        .connection_timeout(options.connect_timeout.max(Duration::from_millis(100)))
        // A validation is one round trip; a liveness query on every
        // checkout would double it. Broken connections are still dropped
        // (`has_broken`), and a failed statement is an error, not a hang.
        .test_on_check_out(false)
        .build(manager)
        .map_err(storage)
}

/// How connections to `url` are made, with the options' TLS and timeout.
fn manager_for(url: &str, options: &PostgresOptions) -> Result<Manager> {
    let mut config: postgres::Config = url.parse().map_err(storage)?;
    let tls = super::pg_tls::connector(&options.tls)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    config.ssl_mode(if tls.is_some() {
        postgres::config::SslMode::Require
    } else {
        postgres::config::SslMode::Disable
    });
    Ok(Manager { config, tls })
}

/// A PostgreSQL error, typed: a lost or refused connection (the server
/// shutting down, a standby in recovery, a closed socket) is
/// [`Error::Unavailable`]; anything else the database answered is
/// [`Error::Storage`] (conflicts among them, retried by [`is_conflict`]).
fn pg_error(error: postgres::Error) -> Error {
    if lost_connection(&error) {
        Error::Unavailable {
            source: Box::new(error),
        }
    } else {
        storage(error)
    }
}

fn lost_connection(error: &postgres::Error) -> bool {
    match error.code() {
        Some(code) => [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::READ_ONLY_SQL_TRANSACTION,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::CONNECTION_FAILURE,
            SqlState::CONNECTION_DOES_NOT_EXIST,
            SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
        ]
        .contains(code),
        None => {
            error.is_closed()
                || std::error::Error::source(error)
                    .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some())
        }
    }
}

/// Whether the transaction lost a race and should simply run again.
fn is_conflict(error: &Error) -> bool {
    let Error::Storage { source } = error else {
        return false;
    };
    source
        .downcast_ref::<postgres::Error>()
        .and_then(postgres::Error::code)
        .is_some_and(|code| {
            *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        })
}

impl PostgresBackend {
    /// Connects, and creates or checks the schema (versioned migration, under
    /// an advisory lock so that nodes starting together do not race).
    pub fn connect(options: &PostgresOptions) -> Result<PostgresBackend> {
        let schema_ok = options
            .schema
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && options
                .schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && options.schema.len() <= 48;
        if !schema_ok {
            return Err(Error::InvalidArgument {
                what: "PostgreSQL schema name",
                reason: InputError::BadCharacter,
            });
        }
        let pool = pool_for(&options.url, options)?;
        let listen = Arc::new(manager_for(&options.url, options)?);
        let replicas = options
            .read_replicas
            .iter()
            .map(|url| pool_for(url, options))
            .collect::<Result<Vec<_>>>()?;
        let backend = PostgresBackend {
            pool: Some(pool),
            replicas,
            next_replica: std::sync::atomic::AtomicUsize::new(0),
            sql: Sql::new(&options.schema),
            allow_generated_key: options.allow_generated_key,
            database_clock: options.database_clock,
            row_locks: options.row_locks,
            listen,
            listening: std::sync::OnceLock::new(),
            retries: std::sync::atomic::AtomicU64::new(0),
            runs_alone: std::sync::atomic::AtomicU64::new(0),
        };
        backend.migrate()?;
        Ok(backend)
    }

    /// Write transactions run again after a serialization failure or a
    /// deadlock so far, each retry counted: what the fleet benchmark reports
    /// per operation.
    pub fn conflict_retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Write transactions run alone so far, having lost 8 races in a row
    /// (the other writers of the schema held back meanwhile).
    pub fn runs_alone(&self) -> u64 {
        self.runs_alone.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Statements this backend has sent to the database so far (each a
    /// round trip; preparing a statement, once per connection, not counted):
    /// what bulk operations are measured by.
    pub fn statements_sent(&self) -> u64 {
        self.sql.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A connection from the pool.
    fn connection(&self) -> Result<r2d2::PooledConnection<Manager>> {
        self.pool
            .as_ref()
            .ok_or_else(|| Error::Storage {
                source: "the PostgreSQL backend is closed".into(),
            })?
            .get()
            // No connection could be made within the timeout: no server, or
            // no primary (`target_session_attrs=read-write`).
            .map_err(|error| Error::Unavailable {
                source: Box::new(error),
            })
    }

    fn migrate(&self) -> Result<()> {
        let schema = &self.sql.schema;
        let mut conn = self.connection()?;
        let mut tx = conn.client.transaction().map_err(storage)?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[schema])
            .map_err(storage)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now());"
        ))
        .map_err(storage)?;
        let applied: Option<i32> = tx
            .query_one(
                &format!("SELECT max(version) FROM {schema}.schema_migrations"),
                &[],
            )
            .map_err(storage)?
            .get(0);
        match applied {
            Some(version) if version > SCHEMA_VERSION => {
                return Err(Error::UnsupportedFormatVersion {
                    found: version.unsigned_abs(),
                    supported: SCHEMA_VERSION.unsigned_abs(),
                });
            }
            Some(SCHEMA_VERSION) => {}
            // A new schema, or one of an earlier version: every table the
            // current one has (version 2 added `by_session` and `proof_jtis`,
            // version 3 the pushed-request and device tables, version 4 the
            // change feed's).
            _ => {
                let mut tables = String::new();
                for table in Table::ALL {
                    let _ = write!(
                        tables,
                        "CREATE TABLE IF NOT EXISTS {schema}.{} (k bytea PRIMARY KEY, v bytea NOT NULL);",
                        table.name()
                    );
                }
                tx.batch_execute(&tables).map_err(storage)?;
                tx.execute(
                    &format!("INSERT INTO {schema}.schema_migrations (version) VALUES ($1)"),
                    &[&SCHEMA_VERSION],
                )
                .map_err(storage)?;
            }
        }
        tx.commit().map_err(storage)
    }

    /// One try of a write transaction. Beside the other writers, it takes
    /// the writers' lock shared, with its `BEGIN`. `alone` (it lost
    /// `RUN_ALONE_AFTER` races), it takes that lock exclusively before its
    /// snapshot: it waits for the writers in flight to end and holds the
    /// others back until it ends, so that nothing can conflict with it.
    /// Without this, a long transaction among many short ones (a client
    /// deletion among refreshes, an issue among bulk revocations of its
    /// subject) could lose every race until `Error::Contended`.
    fn attempt<R>(
        &self,
        mode: CommitMode,
        isolation: Isolation,
        alone: bool,
        f: &mut impl FnMut(&mut Overlay<PgTxn<'_>>) -> Result<(R, TxEnd)>,
    ) -> Result<R> {
        let mut conn = self.connection()?;
        if alone {
            self.runs_alone
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let PgConnection { client, statements } = &mut *conn;
        let row_locks = self.row_locks && isolation == Isolation::RowLocks;
        let mut begin = String::from(if row_locks {
            "START TRANSACTION ISOLATION LEVEL REPEATABLE READ"
        } else {
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE"
        });
        if mode == CommitMode::Lazy {
            begin.push_str("; SET LOCAL synchronous_commit = off");
        } else if !self.replicas.is_empty() {
            // Replicas serve validations: a write returns once they applied
            // it, so a revoked token never validates there after (R13).
            begin.push_str("; SET LOCAL synchronous_commit = remote_apply");
        }
        // Before the first query, so that the snapshot is taken once the
        // lock is held (a `LOCK TABLE` is not a query).
        begin.push_str("; ");
        begin.push_str(if alone {
            &self.sql.writers_alone
        } else {
            &self.sql.writers_shared
        });
        let txn = PgTxn::begin(client, statements, &self.sql, &begin, self.database_clock)?;
        let mut overlay = Overlay::buffered(txn);
        let (result, end) = f(&mut overlay)?;
        let (base, writes) = overlay.into_parts();
        match end {
            TxEnd::Commit => base.flush_and_commit(&writes)?,
            TxEnd::Abort => base.finish(false)?,
        }
        Ok(result)
    }
}

fn backoff(attempt: u32) {
    let ceiling = 1u64 << attempt.min(6);
    let micros = rand::rng().random_range(0..ceiling * 1_000);
    std::thread::sleep(Duration::from_micros(micros));
}

/// `DELETE` of the rows whose keys are the array parameter `$keys`: the one
/// text of it, for a statement alone and inside a flush's `WITH`.
fn delete_rows(schema: &str, table: Table, keys: usize) -> String {
    format!(
        "DELETE FROM {schema}.{} WHERE k = ANY(${keys})",
        table.name()
    )
}

/// Upsert of the rows in the array parameters `$keys` and `$values`.
fn upsert_rows(schema: &str, table: Table, keys: usize, values: usize) -> String {
    format!(
        "INSERT INTO {schema}.{} (k, v) SELECT * FROM unnest(${keys}::bytea[], ${values}::bytea[]) \
         ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
        table.name()
    )
}

/// A connection, in a transaction begun by [`PgTxn::begin`] or not. A
/// transaction still open when it is dropped is rolled back.
struct Conn<'a> {
    client: &'a mut Client,
    in_transaction: bool,
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if self.in_transaction {
            // Nothing more can be done with a connection that cannot roll back;
            // the pool drops it once it reports itself closed.
            let _ = self.client.simple_query("ROLLBACK");
        }
    }
}

/// Statements on one connection, with its prepared-statement cache and a
/// read cache filled by [`KvRead::prefetch`].
pub struct PgTxn<'a> {
    conn: RefCell<Conn<'a>>,
    statements: RefCell<&'a mut HashMap<String, Statement>>,
    sql: &'a Sql,
    fetched: RefCell<Fetched>,
    fetched_ranges: RefCell<FetchedRanges>,
    /// Whether to learn the database server's time.
    clock: bool,
    /// The database server's time, once learnt.
    database_time: Cell<Option<u64>>,
}

/// One table's buffered writes, by kind.
struct TableWrites {
    table: Table,
    deletes: Vec<Vec<u8>>,
    put_keys: Vec<Vec<u8>>,
    put_values: Vec<Vec<u8>>,
}

impl TableWrites {
    fn of(table: Table, writes: &Writes) -> TableWrites {
        let mut split = TableWrites {
            table,
            deletes: Vec::new(),
            put_keys: Vec::new(),
            put_values: Vec::new(),
        };
        for (key, value) in writes {
            match value {
                Some(value) => {
                    split.put_keys.push(key.clone());
                    split.put_values.push(value.clone());
                }
                None => split.deletes.push(key.clone()),
            }
        }
        split
    }
}

/// Rows read ahead by [`KvRead::prefetch`]: `None` for a key that is absent.
type Fetched = HashMap<(Table, Vec<u8>), Option<Vec<u8>>>;

/// Rows (key, value) in key order.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Rows read ahead by [`KvRead::prefetch_prefixes`], per table and prefix.
type FetchedRanges = HashMap<(Table, Vec<u8>), Rows>;

type Params<'p> = [&'p (dyn ToSql + Sync)];

/// The first value of the first row of a simple query's answer, as a time.
fn first_time(messages: &[SimpleQueryMessage]) -> Option<u64> {
    messages.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => row.get(0).and_then(|text| text.parse().ok()),
        _ => None,
    })
}

impl<'a> PgTxn<'a> {
    /// Statements outside any transaction (each one its own); the database
    /// time, when asked for, comes with the row a `get` reads.
    fn plain(
        client: &'a mut Client,
        statements: &'a mut HashMap<String, Statement>,
        sql: &'a Sql,
        clock: bool,
    ) -> PgTxn<'a> {
        PgTxn {
            conn: RefCell::new(Conn {
                client,
                in_transaction: false,
            }),
            statements: RefCell::new(statements),
            sql,
            fetched: RefCell::new(HashMap::new()),
            fetched_ranges: RefCell::new(HashMap::new()),
            clock,
            database_time: Cell::new(None),
        }
    }

    /// Begins a transaction with `begin` (statements separated by `;`) and,
    /// when `clock`, reads the database time in the same round trip.
    fn begin(
        client: &'a mut Client,
        statements: &'a mut HashMap<String, Statement>,
        sql: &'a Sql,
        begin: &str,
        clock: bool,
    ) -> Result<PgTxn<'a>> {
        let query = if clock {
            format!(
                "{begin}; SELECT {}",
                NOW.replace("statement_", "transaction_")
            )
        } else {
            begin.to_owned()
        };
        sql.count_statement();
        let messages = client.simple_query(&query).map_err(pg_error)?;
        let txn = PgTxn::plain(client, statements, sql, clock);
        txn.conn.borrow_mut().in_transaction = true;
        if clock {
            txn.database_time.set(first_time(&messages));
        }
        Ok(txn)
    }

    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = self
            .conn
            .borrow_mut()
            .client
            .prepare(sql)
            .map_err(pg_error)?;
        let mut statements = self.statements.borrow_mut();
        // The flushes' shapes (which tables a transaction wrote) are few in
        // practice, but not bounded by construction: a connection keeps at
        // most this many prepared statements (dropping one closes it on the
        // server).
        if statements.len() >= MAX_PREPARED {
            statements.clear();
        }
        statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(&self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        self.sql.count_statement();
        self.conn
            .borrow_mut()
            .client
            .query(&statement, params)
            .map_err(pg_error)
    }

    fn execute(&self, sql: &str, params: &Params<'_>) -> Result<u64> {
        let statement = self.statement(sql)?;
        self.sql.count_statement();
        self.conn
            .borrow_mut()
            .client
            .execute(&statement, params)
            .map_err(pg_error)
    }

    /// Sends the buffered writes and commits: in one statement when they are
    /// few (an operation, a group commit), else one bounded statement per
    /// table, kind and chunk (an import, a bulk revocation).
    fn flush_and_commit(self, writes: &[Writes; Table::COUNT]) -> Result<()> {
        let split: Vec<TableWrites> = Table::ALL
            .into_iter()
            .filter(|table| !writes[table.index()].is_empty())
            .map(|table| TableWrites::of(table, &writes[table.index()]))
            .collect();
        // Delivered to the listeners when (and only if) this commits: every
        // node's feed readers wake (R33).
        let notify = !writes[Table::Feed.index()].is_empty();
        let rows: usize = split
            .iter()
            .map(|t| t.deletes.len() + t.put_keys.len())
            .sum();
        if rows <= AT_ONCE {
            self.flush_at_once(&split, notify)?;
        } else {
            self.flush_in_chunks(&split, notify)?;
        }
        self.finish(true)
    }

    /// Every write in one statement, one round trip: a data-modifying `WITH`
    /// per table and kind. PostgreSQL runs each exactly once, all on the
    /// transaction's snapshot; none reads another's rows, and the overlay
    /// holds a key at most once per table, so no two of them touch one row.
    fn flush_at_once(&self, split: &[TableWrites], notify: bool) -> Result<()> {
        if split.is_empty() {
            return Ok(());
        }
        let schema = &self.sql.schema;
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        let mut parts = Vec::new();
        for writes in split {
            if !writes.deletes.is_empty() {
                params.push(&writes.deletes);
                parts.push(delete_rows(schema, writes.table, params.len()));
            }
            if !writes.put_keys.is_empty() {
                params.push(&writes.put_keys);
                params.push(&writes.put_values);
                let (keys, values) = (params.len() - 1, params.len());
                parts.push(upsert_rows(schema, writes.table, keys, values));
            }
        }
        let query = if notify {
            params.push(&self.sql.feed_channel);
            format!("SELECT pg_notify(${}, '')", params.len())
        } else {
            "SELECT 1".to_owned()
        };
        let mut sql = String::from("WITH ");
        for (i, part) in parts.iter().enumerate() {
            let comma = if i + 1 < parts.len() { "," } else { "" };
            let _ = write!(sql, "w{i} AS ({part}){comma} ");
        }
        sql.push_str(&query);
        self.execute(&sql, &params).map(drop)
    }

    /// The writes in bounded statements, so that a large transaction never
    /// sends one huge parameter.
    fn flush_in_chunks(&self, split: &[TableWrites], notify: bool) -> Result<()> {
        for writes in split {
            let table = writes.table.index();
            for chunk in writes.deletes.chunks(BULK) {
                self.execute(&self.sql.delete_many[table], &[&chunk])?;
            }
            let puts = writes
                .put_keys
                .chunks(BULK)
                .zip(writes.put_values.chunks(BULK));
            for (keys, values) in puts {
                self.execute(&self.sql.upsert_many[table], &[&keys, &values])?;
            }
        }
        if notify {
            self.execute("SELECT pg_notify($1, '')", &[&self.sql.feed_channel])?;
        }
        Ok(())
    }

    fn finish(self, commit: bool) -> Result<()> {
        let mut conn = self.conn.into_inner();
        if !conn.in_transaction {
            return Ok(());
        }
        conn.in_transaction = false;
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        self.sql.count_statement();
        conn.client.simple_query(end).map(drop).map_err(|error| {
            match (commit, pg_error(error)) {
                // The COMMIT was sent and no answer came back: it may have
                // been applied (issue 16: never success, never a rule's answer).
                (true, Error::Unavailable { source }) => Error::CommitOutcomeUnknown { source },
                (_, other) => other,
            }
        })
    }
}

impl KvRead for PgTxn<'_> {
    fn get<R>(&self, table: Table, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        if let Some(fetched) = self.fetched.borrow().get(&(table, key.to_vec())) {
            return Ok(fetched.as_deref().map(read));
        }
        let in_transaction = self.conn.borrow().in_transaction;
        if self.clock && !in_transaction {
            // One statement outside a transaction: learn the time with the row.
            let rows = self.query(&self.sql.get_timed[table.index()], &[&key])?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            self.database_time
                .set(u64::try_from(row.get::<_, i64>(1)).ok());
            return Ok(Some(read(row.get::<_, &[u8]>(0))));
        }
        let rows = self.query(&self.sql.get[table.index()], &[&key])?;
        Ok(rows.first().map(|row| read(row.get::<_, &[u8]>(0))))
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        // A prefix scan read ahead by `prefetch_prefixes`.
        if let Bound::Included(start) = &range.start
            && *range == KeyRange::prefix(start)
            && let Some(rows) = self.fetched_ranges.borrow().get(&(table, start.clone()))
        {
            for (key, value) in rows {
                if visit(key, value)?.is_break() {
                    break;
                }
            }
            return Ok(());
        }
        let mut lower = range.start.clone();
        loop {
            let sql = self.sql.scan(table, &lower, &range.end);
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
            if let Bound::Included(key) | Bound::Excluded(key) = &lower {
                params.push(key);
            }
            if let Bound::Included(key) | Bound::Excluded(key) = &range.end {
                params.push(key);
            }
            let rows = self.query(&sql, &params)?;
            let full_page = rows.len() == usize::try_from(PAGE).unwrap_or(usize::MAX);
            let mut last = None;
            for row in &rows {
                let key: &[u8] = row.get(0);
                if visit(key, row.get::<_, &[u8]>(1))?.is_break() {
                    return Ok(());
                }
                last = Some(key.to_vec());
            }
            match last {
                Some(key) if full_page => lower = Bound::Excluded(key),
                _ => return Ok(()),
            }
        }
    }

    fn prefetch(&self, table: Table, keys: &[Vec<u8>]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let rows = self.query(&self.sql.get_many[table.index()], &[&keys])?;
        let mut fetched = self.fetched.borrow_mut();
        for key in keys {
            fetched.insert((table, key.clone()), None);
        }
        for row in rows {
            fetched.insert(
                (table, row.get::<_, Vec<u8>>(0)),
                Some(row.get::<_, Vec<u8>>(1)),
            );
        }
        Ok(())
    }

    fn prefetch_prefixes(&self, table: Table, prefixes: &[Vec<u8>]) -> Result<()> {
        if prefixes.is_empty() {
            return Ok(());
        }
        let mut grouped: HashMap<Vec<u8>, Rows> =
            prefixes.iter().map(|p| (p.clone(), Vec::new())).collect();
        // All prefixes of one call have the same length (ids): one query.
        let len = prefixes[0].len();
        let same_length = prefixes.iter().all(|p| p.len() == len);
        if !same_length || len == 0 {
            return Ok(());
        }
        let sql = format!(
            "SELECT k, v FROM {}.{} WHERE substring(k FROM 1 FOR {len}) = ANY($1) ORDER BY k",
            self.sql.schema,
            table.name()
        );
        for row in self.query(&sql, &[&prefixes])? {
            let key: Vec<u8> = row.get(0);
            if let Some(rows) = grouped.get_mut(&key[..len]) {
                rows.push((key, row.get(1)));
            }
        }
        let mut cache = self.fetched_ranges.borrow_mut();
        for (prefix, rows) in grouped {
            cache.insert((table, prefix), rows);
        }
        Ok(())
    }

    fn batches_reads(&self) -> bool {
        true
    }

    fn database_time(&self) -> Option<u64> {
        self.database_time.get()
    }
}

impl KvWrite for PgTxn<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.fetched.borrow_mut().remove(&(table, key.to_vec()));
        self.execute(&self.sql.upsert[table.index()], &[&key, &value])
            .map(drop)
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.fetched.borrow_mut().remove(&(table, key.to_vec()));
        self.execute(&self.sql.delete[table.index()], &[&key])
            .map(drop)
    }
}

impl Drop for PostgresBackend {
    /// Closes the pooled connections on a thread of their own: the
    /// `postgres` client runs a runtime of its own to close a connection,
    /// which panics on a thread that drives a tokio runtime (a host dropping
    /// its last store handle in an async task).
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::Builder::new()
                .name("gdbpgclose".to_owned())
                .spawn(move || drop(pool))
                .map(std::thread::JoinHandle::join);
        }
    }
}

/// The change feed's listener (R33): a connection of its own that
/// `LISTEN`s on the schema's channel and calls `on_change` for each
/// notification, and once after every (re)connection (what came while it
/// was away). It ends when its backend is dropped.
fn listen_for_feed(manager: &std::sync::Weak<Manager>, channel: &str, on_change: &FeedWatcher) {
    const WAIT: Duration = Duration::from_secs(2);
    loop {
        let Some(connector) = manager.upgrade() else {
            return;
        };
        let connected = r2d2::ManageConnection::connect(&*connector);
        drop(connector);
        let Ok(mut conn) = connected else {
            std::thread::sleep(WAIT);
            continue;
        };
        // The channel is `grantdb_feed_` and a checked schema name: an identifier.
        if conn
            .client
            .batch_execute(&format!("LISTEN {channel}"))
            .is_err()
        {
            std::thread::sleep(WAIT);
            continue;
        }
        on_change();
        while manager.strong_count() > 0 && !conn.client.is_closed() {
            let mut notifications = conn.client.notifications();
            // Each notification wakes the readers at once; the iterator
            // ends after `WAIT` without one, to look whether to go on.
            let mut waiting = notifications.timeout_iter(WAIT);
            let failed = loop {
                match waiting.next() {
                    Ok(Some(_)) => on_change(),
                    Ok(None) => break false,
                    Err(_) => break true,
                }
            };
            if failed {
                break;
            }
        }
    }
}

impl Backend for PostgresBackend {
    type Read<'a> = PgTxn<'a>;
    type Write<'a> = Overlay<PgTxn<'a>>;

    fn watch_feed(&self, on_change: FeedWatcher) -> Result<()> {
        if self.listening.set(()).is_err() {
            return Ok(());
        }
        let manager = Arc::downgrade(&self.listen);
        let channel = self.sql.feed_channel.clone();
        std::thread::Builder::new()
            .name("gdblisten".into())
            .spawn(move || listen_for_feed(&manager, &channel, &on_change))
            .map(drop)
            .map_err(|error| Error::Storage {
                source: Box::new(error),
            })
    }

    fn read<R>(&self, f: impl FnOnce(&PgTxn<'_>) -> Result<R>) -> Result<R> {
        let mut conn = self.connection()?;
        let PgConnection { client, statements } = &mut *conn;
        let read = PgTxn::begin(
            client,
            statements,
            &self.sql,
            "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            self.database_clock,
        )?;
        let result = f(&read)?;
        read.finish(true)?;
        Ok(result)
    }

    fn read_single<R>(&self, f: impl FnOnce(&PgTxn<'_>) -> Result<R>) -> Result<R> {
        // Validations and introspections go to the replicas in turn, when
        // there are any (a replica that cannot be reached: the primary).
        let from_replica = (!self.replicas.is_empty())
            .then(|| {
                let turn = self
                    .next_replica
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.replicas[turn % self.replicas.len()].get().ok()
            })
            .flatten();
        let mut conn = match from_replica {
            Some(conn) => conn,
            None => self.connection()?,
        };
        let PgConnection { client, statements } = &mut *conn;
        f(&PgTxn::plain(
            client,
            statements,
            &self.sql,
            self.database_clock,
        ))
    }

    fn records_time_high_water(&self) -> bool {
        false
    }

    fn write<R>(
        &self,
        mode: CommitMode,
        f: impl FnMut(&mut Overlay<PgTxn<'_>>) -> Result<(R, TxEnd)>,
    ) -> Result<R> {
        self.write_isolated(mode, Isolation::Serializable, f)
    }

    fn write_isolated<R>(
        &self,
        mode: CommitMode,
        isolation: Isolation,
        mut f: impl FnMut(&mut Overlay<PgTxn<'_>>) -> Result<(R, TxEnd)>,
    ) -> Result<R> {
        let mut attempt = 0;
        loop {
            let alone = attempt >= RUN_ALONE_AFTER;
            match self.attempt(mode, isolation, alone, &mut f) {
                Err(error) if is_conflict(&error) && attempt + 1 < MAX_ATTEMPTS => {
                    self.retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    backoff(attempt);
                    attempt += 1;
                }
                // Lost every race: typed, so that a caller can retry
                // smaller (a bulk revocation does).
                Err(error) if is_conflict(&error) => return Err(Error::Contended),
                outcome => return outcome,
            }
        }
    }

    fn allows_generated_key(&self) -> bool {
        self.allow_generated_key
    }
}
