//! What the world does to a store, across every rule: clocks that step
//! back (R18), crashes, full disks and failed I/O (R19), damaged files,
//! hostile input and bounds (R20), the integrity check, old formats, and
//! concurrency.

// Tests return `Result` by convention, whether or not they use `?`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::unnecessary_wraps)]

#[path = "../support/mod.rs"]
mod support;

mod atomicity;
mod bounds;
mod commit_log;
mod concurrency;
mod corruption;
mod failures;
mod fast_close;
mod files;
mod format;
mod open;
mod time;
mod verify;
