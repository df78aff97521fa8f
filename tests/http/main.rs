//! The reference server (`examples/server`) over real HTTP: third-party
//! OAuth clients, the README walk, and a real browser; and the minimal
//! examples (`examples/minimal_server.rs`, `examples/resource_server.rs`).

// Tests return `Result` by convention, whether or not they use `?`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

#[path = "../support/mod.rs"]
mod support;

#[path = "../../examples/server/app/mod.rs"]
#[allow(dead_code, missing_docs)]
mod app;
mod browser;
mod examples;
#[path = "../../examples/minimal_server.rs"]
#[allow(dead_code)]
mod minimal_server;
#[path = "../../examples/resource_server.rs"]
#[allow(dead_code)]
mod resource_server;
mod server;
