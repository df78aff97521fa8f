//! oxide-auth's own endpoint machinery (its `simple` frontend) running the code
//! grant, refresh and resource flows over grantdb's primitives: a code is
//! exchanged once and a replay refused and revoked (R05), refresh rotates
//! (R07) and a reused refresh token is refused and revokes the family (R08).

use crate::support::TestResult;
use std::collections::HashMap;

use base64::Engine as _;
use grantdb::oxide::{GrantdbAuthorizer, GrantdbIssuer, GrantdbRegistrar};
use grantdb::{Config, GrantType, NewClient, Store};
use oxide_auth::endpoint::{OwnerConsent, Solicitation};
use oxide_auth::frontends::simple::endpoint::{
    FnSolicitor, access_token_flow, authorization_flow, client_credentials_flow, refresh_flow,
    resource_flow,
};
use oxide_auth::frontends::simple::request::{Body, Request, Response, Status};
use oxide_auth::primitives::scope::Scope;

struct Setup {
    store: Store,
    registrar: GrantdbRegistrar,
    authorizer: GrantdbAuthorizer,
    issuer: GrantdbIssuer,
    client_id: String,
    client_secret: String,
    basic: String,
}

/// A store as oxide-auth wants it (it checks PKCE itself) with one
/// confidential client of the code grant: the store, the client's id, its
/// secret and its `Authorization: Basic` value.
pub(crate) fn oxide_store(
    grant_types: impl IntoIterator<Item = GrantType>,
) -> (Store, String, String, String) {
    let store = Store::in_memory(
        Config::builder()
            .require_pkce_for_public_clients(false)
            .build()
            .unwrap(),
    )
    .unwrap();
    let registered = store
        .register_client(
            NewClient::confidential("oxide app")
                .redirect_uri("https://client.example/endpoint")
                .grant_types(grant_types)
                .scopes("read write")
                .unwrap(),
        )
        .unwrap();
    let client_id = registered.client.id.to_string();
    let secret = registered.secret.unwrap().expose().to_owned();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
    );
    (store, client_id, secret, basic)
}

fn setup() -> Setup {
    let (store, client_id, secret, basic) = oxide_store([
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ]);
    let (registrar, authorizer, issuer) = grantdb::oxide::primitives(&store);
    Setup {
        store,
        registrar,
        authorizer,
        issuer,
        client_id,
        client_secret: secret,
        basic,
    }
}

pub(crate) fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(crate) fn json_body(response: &Response) -> serde_json::Value {
    match &response.body {
        Some(Body::Json(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a JSON body, got {other:?}"),
    }
}

impl Setup {
    /// oxide-auth's authorization flow, with the owner approving.
    fn authorize(&mut self) -> String {
        let mut solicitor = FnSolicitor(|_: &mut Request, _: Solicitation| {
            OwnerConsent::Authorized("alice".to_owned())
        });
        let request = Request {
            query: query(&[
                ("response_type", "code"),
                ("client_id", &self.client_id),
                ("redirect_uri", "https://client.example/endpoint"),
                ("scope", "read"),
                ("state", "xyz"),
            ]),
            ..Request::default()
        };
        let response = authorization_flow(&self.registrar, &mut self.authorizer, &mut solicitor)
            .execute(request)
            .unwrap();
        assert_eq!(response.status, Status::Redirect);
        let location = response.location.unwrap();
        let params: HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(params.get("state").map(String::as_str), Some("xyz"));
        params["code"].clone()
    }

    /// oxide-auth's access token flow.
    fn exchange(&mut self, code: &str) -> Response {
        let request = Request {
            urlbody: query(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", "https://client.example/endpoint"),
            ]),
            auth: Some(self.basic.clone()),
            ..Request::default()
        };
        access_token_flow(&self.registrar, &mut self.authorizer, &mut self.issuer)
            .execute(request)
            .unwrap()
    }

    /// oxide-auth's refresh flow.
    fn refresh(&mut self, token: &str) -> Response {
        let request = Request {
            urlbody: query(&[("grant_type", "refresh_token"), ("refresh_token", token)]),
            auth: Some(self.basic.clone()),
            ..Request::default()
        };
        refresh_flow(&self.registrar, &mut self.issuer)
            .execute(request)
            .unwrap()
    }

    /// oxide-auth's resource flow: is the bearer token good for `read`?
    fn resource(&mut self, token: &str) -> bool {
        let scopes: [Scope; 1] = ["read".parse().unwrap()];
        let request = Request {
            auth: Some(format!("Bearer {token}")),
            ..Request::default()
        };
        resource_flow(&mut self.issuer, &scopes)
            .execute(request)
            .is_ok()
    }
}

#[test]
fn r06_code_grant_through_oxide_auth() -> TestResult {
    let mut s = setup();
    let code = s.authorize();
    assert!(code.starts_with("gdbac_"), "codes are grantdb codes");
    let response = s.exchange(&code);
    assert_eq!(response.status, Status::Ok);
    let body = json_body(&response);
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("gdbat_"));
    assert_eq!(body["token_type"], "bearer");
    assert!(body["refresh_token"].as_str().is_some());
    assert!(s.resource(&access));
    // grantdb itself sees the same token.
    assert_eq!(s.store.validate(&access)?.subject.as_deref(), Some("alice"));
    Ok(())
}

#[test]
fn r05_a_replayed_code_is_refused_and_revokes_its_tokens() -> TestResult {
    let mut s = setup();
    let code = s.authorize();
    let first = json_body(&s.exchange(&code));
    let access = first["access_token"].as_str().unwrap().to_owned();
    let replay = s.exchange(&code);
    assert_eq!(replay.status, Status::BadRequest);
    // oxide-auth answers a code its authorizer does not return with invalid_request.
    let error = json_body(&replay)["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error == "invalid_request" || error == "invalid_grant",
        "{error}"
    );
    assert!(!s.resource(&access), "the replay revoked the first tokens");
    Ok(())
}

#[test]
fn r07_refresh_rotates_and_r08_reuse_revokes_the_family() -> TestResult {
    let mut s = setup();
    let code = s.authorize();
    let first = json_body(&s.exchange(&code));
    let (access, refresh) = (
        first["access_token"].as_str().unwrap().to_owned(),
        first["refresh_token"].as_str().unwrap().to_owned(),
    );
    let rotated = s.refresh(&refresh);
    assert_eq!(rotated.status, Status::Ok);
    let rotated = json_body(&rotated);
    let new_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_ne!(
        rotated["refresh_token"].as_str().unwrap(),
        refresh,
        "rotation issues a new refresh token"
    );
    assert!(
        !s.resource(&access),
        "the old access token died with the rotation"
    );
    assert!(s.resource(&new_access));

    let reuse = s.refresh(&refresh);
    assert_eq!(reuse.status, Status::BadRequest);
    assert_eq!(json_body(&reuse)["error"], "invalid_grant");
    assert!(!s.resource(&new_access), "the reuse revoked the family");
    Ok(())
}

#[test]
fn r10_revocation_through_grantdb_is_seen_by_oxide_auth() -> TestResult {
    let mut s = setup();
    let code = s.authorize();
    let body = json_body(&s.exchange(&code));
    let access = body["access_token"].as_str().unwrap().to_owned();
    let client = s
        .store
        .authenticate_client(&s.client_id.parse()?, Some(&s.client_secret))?;
    s.store
        .revoke(body["refresh_token"].as_str().unwrap(), &client)?;
    assert!(!s.resource(&access));
    Ok(())
}

#[test]
fn r06_client_credentials_through_oxide_auth() -> TestResult {
    let mut s = setup();
    let mut solicitor = FnSolicitor(|_: &mut Request, _: Solicitation| {
        OwnerConsent::Authorized("oxide app".to_owned())
    });
    let request = Request {
        urlbody: query(&[("grant_type", "client_credentials"), ("scope", "read")]),
        auth: Some(s.basic.clone()),
        ..Request::default()
    };
    let response = client_credentials_flow(&s.registrar, &mut s.issuer, &mut solicitor)
        .execute(request)
        .unwrap();
    assert_eq!(response.status, Status::Ok, "{:?}", response.body);
    let access = json_body(&response)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(s.resource(&access));
    Ok(())
}

#[test]
fn r03_wrong_client_secret_is_refused() -> TestResult {
    let mut s = setup();
    let code = s.authorize();
    s.basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:gdbcs_wrong", s.client_id))
    );
    let response = s.exchange(&code);
    assert_eq!(response.status, Status::Unauthorized);
    Ok(())
}
