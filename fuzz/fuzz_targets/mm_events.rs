//! Fuzzes the mm event format: parsing is total (one event or one error per line at most), every parsed event
//! prints back to a line that parses to the same event (but for line breaks in its comm, printed as `?`), and
//! replaying the events with the invariant checker after each one never panics.
#![no_main]
// `fuzz_target!` expands to code that may write files (libfuzzer-sys's `-only_ascii` handling and the like).
#![allow(clippy::disallowed_methods)]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let parsed = mmdb_trace::parse_events_bytes(data);
    let lines = common::line_count(data);
    assert!(parsed.events.len() + parsed.errors.len() <= lines);
    common::check_errors(&parsed.errors, lines);
    for located in &parsed.events {
        let line = mmdb_trace::format_event(&located.value);
        let again = mmdb_trace::parse_events(&line);
        assert!(again.errors.is_empty(), "{line:?}: {:?}", again.errors);
        assert_eq!(again.events.len(), 1, "{line:?}");
        // The printer writes line breaks in a comm as `?` (a comm with a carriage return in the middle parses).
        let mut want = located.value.clone();
        want.comm = want.comm.replace(['\n', '\r', '\0'], "?");
        assert_eq!(again.events[0].value, want, "{line:?}");
    }
    let opts = mmdb_session::ReplayOptions { check: true, ..Default::default() };
    let replay = mmdb_session::replay(data, &opts);
    let _ = mmdb_session::render_text(&replay, "fuzz");
    let _ = mmdb_session::render_json(&replay, "fuzz");
});
