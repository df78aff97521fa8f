//! The lifecycle rules of `docs/lifecycle.md`, one module per area of
//! `src/ops/` (`codes.rs` holds every R04 and R05 test), each test named
//! after its rule (`r07_...`) and run on both backends where it can. A new
//! rule's test goes in the module of the `ops/` file that implements it.

// Tests return `Result` by convention, whether or not they use `?`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

#[path = "../support/mod.rs"]
mod support;

mod clients;
mod codes;
mod consent;
mod device;
mod family;
mod feed;
mod keyring;
mod listing;
mod purge;
mod pushed;
mod revoke;
mod scopes;
mod secrets;
mod sessions;
mod tokens;
mod validate;
