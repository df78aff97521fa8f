//! An API protected by grantdb-axum's [`RequireToken`] layer: every route of
//! the router needs a valid access token for this API (its audience,
//! RFC 8707) with the scope the route asks for; the handlers take the
//! checked token as [`ValidToken`]. Beside it the token endpoint, so that a
//! client can get a token (client credentials) and call the API:
//!
//! ```text
//! cargo run --example resource_server    # http://127.0.0.1:8081, prints a client and its secret
//! curl -u ID:SECRET -d grant_type=client_credentials -d scope=orders:read \
//!      -d resource=https://orders.example http://127.0.0.1:8081/oauth/token
//! curl -H "Authorization: Bearer TOKEN" http://127.0.0.1:8081/orders
//! ```
//!
//! A token for another resource is `invalid_token`; one without the scope,
//! `insufficient_scope` (403). A DPoP-bound token must come with the `DPoP`
//! scheme and a proof for the request.

use std::error::Error;

use axum::Router;
use axum::response::Json;
use axum::routing::{get, post};
use grantdb::{AsyncStore, Config, GrantType, NewClient, Store};
use grantdb_axum::{OAuth, OAuthConfig, RequireToken, ValidToken};
use serde_json::{Value, json};

/// What this API calls itself: tokens must be issued for it.
pub const AUDIENCE: &str = "https://orders.example";

async fn list_orders(token: ValidToken) -> Json<Value> {
    Json(json!({ "client_id": token.client_id.to_string(), "orders": [] }))
}

async fn create_order(token: ValidToken) -> Json<Value> {
    Json(json!({ "created_by": token.client_id.to_string() }))
}

/// The API (`GET /orders` needs `orders:read`, `POST /orders`
/// `orders:write`) and the token endpoint, for `issuer`.
pub fn app(store: Store, issuer: &str) -> Router {
    let oauth = OAuth::new(
        AsyncStore::new(store),
        OAuthConfig::new(issuer).audience(AUDIENCE),
    );
    let read = Router::new()
        .route("/orders", get(list_orders))
        .route_layer(RequireToken::new(&oauth).scope("orders:read"));
    let write = Router::new()
        .route("/orders", post(create_order))
        .route_layer(RequireToken::new(&oauth).scope("orders:write"));
    read.merge(write)
        .with_state(oauth.clone())
        .merge(oauth.router())
}

/// A client of the client-credentials grant with both scopes.
pub fn client() -> Result<NewClient, grantdb::Error> {
    NewClient::confidential("orders client")
        .grant_types([GrantType::ClientCredentials])
        .scopes("orders:read orders:write")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let store = Store::in_memory(Config::default())?;
    let registered = store.register_client(client()?)?;
    println!("client_id:     {}", registered.client.id);
    if let Some(secret) = &registered.secret {
        println!("client_secret: {}", secret.expose());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    println!("listening on {issuer}");
    axum::serve(listener, app(store, &issuer)).await?;
    Ok(())
}
