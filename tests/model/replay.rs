//! Replays every input committed under `tests/fuzz_regressions/<target>/`
//! through the same code the fuzz targets run (R20): each crash the fuzzers
//! found stays fixed.

use crate::harness;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("regression directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|ext| ext == "md") {
            continue;
        }
        let input = std::fs::read(&path).expect("regression input");
        run(&input);
        count += 1;
    }
    count
}

#[test]
fn r20_decode_records_regressions_replay() {
    assert!(replay("decode_records", harness::fuzz::decode_records) > 0);
}

#[test]
fn r20_parse_token_regressions_replay() {
    assert!(replay("parse_token", harness::fuzz::parse_token) > 0);
}

#[test]
fn r01_to_r20_store_ops_regressions_replay_against_the_model() {
    assert!(replay("store_ops", harness::fuzz::store_ops) > 0);
}
