//! Wire types that fit the ecosystem: RFC names in JSON, responses that parse
//! back, error answers per endpoint, errors that do not repeat their source.

use std::error::Error as _;

use crate::support::*;
use grantdb::IntrospectRequest;
use grantdb::kv::Table;
use grantdb::{
    ClientKind, Config, Endpoint, Error, ErrorResponse, GrantOrigin, GrantType, Introspection,
    PkceMethod, RefreshLifetime, Revocation, Store, TokenResponse, TokenType,
};

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

#[test]
fn enums_serialise_with_their_rfc_names() {
    assert_eq!(
        json(&GrantType::AuthorizationCode),
        r#""authorization_code""#
    );
    assert_eq!(
        json(&GrantType::ClientCredentials),
        r#""client_credentials""#
    );
    assert_eq!(json(&ClientKind::Confidential), r#""confidential""#);
    assert_eq!(json(&GrantOrigin::Password), r#""password""#);
    assert_eq!(json(&RefreshLifetime::Never), r#""never""#);
    assert_eq!(
        json(&RefreshLifetime::AbsoluteSeconds(60)),
        r#"{"absolute_seconds":60}"#
    );
    assert_eq!(json(&PkceMethod::S256), r#""S256""#);
    assert_eq!(json(&PkceMethod::Plain), r#""plain""#);
    assert_eq!(json(&Revocation::NotActive), r#""not_active""#);
    assert_eq!(json(&TokenType::Bearer), r#""Bearer""#);
    let parsed: GrantType = serde_json::from_str(r#""refresh_token""#).unwrap();
    assert_eq!(parsed, GrantType::RefreshToken);
}

/// A host's extension fields of an introspection.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tenant {
    tenant: String,
}

#[test]
fn token_responses_and_introspections_parse_back() -> TestResult {
    let config = Config::builder().issuer("https://auth.example").build()?;
    let store = Store::in_memory(config)?;
    let app = pretix_app(&store);
    let tokens = code_flow(&store, &app, "alice");
    let body = json(&tokens);
    let parsed: TokenResponse = serde_json::from_str(&body)?;
    assert_eq!(parsed.access_token.expose(), access(&tokens));
    assert_eq!(
        parsed.refresh_token.as_ref().unwrap().expose(),
        refresh(&tokens)
    );
    assert_eq!(
        (parsed.token_type, parsed.expires_in, parsed.created_at),
        (TokenType::Bearer, tokens.expires_in, tokens.created_at)
    );
    assert_eq!(parsed.scope, tokens.scope);
    // A peer that writes "bearer" in lower case is read the same.
    let lower = body.replace("\"Bearer\"", "\"bearer\"");
    assert_eq!(
        serde_json::from_str::<TokenResponse>(&lower)?.token_type,
        TokenType::Bearer
    );

    let seen = store.introspect(IntrospectRequest::new(access(&tokens), &app.client))?;
    assert_eq!(seen.iss.as_deref(), Some("https://auth.example"));
    let round = serde_json::from_str::<Introspection>(&json(&seen))?;
    assert_eq!(round, seen);
    let extended = seen.with_extensions(Tenant {
        tenant: "acme".into(),
    });
    let text = json(&extended);
    assert!(text.contains(r#""tenant":"acme""#), "{text}");
    let back: Introspection<Tenant> = serde_json::from_str(&text)?;
    assert_eq!(back.extensions.tenant, "acme");
    assert_eq!(
        json(&store.introspect(IntrospectRequest::new("garbage", &app.client))?),
        r#"{"active":false}"#
    );
    Ok(())
}

#[test]
fn an_error_response_is_the_rfc_answer_for_its_endpoint() {
    let reused = ErrorResponse::new(&Error::RefreshTokenReused, Endpoint::Token);
    assert_eq!(reused.status, 400);
    assert_eq!(reused.error, "invalid_grant");
    let inactive = ErrorResponse::new(&Error::InactiveToken, Endpoint::Resource);
    assert_eq!(inactive.status, 401);
    assert!(
        inactive
            .www_authenticate
            .as_deref()
            .is_some_and(|c| c.contains("error=\"invalid_token\""))
    );
    let client = ErrorResponse::new(&Error::ClientAuthenticationFailed, Endpoint::Revocation);
    assert_eq!(
        (client.status, client.error.as_str()),
        (401, "invalid_client")
    );
    let storage = ErrorResponse::new(
        &Error::Storage {
            source: "disk on fire at /var/lib/secret-path".into(),
        },
        Endpoint::Token,
    );
    assert_eq!(
        (storage.status, storage.error.as_str()),
        (500, "server_error")
    );
    assert!(!json(&storage).contains("secret-path"), "no internals leak");
    let parsed: ErrorResponse = serde_json::from_str(&json(&reused)).unwrap();
    assert_eq!(parsed.error, "invalid_grant");
}

#[test]
fn an_errors_display_does_not_repeat_its_source() {
    let (f, backend) = mem_fixture(Config::builder());
    let app = pretix_app(&f.store);
    let tokens = code_flow(&f.store, &app, "alice");
    for (key, value) in backend.entries(Table::Tokens) {
        let mut damaged = value.clone();
        damaged[3] ^= 0xff;
        backend.poke(Table::Tokens, &key, damaged);
    }
    let corrupted = f.store.validate(access(&tokens)).unwrap_err();
    let storage = Error::Storage {
        source: "the engine's own words".into(),
    };
    let io = Error::Io {
        kind: std::io::ErrorKind::PermissionDenied,
        source: Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
    };
    for error in [corrupted, storage, io] {
        let source = error.source().expect("a source").to_string();
        assert!(
            !error.to_string().contains(&source),
            "{error} repeats {source}"
        );
    }
}
