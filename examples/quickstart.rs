//! The pretix "Connect with pretix" flow, end to end, on an embedded database.
//!
//! ```text
//! cargo run --example quickstart [-- path/to/db.redb]
//! ```
//!
//! Registers an application, authorizes it with `state` and scope `read write`,
//! exchanges the code, validates the access token, refreshes (and shows the old
//! access token is dead), then revokes the refresh token (and shows both tokens
//! are dead). The database defaults to `./data/grantdb.redb`.

use std::error::Error;
use std::path::PathBuf;

use grantdb::RefreshRequest;
use grantdb::{
    AuthorizationRequest, CodeExchange, Config, GrantType, NewClient, PageRequest, Revocation,
    Scope, Store,
};

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("data/grantdb.redb"), PathBuf::from);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let store = Store::open(&path, Config::default())?;
    println!("grantdb quickstart: the pretix \"Connect with pretix\" flow");
    println!("database: {}", path.display());

    // 1. The developer registers an application and notes its id and secret.
    let app = store.register_client(
        NewClient::confidential("pretalx")
            .redirect_uri("https://pretalx.com")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read write profile")?,
    )?;
    let client_id = app.client.id;
    let secret = app.secret.ok_or("a confidential client gets a secret")?;
    println!("\n1. registered application {:?}", app.client.name);
    println!("   client_id     = {client_id}");
    println!(
        "   client_secret = {} (shown once; only its hash is stored)",
        secret.expose()
    );

    // 2. The user approves `read write`; the server issues a code and redirects.
    let state = "e3KCh9mfx07qxU4bRpXk";
    let scope = Scope::parse("read write")?;
    let code = store.issue_code(
        AuthorizationRequest::new(client_id, "admin@localhost")
            .scope(scope.clone())
            .redirect_uri("https://pretalx.com"),
    )?;
    println!("\n2. user approved scope \"{scope}\"; redirect to");
    println!(
        "   {}/?code={}&state={state}",
        code.redirect_uri,
        code.code.expose()
    );

    // 3. The application exchanges the code at the token endpoint (HTTP Basic).
    let client = store.authenticate_client(&client_id, Some(secret.expose()))?;
    let tokens = store.exchange_code(
        CodeExchange::new(code.code.expose(), &client).redirect_uri("https://pretalx.com"),
    )?;
    println!("\n3. POST /oauth/token grant_type=authorization_code ->");
    println!(
        "   {}",
        serde_json::to_string_pretty(&tokens)?.replace('\n', "\n   ")
    );
    let refresh_token = tokens.refresh_token.clone().ok_or("a refresh token")?;

    // 4. The API validates the bearer token.
    let info = store.validate(tokens.access_token.expose())?;
    println!(
        "\n4. GET /api/v1/me with the access token -> active, subject {:?}, scope \"{}\"",
        info.subject.as_deref().unwrap_or("-"),
        info.scope
    );

    // 5. Refresh: a new pair; "the previous access token will instantly become invalid".
    let rotated = store.refresh(RefreshRequest::new(refresh_token.expose(), &client))?;
    println!("\n5. POST /oauth/token grant_type=refresh_token -> new pair");
    println!(
        "   old access token valid? {}",
        store.validate(tokens.access_token.expose()).is_ok()
    );
    println!(
        "   new access token valid? {}",
        store.validate(rotated.access_token.expose()).is_ok()
    );
    match store.refresh(RefreshRequest::new(refresh_token.expose(), &client)) {
        Err(error) => println!(
            "   the old refresh token again -> {} ({error})",
            code_of(&error)
        ),
        Ok(_) => return Err("a consumed refresh token must not refresh".into()),
    }

    // 6. Revoke: after a reuse the family is already gone, so start a new grant
    //    and revoke its refresh token: both tokens die.
    let code =
        store.issue_code(AuthorizationRequest::new(client_id, "admin@localhost").scope(scope))?;
    let tokens = store.exchange_code(CodeExchange::new(code.code.expose(), &client))?;
    let refresh_token = tokens.refresh_token.as_ref().ok_or("a refresh token")?;
    let outcome = store.revoke(refresh_token.expose(), &client)?;
    println!("\n6. POST /oauth/revoke_token token=<refresh token> -> {outcome:?}");
    assert_eq!(outcome, Revocation::Grant);
    println!(
        "   access token valid?  {}",
        store.validate(tokens.access_token.expose()).is_ok()
    );
    println!(
        "   refresh token works? {}",
        store
            .refresh(RefreshRequest::new(refresh_token.expose(), &client))
            .is_ok()
    );

    // 7. What the user's "authorized applications" page would list, and a purge.
    let grants = store.grants_of_subject("admin@localhost", &PageRequest::first(10))?;
    println!(
        "\n7. grants of admin@localhost still live: {}",
        grants.items.len()
    );
    let purged = store.purge_expired()?;
    println!("   purge removed {} expired entries", purged.removed());
    let clients = store.clients(&PageRequest::first(1_000))?;
    println!(
        "   clients registered in this database: {}",
        clients.items.len()
    );
    Ok(())
}

fn code_of(error: &grantdb::Error) -> &'static str {
    error
        .oauth_code()
        .map_or("server_error", |code| code.as_str())
}
