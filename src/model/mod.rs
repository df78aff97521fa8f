//! The public value types: ids, scopes, URIs, clients, requests and
//! responses, configuration, events. They import only `crypto/` and the
//! error, so every layer may use them.

pub(crate) mod binding;
pub(crate) mod client;
pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod device;
pub(crate) mod error_response;
pub(crate) mod event;
pub(crate) mod feed;
pub(crate) mod grant;
pub(crate) mod grant_type;
pub(crate) mod ids;
pub(crate) mod key_info;
pub(crate) mod limits;
pub(crate) mod operator;
pub(crate) mod page;
pub(crate) mod pkce;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod scope;
pub(crate) mod text;
pub(crate) mod uri;
