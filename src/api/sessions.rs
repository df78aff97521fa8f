//! Sign-in sessions and proofs of possession, on the store: OpenID Connect
//! logout by session id (R26) and DPoP proof replay detection (R27).

use crate::api::store::Store;
use crate::error::Result;
use crate::kv::Backend;
use crate::model::ids::ClientId;
use crate::model::response::{BulkRevocation, ProofJti};
use crate::ops;

impl<B: Backend> Store<B> {
    /// Ends every grant, and removes every pending code, of the sign-in
    /// session `sid` (the `sid` of [`AuthSession`](crate::AuthSession)), in
    /// one transaction (R26): OpenID Connect front- and back-channel logout.
    /// Other sessions of the same user stay.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// # let app = store.register_client(NewClient::confidential("pretix")
    /// #     .grant_types([GrantType::Password, GrantType::RefreshToken]))?;
    /// # let client = store.authenticate_client(&app.client.id, app.secret.as_ref().map(|s| s.expose()))?;
    /// let on = |sid: &str| IssueRequest::new(&client, "alice").auth_session(AuthSession::new().sid(sid));
    /// let phone = store.issue_for_subject(on("s-phone"))?;
    /// let laptop = store.issue_for_subject(on("s-laptop"))?;
    /// assert_eq!(store.revoke_session("s-phone")?.grants, 1);
    /// assert!(store.validate(phone.access_token.expose()).is_err());
    /// assert!(store.validate(laptop.access_token.expose()).is_ok());
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn revoke_session(&self, sid: &str) -> Result<BulkRevocation> {
        ops::sessions::check_sid(sid)?;
        let sid = sid.to_owned();
        self.write(&ops::sessions::REVOKE_SESSION, None, move |kv, ctx| {
            ops::sessions::revoke_session(kv, ctx, &sid)
        })
    }

    /// Claims a DPoP proof's `jti` for `client_id`, the client whose request
    /// carried the proof (R27, RFC 9449 §11.1): the first claim answers
    /// [`ProofJti::FirstUse`] and remembers it until `valid_until` (Unix
    /// seconds, at most an hour ahead: when the host would stop accepting the
    /// proof anyway); a second claim by that client before then answers
    /// [`ProofJti::Replay`]. One transaction, so two requests racing with the
    /// same proof cannot both win. Ids are scoped by client, and capped per
    /// client and in total
    /// ([`ConfigBuilder::proof_claim_limits`](crate::ConfigBuilder::proof_claim_limits)):
    /// past a cap, [`Error::ProofClaimsFull`](crate::Error::ProofClaimsFull).
    /// Only a keyed hash of the id is stored, and purge removes it when it is
    /// due. The host checks the proof's signature, `htm`, `htu` and `iat`
    /// itself; scope `jti` by key too if it wants (for example
    /// `"{jkt}:{jti}"`).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// let until = store.now() + 300;
    /// let client: ClientId = "pCJ3yvtcSmWb3bHkmGT9Aw".parse()?;
    /// assert_eq!(store.claim_proof_jti(&client, "e1j3V_bKic8-LAEB", until)?, ProofJti::FirstUse);
    /// assert_eq!(store.claim_proof_jti(&client, "e1j3V_bKic8-LAEB", until)?, ProofJti::Replay);
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn claim_proof_jti(
        &self,
        client_id: &ClientId,
        jti: &str,
        valid_until: u64,
    ) -> Result<ProofJti> {
        let (jti, client) = (jti.to_owned(), *client_id);
        self.write(
            &ops::sessions::CLAIM_PROOF_JTI,
            Some(client_id),
            move |kv, ctx| ops::sessions::claim_proof_jti(kv, ctx, &client, &jti, valid_until),
        )
    }
}
