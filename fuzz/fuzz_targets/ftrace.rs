//! Fuzzes the ftrace text parser, then lowers and verifies what it parsed (markers included) and renders both
//! reports: nothing may panic, and the parse must account for every line at most once.
#![no_main]
// `fuzz_target!` expands to code that may write files (libfuzzer-sys's `-only_ascii` handling and the like).
#![allow(clippy::disallowed_methods)]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let trace = mmdb_trace::parse_ftrace(data);
    common::check_trace(data, &trace);
    let _ = mmdb_trace::detect(data);
    let _ = mmdb_trace::binary_kind(data);
    let r = mmdb_session::verify::replay_trace(&trace, None);
    common::check_errors(&r.parse_errors, common::line_count(data));
    let _ = mmdb_session::verify::render_real_text(&r, "fuzz", true);
    let _ = mmdb_session::verify::render_real_json(&r, "fuzz");
});
