//! The machine-readable replay report (`mmdb replay --format json`), a stable interface.
//!
//! # Schema, version 1
//!
//! One pretty-printed JSON object, followed by a newline:
//!
//! ```text
//! {
//!   "mmdb_report_version": 1,        // bumped only for incompatible changes
//!   "trace": "traces/fork-cow.events", // the path as given (`<stdin>` for standard input)
//!   "parse_errors": [                // lines that did not parse and were skipped, in line order
//!     { "line": 3, "column": 7,      // 1-based
//!       "expected": "…",             // what the parser was looking for
//!       "found": "…" | null,         // what it found instead, if anything
//!       "excerpt": "…" }             // the source line
//!   ],
//!   "parse_error_tally": {           // only when some line did not parse: every error counted, by kind,
//!     "total": 3,                    // also those `parse_errors` leaves out (a real trace's replay lists
//!     "by_kind": [["syntax", 2], ["marker", 1]] },  // only the first 1000)
//!   "report": { … }                  // mmdb_model::Report, serialised by serde
//! }
//! ```
//!
//! `report` holds `events`, `last_ts_ns`, `processes` (each with `pid`, `tgid`, `comm`, `mm_id`, `memcg`, `vmas`,
//! `rss`, `smaps`), `pages`, `vmstat`, `memcgs`, `swap` (`null` when off), `violations` and `diagnostics`; the doc
//! comments of `mmdb_model::Report` define each field. Event indices in `violations[].event` and
//! `diagnostics[].event` are 0-based (the text report numbers events from 1).
//!
//! Fields are only ever added, never renamed or removed, without bumping `mmdb_report_version`.

use mmdb_model::Report;
use serde::Serialize;

use crate::Replay;
use mmdb_trace::ErrorTally;

/// The version of the JSON schema this crate writes.
pub const REPORT_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonReport<'a> {
    mmdb_report_version: u32,
    trace: &'a str,
    parse_errors: Vec<JsonParseError<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parse_error_tally: Option<&'a ErrorTally>,
    report: &'a Report,
}

#[derive(Serialize)]
struct JsonParseError<'a> {
    line: u32,
    column: u32,
    expected: &'a str,
    found: Option<&'a str>,
    excerpt: &'a str,
}

/// Renders a replay as the version-1 JSON report described in this module's documentation; `path` names the trace.
pub fn render_json(replay: &Replay, path: &str) -> String {
    let out = JsonReport {
        mmdb_report_version: REPORT_VERSION,
        trace: path,
        parse_errors: replay
            .parse_errors
            .iter()
            .map(|e| JsonParseError {
                line: e.line,
                column: e.column,
                expected: &e.expected,
                found: e.found.as_deref(),
                excerpt: &e.excerpt,
            })
            .collect(),
        parse_error_tally: (replay.error_tally.total > 0).then_some(&replay.error_tally),
        report: &replay.report,
    };
    match serde_json::to_string_pretty(&out) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        // Plain data always serialises; should that ever change, emit valid JSON that says so instead of panicking.
        Err(err) => {
            format!("{}\n", serde_json::json!({ "mmdb_report_version": REPORT_VERSION, "error": err.to_string() }))
        }
    }
}
