//! The bodies of the fuzz targets in `fuzz/fuzz_targets/`. The targets call
//! these, and `tests/fuzz_replay.rs` calls them on every input committed under
//! `tests/fuzz_regressions/<target>/`, so a crash found once is checked by
//! plain `cargo test` forever after. Each panics when it finds a bug.

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use grantdb::RefreshRequest;
use grantdb::kv::Table;
use grantdb::{AuthenticatedClient, IntrospectRequest};
use grantdb::{
    ClientId, CodeExchange, Config, GrantType, HashingKey, NewClient, PkceChallenge, PkceMethod,
    Scope, Store,
};

use super::Op;

/// Arbitrary bytes into every record decoder and key parser: an error or a
/// value, never a panic.
pub fn decode_records(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let table = Table::ALL[usize::from(selector) % Table::ALL.len()];
    let key_len = rest
        .first()
        .map_or(0, |n| usize::from(*n) % 64)
        .min(rest.len().saturating_sub(1));
    let (key, value) = rest.get(1..).unwrap_or_default().split_at(key_len);
    // Without a key the seal is not checked, so the bytes reach the body
    // decoders; with one, the seal check itself gets them.
    let key_bytes = HashingKey::from_bytes([7; 32]);
    for hashing_key in [None, Some(&key_bytes)] {
        let _ = grantdb::decode_any(table, key, value, hashing_key);
        // The same bytes as a value under every table, and as every kind of key.
        for table in Table::ALL {
            let _ = grantdb::decode_any(table, key, value, hashing_key);
            let _ = grantdb::decode_any(table, data, &[], hashing_key);
        }
    }
}

struct Fixture {
    store: Store,
    client: AuthenticatedClient,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = Store::in_memory(Config::default()).expect("in-memory store");
        let client = store
            .register_client(
                NewClient::confidential("fuzz")
                    .redirect_uri("https://fuzz.example/cb")
                    .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
                    .scopes("read write")
                    .expect("scopes"),
            )
            .expect("register");
        let secret = client.secret.as_ref().map(grantdb::Secret::expose);
        let client = store
            .authenticate_client(&client.client.id, secret)
            .expect("authenticate");
        Fixture { store, client }
    })
}

/// Arbitrary strings into every parser of presented strings (tokens, codes,
/// secrets, ids, scopes, PKCE values). The store has issued nothing, so no
/// string may validate, introspect as active, refresh or exchange.
pub fn parse_token(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let Fixture { store, client } = fixture();
    assert!(
        store.validate(text).is_err(),
        "an unissued string validated"
    );
    assert!(
        !store
            .introspect(IntrospectRequest::new(text, client))
            .expect("introspect reads")
            .active,
        "an unissued string is active"
    );
    assert!(
        store.refresh(RefreshRequest::new(text, client)).is_err(),
        "an unissued string refreshed"
    );
    assert!(
        store
            .exchange_code(CodeExchange::new(text, client))
            .is_err(),
        "an unissued code exchanged"
    );
    assert!(
        store.authenticate_client(&client.id(), Some(text)).is_err(),
        "a wrong secret authenticated"
    );
    if let Ok(revocation) = store.revoke(text, client) {
        assert_eq!(revocation, grantdb::Revocation::NotActive);
    }
    let _ = text.parse::<ClientId>();
    let _ = Scope::parse(text);
    let _ = PkceMethod::parse(Some(text));
    let _ = PkceChallenge::new(PkceMethod::S256, text);
    let _ = PkceChallenge::new(PkceMethod::Plain, text);
}

/// An arbitrary sequence of store operations, run against the store and the
/// reference model; any disagreement or broken invariant panics.
pub fn store_ops(data: &[u8]) {
    let mut input = Unstructured::new(data);
    let Ok(preset) = u8::arbitrary(&mut input) else {
        return;
    };
    let Ok(ops) = Vec::<Op>::arbitrary(&mut input) else {
        return;
    };
    let mut all: Vec<Op> = (0..5).map(|template| Op::Register { template }).collect();
    all.extend(ops.into_iter().take(400));
    if let Err(failure) = super::run(preset, &all) {
        panic!("store and model disagree: {failure}");
    }
}
