//! `grantdb`: one tool for the jobs operators of other token stores do with
//! `cleartokens`, `doorkeeper:db:cleanup` and `hydra janitor`, on a grantdb
//! database file.
//!
//! ```text
//! grantdb [--db PATH] [--key-file PATH]... <stats|verify|purge|compact|clients|grants|revoke|keys|export|import|feed>
//! ```

#![forbid(unsafe_code)]

/// Prints a line to standard output; a closed pipe (`grantdb grants list |
/// head`) ends the program quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = writeln!(stdout, $($arg)*) {
            $crate::exit_on_write_error(&error);
        }
    }};
}

mod commands;
mod feed;
mod holder;
mod key;
mod progress;
mod ring;
mod support;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Operate on a grantdb token store.
#[derive(Debug, Parser)]
#[command(
    name = "grantdb",
    version,
    about,
    after_help = "Exit codes: 0 success; 1 problems found (verify found broken invariants, or \
                  export skipped damaged entries); 2 usage error (a bad argument, a malformed \
                  id or scope, a destructive command without --yes and no terminal to ask); \
                  3 failure (I/O error, database in use, bad backup, not confirmed, ...)."
)]
struct Cli {
    /// The database file.
    #[arg(long, global = true, default_value = "data/grantdb.redb")]
    db: PathBuf,
    /// File holding a hashing key (32 raw bytes, or 64 hex digits), for a
    /// database created with a host-supplied key; repeat for each key of the
    /// ring. `GRANTDB_KEY` (hex, several separated by commas) works too.
    #[arg(long, global = true)]
    key_file: Vec<PathBuf>,
    /// Print the result as JSON (every subcommand that prints one).
    #[arg(long, global = true)]
    json: bool,
    /// Confirm a destructive command without asking (for scripts: without
    /// a terminal to ask on, a destructive command needs it).
    #[arg(long, global = true)]
    yes: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Counts clients, grants, tokens and codes, and how the file's space is used.
    Stats,
    /// Checks every invariant; exits non-zero if any is broken.
    Verify,
    /// Removes everything expired, with progress.
    Purge {
        /// Count what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Entries per transaction.
        #[arg(long, default_value_t = 2_000)]
        batch: usize,
    },
    /// Compacts the file, giving free space back.
    Compact,
    /// Manage clients (applications).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// List grants (token families).
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// Revoke every grant of a subject or a client, or one token.
    Revoke(RevokeArgs),
    /// The hashing-key ring: list, add, retire or remove keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write a logical backup (JSON lines) of every table.
    Export {
        /// Output file (default: standard output).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Load a logical backup into a new, empty database.
    Import {
        /// Input file (default: standard input).
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// The change feed, oldest first: grants ended and why, tokens revoked,
    /// sessions ended, subjects erased (and, as configured, more). An audit
    /// tail; entries carry ids, never a secret.
    Feed {
        /// Only entries after this sequence number (default: from the
        /// oldest the feed still holds).
        #[arg(long)]
        since: Option<u64>,
        /// Keep printing new entries as they commit (Ctrl-C ends). On an
        /// embedded file this holds the database, as any command does.
        #[arg(long)]
        follow: bool,
        /// Most entries printed (without --follow).
        #[arg(long, default_value_t = 1_000)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// List every client.
    List,
    /// Show one client.
    Show {
        /// The client id.
        id: String,
    },
    /// Register a client; its secret is printed once.
    Create(CreateClient),
    /// Issue a new secret (printed once); the old one stops working.
    RotateSecret {
        /// The client id.
        id: String,
    },
    /// Delete a client with everything issued to it.
    Delete {
        /// The client id.
        id: String,
    },
}

/// What `clients create` registers.
#[derive(Debug, Args)]
pub struct CreateClient {
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeat for more; the first is the default).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// An allowed grant type (repeat for more).
    #[arg(long = "grant-type", required = true)]
    pub grant_types: Vec<String>,
    /// Allowed scopes, space-delimited.
    #[arg(long, default_value = "")]
    pub scope: String,
    /// A public client (no secret, PKCE).
    #[arg(long)]
    pub public: bool,
    /// Create the database if there is none at `--db` (otherwise a missing
    /// file is an error: a mistyped path must not become a new database).
    #[arg(long)]
    pub init: bool,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the keys of the ring: id, state, which one mints, client
    /// secrets still hashed under each, fingerprint.
    List,
    /// Add a key; it mints from now on. For a database whose keys come from
    /// the host, the new key is read from `--new-key-file`, or generated and
    /// written there (owner-only) when that file does not exist; pass it
    /// with `--key-file` from then on. A database that keeps its own key
    /// gets a generated one.
    Add {
        /// Where the new host key is (or is to be written).
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
    /// Retire a key: what was minted under it stops working. Refused while
    /// client secrets are still hashed under it (those clients would fail to
    /// authenticate), unless `--force`.
    Retire {
        /// The key id (as `keys list` shows it).
        id: u8,
        /// Retire it even though client secrets still depend on it.
        #[arg(long)]
        force: bool,
    },
    /// Remove a retired key: the records it sealed are sealed again under
    /// the minting key; the key may then leave the ring. Refused while
    /// client secrets are still hashed under it, unless `--force`.
    Remove {
        /// The key id.
        id: u8,
        /// Remove it even though client secrets still depend on it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GrantsCommand {
    /// List the grants of a subject or of a client.
    List {
        /// The subject (resource owner).
        #[arg(long, conflicts_with = "client", required_unless_present = "client")]
        subject: Option<String>,
        /// The client id.
        #[arg(long)]
        client: Option<String>,
    },
}

/// What to revoke: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RevokeArgs {
    /// Every grant of this subject.
    #[arg(long)]
    pub subject: Option<String>,
    /// Every grant of this client.
    #[arg(long)]
    pub client: Option<String>,
    /// One access or refresh token.
    #[arg(long)]
    pub token: Option<String>,
}

/// Ends the program after a failed write to standard output: quietly (exit 0)
/// when the reader went away, as Unix tools do; with `FAILED` otherwise.
fn exit_on_write_error(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("grantdb: cannot write to standard output: {error}");
    std::process::exit(i32::from(FAILED));
}

/// Exit code: `verify` found problems, or `export` skipped damaged entries.
pub const PROBLEMS_FOUND: u8 = 1;
/// Exit code: the command failed (I/O, a database in use, a bad backup, ...).
pub const FAILED: u8 = 3;

/// Exit code: a usage error (clap's own, or a bad argument found after
/// parsing).
pub const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(&cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("grantdb: {failure}");
            ExitCode::from(failure.code)
        }
    }
}
