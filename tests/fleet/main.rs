//! A fleet on PostgreSQL (feature `postgres`): several nodes on one
//! database, an embedded store moved there, TLS to the server.

// Tests return `Result` by convention, whether or not they use `?`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "postgres")]
mod fleet;
#[cfg(feature = "postgres")]
mod pg_tls;
