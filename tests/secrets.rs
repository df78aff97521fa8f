//! Secrets at rest and in memory (R01, R02, R20): nothing secret in any
//! `Debug`, records that cannot be rewritten without the key, malformed
//! client secrets refused before any read, and the right error code at each
//! endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use grantdb::IntrospectRequest;
use grantdb::RefreshRequest;
use grantdb::kv::Table;
use grantdb::{
    AuthorizationRequest, CodeExchange, Config, Endpoint, Error, HashingKey, OAuthErrorCode,
    PkceChallenge, PkceMethod, Store,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `token` with its 11th character changed (whatever it was): the checksum no
/// longer matches.
fn one_char_changed(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn r01_no_public_types_debug_prints_a_secret() -> TestResult {
    let key = HashingKey::from_bytes([0x5c; 32]);
    let config = Config::builder().hashing_key(key.clone()).build()?;
    let store = Store::in_memory(config.clone())?;
    let app = pretix_app(&store);
    let public = public_app(&store);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = PkceChallenge::new(
        PkceMethod::S256,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
    )?;
    let code = store.issue_code(AuthorizationRequest::new(public.id, "alice").pkce(challenge))?;
    let exchange = CodeExchange::new(code.code.expose(), &public.client).code_verifier(verifier);
    let exchange_debug = format!("{exchange:?}");
    let tokens = store.exchange_code(exchange.clone())?;
    let rotated_secret = store.rotate_client_secret(&app.id)?;
    let registered = store.register_client(
        grantdb::NewClient::confidential("other")
            .grant_types([grantdb::GrantType::ClientCredentials]),
    )?;
    let wrong = store
        .refresh(RefreshRequest::new(
            one_char_changed(refresh(&tokens)),
            &public.client,
        ))
        .unwrap_err();
    let debug = [
        exchange_debug,
        format!("{code:?}"),
        format!("{tokens:?}"),
        format!("{rotated_secret:?}"),
        format!("{registered:?}"),
        format!("{key:?}"),
        format!("{config:?}"),
        format!("{store:?}"),
        format!("{wrong:?} {wrong}"),
        format!("{:?}", store.inspect_code(code.code.expose())?),
        format!("{:?}", store.refresh_state(refresh(&tokens))?),
        format!(
            "{:?}",
            store.introspect(IntrospectRequest::new(access(&tokens), &public.client))?
        ),
        format!("{:?}", store.validate(access(&tokens))?),
    ]
    .join("\n");
    let secrets = [
        code.code.expose(),
        verifier,
        access(&tokens),
        refresh(&tokens),
        rotated_secret.expose(),
        registered.secret.as_ref().unwrap().expose(),
        app.secret(),
    ];
    for secret in secrets {
        // Neither the string nor its body after the prefix.
        let body = secret.get(6..).unwrap_or(secret);
        assert!(!debug.contains(body), "a Debug printed a secret: {debug}");
    }
    assert!(!debug.contains(&"5c".repeat(8)) && !debug.contains("92, 92, 92"));
    Ok(())
}

#[test]
fn r20_with_a_host_key_a_record_rewritten_without_it_is_refused() -> TestResult {
    // Whoever can write the file but has not the host's key re-encodes a
    // token record with a wider scope and a valid CRC, as format 1 checked
    // it: the seal refuses it, as it refuses the same change under the seal.
    let (f, backend) = mem_fixture(Config::builder().hashing_key(HashingKey::from_bytes([3; 32])));
    let app = pretix_app(&f.store);
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice").scope(scope("read")))?;
    let tokens = f
        .store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client))?;
    let info = f.store.validate(access(&tokens))?;
    assert_eq!(info.scope, scope("read"));
    for (key, value) in backend.entries(Table::Tokens) {
        let body = &value[1..value.len() - 8];
        let at = body
            .windows(4)
            .position(|w| w == b"read")
            .expect("the scope in the record");
        let mut forged = body.to_vec();
        forged[at..at + 4].copy_from_slice(b"wead");
        // Format 1 framing: version 1, the body, a CRC-32 over all of it.
        let mut v1 = vec![1u8];
        v1.extend_from_slice(&forged);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[Table::Tokens as u8]);
        crc.update(&key);
        crc.update(&v1);
        v1.extend_from_slice(&crc.finalize().to_le_bytes());
        // Format 2 framing, with the old MAC.
        let mut v2 = vec![2u8];
        v2.extend_from_slice(&forged);
        v2.extend_from_slice(&value[value.len() - 8..]);
        for tampered in [v1, v2] {
            backend.poke(Table::Tokens, &key, tampered);
            for token in [access(&tokens), refresh(&tokens)] {
                match f
                    .store
                    .introspect(IntrospectRequest::new(token, &app.client))
                {
                    Err(Error::Corrupted { .. }) => {}
                    Ok(seen) => assert!(
                        seen.scope.as_ref() != Some(&scope("wead")),
                        "a rewritten record was read as good"
                    ),
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
        backend.poke(Table::Tokens, &key, value);
    }
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

#[test]
fn r02_a_malformed_client_secret_is_refused_before_any_read() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let app = pretix_app(&f.store);
    let reads = backend.gets();
    for malformed in ["", "hunter2", "gdbcs_short", &app.secret()[..40]] {
        assert!(matches!(
            f.store.authenticate_client(&app.id, Some(malformed)),
            Err(Error::ClientAuthenticationFailed)
        ));
    }
    assert_eq!(backend.gets(), reads, "no read for a malformed secret");
    f.store.authenticate_client(&app.id, Some(app.secret()))?;
    Ok(())
}

#[test]
fn r13_a_resource_server_answers_invalid_token_a_token_endpoint_invalid_grant() -> TestResult {
    let f = fixture();
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    // Empty, garbage, a bad checksum, a refresh token where an access token
    // belongs: refused before any read.
    let garbage = one_char_changed(access(&tokens));
    for presented in ["", "garbage", garbage.as_str(), refresh(&tokens)] {
        let error = f.store.validate(presented).unwrap_err();
        assert_eq!(
            error.oauth_code_at(Endpoint::Resource),
            Some(OAuthErrorCode::InvalidToken),
            "{presented:?}: {error:?}"
        );
    }
    f.store.revoke(access(&tokens), &app.client)?;
    let inactive = f.store.validate(access(&tokens)).unwrap_err();
    assert_eq!(
        inactive.oauth_code_at(Endpoint::Resource),
        Some(OAuthErrorCode::InvalidToken)
    );
    let at_token_endpoint = f
        .store
        .refresh(RefreshRequest::new("gdbrt_nope", &app.client))
        .unwrap_err();
    assert_eq!(
        at_token_endpoint.oauth_code_at(Endpoint::Token),
        Some(OAuthErrorCode::InvalidGrant)
    );
    assert_eq!(
        Error::UnknownClient.oauth_code_at(Endpoint::Authorization),
        Some(OAuthErrorCode::InvalidRequest)
    );
    assert_eq!(
        Error::UnknownClient.oauth_code_at(Endpoint::Token),
        Some(OAuthErrorCode::InvalidClient)
    );
    Ok(())
}

#[cfg(unix)]
#[test]
fn r01_a_new_database_file_is_readable_by_its_owner_only() -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("private.redb");
    drop(Store::open(&path, Config::default())?);
    let mode = std::fs::metadata(&path)?.permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    Ok(())
}
