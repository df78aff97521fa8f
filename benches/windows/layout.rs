//! Issue 17, target 1: would fewer trees make one durable write cheaper?
//!
//! Raw redb, no grantdb: the rows a password grant writes (two token
//! records, an expiry entry, a grant record, an owner-index entry), in the
//! four trees grantdb keeps them in, and in three with the expiry entries
//! moved into the tokens tree under keys that sort before every token id.
//! Beside them, the same rows with every key adjacent in one tree: the
//! layout the "appended to one tree" figure measured, which no
//! index layout can have (a token is found by its id, an expiry entry by
//! its time, a grant by its client and its owner by the subject).

use rand::Rng as _;
use redb::{Database, ReadableDatabase as _, ReadableTableMetadata as _, TableDefinition};

use super::{Row, Settings, Window, window};

type Tree = TableDefinition<'static, &'static [u8], &'static [u8]>;
const TOKENS: Tree = TableDefinition::new("tokens");
const EXPIRY: Tree = TableDefinition::new("expiry");
const GRANTS: Tree = TableDefinition::new("grants");
const BY_SUBJECT: Tree = TableDefinition::new("by_subject");

/// Where each row goes.
#[derive(Clone, Copy)]
enum Layout {
    /// As grantdb stores them today.
    FourTrees,
    /// Expiry entries in the tokens tree, prefixed 0; token ids prefixed 1.
    ExpiryInTokens,
    /// Every row under adjacent keys of one tree.
    OneTreeAdjacent,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::FourTrees => "raw redb, four trees (grantdb's layout)",
            Layout::ExpiryInTokens => "raw redb, expiry entries in the tokens tree",
            Layout::OneTreeAdjacent => "raw redb, all rows adjacent in one tree",
        }
    }
}

/// The rows of pair number `seq`: time-ordered ids as grantdb mints them.
struct PairRows {
    tokens: [[u8; 16]; 2],
    expiry: [u8; 25],
    grant: [u8; 32],
    owner: Vec<u8>,
}

const CLIENT: [u8; 16] = [7; 16];
const TOKEN_VALUE: [u8; 150] = [1; 150];
const GRANT_VALUE: [u8; 120] = [2; 120];

fn pair_rows(seq: u64) -> PairRows {
    let random = || {
        let mut bytes = [0u8; 8];
        rand::rng().fill_bytes(&mut bytes);
        bytes
    };
    let time = 1_700_000_000_000_000_000u64 + seq * 1_000;
    let id = |at: u64| {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&at.to_be_bytes());
        id[8..].copy_from_slice(&random());
        id
    };
    let tokens = [id(time), id(time + 1)];
    let mut expiry = [0u8; 25];
    expiry[..8].copy_from_slice(&(time + 3_600_000_000_000).to_be_bytes());
    expiry[9..].copy_from_slice(&tokens[1]);
    let grant_id = id(time);
    let mut grant = [0u8; 32];
    grant[..16].copy_from_slice(&CLIENT);
    grant[16..].copy_from_slice(&grant_id);
    let mut owner = format!("user-{}", u64::from_le_bytes(random())).into_bytes();
    owner.extend_from_slice(&CLIENT);
    owner.extend_from_slice(&grant_id);
    PairRows {
        tokens,
        expiry,
        grant,
        owner,
    }
}

fn tagged(tag: u8, key: &[u8]) -> Vec<u8> {
    let mut tagged = Vec::with_capacity(key.len() + 1);
    tagged.push(tag);
    tagged.extend_from_slice(key);
    tagged
}

/// Writes the rows of pair `seq` in `layout` into an open write transaction.
fn write_pair(txn: &redb::WriteTransaction, layout: Layout, seq: u64) {
    let rows = pair_rows(seq);
    match layout {
        Layout::FourTrees | Layout::ExpiryInTokens => {
            let mut tokens = txn.open_table(TOKENS).unwrap();
            let mut grants = txn.open_table(GRANTS).unwrap();
            let mut owners = txn.open_table(BY_SUBJECT).unwrap();
            // Merged, token ids sort after every expiry key (tags 1 and 0).
            let merged = matches!(layout, Layout::ExpiryInTokens);
            let key = |tag: u8, key: &[u8]| {
                if merged {
                    tagged(tag, key)
                } else {
                    key.to_vec()
                }
            };
            for id in &rows.tokens {
                tokens
                    .insert(key(1, id).as_slice(), TOKEN_VALUE.as_slice())
                    .unwrap();
            }
            let expiry_key = key(0, &rows.expiry);
            if merged {
                tokens.insert(expiry_key.as_slice(), [].as_slice()).unwrap();
            } else {
                let mut expiry = txn.open_table(EXPIRY).unwrap();
                expiry.insert(expiry_key.as_slice(), [].as_slice()).unwrap();
            }
            grants
                .insert(rows.grant.as_slice(), GRANT_VALUE.as_slice())
                .unwrap();
            owners.insert(rows.owner.as_slice(), [].as_slice()).unwrap();
        }
        Layout::OneTreeAdjacent => {
            let mut tree = txn.open_table(TOKENS).unwrap();
            let base = rows.tokens[0];
            let values: [&[u8]; 5] = [&TOKEN_VALUE, &TOKEN_VALUE, &[], &GRANT_VALUE, &[]];
            for (n, value) in values.iter().enumerate() {
                // The row's number after the pair's id keeps its rows together.
                let mut key = base.to_vec();
                key.push(u8::try_from(n).unwrap());
                tree.insert(key.as_slice(), *value).unwrap();
            }
        }
    }
}

/// A database of `pairs` pairs in `layout`, built in large transactions.
fn build(path: &std::path::Path, layout: Layout, pairs: u64, cache_bytes: usize) -> Database {
    let mut builder = Database::builder();
    builder.set_cache_size(cache_bytes);
    let db = builder.create(path).unwrap();
    let mut seq = 0;
    while seq < pairs {
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(redb::Durability::None).unwrap();
        for _ in 0..20_000.min(pairs - seq) {
            write_pair(&txn, layout, seq);
            seq += 1;
        }
        txn.commit().unwrap();
    }
    let txn = db.begin_write().unwrap();
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    let rows: u64 = [TOKENS, EXPIRY, GRANTS, BY_SUBJECT]
        .iter()
        .filter_map(|tree| read.open_table(*tree).ok())
        .map(|table| table.len().unwrap())
        .sum();
    assert_eq!(rows, pairs * 5, "every row of every pair was written");
    db
}

/// One caller, a durable commit per pair, in each layout: windows
/// interleaved round by round, as every other part of this harness.
pub(super) fn layouts(settings: &Settings, cache_bytes: usize) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let all = [
        Layout::FourTrees,
        Layout::ExpiryInTokens,
        Layout::OneTreeAdjacent,
    ];
    let pairs = settings.pairs as u64;
    let dbs: Vec<(Layout, Database, std::sync::atomic::AtomicU64)> = all
        .iter()
        .enumerate()
        .map(|(n, &layout)| {
            eprintln!(
                "building the raw redb layout {} with {pairs} pairs",
                layout.name()
            );
            let db = build(
                &dir.path().join(format!("{n}.redb")),
                layout,
                pairs,
                cache_bytes,
            );
            (layout, db, std::sync::atomic::AtomicU64::new(pairs))
        })
        .collect();
    let mut windows: Vec<Vec<Window>> = vec![Vec::new(); dbs.len()];
    for _ in 0..settings.rounds {
        for (slot, (layout, db, next)) in dbs.iter().enumerate() {
            let op = |_| {
                let seq = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let txn = db.begin_write().unwrap();
                write_pair(&txn, *layout, seq);
                txn.commit().unwrap();
            };
            windows[slot].push(window(1, settings.length, 1, op));
        }
    }
    dbs.iter()
        .zip(windows)
        .map(|((layout, _, _), windows)| Row {
            engine: layout.name(),
            workload: "password grant's rows, 1 caller".to_owned(),
            windows,
        })
        .collect()
}
