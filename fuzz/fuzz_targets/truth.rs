//! Fuzzes the ground-truth markers: a side file parses totally, the checkpoint rules never panic, and every
//! marker that parses prints back to text that parses to the same marker.
#![no_main]
// `fuzz_target!` expands to code that may write files (libfuzzer-sys's `-only_ascii` handling and the like).
#![allow(clippy::disallowed_methods)]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (markers, errors) = mmdb_trace::parse_truth_sidefile(data);
    let lines = common::line_count(data);
    assert!(markers.len() + errors.len() <= lines);
    common::check_errors(&errors, lines);
    let truth = mmdb_trace::collect_checkpoints(&markers);
    common::check_errors(&truth.errors, lines);
    for text in String::from_utf8_lossy(data).lines() {
        if let Ok(m) = mmdb_trace::parse_marker(text) {
            let printed = m.to_string();
            assert_eq!(mmdb_trace::parse_marker(&printed).as_ref(), Ok(&m), "{text:?} printed as {printed:?}");
        }
    }
});
