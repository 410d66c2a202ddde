//! Fuzzes the `perf script` text parser, then lowers what it parsed (with the part of the input after a `\x00`
//! separator as a ground-truth side file) and renders the reports: nothing may panic.
#![no_main]
// `fuzz_target!` expands to code that may write files (libfuzzer-sys's `-only_ascii` handling and the like).
#![allow(clippy::disallowed_methods)]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (text, side) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let trace = mmdb_trace::parse_perf(text);
    common::check_trace(text, &trace);
    let markers = side.map(|s| mmdb_trace::parse_truth_sidefile(s).0);
    let r = mmdb_session::verify::replay_trace(&trace, markers.as_deref());
    let _ = mmdb_session::verify::render_real_text(&r, "fuzz", true);
    let _ = mmdb_session::verify::render_real_json(&r, "fuzz");
});
