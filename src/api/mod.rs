//! The public facade: the [`Store`](crate::Store) handle and its operations,
//! one file per area of the rules, and [`AsyncStore`](crate::AsyncStore).
//! May import every layer below it.

pub(crate) mod account;
#[cfg(feature = "tokio")]
pub(crate) mod async_store;
pub(crate) mod device;
pub(crate) mod key_rotation;
pub(crate) mod pushed;
pub(crate) mod sessions;
pub(crate) mod store;
