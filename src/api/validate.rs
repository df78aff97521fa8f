//! Validation and introspection (R13): one read, never a write; a string
//! minted under a key another node just added is tried once more (R28).

use crate::api::keyring::Miss;
use crate::api::store::Store;
use crate::crypto::kinds::TokenKind;
use crate::engine::observe::Observation;
use crate::error::{Error, Result};
use crate::kv::{Backend, KvRead as _};
use crate::model::ids::{ClientId, GrantId};
use crate::model::request::IntrospectRequest;
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
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// let info = store.validate(tokens.access_token.expose())?;
    /// assert_eq!((info.client_id, info.subject.as_deref()), (client.id(), Some("alice")));
    /// assert!(matches!(store.validate("gdbat_garbage"), Err(Error::MalformedToken { .. })));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn validate(&self, access_token: &str) -> Result<TokenInfo> {
        self.validate_with(access_token, ops::validate::validate)
    }

    /// [`validate`](Self::validate) for one resource server (R25): a token
    /// restricted to other resources (RFC 8707) is
    /// [`Error::WrongAudience`] (`invalid_token`); a token without audiences
    /// is valid for every resource. One read, as `validate`.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("prioticket")
    /// #     .grant_types([GrantType::ClientCredentials]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let request = ClientCredentialsRequest::new(&client).resources(["https://api.example/bookings"]);
    /// let tokens = store.issue_client_credentials(request)?;
    /// let token = tokens.access_token.expose();
    /// assert!(store.validate_for(token, "https://api.example/bookings").is_ok());
    /// assert!(matches!(
    ///     store.validate_for(token, "https://api.example/payments"),
    ///     Err(Error::WrongAudience)
    /// ));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn validate_for(&self, access_token: &str, resource: &str) -> Result<TokenInfo> {
        self.validate_with(access_token, |token, now| {
            ops::validate::validate_for(token, now, resource)
        })
    }

    /// Validation with the rule `check`: one read of the token, observed,
    /// tried once more after a key another node just added (R28).
    fn validate_with(
        &self,
        access_token: &str,
        check: impl Fn(Option<&crate::record::TokenRecord>, u64) -> Result<TokenInfo>,
    ) -> Result<TokenInfo> {
        let observation = Observation::start(ops::validate::VALIDATE.name, None);
        let result = self.retry_after_key_miss(
            Some(Miss::Strings(&[TokenKind::Access], access_token)),
            |result| matches!(result, Err(Error::InactiveToken)),
            || {
                let keys = self.keys();
                let presented = keys.minter.parse(TokenKind::Access, access_token)?;
                if presented.verifier.is_none() {
                    // A key this store does not accept (retired, or never
                    // seen): no record can match, so none is read (R02's
                    // cost, for a flood of forged key ids too).
                    return Err(Error::InactiveToken);
                }
                let Some(hot) = &self.inner.hot else {
                    return self.inner.backend.read_single(|kv| {
                        let token =
                            ops::family::load_token(&Sealed::new(kv, &keys.seal), &presented)?;
                        // After the read: a backend may learn the database's time from it.
                        let now = self.inner.time.now(kv.database_time());
                        check(token.as_ref(), now)
                    });
                };
                let id = *presented.id.as_bytes();
                let now = || self.inner.time.now(None);
                let answered = hot.with(&id, |token| {
                    check(
                        Some(token).filter(|t| presented.matches(&t.verifier)),
                        now(),
                    )
                });
                if let Some(answer) = answered {
                    return answer;
                }
                // Read before the snapshot: a commit that wrote tokens after
                // it keeps what is read now out of the cache.
                let seen = hot.generation();
                let token = self.inner.backend.read_single(|kv| {
                    ops::family::load_token(&Sealed::new(kv, &keys.seal), &presented)
                })?;
                let answer = check(token.as_ref(), now());
                if let Some(token) = token {
                    hot.insert(seen, id, token);
                }
                answer
            },
        );
        observation.finish(&result, None);
        result
    }

    /// RFC 7662 introspection of an access or refresh token (R13), on behalf
    /// of `request.caller`: the protected resource asking, which RFC 7662
    /// §2.1 requires to be authenticated (here: an authenticated client of
    /// the store) and which the host authorized to ask. The caller is named
    /// in the operation's span. The `token_type_hint` changes no answer:
    /// every string says its kind in its prefix.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let api = store.register_client(NewClient::confidential("bookings API")
    ///     .grant_types([GrantType::ClientCredentials]))?;
    /// let api = store.authenticate_client(&api.client.id, api.secret.as_ref().map(|s| s.expose()))?;
    /// let tokens = store.issue_for_subject(IssueRequest::new(&client, "alice"))?;
    /// let seen = store.introspect(IntrospectRequest::new(tokens.access_token.expose(), &api))?;
    /// assert!(seen.active);
    /// assert_eq!(seen.sub.as_deref(), Some("alice"));
    /// assert!(!store.introspect(IntrospectRequest::new("anything else", &api))?.active);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn introspect(&self, request: IntrospectRequest) -> Result<Introspection> {
        // The hint orders nothing: every string says its kind in its prefix.
        let IntrospectRequest { token, caller, .. } = request;
        let (caller, token) = (caller.id(), token.expose());
        let observation = Observation::start(ops::validate::INTROSPECT.name, Some(&caller));
        let result = self.retry_after_key_miss(
            Some(Miss::Strings(
                &[TokenKind::Access, TokenKind::Refresh],
                token,
            )),
            |result: &Result<Introspection>| result.as_ref().is_ok_and(|seen| !seen.active),
            || self.introspect_once(token),
        );
        observation.finish(&result, None);
        result
    }

    fn introspect_once(&self, token: &str) -> Result<Introspection> {
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
