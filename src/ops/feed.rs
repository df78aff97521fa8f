//! The change feed (R33): appending the changes an operation noted, in its
//! own transaction; reading them in order from a cursor; named consumers'
//! cursors; retention (by age through the expiry index, and what every
//! named consumer acknowledged); stripping a subject from the entries that
//! name it (R34).

use std::ops::ControlFlow;

use crate::crypto::secret::{LookupDomain, TokenId};
use crate::engine::ctx::Ctx;
use crate::engine::op::Op;
use crate::error::{Error, InputError, Result};
use crate::kv::table::Table;
use crate::kv::{KeyRange, KvRead};
use crate::model::feed::{Change, ChangeKind, ChangePage, EndReason, FeedSubject};
use crate::model::ids::{ClientId, GrantId};
use crate::model::text::text_ok;
use crate::record::feed::{self, CursorRecord, FeedNote, FeedRecord};
use crate::record::keys::{self, ExpiryKind};
use crate::record::{self, Records, RecordsMut};

/// Reading the feed.
pub(crate) const CHANGES_SINCE: Op = Op::read("changes_since");
/// A named consumer acknowledges a cursor.
pub(crate) const ACK: Op = Op::grows("feed_ack");
/// A named consumer is forgotten.
pub(crate) const FORGET_CONSUMER: Op = Op::frees("feed_forget_consumer");

/// Meta key: the sequence number the next entry gets.
const NEXT_KEY: &[u8] = b"feed_next";
/// Meta key: every entry below this sequence number may have been removed.
const FLOOR_KEY: &[u8] = b"feed_floor";

/// The most entries one page returns.
pub(crate) const MAX_PAGE: usize = 10_000;

fn read_counter(kv: &impl KvRead, key: &[u8]) -> Result<Option<u64>> {
    kv.get(Table::Meta, key, |bytes| {
        <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
    })?
    .map(|value| {
        value.ok_or(Error::Corrupted {
            table: Table::Meta,
            source: crate::error::DecodeError::TooShort,
        })
    })
    .transpose()
}

/// The sequence number the next entry gets (1 on a new feed).
pub(crate) fn next_seq(kv: &impl KvRead) -> Result<u64> {
    Ok(read_counter(kv, NEXT_KEY)?.unwrap_or(1))
}

/// The lowest sequence number the feed may still hold.
fn floor(kv: &impl KvRead) -> Result<u64> {
    Ok(read_counter(kv, FLOOR_KEY)?.unwrap_or(1))
}

/// The id the feed gives `subject`: a keyed hash that stays the same when
/// keys are added or retired.
pub(crate) fn subject_id(ctx: &Ctx<'_>, subject: &str) -> [u8; 16] {
    *ctx.minter
        .stable_lookup_id(LookupDomain::FeedSubject, subject)
        .as_bytes()
}

/// Every id `subject` may be indexed under (one per key of the ring), for
/// erasure.
fn subject_ids(ctx: &Ctx<'_>, subject: &str) -> Vec<[u8; 16]> {
    let mut ids: Vec<[u8; 16]> = ctx
        .minter
        .lookup_ids(LookupDomain::FeedSubject, subject)
        .into_iter()
        .map(|(_, id)| *id.as_bytes())
        .collect();
    ids.push(subject_id(ctx, subject));
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whether an entry of `kind` may name its subject: never the entries an
/// erasure writes.
fn may_name_subject(kind: ChangeKind) -> bool {
    !matches!(
        kind,
        ChangeKind::SubjectErased
            | ChangeKind::GrantEnded {
                reason: EndReason::SubjectErased
            }
    )
}

/// Appends the noted changes the configuration records, in order, in the
/// caller's transaction; returns the last sequence number given, if any.
pub(crate) fn append(
    kv: &mut impl RecordsMut,
    ctx: &Ctx<'_>,
    notes: Vec<FeedNote>,
    request_id: Option<&str>,
) -> Result<Option<u64>> {
    let config = &ctx.config.feed;
    let mut notes = notes
        .into_iter()
        .filter(|note| config.records(note.kind.class()))
        .peekable();
    if notes.peek().is_none() {
        return Ok(None);
    }
    // A host's request id that is not plain text stays out of the feed.
    let request_id = request_id
        .filter(|id| text_ok(id, 1_024))
        .map(str::to_owned);
    let removal = ctx.now.saturating_add(config.retention.as_secs());
    let mut seq = next_seq(kv)?;
    let mut last = None;
    for note in notes {
        let subject = note.subject.filter(|_| may_name_subject(note.kind));
        let indexed = subject.as_deref().map(|s| subject_id(ctx, s));
        let (subject, subject_id) = match config.subject {
            FeedSubject::Omitted => (None, None),
            FeedSubject::Hashed => (None, indexed),
            // The id stays beside the plain subject: erasure's index and
            // retention find the entry by it.
            FeedSubject::Plain => (subject, indexed),
        };
        let entry = FeedRecord {
            at: ctx.now,
            kind: note.kind,
            client: note.client.map(|c| c.0),
            grant: note.grant.map(|g| g.0),
            session: note.session,
            tokens: note.tokens,
            subject,
            subject_id,
            key_id: note.key_id,
            request_id: request_id.clone(),
        };
        let named = entry.subject.is_some() || entry.subject_id.is_some();
        record::save(kv, &feed::entry_key(seq), &entry)?;
        if let (Some(id), true) = (indexed, named) {
            kv.put(Table::FeedSubjects, &feed::subject_key(&id, seq), &[])?;
        }
        let expiry_id = TokenId(feed::expiry_id(seq));
        kv.put(
            Table::Expiry,
            &keys::expiry(removal, ExpiryKind::FeedEntry, &expiry_id),
            &[],
        )?;
        last = Some(seq);
        seq += 1;
    }
    kv.put(Table::Meta, NEXT_KEY, &seq.to_be_bytes())?;
    Ok(last)
}

/// The entries after `cursor`, at most `limit` (R33), or
/// [`Error::FeedResync`] when the feed cannot continue from there.
pub(crate) fn changes_since(kv: &impl Records, cursor: u64, limit: usize) -> Result<ChangePage> {
    let (oldest, next) = (floor(kv)?, next_seq(kv)?);
    let latest = next - 1;
    if cursor > latest || cursor.saturating_add(1) < oldest {
        return Err(Error::FeedResync {
            cursor,
            oldest,
            latest,
        });
    }
    let limit = limit.clamp(1, MAX_PAGE);
    let mut changes = Vec::with_capacity(limit.min(256));
    let start = feed::entry_key(cursor + 1);
    let mut failure = None;
    kv.scan(Table::Feed, &KeyRange::at_or_after(&start), |key, bytes| {
        let Some(seq) = feed::parse_entry_key(key) else {
            return Ok(ControlFlow::Continue(()));
        };
        match record::decode_in::<FeedRecord>(Some(kv.seal()), key, bytes) {
            Ok(entry) => changes.push(to_change(seq, entry)),
            Err(source) => {
                failure = Some(Error::Corrupted {
                    table: Table::Feed,
                    source,
                });
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(if changes.len() == limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })?;
    if let Some(error) = failure {
        return Err(error);
    }
    let next = changes.last().map_or(cursor, |change| change.seq);
    Ok(ChangePage { changes, next })
}

fn to_change(seq: u64, entry: FeedRecord) -> Change {
    Change {
        seq,
        at: entry.at,
        kind: entry.kind,
        client_id: entry.client.map(ClientId),
        grant_id: entry.grant.map(GrantId),
        session: entry.session,
        tokens: entry.tokens.into_iter().map(TokenId).collect(),
        subject: entry.subject,
        subject_id: entry.subject_id.map(|id| TokenId(id).to_string()),
        key_id: entry.key_id,
        request_id: entry.request_id,
    }
}

/// Checks a consumer name: 1 to 128 bytes of text.
pub(crate) fn check_consumer(name: &str) -> Result<()> {
    if name.is_empty() || !text_ok(name, feed::MAX_CONSUMER_LEN) {
        return Err(Error::InvalidArgument {
            what: "feed consumer name",
            reason: InputError::BadStructure,
        });
    }
    Ok(())
}

/// Records that consumer `name` has handled every entry up to `cursor`
/// (R33); a cursor behind the one stored leaves it. Returns the stored one.
pub(crate) fn ack(kv: &mut impl RecordsMut, ctx: &Ctx<'_>, name: &str, cursor: u64) -> Result<u64> {
    check_consumer(name)?;
    let latest = next_seq(kv)? - 1;
    if cursor > latest {
        return Err(Error::FeedResync {
            cursor,
            oldest: floor(kv)?,
            latest,
        });
    }
    let stored = record::load::<CursorRecord>(kv, name.as_bytes())?;
    let cursor = stored.map_or(cursor, |s| s.cursor.max(cursor));
    let entry = CursorRecord {
        cursor,
        acked_at: ctx.now,
    };
    record::save(kv, name.as_bytes(), &entry)?;
    Ok(cursor)
}

/// The cursor consumer `name` acknowledged last.
pub(crate) fn consumer_cursor(kv: &impl Records, name: &str) -> Result<Option<u64>> {
    check_consumer(name)?;
    Ok(record::load::<CursorRecord>(kv, name.as_bytes())?.map(|c| c.cursor))
}

/// Forgets consumer `name`: it no longer holds anything back.
pub(crate) fn forget_consumer(kv: &mut impl RecordsMut, name: &str) -> Result<bool> {
    let known = consumer_cursor(kv, name)?.is_some();
    kv.delete(Table::FeedConsumers, name.as_bytes())?;
    Ok(known)
}

/// Removes entry `seq` with its index entry, and raises the floor past it.
fn remove_entry(kv: &mut impl RecordsMut, seq: u64, entry: Option<&FeedRecord>) -> Result<()> {
    let key = feed::entry_key(seq);
    if let Some(id) = entry.and_then(|e| e.subject_id) {
        kv.delete(Table::FeedSubjects, &feed::subject_key(&id, seq))?;
    }
    kv.delete(Table::Feed, &key)?;
    if floor(kv)? <= seq {
        kv.put(Table::Meta, FLOOR_KEY, &(seq + 1).to_be_bytes())?;
    }
    Ok(())
}

/// Purges feed entry `seq`, due by age (its expiry-index entry). Returns
/// whether it was there.
pub(crate) fn purge_entry(kv: &mut impl RecordsMut, id: &TokenId) -> Result<bool> {
    let Some(seq) = feed::parse_entry_key(&id.as_bytes()[..8]) else {
        return Ok(false);
    };
    let key = feed::entry_key(seq);
    // A damaged entry goes too: nothing but the feed reads it, and
    // retention is what the operator asked for.
    let entry = match record::load::<FeedRecord>(kv, &key) {
        Ok(Some(entry)) => Some(entry),
        Ok(None) => return Ok(false),
        Err(_) => None,
    };
    remove_entry(kv, seq, entry.as_ref())?;
    Ok(true)
}

/// Purges up to `limit` entries that every named consumer has acknowledged
/// (none when there is no named consumer), oldest first. Reads only what it
/// removes, and the consumers' cursors.
pub(crate) fn purge_acknowledged(kv: &mut impl RecordsMut, limit: usize) -> Result<u64> {
    let mut lowest: Option<u64> = None;
    kv.scan(Table::FeedConsumers, &KeyRange::all(), |_, bytes| {
        // A damaged cursor holds nothing back and nothing goes for it.
        let cursor = postcard_cursor(bytes);
        lowest = Some(lowest.map_or(cursor, |l| l.min(cursor)));
        Ok(ControlFlow::Continue(()))
    })?;
    let Some(lowest) = lowest.filter(|l| *l > 0) else {
        return Ok(0);
    };
    let mut due = Vec::new();
    let end = feed::entry_key(lowest + 1);
    kv.scan(Table::Feed, &KeyRange::below(&end), |key, bytes| {
        if let Some(seq) = feed::parse_entry_key(key) {
            let entry = record::decode_in::<FeedRecord>(None, key, bytes).ok();
            due.push((seq, entry));
        }
        Ok(if due.len() == limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })?;
    let removed = due.len() as u64;
    for (seq, entry) in due {
        remove_entry(kv, seq, entry.as_ref())?;
    }
    Ok(removed)
}

/// The cursor of a stored consumer record; 0 when it cannot be read, which
/// lets nothing go sooner than its age.
fn postcard_cursor(bytes: &[u8]) -> u64 {
    record::decode_in::<CursorRecord>(None, b"", bytes).map_or(0, |c| c.cursor)
}

/// Strips `subject` from every feed entry that names it, with their index
/// entries (R34). Returns how many entries it changed.
pub(crate) fn strip_subject(kv: &mut impl RecordsMut, ctx: &Ctx<'_>, subject: &str) -> Result<u64> {
    let mut named = Vec::new();
    for id in subject_ids(ctx, subject) {
        kv.scan(Table::FeedSubjects, &KeyRange::prefix(&id), |key, _| {
            named.push(key.to_vec());
            Ok(ControlFlow::Continue(()))
        })?;
    }
    let mut stripped = 0;
    for index_key in named {
        kv.delete(Table::FeedSubjects, &index_key)?;
        let Some((_, seq)) = feed::parse_subject_key(&index_key) else {
            continue;
        };
        let key = feed::entry_key(seq);
        if let Some(mut entry) = record::load::<FeedRecord>(kv, &key)? {
            entry.subject = None;
            entry.subject_id = None;
            record::save(kv, &key, &entry)?;
            stripped += 1;
        }
    }
    Ok(stripped)
}

/// Notes a change, if the transaction notes changes for the feed.
pub(crate) fn note(kv: &impl Records, note: impl FnOnce() -> FeedNote) {
    if kv.feed_noting() {
        kv.note_change(note());
    }
}
