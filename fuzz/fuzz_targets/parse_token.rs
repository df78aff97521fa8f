//! Fuzz target `parse_token`: see `tests/model/harness/fuzz.rs`, which holds its body so
//! that `tests/fuzz_replay.rs` replays every committed crash input.

#![no_main]

#[path = "../../tests/model/harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzz::parse_token(data));
