//! Grants (token families) as listed to hosts (R15), and paging.

use serde::{Deserialize, Serialize};

use crate::model::binding::{AuthSession, Confirmation};
use crate::model::ids::{ClientId, GrantId};
use crate::model::scope::Scope;

/// How a grant began.
///
/// The variant order is part of the on-disk format: append, never reorder.
/// In JSON it is the RFC name of the grant type (`"authorization_code"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantOrigin {
    /// An authorization code exchange.
    AuthorizationCode,
    /// A resource-owner password request checked by the host.
    Password,
    /// A client-credentials request.
    ClientCredentials,
    /// A device authorization the user approved (RFC 8628).
    DeviceCode,
}

/// Names one grant: the client it was issued to and its id (a client's
/// grants are kept together, so both are needed to find one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GrantRef {
    /// The client.
    pub client_id: ClientId,
    /// The grant.
    pub grant_id: GrantId,
}

impl GrantRef {
    /// The grant `grant_id` of `client_id`.
    pub fn new(client_id: ClientId, grant_id: GrantId) -> GrantRef {
        GrantRef {
            client_id,
            grant_id,
        }
    }
}

/// One grant, as an "authorized applications" page shows it (R15).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GrantSummary {
    /// The grant.
    pub grant_id: GrantId,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The client's display name.
    pub client_name: String,
    /// The resource owner (`None` for client credentials).
    pub subject: Option<String>,
    /// The scope granted.
    pub scope: Scope,
    /// How it began.
    pub origin: GrantOrigin,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// When it was last refreshed (Unix seconds), if ever. Validation is a pure
    /// read, so this is the last time the client came back for new tokens.
    pub last_refreshed_at: Option<u64>,
    /// Opaque host data attached at authorization. Not serialised.
    #[serde(skip)]
    pub host_data: Option<Vec<u8>>,
    /// The resources the grant covers (RFC 8707); empty: not restricted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The key or certificate its refreshes must present (R24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The sign-in it came from (OpenID Connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_session: Option<AuthSession>,
    /// The OpenID Connect nonce of its code. Not serialised.
    #[serde(skip)]
    pub nonce: Option<String>,
}

impl GrantSummary {
    /// The name of this grant, for [`Store::grant`](crate::Store::grant) and
    /// [`Store::revoke_grant`](crate::Store::revoke_grant).
    pub fn grant_ref(&self) -> GrantRef {
        GrantRef::new(self.client_id, self.grant_id)
    }
}
