//! The lifecycle rules (R01–R34), one module per area.
//!
//! Every function here runs inside one transaction handed in as a
//! [`KvRead`](crate::kv::KvRead) or [`KvWrite`](crate::kv::KvWrite): the rules
//! never open transactions, never read the wall clock (the time comes in
//! [`Ctx::now`], R18), and never name the storage engine.

use crate::engine::ctx::Ctx;
use crate::error::{Error, InputError, Result};
use crate::model::event::{Event, EventKind};
use crate::model::ids::{ClientId, GrantId};
use crate::model::scope::Scope;
use crate::model::text::text_ok;
use crate::record::Records;
use crate::record::{self, ClientRecord, MAX_SUBJECT_LEN};

pub(crate) mod admin;
pub(crate) mod budget;
pub(crate) mod clients;
pub(crate) mod codes;
pub(crate) mod consent;
pub(crate) mod damage;
pub(crate) mod device;
pub(crate) mod erase;
pub(crate) mod expiring;
pub(crate) mod family;
pub(crate) mod feed;
pub(crate) mod keyring;
pub(crate) mod listing;
pub(crate) mod purge;
pub(crate) mod pushed;
pub(crate) mod revoke;
pub(crate) mod sessions;
pub(crate) mod tokens;
pub(crate) mod validate;
pub(crate) mod verify;

/// Notes an event of the operation, told to the host once its transaction
/// commits (and never otherwise). Free when no host listens. An event the
/// change feed records as it is (a client registered, tokens issued, ...)
/// is noted for the feed too; endings are noted where they happen, with
/// what they ended (R33).
pub(crate) fn tell(
    kv: &impl Records,
    ctx: &Ctx<'_>,
    kind: EventKind,
    client: Option<ClientId>,
    subject: Option<&str>,
    grant: Option<GrantId>,
) {
    // Only what the feed records is noted: issuing a pair with issuance
    // off costs nothing here.
    if let Some(change) = feed_kind(kind).filter(|c| ctx.config.feed.records(c.class())) {
        feed::note(kv, || record::feed::FeedNote {
            client,
            grant,
            subject: subject.map(str::to_owned),
            ..record::feed::FeedNote::new(change)
        });
    }
    if kv.noting() {
        kv.note(Event {
            kind,
            at: ctx.now,
            client_id: client,
            subject: subject.map(str::to_owned),
            grant_id: grant,
            // Set by the facade when it tells the host (it knows the request).
            request_id: None,
        });
    }
}

/// The feed entry an event is recorded as, for the events that are one.
fn feed_kind(kind: EventKind) -> Option<crate::model::feed::ChangeKind> {
    use crate::model::feed::ChangeKind as C;
    Some(match kind {
        EventKind::ClientRegistered => C::ClientRegistered,
        EventKind::ClientUpdated => C::ClientUpdated,
        EventKind::ClientSecretRotated => C::ClientSecretRotated,
        EventKind::ClientDeleted { .. } => C::ClientDeleted,
        EventKind::ConsentWithdrawn => C::ConsentWithdrawn,
        EventKind::TokensIssued => C::TokensIssued,
        EventKind::TokensRefreshed | EventKind::RefreshGraceReuse => C::TokensRefreshed,
        EventKind::CodeIssued => C::CodeIssued,
        _ => return None,
    })
}

/// Loads a client or fails with `UnknownClient`.
pub(crate) fn load_client(kv: &impl Records, id: &ClientId) -> Result<ClientRecord> {
    record::load::<ClientRecord>(kv, id.as_bytes())?.ok_or(Error::UnknownClient)
}

/// Checks a subject (resource owner identifier): 1 to 1,024 bytes, no control
/// characters (R20).
pub(crate) fn check_subject(subject: &str) -> Result<()> {
    if subject.is_empty() {
        return Err(Error::InvalidArgument {
            what: "subject",
            reason: InputError::Empty,
        });
    }
    if !text_ok(subject, MAX_SUBJECT_LEN) {
        return Err(Error::InvalidArgument {
            what: "subject",
            reason: if subject.len() > MAX_SUBJECT_LEN {
                InputError::TooLong {
                    max: MAX_SUBJECT_LEN,
                }
            } else {
                InputError::BadCharacter
            },
        });
    }
    Ok(())
}

/// Refuses an empty scope where a request names one (R16): RFC 6749 §3.3's
/// `scope` is one or more tokens, so `Some(empty)` is a malformed request,
/// never a silent grant of nothing (or of everything). No scope at all is
/// `None`.
pub(crate) fn check_requested_scope(scope: &Scope) -> Result<()> {
    if scope.is_empty() {
        return Err(Error::MalformedScope {
            reason: InputError::Empty,
        });
    }
    Ok(())
}

/// The scope to grant: the request's, which must lie within `allowed` (R16),
/// or `allowed` itself when the request names none (RFC 6749 §3.3: "a
/// pre-defined default value").
pub(crate) fn resolve_scope(requested: Option<&Scope>, allowed: &Scope) -> Result<Scope> {
    match requested {
        None => Ok(allowed.clone()),
        Some(scope) => {
            check_requested_scope(scope)?;
            if scope.is_subset(allowed) {
                Ok(scope.clone())
            } else {
                Err(Error::ScopeNotAllowed)
            }
        }
    }
}
