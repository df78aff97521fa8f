//! What each subcommand does.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use grantdb::{
    ClientId, Error, ExportEntry, GrantType, NewClient, Page, PageRequest, Scope, Store,
};

use crate::progress::Progress;
use crate::support::{Failure, Outcome, config, confirm, open, print_json, rfc3339};
use crate::{Cli, ClientsCommand, Command, CreateClient, GrantsCommand, RevokeArgs};

fn client_id(text: &str) -> Result<ClientId, Failure> {
    text.parse()
        .map_err(|_| Failure::usage(format!("{text:?} is not a client id")))
}

/// Prints a result: `value` as JSON with `--json`, else the text `text`
/// prints.
fn report(cli: &Cli, value: &serde_json::Value, text: impl FnOnce()) -> Outcome {
    if cli.json {
        return print_json(value);
    }
    text();
    Ok(ExitCode::SUCCESS)
}

/// Runs the command line.
pub fn run(cli: &Cli) -> Outcome {
    match &cli.command {
        Command::Stats => stats(cli, cli.json),
        Command::Verify => verify(cli, cli.json),
        Command::Purge { dry_run, batch } => purge(cli, *dry_run, *batch),
        Command::Compact => compact(cli),
        Command::Clients(command) => clients(cli, command),
        Command::Grants(GrantsCommand::List { subject, client }) => {
            grants(cli, subject.as_deref(), client.as_deref(), cli.json)
        }
        Command::Revoke(args) => revoke(cli, args),
        Command::Keys(command) => crate::ring::run(cli, command),
        Command::Export { output } => export(cli, output.as_deref()),
        Command::Import { input } => import(cli, input.as_deref()),
        Command::Feed {
            since,
            follow,
            limit,
        } => crate::feed::run(cli, *since, *follow, *limit),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn stats(cli: &Cli, json: bool) -> Outcome {
    let store = open(cli)?;
    let stats = store.stats()?;
    let space = store.space()?;
    if json {
        return print_json(&serde_json::json!({ "stats": stats, "space": space }));
    }
    let free_share = if space.file_bytes == 0 {
        0.0
    } else {
        100.0 * space.free_bytes() as f64 / space.file_bytes as f64
    };
    out!("clients                  {:>12}", stats.clients);
    out!("grants                   {:>12}", stats.grants);
    out!("access tokens, live      {:>12}", stats.live_access_tokens);
    out!(
        "access tokens, expired   {:>12}",
        stats.expired_access_tokens
    );
    out!("refresh tokens, live     {:>12}", stats.live_refresh_tokens);
    out!(
        "refresh tokens, expired  {:>12}",
        stats.expired_refresh_tokens
    );
    out!(
        "refresh tokens, consumed {:>12}  (kept for reuse detection)",
        stats.consumed_refresh_tokens
    );
    out!("authorization codes      {:>12}", stats.codes);
    out!("consents                 {:>12}", stats.consents);
    out!("DPoP proof ids           {:>12}", stats.proof_jtis);
    out!("pushed requests          {:>12}", stats.pushed_requests);
    out!("device requests          {:>12}", stats.device_requests);
    out!("store time               {}", rfc3339(stats.store_time));
    if stats.clock_time < stats.store_time {
        out!(
            "clock                    {}  ({} s behind the store's time: it stands still until the clock catches up)",
            rfc3339(stats.clock_time),
            stats.store_time - stats.clock_time
        );
    }
    if let Some(warning) = stats.storage_warning {
        out!("storage                  {warning}");
    }
    if stats.low_on_space {
        out!("disk                     full: issuing refused, purge and revocation work");
    }
    if stats.damaged_tokens > 0 {
        out!(
            "damaged token records    {:>12}  (`grantdb verify` names them)",
            stats.damaged_tokens
        );
    }
    out!(
        "file size                {:>12.1} MiB",
        mib(space.file_bytes)
    );
    out!(
        "free in file             {:>12.1} MiB  ({free_share:.0}%; `grantdb compact` gives it back)",
        mib(space.free_bytes())
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(cli: &Cli, json: bool) -> Outcome {
    let store = open(cli)?;
    let report = store.verify()?;
    if json {
        let entries: serde_json::Map<String, serde_json::Value> = report
            .entries
            .iter()
            .map(|(table, n)| ((*table).to_owned(), (*n).into()))
            .collect();
        print_json(&serde_json::json!({
            "ok": report.is_ok(),
            "problems": report.problems,
            "entries": entries,
            "stale_expiry_entries": report.stale_expiry_entries,
        }))?;
    } else {
        for problem in &report.problems {
            out!("{problem}");
        }
        let entries: u64 = report.entries.iter().map(|(_, n)| n).sum();
        out!(
            "{} problem(s) in {entries} entries; {} stale expiry entries waiting for purge",
            report.problems.len(),
            report.stale_expiry_entries
        );
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::PROBLEMS_FOUND)
    })
}

fn purge(cli: &Cli, dry_run: bool, batch: usize) -> Outcome {
    let store = open(cli)?;
    let due = store.purge_preview()?;
    if dry_run {
        return report(cli, &serde_json::json!({ "would_remove": due }), || {
            out!(
                "would remove {} codes, {} access tokens, {} refresh tokens, {} consumed refresh tokens (and the grants they end)",
                due.codes,
                due.access_tokens,
                due.refresh_tokens,
                due.consumed_refresh_tokens
            );
        });
    }
    let progress = Progress::new(due.removed());
    let started = Instant::now();
    let mut total = grantdb::PurgeReport::default();
    loop {
        let report = store.purge_expired_batch(batch)?;
        total.codes += report.codes;
        total.access_tokens += report.access_tokens;
        total.refresh_tokens += report.refresh_tokens;
        total.consumed_refresh_tokens += report.consumed_refresh_tokens;
        total.grants += report.grants;
        progress.update(total.removed() - total.grants);
        if !report.more {
            break;
        }
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    report(
        cli,
        &serde_json::json!({ "removed": total, "seconds": seconds }),
        || {
            out!(
                "removed {} codes, {} access tokens, {} refresh tokens, {} consumed refresh tokens, {} grants in {seconds:.2}s",
                total.codes,
                total.access_tokens,
                total.refresh_tokens,
                total.consumed_refresh_tokens,
                total.grants,
            );
        },
    )
}

fn compact(cli: &Cli) -> Outcome {
    let mut store = open(cli)?;
    let (before, after) = store.compact()?;
    report(
        cli,
        &serde_json::json!({ "before": before, "after": after }),
        || {
            out!(
                "compacted {}: {:.1} MiB -> {:.1} MiB",
                cli.db.display(),
                mib(before.file_bytes),
                mib(after.file_bytes)
            );
        },
    )
}

fn all_clients(store: &Store) -> Result<Vec<grantdb::Client>, Failure> {
    let mut all = Vec::new();
    let mut page: Page<grantdb::Client> =
        store.clients(&PageRequest::first(PageRequest::MAX_LIMIT))?;
    loop {
        all.append(&mut page.items);
        match page.next.take() {
            Some(cursor) => {
                page = store.clients(&PageRequest::after(cursor, PageRequest::MAX_LIMIT))?;
            }
            None => return Ok(all),
        }
    }
}

fn show_client(client: &grantdb::Client) {
    let grant_types: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
    out!("{}  {}", client.id, client.name);
    let kind = match client.kind {
        grantdb::ClientKind::Confidential => "confidential",
        grantdb::ClientKind::Public => "public",
        // A kind added by a later version of the library.
        _ => "other",
    };
    out!("  kind:          {kind}");
    out!("  created:       {}", rfc3339(client.created_at));
    out!("  grant types:   {}", grant_types.join(" "));
    out!("  scopes:        {}", client.scopes);
    out!("  redirect URIs: {}", client.redirect_uris.join(" "));
}

fn clients(cli: &Cli, command: &ClientsCommand) -> Outcome {
    match command {
        ClientsCommand::List => {
            let store = open(cli)?;
            let all = all_clients(&store)?;
            if cli.json {
                return print_json(&all);
            }
            for client in &all {
                out!("{}  {}", client.id, client.name);
            }
        }
        ClientsCommand::Show { id } => {
            let store = open(cli)?;
            let client = store
                .client(&client_id(id)?)?
                .ok_or_else(|| Failure(format!("no client {id}")))?;
            if cli.json {
                return print_json(&client);
            }
            show_client(&client);
        }
        ClientsCommand::Create(create) => return create_client(cli, create),
        ClientsCommand::RotateSecret { id } => {
            let store = open(cli)?;
            let secret = store.rotate_client_secret(&client_id(id)?)?;
            eprintln!("(shown once: only its hash is stored)");
            let value = serde_json::json!({ "client_id": id, "client_secret": secret.expose() });
            return report(cli, &value, || {
                out!("client_secret: {}", secret.expose());
            });
        }
        ClientsCommand::Delete { id } => {
            let store = open(cli)?;
            let client = client_id(id)?;
            let Some(found) = store.client(&client)? else {
                return Err(Failure(format!("no client {id}")));
            };
            confirm(
                cli,
                &format!(
                    "this deletes client {id} ({}) and every code, grant and token issued to it",
                    found.name
                ),
            )?;
            let Some(ended) = store.delete_client(&client)? else {
                return Err(Failure(format!("no client {id}")));
            };
            let value = serde_json::json!({ "deleted": id, "grants": ended.grants });
            return report(cli, &value, || {
                out!(
                    "deleted client {id} and everything issued to it ({} grant(s))",
                    ended.grants
                );
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn create_client(cli: &Cli, create: &CreateClient) -> Outcome {
    // A mistyped path must not silently become a new database: only `--init`
    // creates one.
    let store = if create.init && !cli.db.exists() {
        if let Some(dir) = cli.db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Store::open(&cli.db, config(cli)?)?
    } else {
        open(cli)?
    };
    let mut client = if create.public {
        NewClient::public(&create.name)
    } else {
        NewClient::confidential(&create.name)
    };
    for uri in &create.redirect_uris {
        client = client.redirect_uri(uri);
    }
    let grant_types = create
        .grant_types
        .iter()
        .map(|g| g.parse::<GrantType>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Failure::usage("unknown grant type (authorization_code, refresh_token, client_credentials, password, ...)"))?;
    client = client.grant_types(grant_types);
    client.scopes = Scope::parse(&create.scope)?;
    let registered = store.register_client(client)?;
    let secret = registered.secret.as_ref().map(|s| s.expose().to_owned());
    if secret.is_some() {
        eprintln!("(shown once: only its hash is stored)");
    }
    let value = serde_json::json!({ "client_id": registered.client.id, "client_secret": secret });
    report(cli, &value, || {
        out!("client_id:     {}", registered.client.id);
        if let Some(secret) = &secret {
            out!("client_secret: {secret}");
        }
    })
}

fn grants(cli: &Cli, subject: Option<&str>, client: Option<&str>, json: bool) -> Outcome {
    let store = open(cli)?;
    let client = client.map(client_id).transpose()?;
    let list = |page: &PageRequest| match (subject, &client) {
        (Some(subject), _) => store.grants_of_subject(subject, page),
        (None, Some(client)) => store.grants_of_client(client, page),
        (None, None) => Ok(Page::empty()),
    };
    let mut all = Vec::new();
    let mut page = list(&PageRequest::first(PageRequest::MAX_LIMIT))?;
    loop {
        all.append(&mut page.items);
        match page.next.take() {
            Some(cursor) => page = list(&PageRequest::after(cursor, PageRequest::MAX_LIMIT))?,
            None => break,
        }
    }
    if json {
        return print_json(&all);
    }
    for grant in &all {
        out!(
            "{}  client {} ({})  subject {}  scope \"{}\"  created {}  last refreshed {}",
            grant.grant_id,
            grant.client_id,
            grant.client_name,
            grant.subject.as_deref().unwrap_or("-"),
            grant.scope,
            rfc3339(grant.created_at),
            grant
                .last_refreshed_at
                .map_or_else(|| "never".to_owned(), rfc3339)
        );
    }
    out!("{} grant(s)", all.len());
    Ok(ExitCode::SUCCESS)
}

fn revoke(cli: &Cli, args: &RevokeArgs) -> Outcome {
    let store = open(cli)?;
    match (&args.subject, &args.client, &args.token) {
        (Some(subject), _, _) => {
            confirm(
                cli,
                &format!("this revokes every grant of subject {subject:?}"),
            )?;
            let ended = store.revoke_subject(subject)?.grants;
            let value = serde_json::json!({ "subject": subject, "grants": ended });
            report(cli, &value, || {
                out!("revoked {ended} grant(s) of {subject}");
            })
        }
        (_, Some(client), _) => {
            let id = client_id(client)?;
            confirm(cli, &format!("this revokes every grant of client {client}"))?;
            let ended = store.revoke_client_grants(&id)?.grants;
            let value = serde_json::json!({ "client_id": client, "grants": ended });
            report(cli, &value, || {
                out!("revoked {ended} grant(s) of client {client}");
            })
        }
        (_, _, Some(token)) => {
            let revoked = store.revoke_token_as_operator(token)?;
            let value = serde_json::json!({ "revoked": revoked.to_string() });
            report(cli, &value, || {
                out!("{revoked}");
            })
        }
        (None, None, None) => Err(Failure::usage("say what to revoke")),
    }
}

fn export(cli: &Cli, output: Option<&std::path::Path>) -> Outcome {
    let store = open(cli)?;
    let sink: Box<dyn Write> = match output {
        // With a generated hashing key, the backup holds the key: owner only.
        Some(path) => Box::new(create_private(path).map_err(|error| {
            if error.kind() == std::io::ErrorKind::AlreadyExists {
                Failure(format!(
                    "{} exists (or is a link): export writes a new file; choose another path or remove it",
                    path.display()
                ))
            } else {
                Failure(format!("{}: {error}", path.display()))
            }
        })?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = BufWriter::new(sink);
    let exported = store.export(|entry| {
        serde_json::to_writer(&mut sink, &entry).map_err(|e| Error::Storage {
            source: Box::new(e),
        })?;
        sink.write_all(b"\n").map_err(|e| Error::Storage {
            source: Box::new(e),
        })
    })?;
    sink.flush()?;
    eprintln!("exported {} entries", exported.entries);
    if exported.damaged > 0 {
        eprintln!(
            "{} damaged entries were skipped; `grantdb verify` names them",
            exported.damaged
        );
        return Ok(ExitCode::from(crate::PROBLEMS_FOUND));
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates a new file readable and writable by its owner only, whatever the
/// umask (Unix). Never an existing file, never through a symbolic link
/// (`O_CREAT | O_EXCL` refuses both): a link planted at the path would
/// otherwise receive the backup, and with it a generated hashing key.
pub(crate) fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn import(cli: &Cli, input: Option<&std::path::Path>) -> Outcome {
    let reader: Box<dyn BufRead> = match input {
        Some(path) => Box::new(std::io::BufReader::new(std::fs::File::open(path)?)),
        None => Box::new(std::io::stdin().lock()),
    };
    if let Some(dir) = cli.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // One entry per line: the import names the line of a bad one.
    let entries = reader.lines().map(|line| {
        let line = line.map_err(|e| Error::BadBackup {
            line: None,
            reason: format!("cannot read the backup: {e}"),
        })?;
        serde_json::from_str::<ExportEntry>(&line).map_err(|e| Error::BadBackup {
            line: None,
            reason: format!("not an export entry: {e}"),
        })
    });
    let imported = grantdb::import(&cli.db, &config(cli)?, entries)?;
    // Open it once: the format version and hashing key must check out.
    open(cli)?;
    eprintln!("imported {imported} entries into {}", cli.db.display());
    if cli.json {
        return print_json(&serde_json::json!({ "imported": imported, "db": cli.db }));
    }
    Ok(ExitCode::SUCCESS)
}
