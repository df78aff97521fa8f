//! An oxide-auth server on grantdb: oxide-auth's `simple` frontend and
//! endpoint flows, carried over axum, with grantdb's primitives in place of
//! `ClientMap`, `AuthMap` and `TokenMap`.
//!
//! ```text
//! cargo run --features oxide-auth,tokio --example oxide_server -- [--port 8081] [--db data/oxide.redb]
//! ```
//!
//! It registers one client at start and prints its id and secret. `GET
//! /authorize` approves as the demo user `alice` (a real server shows a
//! consent page here), `POST /token` exchanges codes and refreshes, and `GET
//! /resource` needs a bearer token with scope `read`.
//!
//! oxide-auth's flows are synchronous: each request runs its flow on tokio's
//! blocking pool with its own clone of the primitives (no lock); `GET /me`
//! answers from grantdb's `AsyncStore` directly.

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use grantdb::oxide::{GrantdbAuthorizer, GrantdbIssuer, GrantdbRegistrar};
use grantdb::{AsyncStore, Config, Endpoint, ErrorResponse, GrantType, NewClient, Store};
use oxide_auth::endpoint::{OwnerConsent, Solicitation};
use oxide_auth::frontends::simple::endpoint::{
    FnSolicitor, access_token_flow, authorization_flow, refresh_flow, resource_flow,
};
use oxide_auth::frontends::simple::request::{Body, Request, Response as OxideResponse, Status};
use oxide_auth::primitives::scope::Scope;

/// The primitives, shared by every request.
/// What the handlers share: cheap clones, no lock.
#[derive(Clone)]
struct Endpoints {
    registrar: GrantdbRegistrar,
    authorizer: GrantdbAuthorizer,
    issuer: GrantdbIssuer,
    store: AsyncStore,
}

/// Runs an oxide-auth flow (synchronous, calling the store) off the workers.
async fn off_the_workers(flow: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(flow)
        .await
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn oxide_request(
    headers: &HeaderMap,
    query: HashMap<String, String>,
    body: HashMap<String, String>,
) -> Request {
    Request {
        query,
        urlbody: body,
        auth: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// Turns oxide-auth's response into an HTTP one.
fn http(response: OxideResponse) -> Response {
    let status = match response.status {
        Status::Ok => StatusCode::OK,
        Status::Redirect => StatusCode::FOUND,
        Status::BadRequest => StatusCode::BAD_REQUEST,
        Status::Unauthorized => StatusCode::UNAUTHORIZED,
    };
    let mut builder = Response::builder().status(status);
    if let Some(location) = response.location {
        builder = builder.header(header::LOCATION, location.as_str());
    }
    if let Some(challenge) = response.www_authenticate {
        builder = builder.header(header::WWW_AUTHENTICATE, challenge);
    }
    let body = match response.body {
        Some(Body::Json(json)) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            json
        }
        Some(Body::Text(text)) => text,
        None => String::new(),
    };
    builder
        .body(body.into())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn authorize(
    State(endpoints): State<Arc<Endpoints>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Endpoints {
        registrar,
        mut authorizer,
        ..
    } = (*endpoints).clone();
    off_the_workers(move || {
        let mut solicitor = FnSolicitor(|_: &mut Request, _: Solicitation| {
            OwnerConsent::Authorized("alice".to_owned())
        });
        match authorization_flow(&registrar, &mut authorizer, &mut solicitor)
            .execute(oxide_request(&headers, query, HashMap::new()))
        {
            Ok(response) => http(response),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    })
    .await
}

async fn token(
    State(endpoints): State<Arc<Endpoints>>,
    headers: HeaderMap,
    axum::Form(body): axum::Form<HashMap<String, String>>,
) -> Response {
    let Endpoints {
        registrar,
        mut authorizer,
        mut issuer,
        ..
    } = (*endpoints).clone();
    off_the_workers(move || {
        let refreshing = body.get("grant_type").is_some_and(|g| g == "refresh_token");
        let request = oxide_request(&headers, HashMap::new(), body);
        let result = if refreshing {
            refresh_flow(&registrar, &mut issuer).execute(request)
        } else {
            access_token_flow(&registrar, &mut authorizer, &mut issuer).execute(request)
        };
        result.map_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response(), http)
    })
    .await
}

async fn resource(State(endpoints): State<Arc<Endpoints>>, headers: HeaderMap) -> Response {
    let Ok(read) = "read".parse::<Scope>() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut issuer = endpoints.issuer.clone();
    off_the_workers(move || {
        match resource_flow(&mut issuer, &[read]).execute(oxide_request(
            &headers,
            HashMap::new(),
            HashMap::new(),
        )) {
            Ok(grant) => {
                format!("hello {}, you may {}\n", grant.owner_id, grant.scope).into_response()
            }
            Err(Ok(response)) => http(response),
            Err(Err(_)) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    })
    .await
}

/// `GET /me`: the token's owner, from grantdb's async handle.
async fn me(State(endpoints): State<Arc<Endpoints>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    match endpoints.store.validate(token).await {
        Ok(info) => format!("{}\n", info.subject.unwrap_or_default()).into_response(),
        Err(error) => {
            let answer = ErrorResponse::new(&error, Endpoint::Resource);
            let status =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, answer.error).into_response()
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (mut port, mut db) = (8081u16, "data/oxide.redb".to_owned());
    while let Some(flag) = args.next() {
        let value = args.next().ok_or("every flag needs a value")?;
        match flag.as_str() {
            "--port" => port = value.parse()?,
            "--db" => db = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if let Some(dir) = std::path::Path::new(&db).parent() {
        std::fs::create_dir_all(dir)?;
    }
    // oxide-auth checks PKCE itself, through its extensions.
    let config = Config::builder()
        .require_pkce_for_public_clients(false)
        .build()?;
    let store = Store::open(&db, config)?;
    let client = store.register_client(
        NewClient::confidential("oxide demo")
            .redirect_uri("http://127.0.0.1:9000/callback")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read write")?,
    )?;
    println!("client_id:     {}", client.client.id);
    if let Some(secret) = &client.secret {
        println!("client_secret: {}", secret.expose());
    }
    let (registrar, authorizer, issuer) = grantdb::oxide::primitives(&store);
    let endpoints = Arc::new(Endpoints {
        registrar,
        authorizer,
        issuer,
        store: AsyncStore::new(store),
    });
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/resource", get(resource))
        .route("/me", get(me))
        .with_state(endpoints);
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("oxide-auth on grantdb at http://{}", listener.local_addr()?);
        axum::serve(listener, app).await
    })?;
    Ok(())
}
