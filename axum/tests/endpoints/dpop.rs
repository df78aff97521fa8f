//! DPoP (RFC 9449): proofs at the token and PAR endpoints bind what is
//! issued to a key (R24); at a resource server a bound token needs the
//! `DPoP` scheme and a fresh proof by that key over it (R27: never
//! replayed).

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::{Served, TestResult};

/// Client credentials with a proof by `key`.
fn bound_token(served: &Served, key: &DpopKey) -> Value {
    let client = served.service_client();
    let proof = key.proof(
        "POST",
        &served.url("/oauth/token"),
        served.store.now(),
        None,
    );
    let response = served
        .http
        .post(served.url("/oauth/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .header("DPoP", proof)
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().unwrap()
}

/// R24: a token issued with a proof is bound to the proof's key (its
/// RFC 7638 thumbprint) and says so (`token_type` `DPoP`).
#[test]
fn r24_a_proof_at_the_token_endpoint_binds_the_token_to_its_key() -> TestResult {
    let served = Served::start();
    let key = DpopKey::new(7);
    let tokens = bound_token(&served, &key);
    assert_eq!(tokens["token_type"], "DPoP");
    let info = served
        .store
        .validate(tokens["access_token"].as_str().unwrap())?;
    assert_eq!(info.cnf.unwrap().thumbprint(), key.thumbprint());
    Ok(())
}

/// RFC 9449 §7: a bound token with a proof by its key over it passes; as a
/// bearer token, without a proof, with a proof by another key, for another
/// URL or method, over another token, replayed, or stale, it is refused with
/// a `DPoP` challenge.
#[test]
fn r27_a_bound_token_needs_a_fresh_proof_by_its_key() -> TestResult {
    let served = Served::start();
    let key = DpopKey::new(7);
    let tokens = bound_token(&served, &key);
    let access = tokens["access_token"].as_str().unwrap();
    let url = served.url("/api/data");
    let now = served.store.now();
    let call = |scheme: &str, proof: Option<&str>| {
        let mut request = served
            .http
            .get(&url)
            .header("authorization", format!("{scheme} {access}"));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send().unwrap()
    };
    let good = key.proof("GET", &url, now, Some(access));
    assert_eq!(call("DPoP", Some(&good)).status(), 200);

    let replayed = call("DPoP", Some(&good));
    assert_eq!(replayed.status(), 401, "R27: a proof is used once");
    let challenge = replayed.headers()["www-authenticate"].to_str()?.to_owned();
    assert!(
        challenge.starts_with("DPoP algs=") && challenge.contains("invalid_dpop_proof"),
        "{challenge}"
    );

    let as_bearer = call("Bearer", None);
    assert_eq!(as_bearer.status(), 401);
    assert!(
        as_bearer.headers()["www-authenticate"]
            .to_str()?
            .starts_with("DPoP ")
    );
    assert_eq!(as_bearer.json::<Value>()?["error"], "invalid_token");

    let other_key = DpopKey::new(9);
    let refusals = [
        ("no proof", None),
        (
            "another key",
            Some(other_key.proof("GET", &url, now, Some(access))),
        ),
        (
            "another URL",
            Some(key.proof("GET", &served.url("/me"), now, Some(access))),
        ),
        (
            "another method",
            Some(key.proof("POST", &url, now, Some(access))),
        ),
        (
            "another token",
            Some(key.proof("GET", &url, now, Some("other"))),
        ),
        ("no ath", Some(key.proof("GET", &url, now, None))),
        (
            "stale",
            Some(key.proof("GET", &url, now - 301, Some(access))),
        ),
        (
            "from the future",
            Some(key.proof("GET", &url, now + 301, Some(access))),
        ),
        ("not a JWT", Some("a.b.c".to_owned())),
    ];
    for (case, proof) in refusals {
        let response = call("DPoP", proof.as_deref());
        assert_eq!(response.status(), 401, "{case}");
        assert_eq!(
            response.json::<Value>()?["error"],
            "invalid_dpop_proof",
            "{case}"
        );
    }
    // A query string is not part of what a proof names (RFC 9449 §4.3).
    let with_query = served
        .http
        .get(format!("{url}?page=2"))
        .header("authorization", format!("DPoP {access}"))
        .header("DPoP", key.proof("GET", &url, now, Some(access)))
        .send()?;
    assert_eq!(with_query.status(), 200);
    Ok(())
}

/// An unbound token with the `DPoP` scheme is refused: the scheme promises a
/// binding the token does not have.
#[test]
fn an_unbound_token_with_the_dpop_scheme_is_refused() -> TestResult {
    let served = Served::start();
    let client = served.service_client();
    let tokens: Value = served
        .post_basic(
            "/oauth/token",
            &client,
            &[("grant_type", "client_credentials")],
        )
        .json()?;
    let access = tokens["access_token"].as_str().unwrap();
    let url = served.url("/api/data");
    let response = served
        .http
        .get(&url)
        .header("authorization", format!("DPoP {access}"))
        .header(
            "DPoP",
            DpopKey::new(3).proof("GET", &url, served.store.now(), Some(access)),
        )
        .send()?;
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()?
            .starts_with("DPoP ")
    );
    Ok(())
}

/// RFC 9449 §5: a bad proof at the token endpoint is `invalid_dpop_proof`
/// (400); a symmetric algorithm or a proof without `typ` `dpop+jwt` is
/// refused however well it is signed.
#[test]
fn bad_proofs_at_the_token_endpoint_are_invalid_dpop_proof() -> TestResult {
    let served = Served::start();
    let client = served.service_client();
    let key = DpopKey::new(5);
    let token_url = served.url("/oauth/token");
    let now = served.store.now();
    let jwk_of = |proof: &str| -> Value {
        let header = proof.split('.').next().unwrap();
        let header =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["jwk"].clone()
    };
    let jwk = jwk_of(&key.proof("POST", &token_url, now, None));
    let claims = json!({ "jti": "one", "htm": "POST", "htu": token_url, "iat": now });
    let cases = [
        ("for another URL", key.proof("POST", &served.url("/oauth/par"), now, None)),
        ("for GET", key.proof("GET", &token_url, now, None)),
        ("stale", key.proof("POST", &token_url, now - 600, None)),
        ("typ JWT", key.sign(&json!({ "typ": "JWT", "alg": "ES256", "jwk": jwk }), &claims)),
        ("no jwk", key.sign(&json!({ "typ": "dpop+jwt", "alg": "ES256" }), &claims)),
        ("alg HS256", key.sign(&json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": jwk }), &claims)),
        ("alg none", key.sign(&json!({ "typ": "dpop+jwt", "alg": "none", "jwk": jwk }), &claims)),
        (
            "an oct key",
            key.sign(&json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": { "kty": "oct", "k": "c2VjcmV0" } }), &claims),
        ),
        (
            "a huge jti",
            key.sign(&json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }), &json!({ "jti": "j".repeat(500), "htm": "POST", "htu": token_url, "iat": now })),
        ),
    ];
    for (case, proof) in cases {
        let response = served.post_proved(
            "/oauth/token",
            &client,
            Some(proof),
            &[("grant_type", "client_credentials")],
        );
        assert_eq!(response.status(), 400, "{case}");
        assert_eq!(
            response.json::<Value>()?["error"],
            "invalid_dpop_proof",
            "{case}"
        );
    }
    Ok(())
}

/// R24: a refresh of a bound grant needs a proof by the same key.
#[test]
fn r24_a_bound_grant_refreshes_only_with_its_key() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let key = DpopKey::new(11);
    let token_url = served.url("/oauth/token");
    let code = served.code(&[("response_type", "code"), ("client_id", &client.id)]);
    let tokens: Value = served
        .post_proved(
            "/oauth/token",
            &client,
            Some(key.proof("POST", &token_url, served.store.now(), None)),
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .json()?;
    assert_eq!(tokens["token_type"], "DPoP");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refresh_with = |proof: Option<String>| {
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
        served.post_proved("/oauth/token", &client, proof, &form)
    };
    let now = served.store.now();
    assert_eq!(refresh_with(None).status(), 400);
    assert_eq!(
        refresh_with(Some(DpopKey::new(12).proof("POST", &token_url, now, None))).status(),
        400
    );
    let refreshed = refresh_with(Some(key.proof("POST", &token_url, now, None)));
    assert_eq!(refreshed.status(), 200);
    Ok(())
}

/// RFC 9449 §10: a pushed request with a proof binds the code to the key;
/// `dpop_jkt` naming another key than the proof is `invalid_request`.
#[test]
fn a_pushed_request_binds_its_code_to_the_proved_key() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    let key = DpopKey::new(21);
    let par_url = served.url("/oauth/par");
    let now = served.store.now();
    let mismatch = served.post_proved(
        "/oauth/par",
        &client,
        Some(key.proof("POST", &par_url, now, None)),
        &[
            ("response_type", "code"),
            ("dpop_jkt", DpopKey::new(22).thumbprint().as_str()),
        ],
    );
    assert_eq!(mismatch.json::<Value>()?["error"], "invalid_request");
    let pushed: Value = served
        .post_proved(
            "/oauth/par",
            &client,
            Some(key.proof("POST", &par_url, now, None)),
            &[
                ("response_type", "code"),
                ("dpop_jkt", key.thumbprint().as_str()),
            ],
        )
        .json()?;
    let approved = served
        .http
        .get(served.url("/authorize"))
        .query(&[
            ("client_id", client.id.as_str()),
            ("request_uri", pushed["request_uri"].as_str().unwrap()),
        ])
        .send()?;
    let code = crate::support::redirect_params(&approved)["code"].clone();
    let token_url = served.url("/oauth/token");
    let unproved = served.post_basic(
        "/oauth/token",
        &client,
        &[("grant_type", "authorization_code"), ("code", &code)],
    );
    assert_eq!(
        unproved.status(),
        400,
        "the code is bound: no proof, no tokens"
    );
    let tokens: Value = served
        .post_proved(
            "/oauth/token",
            &client,
            Some(key.proof("POST", &token_url, now, None)),
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .json()?;
    assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
    Ok(())
}

/// A DPoP key (P-256), deterministic from `seed` so that every run signs
/// with the same keys.
pub struct DpopKey {
    key: p256::ecdsa::SigningKey,
}

static JTI: AtomicU64 = AtomicU64::new(0);

impl DpopKey {
    /// The key made from `seed` (any byte but 0).
    pub fn new(seed: u8) -> DpopKey {
        DpopKey {
            key: p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap(),
        }
    }

    fn jwk(&self) -> Value {
        let point = self.key.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        })
    }

    /// The key's RFC 7638 thumbprint.
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
            jwk["x"], jwk["y"]
        );
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// A proof for `method` `url` at `iat`, over `access_token` if given,
    /// with a fresh `jti`.
    pub fn proof(&self, method: &str, url: &str, iat: u64, access_token: Option<&str>) -> String {
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk() });
        let mut claims = json!({
            "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)),
            "htm": method,
            "htu": url,
            "iat": iat,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes())));
        }
        self.sign(&header, &claims)
    }

    /// `header.claims` signed with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}
