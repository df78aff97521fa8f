//! The primitives for oxide-auth-async's endpoints (feature
//! `oxide-auth-async`): the same registrar, authorizer and issuer as
//! [`super::primitives`], with oxide-auth-async's `async` traits. Each call
//! runs on tokio's blocking pool (a store call may wait for a disk flush),
//! so an async flow never blocks the runtime's threads and the host writes
//! no `spawn_blocking` of its own.
//!
//! ```
//! # use grantdb::{Config, Store};
//! # let store = Store::in_memory(Config::default())?;
//! let (registrar, mut authorizer, mut issuer) = grantdb::oxide::asynchronous::primitives(&store);
//! // Hand these to oxide-auth-async's AuthorizationFlow, AccessTokenFlow,
//! // RefreshFlow and ResourceFlow through the host's Endpoint.
//! # let _ = (&registrar, &mut authorizer, &mut issuer);
//! # Ok::<(), grantdb::Error>(())
//! ```

use std::borrow::Cow;

use async_trait::async_trait;
use oxide_auth::endpoint::PreGrant;
use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::grant::Grant;
use oxide_auth::primitives::issuer::{IssuedToken, Issuer, RefreshedToken};
use oxide_auth::primitives::registrar::{BoundClient, ClientUrl, Registrar, RegistrarError};
use oxide_auth::primitives::scope::Scope;

// The sync traits' methods are called by their trait's name: oxide-auth-async
// implements its async traits for every sync primitive too.
use super::{GrantdbAuthorizer, GrantdbIssuer, GrantdbRegistrar};
use crate::api::store::Store;

/// The three async primitives over one store (see [`super::primitives`]).
pub fn primitives(store: &Store) -> (AsyncRegistrar, AsyncAuthorizer, AsyncIssuer) {
    let (registrar, authorizer, issuer) = super::primitives(store);
    (
        AsyncRegistrar(registrar),
        AsyncAuthorizer(authorizer),
        AsyncIssuer(issuer),
    )
}

/// oxide-auth-async's `Registrar`, backed by grantdb's clients.
#[derive(Clone)]
pub struct AsyncRegistrar(GrantdbRegistrar);

/// oxide-auth-async's `Authorizer`, backed by grantdb's authorization codes.
#[derive(Clone)]
pub struct AsyncAuthorizer(GrantdbAuthorizer);

/// oxide-auth-async's `Issuer`, backed by grantdb's grants and tokens.
#[derive(Clone)]
pub struct AsyncIssuer(GrantdbIssuer);

/// Runs `work` on tokio's blocking pool; `Err(())` if it panicked or the
/// runtime is shutting down (oxide-auth's primitives answer `()` for any
/// failure).
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ()> + Send + 'static,
) -> Result<T, ()> {
    tokio::task::spawn_blocking(work).await.map_err(drop)?
}

/// `bound` with owned parts, to cross to the blocking pool and back.
fn owned_url(bound: ClientUrl<'_>) -> ClientUrl<'static> {
    ClientUrl {
        client_id: Cow::Owned(bound.client_id.into_owned()),
        redirect_uri: bound.redirect_uri.map(|uri| Cow::Owned(uri.into_owned())),
    }
}

fn owned_client(bound: BoundClient<'_>) -> BoundClient<'static> {
    BoundClient {
        client_id: Cow::Owned(bound.client_id.into_owned()),
        redirect_uri: Cow::Owned(bound.redirect_uri.into_owned()),
    }
}

#[async_trait]
impl oxide_auth_async::primitives::Registrar for AsyncRegistrar {
    async fn bound_redirect<'a>(
        &self,
        bound: ClientUrl<'a>,
    ) -> Result<BoundClient<'a>, RegistrarError> {
        let (registrar, bound) = (self.0.clone(), owned_url(bound));
        let answer = on_blocking_pool(move || {
            Ok(Registrar::bound_redirect(&registrar, bound).map(owned_client))
        });
        answer.await.map_err(|()| RegistrarError::PrimitiveError)?
    }

    async fn negotiate<'a>(
        &self,
        client: BoundClient<'a>,
        scope: Option<Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let (registrar, client) = (self.0.clone(), owned_client(client));
        let answer = on_blocking_pool(move || Ok(Registrar::negotiate(&registrar, client, scope)));
        answer.await.map_err(|()| RegistrarError::PrimitiveError)?
    }

    async fn check(
        &self,
        client_id: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<(), RegistrarError> {
        let (registrar, client_id) = (self.0.clone(), client_id.to_owned());
        let passphrase = passphrase.map(<[u8]>::to_vec);
        let answer = on_blocking_pool(move || {
            Ok(Registrar::check(
                &registrar,
                &client_id,
                passphrase.as_deref(),
            ))
        });
        answer.await.map_err(|()| RegistrarError::PrimitiveError)?
    }
}

#[async_trait]
impl oxide_auth_async::primitives::Authorizer for AsyncAuthorizer {
    async fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        let mut authorizer = self.0.clone();
        on_blocking_pool(move || Authorizer::authorize(&mut authorizer, grant)).await
    }

    async fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        let (mut authorizer, code) = (self.0.clone(), code.to_owned());
        on_blocking_pool(move || Authorizer::extract(&mut authorizer, &code)).await
    }
}

#[async_trait]
impl oxide_auth_async::primitives::Issuer for AsyncIssuer {
    async fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        let mut issuer = self.0.clone();
        on_blocking_pool(move || Issuer::issue(&mut issuer, grant)).await
    }

    async fn refresh(&mut self, refresh: &str, grant: Grant) -> Result<RefreshedToken, ()> {
        let (mut issuer, refresh) = (self.0.clone(), refresh.to_owned());
        on_blocking_pool(move || Issuer::refresh(&mut issuer, &refresh, grant)).await
    }

    async fn recover_token(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let (issuer, token) = (self.0.clone(), token.to_owned());
        on_blocking_pool(move || Issuer::recover_token(&issuer, &token)).await
    }

    async fn recover_refresh(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let (issuer, token) = (self.0.clone(), token.to_owned());
        on_blocking_pool(move || Issuer::recover_refresh(&issuer, &token)).await
    }
}
