//! The trace snapshot tests: `traces/*.events` replay clean, `traces/err/*.events` report their parse errors.

use std::fmt::Write as _;
use std::path::Path;

use mmdb_session::{render_text, replay, Replay, ReplayOptions};

/// `traces/`, relative to this file's directory (what `insta::glob!` resolves against).
const TRACES: &str = "../../../../traces";
/// `traces/err/`, relative to this file's directory.
const ERR_TRACES: &str = "../../../../traces/err";
/// The repository's top-level `snapshots/`, relative to this file's directory (what insta resolves against).
const SNAPSHOTS: &str = "../../../../snapshots";

/// Reads a trace and replays it with the invariant checker on.
fn replay_file(path: &Path) -> Replay {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    replay(&bytes, &ReplayOptions { check: true, ..Default::default() })
}

/// How the report names a trace: its path from the repository root, `traces/<name>` or `traces/err/<name>`.
fn display_name(dir: &str, path: &Path) -> String {
    format!("{dir}/{}", file_name(path))
}

/// The trace's file name, e.g. `fork-cow-reuse.events`.
fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_else(|| panic!("trace file without a UTF-8 name: {}", path.display()))
}

#[test]
fn every_trace_replays_clean_and_matches_its_snapshot() {
    insta::glob!(TRACES, "*.events", |path| {
        let name = display_name("traces", path);
        let r = replay_file(path);
        let errors: Vec<String> = r.parse_errors.iter().map(|e| e.render(&name)).collect();
        assert!(errors.is_empty(), "{name}: parse errors:\n{}", errors.join("\n"));
        assert!(r.report.violations.is_empty(), "{name}: invariant violations:\n{:#?}", r.report.violations);
        assert!(r.is_clean(), "{name}: warnings:\n{:#?}", r.report.diagnostics);
        insta::with_settings!({
            snapshot_path => SNAPSHOTS,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("mmdb replay --check {name}"),
        }, {
            insta::assert_snapshot!("replay", render_text(&r, &name));
        });
    });
}

#[test]
fn broken_traces_report_their_parse_errors() {
    insta::glob!(ERR_TRACES, "*.events", |path| {
        let name = display_name("traces/err", path);
        let r = replay_file(path);
        assert!(!r.parse_errors.is_empty(), "{name}: a trace under traces/err/ must have parse errors");
        assert!(r.report.violations.is_empty(), "{name}: invariant violations:\n{:#?}", r.report.violations);
        let mut out = String::new();
        for e in &r.parse_errors {
            let _ = writeln!(out, "{}", e.render(&name).trim_end_matches('\n'));
            out.push('\n');
        }
        out.push_str(&render_text(&r, &name));
        insta::with_settings!({
            snapshot_path => SNAPSHOTS,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("mmdb replay --check {name}: parse errors, then the report"),
            // glob! derives no suffix when it matches a single file; name the snapshot after the trace.
            snapshot_suffix => file_name(path),
        }, {
            insta::assert_snapshot!("err", out);
        });
    });
}
