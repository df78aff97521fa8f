//! `grantdb feed`: the change feed as an audit tail (R33): every entry
//! after a cursor, oldest first, and with `--follow` every new one as it
//! commits. Entries carry ids, reasons and times, never a secret.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use grantdb::{Change, ChangePage, Error, Store};

use crate::Cli;
use crate::support::{Failure, Outcome, open, print_json, rfc3339};

/// How long one wait of `--follow` lasts before it waits again.
const FOLLOW_WAIT: Duration = Duration::from_secs(10);

/// Runs `grantdb feed`.
pub(crate) fn run(cli: &Cli, since: Option<u64>, follow: bool, limit: usize) -> Outcome {
    let store = open(cli)?;
    let mut cursor = match since {
        Some(cursor) => cursor,
        None => oldest_cursor(&store)?,
    };
    if !follow {
        let page = store.changes_since(cursor, limit)?;
        if cli.json {
            return print_json(&page);
        }
        print_page(&page, false);
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let page = store.wait_for_changes(cursor, 1_000, FOLLOW_WAIT)?;
        print_page(&page, cli.json);
        cursor = page.next;
    }
}

/// The cursor before the oldest entry the feed still holds: from the
/// start, or after what retention removed.
fn oldest_cursor(store: &Store) -> Result<u64, Failure> {
    match store.changes_since(0, 1) {
        Ok(_) => Ok(0),
        Err(Error::FeedResync { oldest, .. }) => Ok(oldest.saturating_sub(1)),
        Err(other) => Err(other.into()),
    }
}

/// One line per entry: text, or with `json_lines` one JSON object each.
fn print_page(page: &ChangePage, json_lines: bool) {
    for change in &page.changes {
        if json_lines {
            let line = serde_json::to_string(change).unwrap_or_default();
            out!("{line}");
        } else {
            out!("{}", describe(change));
        }
    }
}

/// `seq time kind key=value...`.
fn describe(change: &Change) -> String {
    let kind = serde_json::to_value(change.kind)
        .map(|value| match value {
            serde_json::Value::String(word) => word,
            other => other.to_string(),
        })
        .unwrap_or_default();
    let mut line = format!("{:>8} {} {kind}", change.seq, rfc3339(change.at));
    let mut field = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            let _ = write!(line, " {name}={value}");
        }
    };
    field("client", change.client_id.map(|id| id.to_string()));
    field("grant", change.grant_id.map(|id| id.to_string()));
    field("sid", change.session.clone());
    field("subject", change.subject.clone());
    field("subject_id", change.subject_id.clone());
    field("key", change.key_id.map(|id| id.to_string()));
    field("request", change.request_id.clone());
    field(
        "tokens",
        (!change.tokens.is_empty()).then(|| change.tokens.len().to_string()),
    );
    line
}
