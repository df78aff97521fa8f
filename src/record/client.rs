//! `clients` table: `client_id → ClientRecord`.

use serde::{Deserialize, Serialize};

use super::Record;
use crate::kv::table::Table;
use crate::model::client::{Client, ClientKind, LifetimeOverrides};
use crate::model::grant_type::GrantType;
use crate::model::ids::ClientId;
use crate::model::scope::Scope;
use crate::model::text::text_ok;
use crate::model::uri::check_redirect_uri;

/// Longest client display name, in bytes.
pub(crate) const MAX_CLIENT_NAME_LEN: usize = 200;
/// Most redirect URIs one client may register.
pub(crate) const MAX_REDIRECT_URIS: usize = 32;

/// A registered client. The secret is stored only as its keyed hash (R01, R03).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClientRecord {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub kind: ClientKind,
    /// `BLAKE3-keyed(key, kind ‖ id ‖ secret)` of the current secret.
    pub secret_hash: Option<[u8; 16]>,
    /// One bit per [`GrantType`].
    pub grant_types: u8,
    pub scopes: Scope,
    pub lifetimes: LifetimeOverrides,
    pub created_at: u64,
    /// Fields of record version 3 (see [`super::ext`]).
    #[serde(skip)]
    pub ext: super::ext::ClientExt,
}

impl ClientRecord {
    pub(crate) fn allows(&self, grant_type: GrantType) -> bool {
        self.grant_types & grant_type.bit() != 0
    }

    pub(crate) fn grant_type_bits(grant_types: &[GrantType]) -> u8 {
        grant_types.iter().fold(0, |bits, g| bits | g.bit())
    }

    pub(crate) fn to_client(&self, id: ClientId) -> Client {
        Client {
            id,
            name: self.name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            kind: self.kind,
            grant_types: GrantType::ALL
                .into_iter()
                .filter(|g| self.allows(*g))
                .collect(),
            scopes: self.scopes.clone(),
            lifetimes: self.lifetimes,
            created_at: self.created_at,
            require_pushed_requests: self.ext.require_pushed_requests,
        }
    }
}

impl Record for ClientRecord {
    const TABLE: Table = Table::Clients;
    const NAME: &'static str = "client";
    type Ext = super::ext::ClientExt;

    fn ext(&self) -> &super::ext::ClientExt {
        &self.ext
    }

    fn with_ext(self, ext: super::ext::ClientExt) -> Self {
        ClientRecord { ext, ..self }
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.name.is_empty() || !text_ok(&self.name, MAX_CLIENT_NAME_LEN) {
            return Err("name");
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS
            || self
                .redirect_uris
                .iter()
                .any(|uri| check_redirect_uri(uri).is_err())
        {
            return Err("redirect_uris");
        }
        if (self.kind == ClientKind::Confidential) != self.secret_hash.is_some() {
            return Err("secret_hash");
        }
        if self.grant_types >> GrantType::ALL.len() != 0 {
            return Err("grant_types");
        }
        self.lifetimes.check().map_err(|_| "lifetimes")
    }
}
