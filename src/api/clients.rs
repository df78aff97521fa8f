//! Clients (R03): registration, authentication, secret rotation, updates,
//! deletion with its cascade, and reading them back.

use zeroize::Zeroizing;

use crate::api::keyring::Miss;
use crate::api::store::Store;
use crate::crypto::kinds::TokenKind;
use crate::crypto::secret::Secret;
use crate::error::{Error, Result};
use crate::kv::Backend;
use crate::model::client::{
    AuthenticatedClient, Client, ClientUpdate, Ensured, NewClient, RegisteredClient, SecretHash,
};
use crate::model::ids::ClientId;
use crate::model::page::{Page, PageRequest};
use crate::model::response::BulkRevocation;
use crate::ops;

impl<B: Backend> Store<B> {
    /// Registers a client. A confidential client's secret is in the result,
    /// this once; only its hash is stored (R01).
    ///
    /// ```
    /// use grantdb::{Config, GrantType, NewClient, Store};
    /// let store = Store::in_memory(Config::default())?;
    /// let app = store.register_client(
    ///     NewClient::confidential("pretix")
    ///         .redirect_uri("https://pretalx.example/cb")
    ///         .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]),
    /// )?;
    /// assert!(app.secret.as_ref().is_some_and(|s| s.expose().starts_with("gdbcs_")));
    /// assert_eq!(store.client(&app.client.id)?.map(|c| c.name), Some("pretix".into()));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn register_client(&self, client: NewClient) -> Result<RegisteredClient> {
        self.write(&ops::clients::REGISTER, None, move |kv, ctx| {
            ops::clients::register(kv, ctx, &client)
        })
    }

    /// Makes sure a declarative client (one that names its id) is
    /// registered, at every start of a host that keeps its clients in a
    /// configuration file or a secret manager: registers it if no client has
    /// its id, and otherwise compares the stored client with it and says
    /// which fields differ, changing nothing (R03). The secret, given or
    /// hashed, is compared too when the description has one.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// let secret = store.new_client_secret()?;
    /// let described = NewClient::confidential("prioticket distributor")
    ///     .id("pCJ3yvtcSmWb3bHkmGT9Aw".parse()?)
    ///     .grant_types([GrantType::ClientCredentials])
    ///     .secret(secret.expose());
    /// assert!(matches!(store.ensure_client(described.clone())?, Ensured::Created(_)));
    /// assert!(matches!(store.ensure_client(described.clone())?, Ensured::Unchanged(_)));
    /// let mut renamed = described;
    /// renamed.name = "renamed".into();
    /// match store.ensure_client(renamed)? {
    ///     Ensured::Differs { fields, .. } => assert_eq!(fields, ["name"]),
    ///     other => panic!("{other:?}"),
    /// }
    /// // The client authenticates with the secret it was given.
    /// let id = "pCJ3yvtcSmWb3bHkmGT9Aw".parse()?;
    /// assert!(store.authenticate_client(&id, Some(secret.expose())).is_ok());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn ensure_client(&self, client: NewClient) -> Result<Ensured> {
        let client_id = client.id;
        self.write(&ops::clients::ENSURE, client_id.as_ref(), move |kv, ctx| {
            ops::clients::ensure(kv, ctx, &client)
        })
    }

    /// A new client secret in this store's shape (its prefix and checksum),
    /// stored nowhere: for a declarative client ([`NewClient::secret`]),
    /// kept in a secret manager and given to the client.
    pub fn new_client_secret(&self) -> Result<Secret> {
        let (secret, _) = self.keys().minter.mint(TokenKind::ClientSecret)?;
        Ok(secret)
    }

    /// The hash of a client's secret and the key it is under, to register
    /// the same client in another store of the same key
    /// ([`NewClient::secret_hash`]); `None` for a public client. It holds no
    /// secret.
    pub fn client_secret_hash(&self, client_id: &ClientId) -> Result<Option<SecretHash>> {
        self.read(&ops::clients::SECRET_HASH, Some(client_id), |kv, _| {
            ops::clients::secret_hash(kv, client_id)
        })
    }

    /// Authenticates a client by id and secret (`None` for a public client),
    /// in constant time (R03). The answer is what the token-endpoint
    /// operations take: no other public function makes an
    /// [`AuthenticatedClient`].
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client_id = app.client.id;
    /// let secret = app.secret.as_ref().map(|s| s.expose());
    /// assert_eq!(store.authenticate_client(&client_id, secret)?.client().name, "pretix");
    /// assert!(matches!(
    ///     store.authenticate_client(&client_id, Some("gdbcs_wrong")),
    ///     Err(Error::ClientAuthenticationFailed)
    /// ));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn authenticate_client(
        &self,
        client_id: &ClientId,
        secret: Option<&str>,
    ) -> Result<AuthenticatedClient> {
        let authenticated = self.retry_after_key_miss(
            // Only a well-formed secret is worth a look at the ring.
            secret.map(Miss::ClientSecret),
            |result| matches!(result, Err(Error::ClientAuthenticationFailed)),
            || {
                self.read(&ops::clients::AUTHENTICATE, Some(client_id), |kv, ctx| {
                    ops::clients::authenticate(kv, ctx, client_id, secret)
                })
            },
        )?;
        if let (true, Some(secret)) = (authenticated.stale_key, secret) {
            // Hashed under an older key of the ring: moved to the minting
            // key now (R28). The client authenticated either way; a failed
            // move (a full disk) is tried again at its next authentication.
            let id = *client_id;
            let secret = Zeroizing::new(secret.to_owned());
            let _ = self.write(
                &ops::clients::REHASH_SECRET,
                Some(client_id),
                move |kv, ctx| ops::clients::rehash_secret(kv, ctx, &id, &secret),
            );
        }
        Ok(AuthenticatedClient::new(authenticated.client))
    }

    /// Issues a new client secret; the old one fails from now on (R03).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client_id = app.client.id;
    /// let old = app.secret.as_ref().map(|s| s.expose().to_owned());
    /// let new = store.rotate_client_secret(&client_id)?;
    /// assert!(store.authenticate_client(&client_id, Some(new.expose())).is_ok());
    /// assert!(store.authenticate_client(&client_id, old.as_deref()).is_err());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn rotate_client_secret(&self, client_id: &ClientId) -> Result<Secret> {
        let client_id = *client_id;
        self.write(
            &ops::clients::ROTATE_SECRET,
            Some(&client_id),
            move |kv, ctx| ops::clients::rotate_secret(kv, ctx, &client_id),
        )
    }

    /// Changes a client's name, redirect URIs, grant types, scopes or lifetimes.
    pub fn update_client(&self, client_id: &ClientId, update: ClientUpdate) -> Result<Client> {
        let client_id = *client_id;
        self.write(&ops::clients::UPDATE, Some(&client_id), move |kv, ctx| {
            ops::clients::update(kv, ctx, &client_id, &update)
        })
    }

    /// Deletes a client with all its codes, grants, tokens and consents, in one
    /// transaction (R03). Returns what was ended, or `None` if there was no
    /// such client.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// assert_eq!(store.delete_client(&client.id())?.map(|ended| ended.grants), Some(1));
    /// assert!(store.validate(tokens.access_token.expose()).is_err());
    /// assert!(store.delete_client(&client.id())?.is_none());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn delete_client(&self, client_id: &ClientId) -> Result<Option<BulkRevocation>> {
        let client_id = *client_id;
        self.write(&ops::clients::DELETE, Some(&client_id), move |kv, ctx| {
            ops::clients::delete(kv, ctx, &client_id)
        })
    }

    /// Reads a client.
    pub fn client(&self, client_id: &ClientId) -> Result<Option<Client>> {
        self.read(&ops::clients::READ, Some(client_id), |kv, _| {
            ops::clients::get(kv, client_id)
        })
    }

    /// Lists clients in id order.
    pub fn clients(&self, page: &PageRequest) -> Result<Page<Client>> {
        self.read(&ops::clients::READ, None, |kv, _| {
            ops::clients::list(kv, page)
        })
    }
}
