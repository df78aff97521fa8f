//! DPoP proofs (RFC 9449, feature `dpop`): a JWT the client signs with the
//! key its tokens are bound to, for each request. Checked here: the header
//! (`typ` `dpop+jwt`, an asymmetric `alg`, the public `jwk`), the signature
//! under that key, the method and URL (`htm`, `htu`), the time (`iat`), the
//! access token's hash (`ath`, at a resource server); the proof's `jti` is
//! claimed in the store, so that a replayed proof is refused (R27). The
//! result is the key's thumbprint (RFC 7638), which the store binds the
//! grant to (R24).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantdb::kv::Backend;
use grantdb::{ClientId, Confirmation, ProofJti};
use jsonwebtoken::jwk::{AlgorithmParameters, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::Digest as _;

use crate::config::OAuth;

/// The signature algorithms a proof may use: asymmetric ones only (a
/// shared-secret `alg` would let anyone who saw the "public" key sign).
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

/// The longest `jti` a proof may carry.
const MAX_JTI: usize = 128;

/// Why a proof was refused (`invalid_dpop_proof`, RFC 9449 §5, §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// Not a JWT, not `dpop+jwt`, no usable key, or a bad signature.
    Malformed,
    /// `htm` or `htu` names another request.
    WrongRequest,
    /// `iat` too far from the server's time.
    Stale,
    /// `ath` is not the access token's hash.
    WrongToken,
    /// The proof's `jti` was seen before.
    Replayed,
    /// The store remembers as many proof ids as its caps allow
    /// (`ConfigBuilder::proof_claim_limits`): try again later.
    Full,
    /// The store could not record the `jti`.
    Store,
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProofError::Malformed => "the DPoP proof is malformed or its signature fails",
            ProofError::WrongRequest => "the DPoP proof is for another request",
            ProofError::Stale => "the DPoP proof is too old or from the future",
            ProofError::WrongToken => "the DPoP proof is for another access token",
            ProofError::Replayed => "the DPoP proof was used before",
            ProofError::Full => "the server takes no more DPoP proofs for now; try again later",
            ProofError::Store => "the DPoP proof could not be recorded",
        })
    }
}

/// A proof that checked out: the thumbprint of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The key, as grantdb binds a grant to it.
    pub confirmation: Confirmation,
}

#[derive(serde::Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: u64,
    #[serde(default)]
    ath: Option<String>,
}

/// Checks the proof `proof` of a request with `method` to `url` (scheme,
/// host and path: no query or fragment, RFC 9449 §4.3), made at `now`;
/// `access_token` is the token it goes with at a resource server. Claims
/// its `jti` in the store until it is too old to be accepted anyway.
pub async fn verify<B: Backend>(
    oauth: &OAuth<B>,
    client_id: &ClientId,
    proof: &str,
    method: &http::Method,
    url: &str,
    access_token: Option<&str>,
) -> Result<VerifiedProof, ProofError> {
    let header = jsonwebtoken::decode_header(proof).map_err(|_| ProofError::Malformed)?;
    if header.typ.as_deref() != Some("dpop+jwt") || !ALGORITHMS.contains(&header.alg) {
        return Err(ProofError::Malformed);
    }
    let jwk = header.jwk.ok_or(ProofError::Malformed)?;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return Err(ProofError::Malformed);
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| ProofError::Malformed)?;
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(proof, &key, &validation)
        .map_err(|_| ProofError::Malformed)?
        .claims;
    // A jti is a random identifier (RFC 9449 §4.2: 96 bits suffice); a
    // long one would only grow the store's replay table.
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
        return Err(ProofError::Malformed);
    }
    if !claims.htm.eq_ignore_ascii_case(method.as_str()) || !same_url(&claims.htu, url) {
        return Err(ProofError::WrongRequest);
    }
    let now = oauth.store().now();
    let max_age = oauth.config().dpop_max_age.as_secs();
    if claims.iat.abs_diff(now) > max_age {
        return Err(ProofError::Stale);
    }
    if let Some(token) = access_token {
        let hash = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()));
        if claims.ath.as_deref() != Some(hash.as_str()) {
            return Err(ProofError::WrongToken);
        }
    }
    let thumbprint = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| ProofError::Malformed)?;
    let confirmation = Confirmation::dpop(thumbprint).map_err(|_| ProofError::Malformed)?;
    // Scoped by the client (the store does that) and by the key, so that
    // one key's proofs never collide with another's; kept until the proof is
    // too old to be taken anyway.
    let claim = format!("{}:{}", confirmation.thumbprint(), claims.jti);
    let until = claims.iat.saturating_add(max_age).max(now + 1);
    let client = *client_id;
    match oauth
        .store()
        .call(move |s| s.claim_proof_jti(&client, &claim, until))
        .await
    {
        Ok(ProofJti::FirstUse) => Ok(VerifiedProof { confirmation }),
        Ok(_) => Err(ProofError::Replayed),
        Err(grantdb::Error::ProofClaimsFull { .. }) => Err(ProofError::Full),
        Err(_) => Err(ProofError::Store),
    }
}

/// Whether the `htu` of a proof names `url`: the same scheme and host (in
/// any case) and the same path, ignoring a query or fragment (RFC 9449
/// §4.3).
fn same_url(htu: &str, url: &str) -> bool {
    let strip = |u: &str| {
        let u = u.split(['?', '#']).next().unwrap_or_default();
        match u.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let path = if path.is_empty() { "/" } else { path };
                format!(
                    "{}://{}{path}",
                    scheme.to_ascii_lowercase(),
                    authority.to_ascii_lowercase()
                )
            }
            None => u.to_owned(),
        }
    };
    strip(htu) == strip(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_names_its_request_by_scheme_host_and_path() {
        assert!(same_url(
            "https://Server.example/token",
            "https://server.example/token"
        ));
        assert!(same_url(
            "https://server.example/token?x=1",
            "https://server.example/token"
        ));
        assert!(same_url(
            "https://server.example",
            "https://server.example/"
        ));
        assert!(!same_url(
            "https://server.example/other",
            "https://server.example/token"
        ));
        assert!(!same_url(
            "http://server.example/token",
            "https://server.example/token"
        ));
    }
}
