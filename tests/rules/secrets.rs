//! R01, R02: nothing secret at rest or in `Debug`, strings that say their kind and carry a checksum (rules in `ops/` and `crypto/secret.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    AuthorizationRequest, CodeExchange, Config, ConfigBuilder, Error, HashingKey,
    IntrospectRequest, PkceChallenge, PkceMethod, RefreshRequest, Store,
};

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[test]
fn r01_no_plaintext_secret_reaches_the_database_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("r01.redb");
    let mut plaintexts = Vec::new();
    {
        let store = Store::open(&path, Config::default())?;
        for i in 0..20 {
            let app = pretix_app(&store);
            plaintexts.push(app.secret().to_owned());
            let rotated = store.rotate_client_secret(&app.id)?;
            plaintexts.push(rotated.expose().to_owned());
            let pending =
                store.issue_code(AuthorizationRequest::new(app.id, format!("user{i}")))?;
            plaintexts.push(pending.code.expose().to_owned());
            let tokens = code_flow(&store, &app, &format!("user{i}"));
            plaintexts.push(access(&tokens).to_owned());
            plaintexts.push(refresh(&tokens).to_owned());
            let rotated = store.refresh(RefreshRequest::new(refresh(&tokens), &app.client))?;
            plaintexts.push(access(&rotated).to_owned());
            plaintexts.push(refresh(&rotated).to_owned());
        }
    }
    let bytes = std::fs::read(&path)?;
    for plaintext in &plaintexts {
        // Neither the whole string nor its random body (without the prefix) appears.
        let body = &plaintext[6..];
        assert!(
            find(&bytes, plaintext.as_bytes()).is_none(),
            "plaintext found in file"
        );
        assert!(
            find(&bytes, body.as_bytes()).is_none(),
            "token body found in file"
        );
        assert!(
            find(&bytes, &body.as_bytes()[..24]).is_none(),
            "token fragment found in file"
        );
    }
    assert_eq!(plaintexts.len(), 20 * 7);
    Ok(())
}

fn r01_secrets_are_long_random_and_never_in_debug_output<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    // A key id, a 16-byte id, 32 secret random bytes and a 4-byte checksum
    // in base64url: 71 characters after the prefix.
    assert_eq!(access(&tokens).len(), "gdbat_".len() + 71);
    assert_ne!(access(&tokens), refresh(&tokens));
    let debug = format!("{tokens:?}");
    assert!(!debug.contains(&access(&tokens)[6..]));
    assert!(!debug.contains(&refresh(&tokens)[6..]));
    let error = f
        .store
        .refresh(RefreshRequest::new("gdbrt_garbage", &app.client))
        .unwrap_err();
    assert!(!format!("{error} {error:?}").contains("garbage"));
    Ok(())
}

#[test]
fn r02_malformed_tokens_are_rejected_without_reading_the_database() -> TestResult {
    let (f, backend) = mem_fixture(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    let good = access(&tokens).to_owned();
    let mut typo = good.clone().into_bytes();
    typo[20] = if typo[20] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo)?;
    let wrong_kind = refresh(&tokens).to_owned();
    let truncated = good[..good.len() - 1].to_owned();

    let reads_before = backend.gets();
    for bad in [
        typo.as_str(),
        wrong_kind.as_str(),
        truncated.as_str(),
        "",
        "Bearer x",
        "gdbat_",
    ] {
        assert!(
            matches!(f.store.validate(bad), Err(Error::MalformedToken { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        f.store
            .refresh(RefreshRequest::new(access(&tokens), &app.client)),
        Err(Error::MalformedToken { .. })
    ));
    assert!(matches!(
        f.store.exchange_code(CodeExchange::new(&good, &app.client)),
        Err(Error::MalformedToken { .. })
    ));
    assert_eq!(
        backend.gets(),
        reads_before,
        "a malformed token caused a read"
    );
    assert!(f.store.validate(&good).is_ok());
    Ok(())
}

fn r02_issued_strings_carry_kind_prefixes<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = pretix_app(&f.store);
    assert!(app.secret().starts_with("gdbcs_"));
    let code = f
        .store
        .issue_code(AuthorizationRequest::new(app.id, "alice"))?;
    assert!(code.code.expose().starts_with("gdbac_"));
    let tokens = f
        .store
        .exchange_code(CodeExchange::new(code.code.expose(), &app.client))?;
    assert!(access(&tokens).starts_with("gdbat_"));
    assert!(refresh(&tokens).starts_with("gdbrt_"));
    Ok(())
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

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r01_secrets_are_long_random_and_never_in_debug_output,
    r02_issued_strings_carry_kind_prefixes,
);
