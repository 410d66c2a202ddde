//! Integration tests of the REPL engine: transcripts over the traces in `traces/`, the generated command
//! reference, and a fuzz loop over the command parser and executor.
// Test code reads trace files and the book; the library stays pure.
#![allow(clippy::disallowed_methods)]

mod fuzz;
mod reference;
mod time_travel;
mod transcripts;

use std::path::{Path, PathBuf};

use mmdb_repl::{Program, Session, Styled};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Opens a session on a trace of the repository, given relative to its root (`.xz` is decompressed by the
/// CLI only, so tests use plain files).
pub fn open(rel: &str) -> Session {
    let bytes = std::fs::read(repo_root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"));
    let program = if rel.ends_with(".events") {
        Program::from_events(&bytes)
    } else {
        let trace =
            if rel.contains(".perf") { mmdb_trace::parse_perf(&bytes) } else { mmdb_trace::parse_ftrace(&bytes) };
        Program::from_real(&trace, None)
    };
    Session::new(rel, program)
}

/// Runs commands (one per line) the way batch mode does and returns the transcript: each command after the
/// prompt, then its output. `render` turns labelled output into text (plain, or with labels marked).
pub fn transcript_with(session: &mut Session, commands: &str, render: fn(&Styled) -> String) -> String {
    let mut out = String::new();
    for line in commands.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        out.push_str("(mmdb) ");
        out.push_str(line);
        out.push('\n');
        out.push_str(&render(&session.execute(line).output));
    }
    out
}

/// [`transcript_with`] in plain text.
pub fn transcript(session: &mut Session, commands: &str) -> String {
    transcript_with(session, commands, Styled::plain)
}
