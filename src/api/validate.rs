//! Validation and introspection (R13): one read, never a write; a string
//! minted under a key another node just added is tried once more (R28).

use crate::api::store::Store;
use crate::crypto::kinds::TokenKind;
use crate::engine::observe::{Observation, Operation};
use crate::error::{Error, Result};
use crate::kv::{Backend, KvRead as _};
use crate::model::ids::{ClientId, GrantId};
use crate::model::response::{Introspection, TokenInfo};
use crate::ops;
use crate::record::Sealed;

impl<B: Backend> Store<B> {
    /// Validates a bearer access token: a pure read, never a write (R13). A
    /// malformed string is refused before any read (R02).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// let info = store.validate(tokens.access_token.expose())?;
    /// assert_eq!((info.client_id, info.subject.as_deref()), (client_id, Some("alice")));
    /// assert!(matches!(store.validate("gdbat_garbage"), Err(Error::MalformedToken { .. })));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn validate(&self, access_token: &str) -> Result<TokenInfo> {
        let observation = Observation::start(Operation::Validate, None);
        let result = match self.validate_unobserved(access_token) {
            // Minted under a key another node just added (R28).
            Err(Error::InactiveToken)
                if self.caught_up_after_miss(Some((TokenKind::Access, access_token))) =>
            {
                self.validate_unobserved(access_token)
            }
            result => result,
        };
        observation.finish(&result, None);
        result
    }

    fn validate_unobserved(&self, access_token: &str) -> Result<TokenInfo> {
        let keys = self.keys();
        let presented = keys.minter.parse(TokenKind::Access, access_token)?;
        self.inner.backend.read_single(|kv| {
            let token = ops::family::load_token(&Sealed::new(kv, &keys.seal), &presented)?;
            // After the read: a backend may learn the database's time from it.
            let now = self.inner.time.now(kv.database_time());
            ops::validate::validate(token, now)
        })
    }

    /// [`validate`](Self::validate) for one resource server (R25): a token
    /// restricted to other resources (RFC 8707) is
    /// [`Error::WrongAudience`] (`invalid_token`); a token without audiences
    /// is valid for every resource. One read, as `validate`.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("prioticket")
    /// #     .grant_types([GrantType::ClientCredentials]))?;
    /// let options = IssueOptions::new().resources(["https://api.example/bookings"]);
    /// let tokens = store.issue_client_credentials_with(&app.client.id, None, &options)?;
    /// let token = tokens.access_token.expose();
    /// assert!(store.validate_for(token, "https://api.example/bookings").is_ok());
    /// assert!(matches!(
    ///     store.validate_for(token, "https://api.example/payments"),
    ///     Err(Error::WrongAudience)
    /// ));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn validate_for(&self, access_token: &str, resource: &str) -> Result<TokenInfo> {
        let observation = Observation::start(Operation::Validate, None);
        let attempt = || {
            let keys = self.keys();
            let presented = keys.minter.parse(TokenKind::Access, access_token)?;
            self.inner.backend.read_single(|kv| {
                let token = ops::family::load_token(&Sealed::new(kv, &keys.seal), &presented)?;
                let now = self.inner.time.now(kv.database_time());
                ops::validate::validate_for(token, now, resource)
            })
        };
        let result = match attempt() {
            // Minted under a key another node just added (R28).
            Err(Error::InactiveToken)
                if self.caught_up_after_miss(Some((TokenKind::Access, access_token))) =>
            {
                attempt()
            }
            result => result,
        };
        observation.finish(&result, None);
        result
    }

    /// RFC 7662 introspection of an access or refresh token (R13).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(&NewClient::confidential("pretix")
    /// #     .redirect_uri("https://pretalx.example/cb")
    /// #     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password])
    /// #     .scopes("read write")?)?;
    /// # let client_id = app.client.id;
    /// let tokens = store.issue_for_subject(&client_id, "alice", None)?;
    /// let seen = store.introspect(tokens.access_token.expose())?;
    /// assert!(seen.active);
    /// assert_eq!(seen.sub.as_deref(), Some("alice"));
    /// assert!(!store.introspect("anything else")?.active);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn introspect(&self, token: &str) -> Result<Introspection> {
        let observation = Observation::start(Operation::Introspect, None);
        let result = match self.introspect_unobserved(token) {
            // Minted under a key another node just added (R28).
            Ok(seen)
                if !seen.active
                    && [TokenKind::Access, TokenKind::Refresh]
                        .into_iter()
                        .any(|kind| self.caught_up_after_miss(Some((kind, token)))) =>
            {
                self.introspect_unobserved(token)
            }
            result => result,
        };
        observation.finish(&result, None);
        result
    }

    fn introspect_unobserved(&self, token: &str) -> Result<Introspection> {
        let keys = self.keys();
        let Some((_, presented)) = ops::validate::parse_any(&keys.minter, token) else {
            return Ok(Introspection::inactive());
        };
        self.inner.backend.read_single(|kv| {
            let kv = &Sealed::new(kv, &keys.seal);
            let token = ops::family::load_token(kv, &presented)?;
            // The grant holds the sign-in data (R26): a second read.
            let grant = match &token {
                Some(token) => {
                    ops::family::load_grant(kv, ClientId(token.client), GrantId(token.grant))?
                        .map(|grant| grant.record)
                }
                None => None,
            };
            let now = self.inner.time.now(kv.database_time());
            Ok(ops::validate::introspect(
                token,
                grant,
                now,
                self.inner.config.issuer.as_deref(),
            ))
        })
    }
}
