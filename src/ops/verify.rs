//! The integrity check: walks every table in one read snapshot and reports each
//! broken invariant, like SQLite's `PRAGMA integrity_check`. It never panics
//! and never stops at the first problem.
//!
//! The invariants (see `docs/design.md`):
//!
//! * every record decodes, and every key has its table's layout;
//! * a token's client and grant exist; a live-class token is listed in its
//!   grant's `live`, a consumed one in `consumed_refresh`; a token that expires
//!   has its `expiry` entry; a partner points back;
//! * a grant's client exists, its `live` list is non-empty and names live-class
//!   tokens of that grant, and its subject has its `by_subject` entry;
//! * a code's client exists and it has its `expiry`, `client_codes` and
//!   `by_subject` entries;
//! * every index entry (`consumed_refresh`, `client_codes`, `by_subject`) points
//!   at a record that points back; a consent's client exists.
//!
//! `expiry` entries whose record is gone, or expires at another time, are left
//! behind on purpose by rotation and revocation, and purge drops them: they are
//! counted as stale, not reported as problems.

use crate::model::operator::Problem;
use crate::model::operator::VerifyReport;
use crate::record::Records;
use std::cell::RefCell;
use std::ops::ControlFlow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::secret::TokenId;
use crate::error::Result;
use crate::kv::KeyRange;
use crate::kv::table::Table;
use crate::model::ids::{ClientId, GrantId};
use crate::record::feed::{self, CursorRecord, FeedRecord};
use crate::record::keys::{self, ExpiryKind, Owned};
use crate::record::{
    self, AttemptsRecord, ClientRecord, CodeRecord, ConsentRecord, DeviceRecord, GrantRecord,
    JtiRecord, PushedRecord, Record, TokenRecord, UserCodeRecord,
};

/// Walks the tables; every method takes `&self` so that checks can run inside
/// a scan of the same snapshot, streaming instead of loading tables whole.
struct Checker<'k, K: Records> {
    kv: &'k K,
    report: RefCell<VerifyReport>,
}

fn encode_key(key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

impl<K: Records> Checker<'_, K> {
    fn problem(&self, table: Table, key: &[u8], what: impl Into<String>) {
        self.report.borrow_mut().problems.push(Problem {
            table,
            key: encode_key(key),
            what: what.into(),
        });
    }

    fn exists(&self, table: Table, key: &[u8]) -> Result<bool> {
        Ok(self.kv.get(table, key, |_| ())?.is_some())
    }

    /// Loads a record for a cross-check; a record that does not decode is
    /// reported where it lives, so here it just counts as absent.
    fn load<R: Record>(&self, key: &[u8]) -> Option<R> {
        record::load::<R>(self.kv, key).ok().flatten()
    }

    /// Visits every entry of a table, counting them.
    fn each_entry(
        &self,
        table: Table,
        mut check: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut count = 0;
        self.kv.scan(table, &KeyRange::all(), |key, value| {
            count += 1;
            check(key, value)?;
            Ok(ControlFlow::Continue(()))
        })?;
        self.report.borrow_mut().entries.push((table.name(), count));
        Ok(())
    }

    /// Visits every record of a table that decodes, reporting the ones that do not.
    fn each_record<R: Record>(&self, mut check: impl FnMut(&[u8], R) -> Result<()>) -> Result<()> {
        self.each_entry(R::TABLE, |key, value| {
            match record::decode_in::<R>(Some(self.kv.seal()), key, value) {
                Ok(record) => check(key, record),
                Err(error) => {
                    self.problem(R::TABLE, key, format!("record does not decode: {error}"));
                    Ok(())
                }
            }
        })
    }

    fn check_clients(&self) -> Result<()> {
        self.each_record::<ClientRecord>(|key, _| {
            if key.len() != 16 {
                self.problem(Table::Clients, key, "key is not a client id");
            }
            Ok(())
        })
    }

    fn check_tokens(&self) -> Result<()> {
        self.each_record::<TokenRecord>(|key, token| {
            let Ok(id) = <[u8; 16]>::try_from(key).map(TokenId) else {
                self.problem(Table::Tokens, key, "key is not a token id");
                return Ok(());
            };
            let client = ClientId(token.client);
            let grant_id = GrantId(token.grant);
            if !self.exists(Table::Clients, client.as_bytes())? {
                self.problem(Table::Tokens, key, "its client is missing");
            }
            match self.load::<GrantRecord>(&keys::grant(&client, &grant_id)) {
                None => self.problem(Table::Tokens, key, "its grant is missing"),
                Some(grant) => {
                    let listed = grant.live.contains(id.as_bytes());
                    if token.consumed.is_none() && !listed {
                        self.problem(Table::Tokens, key, "live token not listed in its grant");
                    }
                    if token.consumed.is_some() && listed {
                        self.problem(Table::Tokens, key, "consumed token still listed as live");
                    }
                }
            }
            if token.consumed.is_some()
                && !self.exists(Table::Consumed, &keys::consumed(&grant_id, &id))?
            {
                self.problem(
                    Table::Tokens,
                    key,
                    "consumed token missing from consumed_refresh",
                );
            }
            if let Some(at) = token.removal_time()
                && !self.exists(Table::Expiry, &keys::expiry(at, ExpiryKind::Token, &id))?
            {
                self.problem(
                    Table::Tokens,
                    key,
                    "no expiry entry: purge would never remove it",
                );
            }
            if let Some(partner) = token.partner {
                match self.load::<TokenRecord>(&partner) {
                    None => self.problem(Table::Tokens, key, "connected token points nowhere"),
                    Some(other)
                        if other.partner != Some(*id.as_bytes()) || other.grant != token.grant =>
                    {
                        self.problem(Table::Tokens, key, "connected token does not point back");
                    }
                    Some(_) => {}
                }
            }
            Ok(())
        })
    }

    fn check_grants(&self) -> Result<()> {
        self.each_record::<GrantRecord>(|key, grant| {
            let Some((client, grant_id)) = keys::parse_grant(key) else {
                self.problem(Table::Grants, key, "key is not client id ‖ grant id");
                return Ok(());
            };
            if !self.exists(Table::Clients, client.as_bytes())? {
                self.problem(Table::Grants, key, "its client is missing");
            }
            if grant.live.is_empty() {
                self.problem(
                    Table::Grants,
                    key,
                    "grant holds no live token but was not ended",
                );
            }
            for live in &grant.live {
                match self.load::<TokenRecord>(live) {
                    None => self.problem(Table::Grants, key, "lists a token that is missing"),
                    Some(token)
                        if token.grant != *grant_id.as_bytes() || token.consumed.is_some() =>
                    {
                        self.problem(
                            Table::Grants,
                            key,
                            "lists a token that is not its live token",
                        );
                    }
                    Some(_) => {}
                }
            }
            if let Some(subject) = &grant.subject {
                let index = keys::by_subject(subject, &client, Owned::Grant(grant_id));
                if !self.exists(Table::BySubject, &index)? {
                    self.problem(Table::Grants, key, "missing from by_subject");
                }
            }
            if let Some(sid) = grant.ext.sid() {
                let index = keys::by_session(sid, &client, Owned::Grant(grant_id));
                if !self.exists(Table::BySession, &index)? {
                    self.problem(Table::Grants, key, "missing from by_session");
                }
            }
            Ok(())
        })
    }

    fn check_codes(&self) -> Result<()> {
        self.each_record::<CodeRecord>(|key, code| {
            let Ok(id) = <[u8; 16]>::try_from(key).map(TokenId) else {
                self.problem(Table::Codes, key, "key is not a code id");
                return Ok(());
            };
            let client = ClientId(code.client);
            if !self.exists(Table::Clients, client.as_bytes())? {
                self.problem(Table::Codes, key, "its client is missing");
            }
            if !self.exists(
                Table::Expiry,
                &keys::expiry(code.expires_at, ExpiryKind::Code, &id),
            )? {
                self.problem(
                    Table::Codes,
                    key,
                    "no expiry entry: purge would never remove it",
                );
            }
            if !self.exists(Table::ClientCodes, &keys::client_code(&client, &id))? {
                self.problem(Table::Codes, key, "missing from client_codes");
            }
            if !self.exists(
                Table::BySubject,
                &keys::by_subject(&code.subject, &client, Owned::Code(id)),
            )? {
                self.problem(Table::Codes, key, "missing from by_subject");
            }
            if let Some(sid) = code.ext.session.as_ref().and_then(|s| s.sid.as_deref())
                && !self.exists(
                    Table::BySession,
                    &keys::by_session(sid, &client, Owned::Code(id)),
                )?
            {
                self.problem(Table::Codes, key, "missing from by_session");
            }
            Ok(())
        })
    }

    /// The session index (R26) and the proof ids (R27).
    /// The change feed (R33): every entry decodes under a sequence number the
    /// counter has given, every subject index entry points at an entry that
    /// names that subject, every consumer's cursor is one the feed has given.
    fn check_feed(&self) -> Result<()> {
        let next = super::feed::next_seq(self.kv)?;
        self.each_record::<FeedRecord>(|key, _| {
            match feed::parse_entry_key(key) {
                None => self.problem(Table::Feed, key, "key is not a sequence number"),
                Some(seq) if seq == 0 || seq >= next => {
                    self.problem(Table::Feed, key, "sequence number the counter never gave");
                }
                Some(_) => {}
            }
            Ok(())
        })?;
        self.each_entry(Table::FeedSubjects, |key, _| {
            let Some((subject_id, seq)) = feed::parse_subject_key(key) else {
                self.problem(Table::FeedSubjects, key, "malformed key");
                return Ok(());
            };
            let named = self
                .load::<FeedRecord>(&feed::entry_key(seq))
                .is_some_and(|entry| entry.subject_id == Some(subject_id));
            if !named {
                self.problem(
                    Table::FeedSubjects,
                    key,
                    "points at no entry of this subject",
                );
            }
            Ok(())
        })?;
        self.each_record::<CursorRecord>(|key, consumer| {
            if consumer.cursor >= next {
                self.problem(Table::FeedConsumers, key, "cursor past the latest entry");
            }
            Ok(())
        })
    }

    fn check_sessions_and_proofs(&self) -> Result<()> {
        self.each_entry(Table::BySession, |key, _| {
            let Some((sid, client, owned)) = keys::parse_by_session(key) else {
                self.problem(Table::BySession, key, "malformed key");
                return Ok(());
            };
            let points_back = match owned {
                Owned::Grant(grant) => self
                    .load::<GrantRecord>(&keys::grant(&client, &grant))
                    .is_some_and(|g| g.ext.sid() == Some(sid.as_str())),
                Owned::Code(id) => self.load::<CodeRecord>(id.as_bytes()).is_some_and(|c| {
                    c.client == *client.as_bytes()
                        && c.ext.session.as_ref().and_then(|s| s.sid.as_deref())
                            == Some(sid.as_str())
                }),
                Owned::Consent => false,
            };
            if !points_back {
                self.problem(Table::BySession, key, "points at nothing of this session");
            }
            Ok(())
        })?;
        self.each_record::<JtiRecord>(|key, seen| {
            let Ok(id) = <[u8; 16]>::try_from(key).map(TokenId) else {
                self.problem(Table::ProofJtis, key, "key is not a proof id");
                return Ok(());
            };
            let entry = keys::expiry(seen.until, ExpiryKind::ProofJti, &id);
            if !self.exists(Table::Expiry, &entry)? {
                self.problem(
                    Table::ProofJtis,
                    key,
                    "no expiry entry: purge would never remove it",
                );
            }
            Ok(())
        })?;
        self.check_requests()
    }

    /// Pushed requests, device requests, their user codes and the windows
    /// of wrong user codes (R30, R31): each purgeable, each pointing right.
    fn check_requests(&self) -> Result<()> {
        let expiring =
            |table: Table, key: &[u8], entry: Option<[u8; keys::EXPIRY_KEY_LEN]>| match entry {
                None => {
                    self.problem(table, key, "malformed key");
                    Ok(())
                }
                Some(entry) if !self.exists(Table::Expiry, &entry)? => {
                    self.problem(table, key, "no expiry entry: purge would never remove it");
                    Ok(())
                }
                Some(_) => Ok(()),
            };
        self.each_record::<PushedRecord>(|key, pushed| {
            let entry = <[u8; 16]>::try_from(key)
                .ok()
                .map(|id| keys::expiry(pushed.expires_at, ExpiryKind::PushedRequest, &TokenId(id)));
            expiring(Table::PushedRequests, key, entry)
        })?;
        self.each_record::<DeviceRecord>(|key, device| {
            let entry = <[u8; 16]>::try_from(key)
                .ok()
                .map(|id| keys::expiry(device.expires_at, ExpiryKind::DeviceCode, &TokenId(id)));
            let points_back = self
                .load::<UserCodeRecord>(&device.user_code)
                .is_some_and(|user| user.device == key);
            if !points_back {
                self.problem(Table::DeviceCodes, key, "its user code is missing");
            }
            expiring(Table::DeviceCodes, key, entry)
        })?;
        self.each_record::<UserCodeRecord>(|key, user| {
            let points_back = self
                .load::<DeviceRecord>(&user.device)
                .is_some_and(|device| device.user_code == key);
            if !points_back {
                self.problem(Table::UserCodes, key, "points at no device request");
            }
            Ok(())
        })?;
        self.each_record::<AttemptsRecord>(|key, attempts| {
            let entry = keys::parse_attempts(key)
                .filter(|(end, _)| *end == attempts.until)
                .map(|(end, id)| keys::expiry(end, ExpiryKind::Attempts, &id));
            expiring(Table::DeviceAttempts, key, entry)
        })
    }

    fn check_indexes(&self) -> Result<()> {
        self.each_entry(Table::Consumed, |key, _| {
            let Some((grant, id)) = keys::parse_consumed(key) else {
                self.problem(Table::Consumed, key, "malformed key");
                return Ok(());
            };
            match self.load::<TokenRecord>(id.as_bytes()) {
                Some(token) if token.consumed.is_some() && token.grant == *grant.as_bytes() => {}
                _ => self.problem(Table::Consumed, key, "no consumed token of this grant"),
            }
            Ok(())
        })?;
        self.each_entry(Table::ClientCodes, |key, _| {
            let Some((client, id)) = keys::parse_client_code(key) else {
                self.problem(Table::ClientCodes, key, "malformed key");
                return Ok(());
            };
            match self.load::<CodeRecord>(id.as_bytes()) {
                Some(code) if code.client == *client.as_bytes() => {}
                _ => self.problem(Table::ClientCodes, key, "no code of this client"),
            }
            Ok(())
        })?;
        self.each_entry(Table::BySubject, |key, _| {
            let Some((subject, client, owned)) = keys::parse_by_subject(key) else {
                self.problem(Table::BySubject, key, "malformed key");
                return Ok(());
            };
            let points_back = match owned {
                Owned::Grant(grant) => self
                    .load::<GrantRecord>(&keys::grant(&client, &grant))
                    .is_some_and(|g| g.subject.as_deref() == Some(subject.as_str())),
                Owned::Code(id) => self
                    .load::<CodeRecord>(id.as_bytes())
                    .is_some_and(|c| c.subject == subject && c.client == *client.as_bytes()),
                Owned::Consent => self
                    .load::<ConsentRecord>(&keys::consent(&client, &subject))
                    .is_some(),
            };
            if !points_back {
                self.problem(Table::BySubject, key, "points at nothing of this subject");
            }
            Ok(())
        })?;
        self.each_entry(Table::Expiry, |key, _| {
            let Some((at, kind, id)) = keys::parse_expiry(key) else {
                self.problem(Table::Expiry, key, "malformed key");
                return Ok(());
            };
            let current = match kind {
                ExpiryKind::Code => self
                    .load::<CodeRecord>(id.as_bytes())
                    .is_some_and(|c| c.expires_at == at),
                ExpiryKind::Token => self
                    .load::<TokenRecord>(id.as_bytes())
                    .is_some_and(|t| t.removal_time() == Some(at)),
                ExpiryKind::ProofJti => self
                    .load::<JtiRecord>(id.as_bytes())
                    .is_some_and(|j| j.until == at),
                ExpiryKind::PushedRequest
                | ExpiryKind::DeviceCode
                | ExpiryKind::Attempts
                | ExpiryKind::FeedEntry => {
                    let damage = crate::ops::damage::Damage::skip();
                    crate::ops::expiring::is_due(self.kv, kind, at, &id, &damage)?
                }
            };
            self.report.borrow_mut().stale_expiry_entries += u64::from(!current);
            Ok(())
        })?;
        self.each_record::<ConsentRecord>(|key, _| {
            match keys::parse_consent(key) {
                None => self.problem(Table::Consents, key, "malformed key"),
                Some((client, _)) if !self.exists(Table::Clients, client.as_bytes())? => {
                    self.problem(Table::Consents, key, "its client is missing");
                }
                Some((client, subject)) => {
                    let index = keys::by_subject(&subject, &client, Owned::Consent);
                    if !self.exists(Table::BySubject, &index)? {
                        self.problem(Table::Consents, key, "missing from by_subject");
                    }
                }
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// Runs every check in one snapshot.
pub(crate) fn verify(kv: &impl Records) -> Result<VerifyReport> {
    let checker = Checker {
        kv,
        report: RefCell::new(VerifyReport::default()),
    };
    checker.each_entry(Table::Meta, |_, _| Ok(()))?;
    checker.check_clients()?;
    checker.check_codes()?;
    checker.check_grants()?;
    checker.check_tokens()?;
    checker.check_indexes()?;
    checker.check_sessions_and_proofs()?;
    checker.check_feed()?;
    Ok(checker.report.into_inner())
}
