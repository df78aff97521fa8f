//! What hosts plug grantdb into: the async handle, events and metrics,
//! the JSON wire shapes, and oxide-auth (blocking and async).

// Tests return `Result` by convention, whether or not they use `?`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "tokio")]
mod async_store;
mod events;
#[cfg(feature = "tokio")]
mod feed_stream;
#[cfg(feature = "oxide-auth")]
mod oxide;
#[cfg(feature = "oxide-auth-async")]
mod oxide_async;
mod wire;
