//! A reference OAuth 2.0 authorization server on grantdb, speaking the four
//! seeds' dialects (pretix, Ticketpark, Eventpop, Prioticket).
//!
//! ```text
//! cargo run --features tokio,metrics --example server -- serve [--port 8080] [--db data/server.redb]
//! cargo run --features tokio,metrics --example server -- register --name NAME --grant-type TYPE... [--redirect-uri URI]...
//!                                       [--scope "a b"] [--access-lifetime SECONDS] [--public] [--db PATH]
//! cargo run --features tokio,metrics --example server -- demo [--db PATH]   # registers the four seeds' clients
//! ```
//!
//! Demo users: `admin@localhost` / `admin` (pretix's example profile) and
//! `john@domain.ch` / `secretabc123` (Ticketpark's example).

mod app;

use std::error::Error;
use std::path::PathBuf;
use std::time::Duration;

use grantdb::{GrantType, LifetimeOverrides, NewClient, Store};

/// The command line, read by hand: a handful of flags.
struct Args {
    command: String,
    flags: Vec<(String, String)>,
    switches: Vec<String>,
}

impl Args {
    fn parse() -> Result<Args, Box<dyn Error>> {
        let mut raw = std::env::args().skip(1);
        let command = raw.next().unwrap_or_else(|| "serve".to_owned());
        let (mut flags, mut switches) = (Vec::new(), Vec::new());
        while let Some(flag) = raw.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
            if name == "public" {
                switches.push(name.to_owned());
            } else {
                let value = raw
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                flags.push((name.to_owned(), value));
            }
        }
        Ok(Args {
            command,
            flags,
            switches,
        })
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.flags
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn open(args: &Args) -> Result<Store, Box<dyn Error>> {
    let path = PathBuf::from(args.one("db").unwrap_or("data/server.redb"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(Store::open(&path, app::config().build()?)?)
}

fn print_registered(store: &Store, client: &NewClient) -> Result<(), Box<dyn Error>> {
    let registered = store.register_client(client.clone())?;
    println!("{}", client.name);
    println!("  client_id:     {}", registered.client.id);
    if let Some(secret) = registered.secret {
        println!("  client_secret: {}  (shown once)", secret.expose());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse()?;
    match args.command.as_str() {
        "serve" => {
            let store = open(&args)?;
            let port: u16 = args.one("port").unwrap_or("8080").parse()?;
            tracing_subscriber::fmt().with_target(false).init();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
                println!("listening on http://{}", listener.local_addr()?);
                app::serve(listener, app::AppState::new(store)).await
            })?;
        }
        "register" => {
            let store = open(&args)?;
            let name = args.one("name").ok_or("--name is required")?;
            let mut client = if args.switches.iter().any(|s| s == "public") {
                NewClient::public(name)
            } else {
                NewClient::confidential(name)
            };
            for uri in args.all("redirect-uri") {
                client = client.redirect_uri(uri);
            }
            let grant_types = args
                .all("grant-type")
                .map(str::parse)
                .collect::<Result<Vec<GrantType>, _>>()?;
            client = client
                .grant_types(grant_types)
                .scopes(args.one("scope").unwrap_or(""))?;
            if let Some(seconds) = args.one("access-lifetime") {
                client = client.lifetimes(
                    LifetimeOverrides::default().access(Duration::from_secs(seconds.parse()?)),
                );
            }
            print_registered(&store, &client)?;
        }
        "demo" => {
            let store = open(&args)?;
            for client in app::seed_clients()? {
                print_registered(&store, &client)?;
            }
        }
        other => return Err(format!("unknown command {other:?}: serve, register or demo").into()),
    }
    Ok(())
}
