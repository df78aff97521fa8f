//! OpenID Connect Back-Channel Logout from the change feed (R33): each
//! grant that ended while it carried a sign-in session (`sid`) means the
//! client's session must end too. This turns feed entries into the claims
//! of the logout tokens to send; the host signs each with its ID-token key
//! and POSTs it to the client's `backchannel_logout_uri`.

use std::collections::BTreeSet;

use grantdb::{Change, ChangeKind, ClientId};
use serde::Serialize;

/// The event a logout token carries (OpenID Connect Back-Channel Logout
/// 1.0, section 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The claims of one logout token, unsigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogoutClaims {
    /// The issuer (the host's).
    pub iss: String,
    /// The client whose session ended.
    pub aud: ClientId,
    /// When the session ended (the feed entry's time).
    pub iat: u64,
    /// Unique per token: the feed entry's sequence number, so that a
    /// resend after a crash (at-least-once) carries the same `jti` and the
    /// client can drop the duplicate.
    pub jti: String,
    /// The session.
    pub sid: String,
    /// `{"http://schemas.openid.net/event/backchannel-logout": {}}`.
    pub events: serde_json::Value,
}

/// The logout tokens `changes` call for: one per (client, `sid`) whose
/// grant ended, whatever ended it (logout, "sign out everywhere", a
/// revocation, a reuse), each once.
pub fn logout_claims(issuer: &str, changes: &[Change]) -> Vec<LogoutClaims> {
    let mut seen = BTreeSet::new();
    let mut claims = Vec::new();
    for change in changes {
        let (ChangeKind::GrantEnded { .. }, Some(client), Some(sid)) =
            (change.kind, change.client_id, change.session.as_ref())
        else {
            continue;
        };
        if !seen.insert((client.to_string(), sid.clone())) {
            continue;
        }
        claims.push(LogoutClaims {
            iss: issuer.to_owned(),
            aud: client,
            iat: change.at,
            jti: format!("feed-{}", change.seq),
            sid: sid.clone(),
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        });
    }
    claims
}
