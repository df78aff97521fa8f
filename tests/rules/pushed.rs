//! R30: pushed authorization requests (`ops/pushed.rs`).

use crate::support::*;
use grantdb::kv::Backend;
use grantdb::{
    CodeExchange, Config, ConfigBuilder, Error, GrantRef, GrantType, NewClient, OAuthErrorCode,
    PkceChallenge, PkceMethod, PushRequest, PushedApproval,
};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn s256() -> PkceChallenge {
    PkceChallenge::new(PkceMethod::S256, CHALLENGE).unwrap()
}

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn r30_a_pushed_request_gives_one_code_with_what_was_pushed<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let app = public_app(&f.store);
    let other = pretix_app(&f.store);
    let pushed = f.store.push_authorization_request(
        PushRequest::new(&app.client)
            .redirect_uri("com.example.app:/oauth2redirect")
            .state("af0ifjsldkj")
            .nonce("n-0S6_WzA2Mj")
            .pkce(s256()),
    )?;
    assert_eq!(pushed.expires_in, 60);
    let uri = pushed.request_uri.expose();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:gdbpr_"));
    let json = serde_json::to_value(&pushed)?;
    assert_eq!(json["expires_in"], 60, "RFC 9126 §2.2");
    assert_eq!(json["request_uri"], uri);

    // The authorization page reads it without using it up.
    let read = f.store.pushed_request(uri, &app.id)?;
    assert_eq!(read.state.as_deref(), Some("af0ifjsldkj"));
    assert_eq!(read.scope, scope("read"), "the client's scopes");
    // Another client's, a malformed or an unknown request URI is refused.
    assert!(matches!(
        f.store.pushed_request(uri, &other.id),
        Err(Error::UnknownRequestUri)
    ));
    assert!(matches!(
        f.store
            .pushed_request("urn:ietf:params:oauth:request_uri:nope", &app.id),
        Err(Error::MalformedToken { .. })
    ));
    assert_eq!(
        Error::UnknownRequestUri.oauth_code(),
        Some(OAuthErrorCode::InvalidRequestUri)
    );

    let (code, request) = f
        .store
        .issue_code_from_pushed(PushedApproval::new(uri, app.id, "alice"))?;
    assert_eq!(request.state.as_deref(), Some("af0ifjsldkj"));
    assert_eq!(code.redirect_uri, "com.example.app:/oauth2redirect");
    // Single use.
    assert!(matches!(
        f.store
            .issue_code_from_pushed(PushedApproval::new(uri, app.id, "alice")),
        Err(Error::UnknownRequestUri)
    ));
    // The code carries what was pushed: PKCE and the redirect URI.
    let tokens = f.store.exchange_code(
        CodeExchange::new(code.code.expose(), &app.client)
            .redirect_uri("com.example.app:/oauth2redirect")
            .code_verifier(VERIFIER),
    )?;
    assert!(is_valid(&f.store, access(&tokens)));
    let grant = f
        .store
        .grant(&GrantRef::new(app.id, tokens.grant_id))?
        .unwrap();
    assert_eq!(grant.nonce.as_deref(), Some("n-0S6_WzA2Mj"));

    // Expired after its lifetime, and purged through the expiry index.
    let late = f
        .store
        .push_authorization_request(PushRequest::new(&app.client).pkce(s256()))?;
    f.clock.advance(60);
    assert!(matches!(
        f.store.pushed_request(late.request_uri.expose(), &app.id),
        Err(Error::UnknownRequestUri)
    ));
    assert_eq!(f.store.purge_expired()?.pushed_requests, 1);
    assert_eq!(f.store.stats()?.pushed_requests, 0);
    assert!(f.store.verify()?.is_ok());
    Ok(())
}

fn r30_a_push_is_checked_as_an_authorization_request<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let public = public_app(&f.store);
    let pretix = pretix_app(&f.store);
    assert!(
        matches!(
            f.store
                .push_authorization_request(PushRequest::new(&public.client)),
            Err(Error::InvalidArgument { .. })
        ),
        "a public client pushes a PKCE challenge"
    );
    assert!(matches!(
        f.store.push_authorization_request(
            PushRequest::new(&pretix.client).redirect_uri("https://evil.example/cb")
        ),
        Err(Error::RedirectUriMismatch)
    ));
    assert!(matches!(
        f.store
            .push_authorization_request(PushRequest::new(&pretix.client).scope(scope("admin"))),
        Err(Error::ScopeNotAllowed)
    ));
    assert!(matches!(
        f.store
            .push_authorization_request(PushRequest::new(&pretix.client).state("a\u{7}b")),
        Err(Error::InvalidArgument { .. })
    ));
    let prio = prioticket_app(&f.store);
    assert!(matches!(
        f.store
            .push_authorization_request(PushRequest::new(&prio.client)),
        Err(Error::GrantTypeNotAllowed { .. })
    ));
    assert_eq!(f.store.stats()?.pushed_requests, 0, "nothing stored");
    Ok(())
}

fn r30_a_client_that_requires_pushed_requests_gets_codes_only_from_them<B: Backend>(
    make: &impl Fn(ConfigBuilder) -> Fixture<B>,
) -> TestResult {
    let f = make(Config::builder());
    let fapi = register(
        &f.store,
        &NewClient::confidential("fapi bank")
            .redirect_uri("https://bank.example/cb")
            .grant_types([GrantType::AuthorizationCode])
            .require_pushed_requests(),
    );
    assert!(f.store.client(&fapi.id)?.unwrap().require_pushed_requests);
    let direct = grantdb::AuthorizationRequest::new(fapi.id, "alice");
    assert!(matches!(
        f.store.issue_code(direct.clone()),
        Err(Error::PushedRequestRequired)
    ));
    let pushed = f
        .store
        .push_authorization_request(PushRequest::new(&fapi.client))?;
    let (code, _) = f.store.issue_code_from_pushed(PushedApproval::new(
        pushed.request_uri.expose(),
        fapi.id,
        "alice",
    ))?;
    f.store
        .exchange_code(CodeExchange::new(code.code.expose(), &fapi.client))?;
    // The requirement can be lifted (and set again) later.
    let lifted = grantdb::ClientUpdate::new().require_pushed_requests(false);
    assert!(
        !f.store
            .update_client(&fapi.id, lifted)?
            .require_pushed_requests
    );
    f.store.issue_code(direct)?;
    Ok(())
}

// Every test above that takes `make` runs on each backend: redb always,
// PostgreSQL with the `postgres` feature (skipped, and said so, without a server).
crate::rule_suite!(
    r30_a_pushed_request_gives_one_code_with_what_was_pushed,
    r30_a_push_is_checked_as_an_authorization_request,
    r30_a_client_that_requires_pushed_requests_gets_codes_only_from_them,
);
