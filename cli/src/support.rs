//! What every subcommand shares: one-line failures, opening the database
//! with the configured keys, printing JSON.

use std::fmt;
use std::process::ExitCode;

use grantdb::{Config, Error, Store};

use crate::Cli;

/// A failure, said in one line, and the exit code it ends with.
pub struct Failure {
    pub(crate) message: String,
    /// [`FAILED`](crate::FAILED) or [`USAGE`](crate::USAGE).
    pub(crate) code: u8,
}

#[allow(non_snake_case)] // Reads as the tuple struct it used to be.
pub(crate) fn Failure(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: crate::FAILED,
    }
}

impl Failure {
    /// A usage error found after parsing (a malformed id, a missing
    /// confirmation): exit code 2, as clap's own.
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: crate::USAGE,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        match error {
            Error::DatabaseInUse => {
                Failure("the database is in use by another process (stop the server using it)")
            }
            // What the operator typed, not what the store did.
            Error::MalformedClientId
            | Error::MalformedScope { .. }
            | Error::MalformedRedirectUri { .. }
            | Error::InvalidArgument { .. }
            | Error::UnsupportedGrantType => Failure::usage(with_sources(&error)),
            other => Failure(with_sources(&other)),
        }
    }
}

/// Asks before a destructive command: `what` it will do, confirmed with
/// `yes` on a terminal, or by `--yes`. Without a terminal and without
/// `--yes`, a usage error: a script must say it means it.
pub(crate) fn confirm(cli: &Cli, what: &str) -> Result<(), Failure> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if cli.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{what}: pass --yes to confirm (there is no terminal to ask on)"
        )));
    }
    eprint!("{what}. Type yes to go on: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure("not confirmed: nothing was done"))
    }
}

/// An error and its sources, as one line: `storage engine error: …`.
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure(message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        Failure(error.to_string())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(error: serde_json::Error) -> Failure {
        Failure(format!("bad JSON: {error}"))
    }
}

pub(crate) type Outcome = Result<ExitCode, Failure>;

pub(crate) fn config(cli: &Cli) -> Result<Config, Failure> {
    let keys = crate::key::load(&cli.key_file)?;
    Ok(Config::builder().hashing_keys(keys).build()?)
}

pub(crate) fn open(cli: &Cli) -> Result<Store, Failure> {
    if !cli.db.exists() {
        return Err(Failure(format!(
            "no database at {} (`clients create --init` creates one)",
            cli.db.display()
        )));
    }
    Store::open(&cli.db, config(cli)?).map_err(|error| match error {
        Error::DatabaseInUse => Failure(in_use(&cli.db)),
        other => other.into(),
    })
}

/// What to say when another process holds the database: which one, when it
/// can be found (Linux), and what to do.
fn in_use(db: &std::path::Path) -> String {
    let holder = crate::holder::find(db)
        .map(|(pid, name)| format!(" ({name}, pid {pid})"))
        .unwrap_or_default();
    format!(
        "the database is in use by another process{holder}: a server using it should purge \
         with its in-process maintenance (Store::start_maintenance) and can be asked for \
         stats; to use this tool, stop it first"
    )
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Outcome {
    out!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}

/// A Unix time as RFC 3339 (UTC, seconds).
pub(crate) fn rfc3339(unix_seconds: u64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_seconds),
    )
    .to_string()
}
