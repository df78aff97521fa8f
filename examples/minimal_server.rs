//! The smallest authorization server on grantdb-axum: clients declared at
//! start-up, the code flow with PKCE, refresh, client credentials,
//! revocation (RFC 7009), introspection (RFC 7662) and a protected route.
//! The consent page is a stub that approves every valid request as `alice`:
//! a real host puts its sign-in and consent pages there, and nothing else.
//!
//! ```text
//! cargo run --example minimal_server        # http://127.0.0.1:8080, data/minimal.redb
//! ```

use std::error::Error;

use axum::extract::State;
use axum::response::{IntoResponse, Json, Response};
use axum::{Router, routing::get};
use grantdb::{AsyncStore, Config, Ensured, NewClient, RegisteredClient, Store};
use grantdb_axum::{AuthorizationQuery, OAuth, OAuthConfig, ValidToken};

/// The clients, as a configuration file or a secret manager would give them:
/// registered at the first start, compared at every later one.
const CLIENTS: &str = r#"[
  { "id": "pCJ3yvtcSmWb3bHkmGT9Aw", "name": "shop",
    "redirect_uris": ["http://127.0.0.1:9000/callback"],
    "grant_types": ["authorization_code", "refresh_token"], "scopes": "profile orders" },
  { "id": "q2K8wFtmRNi6aD0xY4bUcg", "name": "reporting job",
    "grant_types": ["client_credentials"], "scopes": "orders" }
]"#;

/// Registers the clients not yet in the store (their secrets are in the
/// answer, shown once) and warns about the ones stored differently.
pub fn ensure_clients(store: &Store) -> Result<Vec<RegisteredClient>, Box<dyn Error>> {
    let mut created = Vec::new();
    for client in serde_json::from_str::<Vec<NewClient>>(CLIENTS)? {
        match store.ensure_client(client)? {
            Ensured::Created(registered) => created.push(registered),
            Ensured::Differs { client, fields } => {
                eprintln!("{} is stored with other {fields:?}", client.name);
            }
            _ => {}
        }
    }
    Ok(created)
}

/// The stub consent page: approves every valid request for `alice`; a
/// request that cannot go back to its client gets a plain error page.
async fn authorize(
    State(oauth): State<OAuth>,
    AuthorizationQuery(params): AuthorizationQuery,
) -> Response {
    match oauth.check_authorization(&params).await {
        Ok(request) => oauth.approve(&request, "alice", None).await,
        Err(refusal) => refusal.into_response_for(&oauth),
    }
}

/// The protected route: needs a valid token with the scope `orders`.
async fn orders(token: ValidToken) -> Response {
    if let Err(refusal) = token.require_scope("orders") {
        return refusal.into_response();
    }
    let who = token
        .subject
        .clone()
        .unwrap_or_else(|| token.client_id.to_string());
    Json(serde_json::json!({ "orders_of": who, "orders": [] })).into_response()
}

/// The whole server for `issuer`: the crate's endpoints at `/oauth/*`, the
/// consent page at `/authorize`, the API at `/api/orders`.
pub fn app(store: Store, issuer: &str) -> Router {
    let oauth = OAuth::new(AsyncStore::new(store), OAuthConfig::new(issuer));
    Router::new()
        .route("/authorize", get(authorize))
        .route("/api/orders", get(orders))
        .with_state(oauth.clone())
        .merge(oauth.router())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all("data")?;
    let store = Store::open("data/minimal.redb", Config::default())?;
    for registered in ensure_clients(&store)? {
        if let Some(secret) = registered.secret {
            println!(
                "{}: client_secret {} (shown once)",
                registered.client.name,
                secret.expose()
            );
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    println!("listening on {issuer}");
    axum::serve(listener, app(store, &issuer)).await?;
    Ok(())
}
