//! grantdb-axum over real HTTP: every endpoint of the crate's router, for
//! success and for each error it can answer, the seeds' four dialects, and
//! hostile input (never a 500, never a panic).

// Tests return `Result` by convention, whether or not they use `?`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

mod authorize;
#[cfg(feature = "dpop")]
mod dpop;
mod hostile;
mod observe;
mod resource;
mod revoke;
mod seeds;
mod support;
mod token;
