//! The public facade: the [`Store`](crate::Store) handle and its operations,
//! one file per area of the rules, and [`AsyncStore`](crate::AsyncStore).
//! May import every layer below it.

pub(crate) mod account;
#[cfg(feature = "tokio")]
pub(crate) mod async_store;
pub(crate) mod clients;
pub(crate) mod codes;
pub(crate) mod device;
pub(crate) mod feed;
pub(crate) mod keyring;
pub(crate) mod operator;
pub(crate) mod pushed;
pub(crate) mod request_id;
pub(crate) mod revoke;
pub(crate) mod sessions;
pub(crate) mod store;
#[cfg(feature = "tokio")]
pub(crate) mod subscription;
pub(crate) mod tokens;
pub(crate) mod validate;
