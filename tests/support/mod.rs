//! Helpers shared by the integration tests: fixtures for the four seeds'
//! clients, a manual clock, and an in-memory backend that counts its reads.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod faulty;
pub mod mem;

/// Instantiates each generic test `fn name<B: Backend>(make: &impl Fn(ConfigBuilder)
/// -> Fixture<B>) -> TestResult` once per backend: `redb::name` always,
/// `postgres::name` with the `postgres` feature (passing as skipped, and saying
/// so, without a server).
#[macro_export]
macro_rules! rule_suite {
    ($($test:ident),* $(,)?) => {
        mod redb {
            $(
                #[test]
                fn $test() -> super::TestResult {
                    super::$test(&super::fixture_with)
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[test]
                fn $test() -> super::TestResult {
                    match super::pg_fixture_maker() {
                        Some(make) => super::$test(&make),
                        None => Ok(()),
                    }
                }
            )*
        }
    };
}
#[cfg(feature = "postgres")]
pub mod pg;

use std::time::Duration;

use grantdb::kv::Backend;
use grantdb::{
    AuthenticatedClient, AuthorizationRequest, ClientId, CodeExchange, Config, ConfigBuilder,
    GrantType, LifetimeOverrides, ManualClock, NewClient, RefreshLifetime, Scope, Secret, Store,
    TokenResponse,
};

/// What every test returns.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// 2023-11-14T22:13:20Z: an arbitrary, fixed start for the manual clock.
pub const T0: u64 = 1_700_000_000;

/// A store on an in-memory redb database with a manual clock.
pub struct Fixture<B: Backend = grantdb::kv::redb::RedbBackend> {
    pub store: Store<B>,
    pub clock: ManualClock,
}

pub fn fixture() -> Fixture {
    fixture_with(Config::builder())
}

/// A store on the counting in-memory backend, with a manual clock.
pub fn mem_fixture(builder: ConfigBuilder) -> (Fixture<mem::MemBackend>, mem::MemBackend) {
    let clock = ManualClock::new(T0);
    let config = builder.clock(clock.handle()).build().expect("valid config");
    let backend = mem::MemBackend::default();
    let store = Store::with_backend(backend.clone(), config).expect("store");
    (Fixture { store, clock }, backend)
}

/// A maker of stores on the PostgreSQL test server, each on a schema of its
/// own; `None` (the tests skip) when no server is available.
#[cfg(feature = "postgres")]
pub fn pg_fixture_maker()
-> Option<impl Fn(ConfigBuilder) -> Fixture<grantdb::kv::postgres::PostgresBackend>> {
    pg::url()?;
    Some(|builder: ConfigBuilder| {
        let clock = ManualClock::new(T0);
        let config = builder.clock(clock.handle()).build().expect("valid config");
        let backend = pg::backend(true).expect("the PostgreSQL test server");
        Fixture {
            store: Store::with_backend(backend, config).expect("store on PostgreSQL"),
            clock,
        }
    })
}

pub fn fixture_with(builder: ConfigBuilder) -> Fixture {
    let clock = ManualClock::new(T0);
    let config = builder.clock(clock.handle()).build().expect("valid config");
    Fixture {
        store: Store::in_memory(config).expect("in-memory store"),
        clock,
    }
}

/// A registered client, its secret (confidential clients only), and the
/// client as authenticated with it, for the token-endpoint operations.
pub struct App {
    pub id: ClientId,
    pub secret: Option<Secret>,
    pub client: AuthenticatedClient,
}

impl App {
    pub fn secret(&self) -> &str {
        self.secret
            .as_ref()
            .map(Secret::expose)
            .expect("confidential client")
    }
}

pub fn register<B: Backend>(store: &Store<B>, client: &NewClient) -> App {
    let registered = store
        .register_client(client.clone())
        .expect("register client");
    let secret = registered.secret.as_ref().map(Secret::expose);
    let client = store
        .authenticate_client(&registered.client.id, secret)
        .expect("authenticate the new client");
    App {
        id: registered.client.id,
        secret: registered.secret,
        client,
    }
}

/// The client `id`, authenticated with `secret` (`None`: a public client).
pub fn authenticated<B: Backend>(
    store: &Store<B>,
    id: &ClientId,
    secret: Option<&str>,
) -> AuthenticatedClient {
    store
        .authenticate_client(id, secret)
        .expect("authenticate the client")
}

/// pretix: authorization code + refresh, 86,400 s access, refresh without expiry.
pub fn pretix_app<B: Backend>(store: &Store<B>) -> App {
    register(
        store,
        &NewClient::confidential("pretalx")
            .redirect_uri("https://pretalx.com")
            .redirect_uri("https://pretalx.com/orga/callback")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read write profile")
            .unwrap(),
    )
}

/// Ticketpark: password + refresh, 600 s access tokens.
pub fn ticketpark_app<B: Backend>(store: &Store<B>) -> App {
    register(
        store,
        &NewClient::confidential("ticketpark-integration")
            .grant_types([GrantType::Password, GrantType::RefreshToken])
            .lifetimes(LifetimeOverrides::default().access(Duration::from_mins(10))),
    )
}

/// Eventpop: authorization code + refresh, 7,200 s access tokens, scope `public`.
pub fn eventpop_app<B: Backend>(store: &Store<B>) -> App {
    register(
        store,
        &NewClient::confidential("eventpop-partner")
            .redirect_uri("https://partner.example/callback")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("public")
            .unwrap()
            .lifetimes(LifetimeOverrides::default().access(Duration::from_hours(2))),
    )
}

/// Prioticket: client credentials only, 3,600 s tokens.
pub fn prioticket_app<B: Backend>(store: &Store<B>) -> App {
    register(
        store,
        &NewClient::confidential("prioticket-distributor")
            .grant_types([GrantType::ClientCredentials])
            .scopes("https://www.prioticketapis.com/auth/distributor.booking")
            .unwrap()
            .lifetimes(LifetimeOverrides::default().access(Duration::from_hours(1))),
    )
}

/// A confidential client named `name` allowed the password and refresh
/// grants and the scopes `read write`.
pub fn password_app<B: Backend>(store: &Store<B>, name: &str) -> App {
    register(
        store,
        &NewClient::confidential(name)
            .grant_types([GrantType::Password, GrantType::RefreshToken])
            .scopes("read write")
            .unwrap(),
    )
}

/// `token` with its 11th character changed (whatever it was): the checksum no
/// longer matches.
/// The client the R27 tests claim DPoP proof ids for (claims are scoped by
/// client; the client need not be registered).
pub fn proof_client() -> grantdb::ClientId {
    "pCJ3yvtcSmWb3bHkmGT9Aw".parse().expect("a client id")
}

/// Writes `bytes` to the database file at `path`, readable by its owner
/// only, as a database holding its generated key must be (a file others can
/// read is refused).
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)?;
    make_private(path)
}

/// Copies the database file `from` to `to`, readable by its owner only.
pub fn copy_private(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::copy(from, to)?;
    make_private(to)
}

fn make_private(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let _ = path;
    Ok(())
}

pub fn one_char_changed(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// A public client (native app) using PKCE.
pub fn public_app<B: Backend>(store: &Store<B>) -> App {
    register(
        store,
        &NewClient::public("mobile-app")
            .redirect_uri("com.example.app:/oauth2redirect")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read")
            .unwrap(),
    )
}

/// An app whose refresh tokens expire `seconds` after the grant began.
pub fn expiring_refresh_app<B: Backend>(store: &Store<B>, seconds: u64) -> App {
    register(
        store,
        &NewClient::confidential("expiring")
            .redirect_uri("https://expiring.example/cb")
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read write")
            .unwrap()
            .lifetimes(
                LifetimeOverrides::default().refresh(RefreshLifetime::AbsoluteSeconds(seconds)),
            ),
    )
}

pub fn scope(text: &str) -> Scope {
    Scope::parse(text).unwrap()
}

/// Runs the authorization code flow for `subject` and returns the tokens.
pub fn code_flow<B: Backend>(store: &Store<B>, app: &App, subject: &str) -> TokenResponse {
    let code = store
        .issue_code(AuthorizationRequest::new(app.id, subject))
        .expect("issue code");
    store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client))
        .expect("exchange code")
}

pub fn access(tokens: &TokenResponse) -> &str {
    tokens.access_token.expose()
}

pub fn refresh(tokens: &TokenResponse) -> &str {
    tokens
        .refresh_token
        .as_ref()
        .expect("refresh token issued")
        .expose()
}

pub fn is_valid<B: Backend>(store: &Store<B>, token: &str) -> bool {
    store.validate(token).is_ok()
}

/// Whether `subject`'s consent to `client_id` covers `requested` (R17), as a
/// consent page asks before skipping its prompt.
pub fn has_consent<B: Backend>(
    store: &Store<B>,
    client_id: &ClientId,
    subject: &str,
    requested: &Scope,
) -> grantdb::Result<bool> {
    Ok(store
        .consent(client_id, subject)?
        .is_some_and(|consent| consent.covers(requested)))
}
