//! oxide-auth integration (feature `oxide-auth`): grantdb as durable, hashed
//! storage behind oxide-auth 0.6's `Registrar`, `Authorizer` and `Issuer`.
//!
//! ```
//! # use grantdb::{Config, Store};
//! let store = Store::in_memory(Config::default())?;
//! let (registrar, mut authorizer, mut issuer) = grantdb::oxide::primitives(&store);
//! // Hand these to oxide-auth's endpoint in place of ClientMap, AuthMap and TokenMap.
//! # let _ = (&registrar, &mut authorizer, &mut issuer);
//! # Ok::<(), grantdb::Error>(())
//! ```
//!
//! What changes for an oxide-auth server (grantdb's rules win):
//!
//! * Tokens, codes and secrets are stored as keyed hashes, never in plaintext,
//!   and expired ones are purged by [`Store::purge_expired`].
//! * Lifetimes come from grantdb's configuration, per client: access and
//!   refresh tokens may differ. The `until` oxide-auth puts on a grant is not
//!   used to set them.
//! * Refresh rotates: every refresh consumes the refresh token, kills its
//!   access token and issues a new pair (R07). Presenting a consumed refresh
//!   token is refused and revokes the whole token family (R08).
//! * A code is exchanged once; a replay is refused and revokes the tokens
//!   issued from it (R05). grantdb consumes the code and issues the tokens in
//!   one transaction when oxide-auth extracts it; if oxide-auth then refuses the
//!   request (wrong client, redirect URI or PKCE verifier), nobody ever sees
//!   those tokens, and the adapter revokes them on its next use.
//! * Grant extensions (PKCE and others) are kept with the code and the grant
//!   as opaque host data and given back to oxide-auth, which checks them. Let
//!   oxide-auth enforce PKCE and open the store with
//!   `require_pkce_for_public_clients(false)`.
//! * Client secrets are grantdb secrets: register clients with
//!   [`Store::register_client`]; oxide-auth's `check` authenticates against
//!   them in constant time.
//!
//! For oxide-auth-async's endpoints, [`asynchronous::primitives`] (feature
//! `oxide-auth-async`) gives the same three with its `async` traits.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use oxide_auth::endpoint::PreGrant;
use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth::primitives::issuer::{IssuedToken, Issuer, RefreshedToken, TokenType};
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, ExactUrl, RegisteredUrl, Registrar, RegistrarError,
};
use parking_lot::Mutex;

use crate::api::store::Store;
use crate::model::client::{AuthenticatedClient, Client};
use crate::model::grant::GrantRef;
use crate::model::ids::ClientId;
use crate::model::request::{
    AuthorizationRequest, ClientCredentialsRequest, CodeExchange, RefreshRequest,
};
use crate::model::response::{RefreshState, TokenResponse};
use crate::model::scope::Scope;

#[cfg(feature = "oxide-auth-async")]
#[cfg_attr(docsrs, doc(cfg(feature = "oxide-auth-async")))]
pub mod asynchronous;

/// How long an extracted code's tokens wait for oxide-auth to ask for them.
const PENDING_TTL: Duration = Duration::from_mins(1);

/// Which pending exchange a grant handed back to `Issuer::issue` belongs to.
///
/// oxide-auth rebuilds a grant's extensions between `Authorizer::extract` and
/// `Issuer::issue` (dropping any it does not know), but passes its other
/// fields through untouched. So the exchange is named by the client, the
/// owner and the grant's `until`, whose nanoseconds carry a counter.
type PendingKey = (String, String, DateTime<Utc>);

/// Tokens issued when a code was extracted, waiting for `Issuer::issue`.
#[derive(Default)]
struct Pending {
    counter: AtomicU32,
    by_key: Mutex<HashMap<PendingKey, (Instant, TokenResponse)>>,
}

impl Pending {
    /// Parks `tokens` and returns the `until` that names them.
    fn put(
        &self,
        client: &str,
        owner: &str,
        expires_at: u64,
        tokens: TokenResponse,
    ) -> DateTime<Utc> {
        let nanos = self.counter.fetch_add(1, Ordering::Relaxed) % 1_000_000_000;
        let until = time(expires_at) + chrono::Duration::nanoseconds(i64::from(nanos));
        self.by_key.lock().insert(
            (client.to_owned(), owner.to_owned(), until),
            (Instant::now(), tokens),
        );
        until
    }

    fn take(&self, grant: &Grant) -> Option<TokenResponse> {
        let key = (grant.client_id.clone(), grant.owner_id.clone(), grant.until);
        self.by_key.lock().remove(&key).map(|(_, tokens)| tokens)
    }

    /// Revokes the tokens of exchanges oxide-auth refused after extraction.
    fn sweep(&self, store: &Store) {
        let stale: Vec<TokenResponse> = {
            let mut map = self.by_key.lock();
            let keys: Vec<PendingKey> = map
                .iter()
                .filter(|(_, (at, _))| at.elapsed() > PENDING_TTL)
                .map(|(key, _)| key.clone())
                .collect();
            keys.iter()
                .filter_map(|key| map.remove(key))
                .map(|(_, t)| t)
                .collect()
        };
        for tokens in stale {
            let token = tokens
                .refresh_token
                .as_ref()
                .unwrap_or(&tokens.access_token);
            let _ = store.revoke_token_as_operator(token.expose());
        }
    }
}

/// The three primitives over one store, sharing the hand-over between the
/// authorizer and the issuer.
pub fn primitives(store: &Store) -> (GrantdbRegistrar, GrantdbAuthorizer, GrantdbIssuer) {
    let pending = Arc::new(Pending::default());
    (
        GrantdbRegistrar {
            store: store.clone(),
        },
        GrantdbAuthorizer {
            store: store.clone(),
            pending: Arc::clone(&pending),
        },
        GrantdbIssuer {
            store: store.clone(),
            pending,
        },
    )
}

/// oxide-auth's `Registrar`, backed by grantdb's clients. Every primitive is
/// a cheap `Clone` sharing one store (and, for the authorizer and issuer, one
/// hand-over): a server gives each request its own copy, with no lock around
/// the flows.
#[derive(Clone)]
pub struct GrantdbRegistrar {
    store: Store,
}

/// oxide-auth's `Authorizer`, backed by grantdb's authorization codes.
#[derive(Clone)]
pub struct GrantdbAuthorizer {
    store: Store,
    pending: Arc<Pending>,
}

/// oxide-auth's `Issuer`, backed by grantdb's grants and tokens.
#[derive(Clone)]
pub struct GrantdbIssuer {
    store: Store,
    pending: Arc<Pending>,
}

fn client(store: &Store, id: &str) -> Option<Client> {
    let id: ClientId = id.parse().ok()?;
    store.client(&id).ok().flatten()
}

/// The client oxide-auth names, as authenticated: oxide-auth's token
/// endpoint authenticates the client through this crate's
/// [`GrantdbRegistrar`] (`Registrar::check`) before it asks the
/// authorizer or the issuer for anything, so that is the authentication.
fn authenticated(store: &Store, id: &str) -> Option<AuthenticatedClient> {
    client(store, id).map(AuthenticatedClient::new)
}

fn to_grantdb_scope(scope: &oxide_auth::primitives::scope::Scope) -> Option<Scope> {
    Scope::parse(&scope.to_string()).ok()
}

fn to_oxide_scope(scope: &Scope) -> Option<oxide_auth::primitives::scope::Scope> {
    scope.as_str().parse().ok()
}

fn time(seconds: u64) -> DateTime<Utc> {
    Utc.timestamp_opt(i64::try_from(seconds).unwrap_or(i64::MAX), 0)
        .single()
        .unwrap_or_else(Utc::now)
}

/// The registered URI that `url` names, spelled as registered.
fn registered_uri(client: &Client, url: &url::Url) -> Option<String> {
    client
        .redirect_uris
        .iter()
        .find(|uri| url::Url::parse(uri).is_ok_and(|parsed| &parsed == url))
        .cloned()
}

/// The client's default redirect URI, or a placeholder for clients without
/// one (client credentials): oxide-auth's grants always carry a URL.
fn default_url(client: &Client) -> Result<url::Url, ()> {
    let uri = client
        .redirect_uris
        .first()
        .map_or("urn:ietf:wg:oauth:2.0:oob", String::as_str);
    url::Url::parse(uri).map_err(drop)
}

/// Grant extensions as opaque host data: `(identifier, private, value)` each.
fn encode_extensions(extensions: &Extensions) -> Option<Vec<u8>> {
    let mut all: Vec<(String, bool, Option<String>)> = Vec::new();
    all.extend(
        extensions
            .public()
            .map(|(id, v)| (id.to_owned(), false, v.map(str::to_owned))),
    );
    all.extend(
        extensions
            .private()
            .map(|(id, v)| (id.to_owned(), true, v.map(str::to_owned))),
    );
    if all.is_empty() {
        return None;
    }
    postcard::to_allocvec(&all).ok()
}

fn decode_extensions(data: Option<&[u8]>) -> Extensions {
    let mut extensions = Extensions::new();
    let decoded: Vec<(String, bool, Option<String>)> = data
        .and_then(|d| postcard::from_bytes(d).ok())
        .unwrap_or_default();
    for (id, private, value) in decoded {
        let value = if private {
            Value::private(value)
        } else {
            Value::public(value)
        };
        extensions.set_raw(id, value);
    }
    extensions
}

impl Registrar for GrantdbRegistrar {
    fn bound_redirect<'a>(&self, bound: ClientUrl<'a>) -> Result<BoundClient<'a>, RegistrarError> {
        let client = client(&self.store, &bound.client_id).ok_or(RegistrarError::Unspecified)?;
        // Redirect URIs match exactly, as registered (RFC 9700 §4.1.3).
        let uri = match &bound.redirect_uri {
            Some(given) if client.redirect_uris.iter().any(|r| r == given.as_str()) => {
                given.as_str().to_owned()
            }
            Some(_) => return Err(RegistrarError::Unspecified),
            None => client
                .redirect_uris
                .first()
                .cloned()
                .ok_or(RegistrarError::Unspecified)?,
        };
        let exact = ExactUrl::new(uri).map_err(|_| RegistrarError::Unspecified)?;
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(exact)),
        })
    }

    fn negotiate(
        &self,
        bound: BoundClient,
        scope: Option<oxide_auth::primitives::scope::Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let client = client(&self.store, &bound.client_id).ok_or(RegistrarError::Unspecified)?;
        // R16: the requested scope must lie within the client's; none means all of it.
        let scope = match scope.as_ref().map(to_grantdb_scope) {
            None => client.scopes.clone(),
            Some(Some(requested)) if requested.is_subset(&client.scopes) => requested,
            Some(_) => return Err(RegistrarError::Unspecified),
        };
        Ok(PreGrant {
            client_id: bound.client_id.into_owned(),
            redirect_uri: bound.redirect_uri.into_owned(),
            scope: to_oxide_scope(&scope).ok_or(RegistrarError::Unspecified)?,
        })
    }

    fn check(&self, client_id: &str, passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        let id: ClientId = client_id.parse().map_err(|_| RegistrarError::Unspecified)?;
        let secret = passphrase
            .map(std::str::from_utf8)
            .transpose()
            .map_err(|_| RegistrarError::Unspecified)?;
        self.store
            .authenticate_client(&id, secret)
            .map(drop)
            .map_err(|_| RegistrarError::Unspecified)
    }
}

impl Authorizer for GrantdbAuthorizer {
    fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        self.pending.sweep(&self.store);
        let client = client(&self.store, &grant.client_id).ok_or(())?;
        let mut request = AuthorizationRequest::new(client.id, grant.owner_id.clone())
            .scope(to_grantdb_scope(&grant.scope).ok_or(())?);
        if let Some(uri) = registered_uri(&client, &grant.redirect_uri) {
            request = request.redirect_uri(uri);
        }
        request.host_data = encode_extensions(&grant.extensions);
        let code = self.store.issue_code(request).map_err(drop)?;
        Ok(code.code.expose().to_owned())
    }

    fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        self.pending.sweep(&self.store);
        let Some(info) = self.store.inspect_code(code).map_err(drop)? else {
            return Ok(None);
        };
        let Some(client) = client(&self.store, &info.client_id.to_string()) else {
            return Ok(None);
        };
        // Consume the code and issue its tokens in one transaction; a replay
        // lands here too, fails, and revokes what the first exchange issued (R05).
        let mut exchange = CodeExchange::new(code, &AuthenticatedClient::new(client.clone()));
        exchange.redirect_uri.clone_from(&info.redirect_uri);
        let Ok(tokens) = self.store.exchange_code(exchange) else {
            return Ok(None);
        };
        let redirect_uri = info
            .redirect_uri
            .as_deref()
            .and_then(|uri| url::Url::parse(uri).ok())
            .map_or_else(|| default_url(&client), Ok)?;
        let client_id = info.client_id.to_string();
        let until = self
            .pending
            .put(&client_id, &info.subject, info.expires_at, tokens);
        Ok(Some(Grant {
            owner_id: info.subject,
            client_id,
            scope: to_oxide_scope(&info.scope).ok_or(())?,
            redirect_uri,
            until,
            extensions: decode_extensions(info.host_data.as_deref()),
        }))
    }
}

fn issued(tokens: &TokenResponse) -> IssuedToken {
    IssuedToken {
        token: tokens.access_token.expose().to_owned(),
        refresh: tokens.refresh_token.as_ref().map(|t| t.expose().to_owned()),
        until: time(tokens.created_at.saturating_add(tokens.expires_in)),
        token_type: TokenType::Bearer,
    }
}

impl Issuer for GrantdbIssuer {
    fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        // After a code exchange: the tokens grantdb issued at extraction.
        if let Some(tokens) = self.pending.take(&grant) {
            return Ok(issued(&tokens));
        }
        // Otherwise oxide-auth's client-credentials flow.
        let client = authenticated(&self.store, &grant.client_id).ok_or(())?;
        let mut request = ClientCredentialsRequest::new(&client);
        request.scope = to_grantdb_scope(&grant.scope);
        let tokens = self.store.issue_client_credentials(request).map_err(drop)?;
        Ok(issued(&tokens))
    }

    fn refresh(&mut self, refresh: &str, grant: Grant) -> Result<RefreshedToken, ()> {
        let client = authenticated(&self.store, &grant.client_id).ok_or(())?;
        let mut request = RefreshRequest::new(refresh, &client);
        request.scope = to_grantdb_scope(&grant.scope);
        let tokens = self.store.refresh(request).map_err(drop)?;
        let token = issued(&tokens);
        Ok(RefreshedToken {
            token: token.token,
            refresh: token.refresh,
            until: token.until,
            token_type: TokenType::Bearer,
        })
    }

    fn recover_token<'a>(&'a self, token: &'a str) -> Result<Option<Grant>, ()> {
        let Ok(info) = self.store.validate(token) else {
            return Ok(None);
        };
        let client = client(&self.store, &info.client_id.to_string()).ok_or(())?;
        let host_data = self
            .store
            .grant(&GrantRef::new(info.client_id, info.grant_id))
            .map_err(drop)?
            .and_then(|grant| grant.host_data);
        Ok(Some(Grant {
            owner_id: info.subject.unwrap_or_else(|| info.client_id.to_string()),
            client_id: info.client_id.to_string(),
            scope: to_oxide_scope(&info.scope).ok_or(())?,
            redirect_uri: default_url(&client)?,
            until: time(info.expires_at),
            extensions: decode_extensions(host_data.as_deref()),
        }))
    }

    fn recover_refresh<'a>(&'a self, token: &'a str) -> Result<Option<Grant>, ()> {
        let info = match self.store.refresh_state(token).map_err(drop)? {
            RefreshState::Active(info) | RefreshState::Grace(info) => info,
            RefreshState::Reused(info) => {
                // R08: presenting a consumed refresh token revokes its family.
                // The refresh does exactly that, and fails; oxide-auth then
                // answers invalid_grant.
                if let Some(client) = authenticated(&self.store, &info.client_id.to_string()) {
                    let _ = self.store.refresh(RefreshRequest::new(token, &client));
                }
                return Ok(None);
            }
            RefreshState::Inactive => return Ok(None),
        };
        let client = client(&self.store, &info.client_id.to_string()).ok_or(())?;
        Ok(Some(Grant {
            owner_id: info.subject.unwrap_or_else(|| info.client_id.to_string()),
            client_id: info.client_id.to_string(),
            scope: to_oxide_scope(&info.scope).ok_or(())?,
            redirect_uri: default_url(&client)?,
            // Refresh tokens without expiry: far in the future for oxide-auth.
            until: time(info.expires_at.unwrap_or(u64::from(u32::MAX))),
            extensions: Extensions::new(),
        }))
    }
}
