//! oxide-auth-async's endpoint flows (feature `oxide-auth-async`) over
//! grantdb's async primitives, on a single-threaded runtime (a store call
//! that blocked it would stall the flow): the code grant (R06), a code
//! replay refused and revoked (R05), refresh rotation (R07) and reuse
//! revoking the family (R08), and the resource flow.

use crate::support::TestResult;
use std::collections::HashMap;

use crate::oxide::{json_body, oxide_store, query};
use grantdb::oxide::asynchronous::{AsyncAuthorizer, AsyncIssuer, AsyncRegistrar};
use grantdb::{GrantType, Store};
use oxide_auth::endpoint::{OAuthError, OwnerConsent, Scopes, Solicitation, Template, WebRequest};
use oxide_auth::frontends::simple::endpoint::FnSolicitor;
use oxide_auth::frontends::simple::request::{NoError, Request, Response, Status};
use oxide_auth::primitives::scope::Scope;
use oxide_auth_async::endpoint::access_token::AccessTokenFlow;
use oxide_auth_async::endpoint::authorization::AuthorizationFlow;
use oxide_auth_async::endpoint::refresh::RefreshFlow;
use oxide_auth_async::endpoint::resource::ResourceFlow;
use oxide_auth_async::endpoint::{Endpoint, OwnerSolicitor};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};

type Consent = FnSolicitor<fn(&mut Request, Solicitation<'_>) -> OwnerConsent<Response>>;

fn alice_approves(_: &mut Request, _: Solicitation<'_>) -> OwnerConsent<Response> {
    OwnerConsent::Authorized("alice".to_owned())
}

/// The host's endpoint: the three primitives, a solicitor that approves
/// for alice, the scope a resource needs.
struct Host {
    registrar: AsyncRegistrar,
    authorizer: AsyncAuthorizer,
    issuer: AsyncIssuer,
    solicitor: Consent,
    scopes: Vec<Scope>,
}

impl Endpoint<Request> for Host {
    type Error = OAuthError;

    fn registrar(&self) -> Option<&(dyn Registrar + Sync)> {
        Some(&self.registrar)
    }
    fn authorizer_mut(&mut self) -> Option<&mut (dyn Authorizer + Send)> {
        Some(&mut self.authorizer)
    }
    fn issuer_mut(&mut self) -> Option<&mut (dyn Issuer + Send)> {
        Some(&mut self.issuer)
    }
    fn owner_solicitor(&mut self) -> Option<&mut (dyn OwnerSolicitor<Request> + Send)> {
        Some(&mut self.solicitor)
    }
    fn scopes(&mut self) -> Option<&mut dyn Scopes<Request>> {
        Some(&mut self.scopes)
    }
    fn response(&mut self, _: &mut Request, _: Template<'_>) -> Result<Response, OAuthError> {
        Ok(Response::default())
    }
    fn error(&mut self, error: OAuthError) -> OAuthError {
        error
    }
    fn web_error(&mut self, _: <Request as WebRequest>::Error) -> OAuthError {
        let _: NoError;
        OAuthError::BadRequest
    }
}

struct Setup {
    store: Store,
    host: Host,
    client_id: String,
    basic: String,
    runtime: tokio::runtime::Runtime,
}

fn setup() -> Setup {
    let (store, client_id, _, basic) =
        oxide_store([GrantType::AuthorizationCode, GrantType::RefreshToken]);
    let (registrar, authorizer, issuer) = grantdb::oxide::asynchronous::primitives(&store);
    let host = Host {
        registrar,
        authorizer,
        issuer,
        solicitor: FnSolicitor(alice_approves as fn(&mut Request, Solicitation<'_>) -> _),
        scopes: vec!["read".parse().unwrap()],
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    Setup {
        store,
        host,
        client_id,
        basic,
        runtime,
    }
}

impl Setup {
    /// The host's endpoint for one flow (the primitives are cheap clones
    /// sharing one store).
    fn endpoint(&self) -> Host {
        Host {
            registrar: self.host.registrar.clone(),
            authorizer: self.host.authorizer.clone(),
            issuer: self.host.issuer.clone(),
            solicitor: FnSolicitor(alice_approves as fn(&mut Request, Solicitation<'_>) -> _),
            scopes: self.host.scopes.clone(),
        }
    }

    fn authorize(&mut self) -> String {
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
        let response = self.runtime.block_on(async {
            AuthorizationFlow::prepare(self.endpoint())
                .unwrap()
                .execute(request)
                .await
        });
        let response = response.unwrap();
        assert_eq!(response.status, Status::Redirect);
        let location = response.location.unwrap();
        let params: HashMap<_, _> = location.query_pairs().into_owned().collect();
        params["code"].clone()
    }

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
        self.runtime
            .block_on(async {
                AccessTokenFlow::prepare(self.endpoint())
                    .unwrap()
                    .execute(request)
                    .await
            })
            .unwrap()
    }

    fn refresh(&mut self, token: &str) -> Response {
        let request = Request {
            urlbody: query(&[("grant_type", "refresh_token"), ("refresh_token", token)]),
            auth: Some(self.basic.clone()),
            ..Request::default()
        };
        self.runtime
            .block_on(async {
                RefreshFlow::prepare(self.endpoint())
                    .unwrap()
                    .execute(request)
                    .await
            })
            .unwrap()
    }

    fn resource(&mut self, token: &str) -> bool {
        let request = Request {
            auth: Some(format!("Bearer {token}")),
            ..Request::default()
        };
        self.runtime
            .block_on(async {
                ResourceFlow::prepare(self.endpoint())
                    .unwrap()
                    .execute(request)
                    .await
            })
            .is_ok()
    }
}

#[test]
fn r06_the_code_grant_through_oxide_auth_async() -> TestResult {
    let mut s = setup();
    let code = s.authorize();
    assert!(code.starts_with("gdbac_"));
    let response = s.exchange(&code);
    assert_eq!(response.status, Status::Ok);
    let access = json_body(&response)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(s.resource(&access));
    assert_eq!(s.store.validate(&access)?.subject.as_deref(), Some("alice"));
    Ok(())
}

#[test]
fn r05_a_replayed_code_is_refused_and_revokes_its_tokens() -> TestResult {
    let mut s = setup();
    let code = s.authorize();
    let first = json_body(&s.exchange(&code));
    let access = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(s.exchange(&code).status, Status::BadRequest);
    assert!(!s.resource(&access), "the replay revoked the first tokens");
    Ok(())
}

#[test]
fn r07_refresh_rotates_and_r08_reuse_revokes_the_family() -> TestResult {
    let mut s = setup();
    let code = s.authorize();
    let first = json_body(&s.exchange(&code));
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();
    let rotated = s.refresh(&refresh);
    assert_eq!(rotated.status, Status::Ok);
    let rotated = json_body(&rotated);
    let access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated["refresh_token"].as_str(), Some(refresh.as_str()));
    assert!(s.resource(&access));
    // The consumed refresh token again: refused, and the family is gone.
    assert_ne!(s.refresh(&refresh).status, Status::Ok);
    assert!(!s.resource(&access));
    Ok(())
}
